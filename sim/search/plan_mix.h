#pragma once
// `servesim plan mix` (Melange): the cheapest mix of device plans for a plan file's traffic.
// Contract:
// - The traffic's requests are split into buckets by prompt and output length (mix.*
//   edges); a bucket's share is its fraction of mix.samples requests drawn from the traffic
//   with the plan's seed, and its load is share x target_rate.
// - A unit is one replica of a candidate group (device, split, TP, PP, KV dtype, scheduler
//   knobs; the replica axis is ignored: the mix chooses the counts). Units rejected by memory
//   or over limits.max_gpus for one replica are listed, not simulated.
// - A unit's capacity for a bucket is the highest rate one replica sustains within the SLOs
//   when it serves only that bucket's requests (lengths drawn from the bucket's samples),
//   found by the plan search's rate search (plan_eval.h) with the plan's search knobs.
// - The mix is the optimum of the integer program of mix_solver.h; the best single-type
//   plan is the same program restricted to one unit, the cheapest over the units.
// - Results depend only on the plan and the data files, never on the thread count.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/hardware/prices.h"
#include "sim/search/mix_solver.h"
#include "sim/search/plan_config.h"
#include "sim/search/plan_search.h"

namespace servesim {
class Catalog;
}

namespace servesim::search {

struct MixBucket {
  std::int64_t prompt_lo = 1, prompt_hi = 0;  // [lo, hi) tokens; hi 0: no upper edge
  std::int64_t output_lo = 1, output_hi = 0;
  std::vector<std::int32_t> prompts, outputs;  // the sampled requests of the bucket
  double share = 0;                            // fraction of the sampled requests
  std::string label() const;                   // "prompt [1024, inf) x output [1, 256)"
};

// Splits mix.samples requests of the plan's traffic into the buckets (every bucket, empty
// ones with share 0), in prompt-major order.
std::vector<MixBucket> mix_buckets(const PlanConfig& plan, const std::shared_ptr<Catalog>& catalog, double native_trace_rate);

struct MixUnit {
  Candidate c;                    // replicas = 1
  double usd_per_hour = 0;        // one replica
  std::string reason;             // why not simulated (memory, plan, limits); empty when it was
  bool over_limit = false;        // not simulated because one replica is over limits.max_gpus
  std::vector<double> capacity;   // per bucket, req/s of one replica (0: none, or an empty bucket)
  std::vector<bool> capped;       // per bucket: sustained search.max_rate
  std::int64_t simulations = 0;
};

// A solution simulated end to end: one cluster with a pool per unit in the solution (its
// replicas), the size_aware router sending each bucket to the pools by the solution's shares
// (least outstanding within a pool), the plan's traffic at target_rate over search.requests
// requests (and at least search.min_duration), judged by the plan's SLOs without early stop.
struct MixRun {
  bool simulated = false;
  std::string reason;        // why not (a disaggregated unit: a pool pair the router cannot address)
  nlohmann::json scenario;   // `servesim run` runs it as is
  RunOutcome outcome;
};

struct MixResult {
  std::vector<MixBucket> buckets;
  std::vector<MixUnit> units;  // in candidate-group order
  MixProblem problem;          // over the simulated units (indices in `simulated`)
  std::vector<std::size_t> simulated;
  MixSolution mix;             // over `simulated`
  std::vector<MixSolution> single;  // per simulated unit: that unit alone
  std::int64_t best_single = -1;    // index into `simulated` of the cheapest feasible single type (-1: none)
  std::int64_t simulations = 0;
  MixRun mix_run, single_run;  // the mix and the best single type, end to end
};

// The end-to-end scenario of solution `s` (see MixRun); throws InputError when a unit in it is
// disaggregated.
nlohmann::json mix_scenario(const PlanConfig& plan, const MixResult& result, const MixSolution& s, double native_trace_rate);

// Runs the buckets, the capacities and the program. Throws InputError for a missing device
// or price (before any simulation), for a bucket with load that no unit can serve and when
// no mix fits limits.max_gpus (one line naming the bucket or the limit); Cancelled when
// options.cancelled says so.
MixResult run_plan_mix(const PlanConfig& plan, const PriceBook& prices, const std::shared_ptr<Catalog>& catalog,
                       const SearchOptions& options = {});

// The scenario traffic of one bucket: the plan's arrival process (poisson for trace traffic)
// with prompt and output lengths drawn from the bucket's samples.
PlanConfig bucket_plan(const PlanConfig& plan, const MixBucket& bucket);

// mix.json (buckets, units with capacities, the mix and the single-type comparison),
// mix_units.csv (capacity table), plan.json and summary.txt.
std::vector<std::pair<std::string, std::string>> mix_files(const PlanConfig& plan, const MixResult& result,
                                                           const std::string& prices_path);
std::string mix_summary(const PlanConfig& plan, const MixResult& result);

}  // namespace servesim::search
