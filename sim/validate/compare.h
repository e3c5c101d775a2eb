#pragma once
// Predicted vs measured for one ground-truth run. Definitions (DESIGN.md metrics, applied
// identically to both sides):
// - per step: each MEASURED step's composition (rid:q:ctx) is costed through the
//   scenario's cost path (StepCoster); error = (predicted - measured) / measured, where
//   measured = the engine's step span (prepare_next_batch start -> update_batch end) and
//   predicted = the step time less the cost model's `loop_overhead` (the gap between steps,
//   which the span excludes). Reported: median and p90 of |error|, median of error (bias).
// - per request: the simulation replays the run's requests at their measured arrival
//   times; TTFT = first token - arrival, TPOT = (last - first token) / (output - 1),
//   E2E = last token - arrival. Each percentile (p50, p90, p99, numpy's linear definition)
//   is computed on each side over the requests that finished in the measurement; error =
//   (predicted - measured) / measured of the percentile.
// - throughput: output tokens / (last completion - first arrival), each side its own times.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/serving/simulation.h"
#include "sim/validate/engine_profile.h"
#include "sim/validate/groundtruth.h"

namespace servesim::validate {

struct Pair {
  double measured = 0, predicted = 0;
  double error() const { return measured != 0 ? (predicted - measured) / measured : 0.0; }
};

struct PercentilePairs {
  Pair p50, p90, p99;
  std::int64_t count = 0;
};

struct StepRow {
  std::int64_t step = 0;
  std::int64_t num_requests = 0, q_tokens = 0, kv_tokens = 0;
  Pair seconds;
  double predicted_device_s = 0;  // the plan's operators (what the engine step adds is the rest)
  bool decode_only = false;       // no prefill token in the step
};

struct RequestRow {
  std::int64_t id = 0;
  std::int32_t input_tokens = 0, output_tokens = 0;
  Pair ttft, tpot, e2e;  // seconds; tpot 0 for one-token outputs
};

struct StepErrors {
  std::int64_t count = 0;
  double abs_median = 0, abs_p90 = 0, signed_median = 0;
};

struct RunValidation {
  std::string run, dir, role, model;
  std::vector<StepRow> steps;
  StepErrors step_errors;
  StepErrors decode_step_errors, prefill_step_errors;  // decode-only steps; steps with prefill tokens
  std::vector<RequestRow> requests;
  PercentilePairs ttft, tpot, e2e;
  Pair throughput;       // output tokens / s
  Pair num_steps;        // steps that ran a forward
  Pair makespan;         // last completion, s from the run's t0
  double host_scale = 1;  // hf_engine's host_scale this run was predicted with (--host-probe)
  nlohmann::json resolved_config;
};

// Per-step errors of a run's measured steps only (no simulation of its requests).
enum class StepKind { kAll, kDecodeOnly, kWithPrefill };
StepErrors step_errors(const std::vector<StepRow>& rows, StepKind kind = StepKind::kAll);
std::vector<StepRow> predict_steps(const GtRun& run, const nlohmann::json& scenario, const SimOptions& options);

// `transform`, if given, rewrites the run's scenario before it is simulated (prediction
// intervals wrap its cost models).
RunValidation validate_run(const GtRun& run, const EngineProfile& profile, const nlohmann::json& constants,
                           const SimOptions& options,
                           const std::function<nlohmann::json(const nlohmann::json&)>& transform = {});

nlohmann::json to_json(const RunValidation& v);

}  // namespace servesim::validate
