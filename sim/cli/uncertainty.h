#pragma once
// Prediction intervals (`servesim run --uncertainty N`). Contract:
// - The scenario is replayed N times, replay i with every cost model wrapped in the
//   `perturbed` model at draw i (sim/cost/impl/perturbed.cpp): the same workload and seed,
//   each fitted family's costs scaled by one draw of that family's held-out error (on a
//   derived profile: its transfer check's error where the check measured the family, else its
//   source profile's held-out error; sim/cost/residual_sources.h). uncertainty.json's "draws"
//   says per pool and family where the draws came from.
// - For each headline metric the interval is [q_lo, q_hi], the nearest-rank quantiles
//   (1 - confidence) / 2 and (1 + confidence) / 2 of the N replays; "point" is the
//   unperturbed run's value. Deterministic: same scenario, seed and N, same intervals.
// - Errors (no residuals for the device, N < 2, confidence outside (0, 1)) are InputErrors.
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/serving/simulation.h"

namespace servesim::cli {

// [lo, hi]: the nearest-rank quantiles (1 -+ confidence) / 2 of `values` (not empty).
std::pair<double, double> interval(std::vector<double> values, double confidence);

// The scenario with every "cost" (top level and each pool's) wrapped for draw `draw`.
nlohmann::json perturbed_scenario(const nlohmann::json& scenario, const nlohmann::json& resolved, int draw);

// uncertainty.json: {"replays", "confidence", "rule", "draws": {pool: {device, derived_profile?,
// families: {name: {from, residuals?, derivation_error?}}}}, "metrics": {name: {point, lo, hi}}}.
// With `host.instances` or `host.within` not empty (a run on an engine profile's engine, `run
// --engine`), replay d also sets the scenario's cost host_scale: the host of another machine
// instance the engine was measured on (instances, in order), times 1 + a run-to-run deviation
// on one instance (within; validate::host_replay_scales gives the order), or the host given
// (`pinned`, --host-scale) times the deviation; uncertainty.json says so (host_term).
struct HostTerm {
  std::vector<double> instances;
  std::vector<double> within;
  double pinned = 1.0;
};
nlohmann::json uncertainty_intervals(const nlohmann::json& scenario, const SimOptions& options, const SimResult& base, int n,
                                     double confidence, const HostTerm& host = {});

// The metrics with intervals, as printed: "TTFT p50 29.5 ms [27.1, 31.9]" ...
std::string uncertainty_table(const nlohmann::json& u);

}  // namespace servesim::cli
