#pragma once
// Workload sources: traces and generators. Contract:
// - next() streams requests in non-decreasing arrival order, one at a time; a source never
//   holds the whole trace in memory. nullopt means the workload is exhausted.
// - Ids are unique and increasing within a source.
// - A malformed line or value is an InputError naming the file, the line and the field.
// - Sources are deterministic functions of their parameters and the component RNG.
#include <memory>
#include <optional>
#include <vector>

#include "sim/core/registry.h"
#include "sim/core/rng.h"
#include "sim/workload/request.h"

namespace servesim {

struct WorkloadDeps {
  std::uint64_t seed = 0;  // scenario seed; sources derive their own stream from it
  std::string data_dir;    // relative trace paths are tried here too
  std::string where;       // config path for errors ("scenario.json: workload")
};

class IWorkload {
 public:
  virtual ~IWorkload() = default;
  virtual std::optional<RequestSpec> next() = 0;
  // Closed loop: the simulation reports each request of this source that has ended at `now`
  // (`completed`: finished; else rejected), in event order, and the source appends to `out`
  // the requests it issues in response (arrival >= now; ids unique and increasing with
  // those of next()). next() streams the open-loop arrivals (e.g. program starts) only.
  // Open-loop sources issue nothing.
  virtual void on_request_done(const RequestSpec& spec, bool completed, SimTime now, std::vector<RequestSpec>& out) {
    (void)spec;
    (void)completed;
    (void)now;
    (void)out;
  }
};

template <>
struct InterfaceName<IWorkload> {
  static constexpr const char* value = "workload";
};
using WorkloadRegistry = Registry<IWorkload, const WorkloadDeps&>;

// Resolves a trace path: as given, else under data_dir; InputError if neither exists.
std::string resolve_trace_path(const std::string& path, const std::string& data_dir, const std::string& where);

}  // namespace servesim
