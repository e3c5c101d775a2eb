#pragma once
// The plan file of `servesim plan search`, parsed once into a typed PlanConfig. Contract:
// - parse_plan() is the only code that reads a plan file's JSON; every key is declared once
//   (type, default, help) through Params, so unknown keys and bad values are one-line
//   InputErrors naming the file and the field; an empty candidate list is an error.
// - Nothing here reads another file: devices, prices and models are checked by the search.
// docs/plan_search.md describes every field.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/params.h"
#include "sim/core/time.h"

namespace servesim::search {

// How the plan's traffic is generated at a given request rate.
struct TrafficConfig {
  std::string arrival;     // poisson | gamma | trace
  double cv = 1;           // gamma only
  nlohmann::json prompt;   // LengthDist objects (poisson / gamma)
  nlohmann::json output;
  nlohmann::json trace;    // a scenario workload object with a time_scale key (trace)
};

// One latency SLO: the `percentile` of `metric` at most `bound`.
struct SloTarget {
  std::string metric;  // ttft | tpot | e2e
  SimTime bound = 0;
  double percentile = 99;
};

struct SloConfig {
  std::vector<SloTarget> targets;  // at least one
  double goodput = 0;  // > 0: instead of percentiles, this fraction of requests meets every bound
};

// A deployment shape: colocated (`prefill` = 0) or disaggregated with P:D replicas per unit.
struct Split {
  std::int64_t prefill = 0, decode = 0;
  bool disaggregated() const { return prefill > 0; }
  std::string name() const;  // "colocated" or "P:D"
};

struct CandidateAxes {
  std::vector<std::string> devices;
  std::vector<std::int64_t> tp, pp, replicas;
  std::vector<std::int64_t> max_num_batched_tokens, max_num_seqs;
  std::vector<std::string> kv_cache_dtype;
  std::vector<Split> splits;
  std::string scheduler;  // replica scheduler impl (its knobs above)
  nlohmann::json cost;    // cost model object
  double gpu_memory_utilization = 0.9;
};

struct SearchKnobs {
  std::int64_t requests = 0;        // requests per simulation on the full window
  std::int64_t short_requests = 0;  // requests per simulation while bracketing (0: no short phase)
  SimTime min_duration = 0;         // each window spans at least this much arrival time (a third while bracketing)
  double tolerance = 0;             // relative width of the final bracket
  double min_rate = 0, max_rate = 0;
  bool early_stop = true;
  bool warm_start = true;
  bool prune = true;  // skip a group's larger replica counts once one meets the target
};

// `servesim plan mix` (Melange): requests split into buckets by prompt and output length;
// an edge e starts a bucket at e tokens ([1, e0), [e0, e1), ..., [e_last, inf)).
struct MixKnobs {
  std::vector<std::int64_t> prompt_edges, output_edges;  // strictly increasing, may be empty
  std::int64_t samples = 0;  // requests drawn from the traffic to measure each bucket's share
};

// Static vs autoscaled over a day (the plan's optional `autoscale` section): the best
// ranked colocated plans run over a time-varying traffic as a static pool and under each
// policy. `policies` are scenario `autoscale` objects (max_replicas may be left out: the
// static plan's replica count).
struct DayKnobs {
  bool enabled = false;           // the section was given
  SimTime duration = 0;           // synthetic day: arrivals over this time
  double amplitude = 0;           // rate(t) = mean x (1 - A cos(2 pi t / period)), mean = target_rate / (1 + A)
  SimTime period = 0;
  nlohmann::json trace;           // or a scenario workload object replayed as given
  std::vector<nlohmann::json> policies;
  std::int64_t plans = 1;         // how many ranked plans are compared
};

struct PlanConfig {
  std::string source;  // file name for messages
  std::string name;
  std::uint64_t seed = 0;
  std::string model;
  TrafficConfig traffic;
  SloConfig slo;
  double target_rate = 0;  // req/s the deployment must sustain
  std::string price_tier;  // on_demand | reserved
  CandidateAxes candidates;
  std::int64_t max_gpus = 0;  // 0: no limit
  SearchKnobs search;
  MixKnobs mix;
  DayKnobs day;
  nlohmann::json resolved;  // every field with its default
};

PlanConfig parse_plan(const nlohmann::json& plan, const std::string& source);

// Every key of a plan file with its type, default and help (`servesim list --params`).
std::vector<ParamDoc> plan_param_docs();

// "TTFT p99 <= 2 s, TPOT p99 <= 80 ms" (or "... for 90% of requests" with goodput).
std::string slo_text(const SloConfig& slo);

}  // namespace servesim::search
