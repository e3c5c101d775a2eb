#pragma once
// Open-loop arrival times shared by the generators (synthetic, sharegpt_csv, agent and chat
// program starts): Poisson or gamma inter-arrival times at a mean rate, an optional diurnal
// swing of the rate (non-homogeneous arrivals by thinning), ending after num_requests
// arrivals or past duration. Contract: next() draws only from the Rng it is given, in the
// order the synthetic workload always drew (so a caller drawing lengths after each arrival
// keeps its stream); without a diurnal swing it draws exactly one number per arrival.
#include <cstdint>
#include <optional>
#include <string>

#include "sim/core/params.h"
#include "sim/core/rng.h"
#include "sim/core/time.h"

namespace servesim {

class ArrivalProcess {
 public:
  struct Config {
    std::string arrival = "poisson";
    double rate = 0;
    double cv = 1;
    std::int64_t num_requests = 0;
    SimTime duration = 0;
    double diurnal_amplitude = 0;  // rate(t) = rate x (1 - A cos(2 pi t / period)): trough at 0, peak at period / 2
    SimTime diurnal_period = 0;
    // `what` names the arrivals in help texts ("requests", "programs"); `count_key` the
    // key of the count limit ("num_requests", "num_programs"). `ends_anyway`: the caller's
    // source ends by itself (a table read once), so neither limit is needed.
    static Config parse(Params& p, double default_rate, const std::string& default_duration, const char* what = "requests",
                        const char* count_key = "num_requests", bool ends_anyway = false);
  };

  explicit ArrivalProcess(const Config& c) : c_(c), exponential_(c.arrival == "poisson" || c.cv == 1.0) {}
  // The next arrival time, or nullopt once the count or the duration is reached.
  std::optional<SimTime> next(Rng& rng);

 private:
  Config c_;
  bool exponential_;  // Poisson gaps (gamma with cv 1 is Poisson too)
  double clock_s_ = 0;
  std::int64_t count_ = 0;
};

}  // namespace servesim
