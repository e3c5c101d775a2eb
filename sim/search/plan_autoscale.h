#pragma once
// Plan search over time (the plan file's `autoscale` section): the best ranked colocated
// plans, each run over a day of time-varying traffic as a static pool and under every
// autoscaling policy of the plan. Contract:
// - The day: the plan's lengths and arrival process (poisson, or gamma with its cv) at a mean rate target_rate / (1 + A), swinging as mean x (1 - A cos(2 pi t /
//   diurnal_period)) over `duration` -- so its peak is the target rate the static plan was
//   chosen for --; or `autoscale.trace`, a workload object replayed as given.
// - Plans compared: the first `autoscale.plans` of the ranking that are colocated (an
//   autoscaled pool is one pool). The static run holds the plan's replicas all day; a policy's
//   run has the same device, parallelism and scheduler, starts with min_replicas and may hold
//   up to max_replicas (default: the plan's replicas, or min_replicas if more).
// - Every run is one whole simulation (no early stop). GPU-hours: the replica time held x
//   GPUs per replica (the run's summary.json, sim/serving/autoscale.h); $ = GPU-hours x the
//   plan's price tier; SLO attainment: the fraction of requests meeting every bound;
//   meets_slos: the plan search's verdict (every percentile within its bound, or the goodput).
// - Runs go in parallel (oneTBB) and come back in a fixed order (plan, then static first and
//   the policies in file order): results do not depend on the thread count.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/search/plan_config.h"
#include "sim/search/plan_search.h"

namespace servesim {
class Catalog;
}

namespace servesim::search {

struct DayRun {
  std::size_t candidate = 0;  // index into PlanResult::candidates
  std::int64_t plan_rank = 0;
  std::int64_t policy = -1;   // index into plan.day.policies; -1: the static pool
  nlohmann::json scenario;    // the run's scenario (`servesim run` runs it as is)
  RunOutcome outcome;
  double usd = 0;             // gpu_hours x the plan's price tier
  std::string label() const;  // "static" or "policy 1"
};

// The runs of the comparison, in the contract's order (empty when the section is absent).
std::vector<DayRun> run_day_comparison(const PlanConfig& plan, const PlanResult& result, const std::shared_ptr<Catalog>& catalog,
                                       const SearchOptions& options = {});

// The scenario of candidate `c` over the day: static (`policy` < 0) or under policy `policy`.
nlohmann::json day_scenario(const PlanConfig& plan, const Candidate& c, std::int64_t policy, double native_trace_rate);

// autoscale.csv and autoscale.jsonl; the summary's lines.
std::vector<std::pair<std::string, std::string>> day_files(const PlanConfig& plan, const PlanResult& result,
                                                           const std::vector<DayRun>& runs);
std::string day_summary(const PlanConfig& plan, const PlanResult& result, const std::vector<DayRun>& runs);

}  // namespace servesim::search
