#pragma once
// Engine profiles (engines/<name>.json): a serving engine as servesim models it — a
// scenario fragment (scheduler, KV manager, cost model), the engine settings it was
// calibrated for, the calibration inputs, and the fitted constants with their provenance.
// Contract:
// - load() validates the file (schema, required sections) and names the file and field in
//   every error.
// - A run is replayed only through a profile of the same engine: attention implementation,
//   SDPA backend, scheduler type and CUDA graphs must match the run's meta.json, else an
//   InputError names the mismatch.
// - The scenario of a run takes the engine's per-run settings (KV blocks, block size, token
//   and request budgets, safety margin) from the run's meta.json: they are what the engine
//   solved or was configured with, not fitted.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/validate/groundtruth.h"

namespace servesim::validate {

struct EngineProfile {
  std::string path;
  std::string name;
  std::string hardware;  // device profile name
  std::string attn_implementation, sdpa_backend, scheduler_type;
  bool cuda_graphs = false;
  nlohmann::json scenario;  // fragment: engine, parallel, scheduler, kv, cost (without fitted constants)
  std::vector<std::string> calibration_runs;  // run folders, relative to the data dir
  std::vector<std::string> launch_sweeps;     // sweep CSVs for the host launch time
  std::vector<std::string> gpu_sweeps;        // sweep CSVs for the device time (same SDPA backend)
  nlohmann::json fitted;                      // {constants: {...}, provenance, quality}; null before a fit
  nlohmann::json doc;                         // the whole file

  static EngineProfile load(const std::string& path);
  bool has_constants() const { return fitted.is_object() && fitted.contains("constants"); }
  // fitted.host_probe.sdpa_plan_build_s: the fit machine's host probe; 0 when absent.
  double host_probe_s = 0;
  // calibration.host_population (optional): folders of runs whose host probes (meta.json
  // sdpa_probe, nothing else of them) sample the machine instances the engine runs on.
  std::vector<std::string> host_population_dirs;
  // fitted.host_population.instances: one per process that probed (distinct probe values);
  // empty when absent.
  struct HostInstance {
    double probe_s = 0;  // its host probe
    double scale = 0;    // probe_s / host_probe_s: its host time against the fit machine's
  };
  std::vector<HostInstance> host_population;
  // calibration.repeat_runs (optional): folders of runs repeated with the same requests in
  // one process (one machine instance), several times: how much the host varies from run to
  // run on one instance, which the population (one instance per process) does not sample.
  std::vector<std::string> repeat_dirs;
  // fitted.host_repeat.deviations: each repeated run's host time against the mean of its
  // process's runs, minus 1 (empty when absent).
  std::vector<double> host_repeat;
};

// True when the run's meta.json names the engine configuration the profile models.
bool run_matches(const EngineProfile& p, const GtMeta& m);

// InputError when the run was not produced by the profile's engine configuration.
void check_run_matches(const EngineProfile& p, const GtMeta& m, const std::string& run_dir);

// The scenario replaying `run` (its requests at their arrival times) through the profile,
// with `constants` (the fitted ones, or trial ones during a fit) in the cost model.
nlohmann::json scenario_for_run(const EngineProfile& p, const GtRun& run, const nlohmann::json& constants);

// A scenario for costing single steps of `model` (no meaningful workload): used on sweeps.
nlohmann::json scenario_for_model(const EngineProfile& p, const std::string& model, const nlohmann::json& constants);

// The host scales of the profile's machine instances (fitted.host_population) in the seeded
// order replays draw them in (replay d takes element (d - 1) mod size): every instance but
// the one whose probe is `leave_out_probe_s` (a validated run's own process; 0: none left
// out), the fit machine's always kept. Deterministic: a fixed seed, our portable draws.
std::vector<double> host_draw_order(const EngineProfile& p, double leave_out_probe_s = 0);

// The within-instance deviations (fitted.host_repeat.deviations) in the seeded order replays
// draw them in; empty when the profile has none.
std::vector<double> within_instance_order(const EngineProfile& p);

// Replay d's host scale, for every d (element (d - 1) mod size): machine instance
// (d - 1) mod n of `instances` times 1 + deviation floor((d - 1) / n) mod m of `within`, so the
// first n x m replays take every pair once. Empty `instances`: the one host `pinned` (a run's
// own probe, or a scale the user gave), times each deviation; empty `within`: the instances
// as they are (or nothing, when both are empty).
std::vector<double> host_replay_scales(const std::vector<double>& instances, const std::vector<double>& within, double pinned = 1.0);

// A user's scenario run on the profile's engine: its engine settings, parallel plan,
// scheduler, KV manager, cost model (with the fitted constants and `model`) and hardware
// replace the scenario's; the model, workload, seed, replicas and outputs are kept.
// InputError (`where` names the option) when the profile has no fitted constants, or the
// scenario has pools or no model name.
nlohmann::json with_engine(const EngineProfile& p, const nlohmann::json& scenario, const std::string& where);

// Resolves a path given in a profile: as given, else under the data dir.
std::string resolve_data_path(const std::string& path, const std::string& data_dir);

}  // namespace servesim::validate
