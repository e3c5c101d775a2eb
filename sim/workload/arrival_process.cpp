#include "sim/workload/arrival_process.h"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace servesim {

ArrivalProcess::Config ArrivalProcess::Config::parse(Params& p, double default_rate, const std::string& default_duration,
                                                     const char* what, const char* count_key, bool ends_anyway) {
  Config c;
  c.arrival = p.choice("arrival", "poisson", {"poisson", "gamma"}, "inter-arrival process");
  c.rate = p.real("rate", default_rate, fmt::format("mean arrival rate, {} per second", what), 1e-9);
  c.cv = p.real("cv", 1.0, "coefficient of variation of inter-arrival times (gamma only; 1 = Poisson)", 1e-3, 100);
  c.num_requests = p.integer(count_key, 0, fmt::format("stop after this many {} (0: no limit)", what), 0);
  c.duration = p.duration("duration", default_duration, fmt::format("stop generating {} after this time (0: no limit)", what));
  // Read only when given (or documented), so scenarios without them resolve as before.
  if (p.has("diurnal_amplitude") || p.doc_mode()) {
    c.diurnal_amplitude = p.real("diurnal_amplitude", 0.0,
                                 "daily swing of the rate: rate x (1 - A cos(2 pi t / diurnal_period)), so the trough "
                                 "(1 - A) x rate is at t = 0 and the peak (1 + A) x rate half a period later; the mean "
                                 "over a period is rate (non-homogeneous arrivals by thinning)",
                                 0.0, 1.0);
    c.diurnal_period = p.duration("diurnal_period", "24h", "length of the daily cycle (shorten it to compress a day)", 1);
  }
  if (!p.doc_mode() && !ends_anyway && c.num_requests == 0 && c.duration == 0) {
    bad_value(p.where("duration"), "0", fmt::format("a positive duration or a positive {} (the workload must end)", count_key));
  }
  return c;
}

std::optional<SimTime> ArrivalProcess::next(Rng& rng) {
  if (c_.num_requests > 0 && count_ >= c_.num_requests) return std::nullopt;
  // With a diurnal swing, candidates come at the peak rate and each is kept with
  // probability rate(t) / peak rate (thinning); without one, every candidate is kept and
  // no extra number is drawn.
  const double a = c_.diurnal_amplitude, peak = c_.rate * (1.0 + a);
  for (;;) {
    if (exponential_) {
      clock_s_ += rng.exponential(peak);
    } else {
      const double shape = 1.0 / (c_.cv * c_.cv);
      clock_s_ += rng.gamma(shape, 1.0 / (peak * shape));
    }
    if (a == 0) break;
    const double phase = 2.0 * std::numbers::pi * clock_s_ / to_seconds(c_.diurnal_period);
    if (rng.uniform01() * (1.0 + a) < 1.0 - a * std::cos(phase)) break;
    if (c_.duration > 0 && from_seconds(clock_s_) > c_.duration) return std::nullopt;
  }
  const SimTime t = from_seconds(clock_s_);
  if (c_.duration > 0 && t > c_.duration) return std::nullopt;
  ++count_;
  return t;
}

}  // namespace servesim
