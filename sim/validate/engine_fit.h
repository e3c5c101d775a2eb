#pragma once
// Fitting an engine profile's constants (`servesim validate fit`). Contract:
// - Inputs are only the profile's calibration section: calibration runs (role
//   "calibration"; any other role is an InputError, so validation runs can never be fitted
//   on) and forward sweeps (synthetic batches through the engine's own forward, not runs).
// - Each constant has one source and one rule (see engine_fit.cpp and VALIDATION.md):
//   host launch per layer <- sweeps' launch_s where the device finished first;
//   prep/post <- least squares on the calibration runs' prep_s / post_s;
//   loop overhead <- median gap between busy steps of the calibration runs;
//   cuDNN plan build <- median of launch_s - launch of host-bound decode steps of the runs;
//   device extras (per step, per token-layer, K/V gather rate, dense SDPA rate) <- non-negative
//   least squares of the sweeps' gpu_only_s less the inner cost model's operators.
// - The host probe of the calibration runs (median of their sdpa_probe plan builds) is kept
//   beside the constants: the reference a run's own probe is compared with.
// - Deterministic: same inputs, same constants (byte-identical profile).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/serving/simulation.h"
#include "sim/validate/engine_profile.h"

namespace servesim::validate {

struct SweepGroup {
  std::int64_t count = 0;
  std::int32_t q = 0;
  std::int64_t context = 0;
};
// Parses a sweep's `groups` cell: "N x (q Q, ctx C)" parts joined by '+', e.g.
// "1x(q512,ctx0)+16x(q1,ctx1024)".
std::vector<SweepGroup> parse_sweep_groups(const std::string& text, const std::string& where);

struct EngineFit {
  nlohmann::json constants;   // hf_engine parameters
  nlohmann::json provenance;  // inputs with their sha256, rules, the inner cost model
  nlohmann::json quality;     // residuals on the calibration inputs
  // The fit machine's host probe: {sdpa_plan_build_s, runs, rule}; null when no calibration
  // run carries one (then `validate --host-probe` has no reference to scale by).
  nlohmann::json host_probe;
  // The machine instances of calibration.host_population: {folders, instances: [{probe_s,
  // scale, runs}], rule}; null without such folders or without the fit machine's probe.
  nlohmann::json host_population;
  // Run-to-run host variation on one instance, from calibration.repeat_runs: {folders,
  // processes: [{probe_s, runs, host_s}], deviations, rule}; null without such folders.
  nlohmann::json host_repeat;
};

EngineFit fit_engine(const EngineProfile& profile, const SimOptions& options);

// EngineFit::host_population from the profile's calibration.host_population folders, with
// scales against `fit_probe_s` (the fit machine's probe).
nlohmann::json host_population(const EngineProfile& profile, double fit_probe_s, const SimOptions& options);

// EngineFit::host_repeat from the profile's calibration.repeat_runs folders: per process (runs
// sharing a host probe value) with at least two runs of this engine configuration, each run's
// host time (the median over its decode-only steps of duration - wait: the host busy time of a
// step) against the mean of its process's runs, minus 1.
nlohmann::json host_repeat(const EngineProfile& profile, const SimOptions& options);

// The profile document with its "fitted" section replaced.
nlohmann::json with_fit(const EngineProfile& profile, const EngineFit& fit);

}  // namespace servesim::validate
