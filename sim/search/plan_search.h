#pragma once
// SLO-constrained plan search (`servesim plan search`): every candidate deployment of a
// plan file is checked analytically for memory, then the highest request rate it sustains
// within the SLOs is found by bisection over simulated rates; cost follows from the prices.
// Contract:
// - Every simulation runs in-process on one shared Catalog, with the plan's seed; the
//   results depend only on the plan file and the data files, never on the thread count.
// - Candidates that share everything but their replica count form a group; a group is
//   searched in increasing replica count (each warm-starting from the one before), groups
//   run in parallel (oneTBB). Results come back in candidate order.
// - Early stop ends a simulation only when its SLO is certainly broken whatever happens
//   next (a request not finished by a deadline that meeting the SLOs requires); it changes
//   no pass/fail verdict, only the time spent.
// docs/plan_search.md derives the method and states what is simplified.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/search/plan_config.h"
#include "sim/hardware/prices.h"

namespace servesim {
class Catalog;
}

namespace servesim::search {

struct Candidate {
  std::size_t index = 0;  // in enumeration order
  std::size_t group = 0;  // candidates differing only in replicas share a group
  std::string device;
  std::int64_t tp = 1, pp = 1, replicas = 1;
  std::int64_t max_num_batched_tokens = 0, max_num_seqs = 0;
  std::string kv_cache_dtype;
  Split split;
  std::int64_t gpus() const;
  std::string label() const;  // "h100_sxm tp2 pp1 x3 colocated mnbt8192 mns256 kv auto"
};

// What one simulation at one rate showed.
struct RunOutcome {
  double rate = 0;
  std::int64_t requests = 0;
  bool pass = false;
  bool stopped_early = false;
  std::vector<double> values;  // per SLO target: its percentile, seconds (goodput mode: as well)
  double goodput = 0;          // fraction of requests meeting every bound
  double output_tokens_per_s = 0;
  // From the run's summary.json "energy" and "cost" objects, as `servesim run` reports them
  // (0 for a run stopped early, which has no summary):
  double j_per_output_token = 0;         // energy.j_per_output_token
  double mean_power_w = 0;               // energy.mean_power_w (the whole deployment)
  double run_usd_per_m_output_tokens = 0;  // cost.usd_per_million_output_tokens (on-demand prices, the run's
                                           // whole simulated time including its drain; 0 when a device has no price)
  // Not in to_json (the over-time comparison reads them): GPU-hours held over the run (an
  // autoscaled pool: each replica from its cold start to its drain; otherwise GPUs x the
  // run's simulated time) and the summary's "autoscale" object (null without autoscaling).
  double gpu_hours = 0;
  nlohmann::json autoscale;
  nlohmann::json to_json() const;
};

struct CandidateResult {
  Candidate c;
  bool fits = false;
  bool pruned = false;       // not simulated: the same candidate with fewer replicas met the target
  std::string reason;        // why not searched (memory, plan, limits, pruned); empty when searched
  double price = 0;          // $ per GPU-hour
  double usd_per_hour = 0;
  double max_rate = 0;       // highest sustained rate found, req/s (0: not even min_rate)
  bool capped = false;       // sustained search.max_rate (the true maximum may be higher)
  RunOutcome at_max;         // the full-window run at max_rate
  bool meets_target = false;
  RunOutcome at_target;      // the full-window run at target_rate (meets_target only)
  double headroom = 0;       // max_rate / target_rate - 1
  std::int64_t replicas_for_target = 0;  // linear estimate from the per-replica rate (0: none)
  double usd_per_m_output_tokens = 0;    // at the target rate (meets_target only)
  double usd_per_m_output_tokens_at_capacity = 0;  // at max_rate
  std::int64_t simulations = 0, early_stops = 0;
  bool pareto_latency = false, pareto_headroom = false;
  std::int64_t rank = 0;  // 1 = chosen; 0: does not meet the target
};

struct PlanResult {
  std::vector<CandidateResult> candidates;  // in candidate order
  std::vector<std::size_t> ranking;         // indices of those meeting the target, best first
  std::int64_t simulations = 0;
  double native_trace_rate = 0;  // trace traffic: the trace's own rate over search.requests
};

// Spreads a plan search's candidate groups over processes (MPI ranks: sim/search/plan_mpi.h).
// Contract of run(): every group g in [0, groups) is searched exactly once, by local(g) on this
// process (on up to `threads` threads) or on another process whose results come back through
// decode(g, bytes) (bytes made there by encode(g)); on the coordinator it returns when every
// group is in, elsewhere when there is no more work. Results do not depend on the spread.
class IGroupSpread {
 public:
  virtual ~IGroupSpread() = default;
  virtual bool coordinator() const = 0;
  virtual void run(std::size_t groups, int threads, const std::function<void(std::size_t)>& local,
                   const std::function<std::string(std::size_t)>& encode,
                   const std::function<void(std::size_t, const std::string&)>& decode) = 0;
};

struct SearchOptions {
  int threads = 0;  // 0: all cores
  std::function<bool()> cancelled;
  std::function<void(std::size_t done, std::size_t total)> progress;  // after each group (any thread)
  IGroupSpread* spread = nullptr;  // null: this process alone (oneTBB threads)
};

// Requests in one simulation at `rate`: search.requests (full window) or short_requests, and
// at least rate x search.min_duration (a third of it on the short window), so that a window
// is long against a request's time in the system: a window shorter than that is a burst the
// running batch absorbs, and would overstate the sustained rate.
std::int64_t window_requests(const SearchKnobs& knobs, double rate, bool full);

// Checks that the model and every candidate device exist and that each device has a price
// of the plan's tier (InputError naming the field, before any simulation); returns the prices.
std::map<std::string, Price> check_plan_inputs(const PlanConfig& plan, const PriceBook& prices, Catalog& catalog);

// Trace traffic: the trace's own request rate over its first search.requests requests
// ((n-1) / span), which the searched rates scale; 0 for synthetic traffic.
double native_trace_rate(const PlanConfig& plan, const std::shared_ptr<Catalog>& catalog);

// Why candidate `c` cannot run at all (its model does not fit in memory, a plan the model
// does not admit): the error text; empty when it can. Independent of the replica count.
std::string rejection_reason(const PlanConfig& plan, const Candidate& c, Catalog& catalog, double native_trace_rate);

// Enumerates the candidates of a plan (no file read).
std::vector<Candidate> enumerate_candidates(const PlanConfig& plan);

// Runs the whole search. Throws InputError for a device, model or price the plan names but
// the data files lack (before any simulation), and Cancelled when options.cancelled says so.
// With options.spread on a process that is not the coordinator, the result is incomplete
// (only the coordinator's holds every candidate).
PlanResult run_plan_search(const PlanConfig& plan, const PriceBook& prices, const std::shared_ptr<Catalog>& catalog,
                           const SearchOptions& options = {});

// What a candidate scenario is for: a screening run (verdict only: the time series is
// sampled once a simulated hour, which keeps its cost out but stretches the run's simulated
// time, and so its idle energy and cost, to that sample), a measured run (full window: the
// default time series, so its summary's energy and cost are what `servesim run` reports), or
// the chosen plan written as best_scenario.json (a measured run named "<plan>-best").
enum class ScenarioUse { kScreening, kMeasured, kBest };

// The scenario of candidate `c` at `rate` req/s with `requests` requests (the traffic of the
// plan; trace traffic needs `native_trace_rate`).
nlohmann::json candidate_scenario(const PlanConfig& plan, const Candidate& c, double rate, std::int64_t requests,
                                  double native_trace_rate, ScenarioUse use = ScenarioUse::kScreening);

}  // namespace servesim::search
