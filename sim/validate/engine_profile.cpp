#include "sim/validate/engine_profile.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/rng.h"

namespace servesim::validate {
namespace fs = std::filesystem;

namespace {

const nlohmann::json& need(const nlohmann::json& obj, const std::string& key, const std::string& where,
                           nlohmann::json::value_t type, const char* expected) {
  if (!obj.contains(key)) input_error(where + "." + key, std::string("missing field, expected ") + expected);
  const nlohmann::json& v = obj[key];
  const bool ok = v.type() == type || (type == nlohmann::json::value_t::number_float && v.is_number());
  if (!ok) bad_value(where + "." + key, v.dump(), expected);
  return v;
}

std::vector<std::string> string_list(const nlohmann::json& obj, const std::string& key, const std::string& where) {
  const nlohmann::json& v = need(obj, key, where, nlohmann::json::value_t::array, "a list of paths");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) bad_value(where + "." + key, e.dump(), "a list of path strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

EngineProfile EngineProfile::load(const std::string& path) {
  EngineProfile p;
  p.path = path;
  p.doc = read_json_file(path);
  const std::string w = path + ": ";
  if (!p.doc.is_object()) bad_value(path, p.doc.dump().substr(0, 40), "a JSON object (an engine profile)");
  const std::string schema = need(p.doc, "schema", path + ":", nlohmann::json::value_t::string, "\"servesim.engine/1\"").get<std::string>();
  if (schema != "servesim.engine/1") bad_value(w + "schema", schema, "servesim.engine/1");
  using T = nlohmann::json::value_t;
  p.name = need(p.doc, "name", path + ":", T::string, "the profile's name").get<std::string>();
  p.hardware = need(p.doc, "hardware", path + ":", T::string, "a device profile name (hardware_profiles/devices/)").get<std::string>();
  const nlohmann::json& eng = need(p.doc, "engine", path + ":", T::object, "the engine settings this profile models");
  p.attn_implementation = need(eng, "attn_implementation", w + "engine", T::string, "e.g. \"paged|sdpa\"").get<std::string>();
  p.sdpa_backend = need(eng, "sdpa_backend", w + "engine", T::string, "e.g. \"default\"").get<std::string>();
  p.scheduler_type = need(eng, "scheduler_type", w + "engine", T::string, "e.g. \"fifo\"").get<std::string>();
  p.cuda_graphs = need(eng, "cuda_graphs", w + "engine", T::boolean, "true or false").get<bool>();
  p.scenario = need(p.doc, "scenario", path + ":", T::object, "a scenario fragment (scheduler, kv, cost)");
  for (const char* k : {"scheduler", "kv", "cost"}) need(p.scenario, k, w + "scenario", T::object, "a component {impl, ...}");
  const nlohmann::json& cal = need(p.doc, "calibration", path + ":", T::object, "the calibration inputs");
  p.calibration_runs = string_list(cal, "runs", w + "calibration");
  p.launch_sweeps = string_list(cal, "launch_sweeps", w + "calibration");
  p.gpu_sweeps = string_list(cal, "gpu_sweeps", w + "calibration");
  if (cal.contains("host_population")) p.host_population_dirs = string_list(cal, "host_population", w + "calibration");
  if (cal.contains("repeat_runs")) p.repeat_dirs = string_list(cal, "repeat_runs", w + "calibration");
  if (p.doc.contains("fitted") && !p.doc["fitted"].is_null()) {
    p.fitted = need(p.doc, "fitted", path + ":", T::object, "the fitted constants");
    need(p.fitted, "constants", w + "fitted", T::object, "the fitted constants {key: value}");
    if (p.fitted.contains("host_probe")) {
      const nlohmann::json& hp = need(p.fitted, "host_probe", w + "fitted", T::object, "{sdpa_plan_build_s, runs, rule}");
      const auto it = hp.find("sdpa_plan_build_s");
      if (it == hp.end() || !it->is_number() || !(it->get<double>() > 0)) {
        bad_value(w + "fitted.host_probe.sdpa_plan_build_s", it == hp.end() ? "missing" : it->dump(), "a positive number of seconds");
      }
      p.host_probe_s = it->get<double>();
    }
    if (p.fitted.contains("host_population")) {
      const std::string where = w + "fitted.host_population.instances";
      const nlohmann::json& hp = need(p.fitted, "host_population", w + "fitted", T::object, "{instances, rule}");
      const nlohmann::json& inst = need(hp, "instances", w + "fitted.host_population", T::array, "[{probe_s, scale, runs}]");
      for (const nlohmann::json& e : inst) {
        EngineProfile::HostInstance h;
        for (auto [key, field] : {std::pair{"probe_s", &h.probe_s}, std::pair{"scale", &h.scale}}) {
          const auto it = e.is_object() ? e.find(key) : e.end();
          if (it == e.end() || !it->is_number() || !(it->get<double>() > 0)) {
            bad_value(where + "[]." + key, e.dump().substr(0, 60), "a positive number");
          }
          *field = it->get<double>();
        }
        p.host_population.push_back(h);
      }
    }
    if (p.fitted.contains("host_repeat")) {
      const std::string where = w + "fitted.host_repeat";
      const nlohmann::json& hr = need(p.fitted, "host_repeat", w + "fitted", T::object, "{processes, deviations, rule}");
      const nlohmann::json& dev = need(hr, "deviations", where, T::array, "[relative deviations in (-1, 1)]");
      for (const nlohmann::json& e : dev) {
        if (!e.is_number() || !(e.get<double>() > -1 && e.get<double>() < 1)) {
          bad_value(where + ".deviations[]", e.dump().substr(0, 60), "a relative deviation in (-1, 1)");
        }
        p.host_repeat.push_back(e.get<double>());
      }
    }
  }
  return p;
}

namespace {
// (meta.json field, the run's setting, the profile's) for every setting a run must share.
std::array<std::array<std::string, 3>, 4> engine_settings(const EngineProfile& p, const GtMeta& m) {
  return {{{"engine_config.attn_implementation", m.attn_implementation, p.attn_implementation},
           {"sdpa_backend_setting", m.sdpa_backend, p.sdpa_backend},
           {"engine_config.continuous_batching_config.scheduler_type", m.scheduler_type, p.scheduler_type},
           {"engine_config.continuous_batching_config.use_cuda_graph", m.cuda_graphs ? "true" : "false", p.cuda_graphs ? "true" : "false"}}};
}
}  // namespace

bool run_matches(const EngineProfile& p, const GtMeta& m) {
  const auto settings = engine_settings(p, m);
  return std::all_of(settings.begin(), settings.end(), [](const auto& s) { return s[1] == s[2]; });
}

void check_run_matches(const EngineProfile& p, const GtMeta& m, const std::string& run_dir) {
  const std::string where = (fs::path(run_dir) / "meta.json").string();
  for (const auto& [field, run, prof] : engine_settings(p, m)) {
    if (run != prof) {
      bad_value(where + ": " + field, run, fmt::format("'{}', the setting engine profile {} models ({})", prof, p.name, p.path));
    }
  }
}

namespace {
nlohmann::json base_scenario(const EngineProfile& p, const std::string& name, const std::string& model,
                             const nlohmann::json& constants) {
  nlohmann::json s = p.scenario;
  s["name"] = name;
  s["seed"] = 1;
  s["model"] = model;
  s["hardware"] = p.hardware;
  nlohmann::json& cost = s["cost"];
  for (const auto& [k, v] : constants.items()) cost[k] = v;
  cost["model"] = model;
  return s;
}
}  // namespace

nlohmann::json scenario_for_run(const EngineProfile& p, const GtRun& run, const nlohmann::json& constants) {
  check_run_matches(p, run.meta, run.dir);
  nlohmann::json s = base_scenario(p, run.meta.name, run.meta.model, constants);
  nlohmann::json& sched = s["scheduler"];
  sched["max_batch_tokens"] = run.meta.max_batch_tokens;
  sched["max_requests_per_batch"] = run.meta.max_requests_per_batch;
  sched["safety_margin"] = run.meta.safety_margin;
  nlohmann::json& kv = s["kv"];
  kv["block_size"] = run.meta.block_size;
  kv["num_gpu_blocks_override"] = run.meta.num_blocks;
  s["workload"] = {{"impl", "groundtruth_replay"}, {"run", run.dir}};
  return s;
}

nlohmann::json scenario_for_model(const EngineProfile& p, const std::string& model, const nlohmann::json& constants) {
  nlohmann::json s = base_scenario(p, "step-costing", model, constants);
  // Never run: a scenario needs a workload, the costing of single steps uses none.
  s["workload"] = {{"impl", "synthetic"}, {"num_requests", 1}};
  return s;
}

namespace {
// Fisher-Yates with our portable draws, seeded by `seed`'s name: the same order everywhere.
void seeded_shuffle(std::vector<double>& v, const char* seed) {
  Rng rng(stable_hash(seed));
  for (std::size_t k = v.size(); k > 1; --k) {
    std::swap(v[k - 1], v[static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(k) - 1))]);
  }
}
}  // namespace

std::vector<double> host_draw_order(const EngineProfile& p, double leave_out_probe_s) {
  const auto same = [](double a, double b) { return a > 0 && std::abs(a - b) <= 1e-3 * a; };
  std::vector<double> out;
  for (const auto& h : p.host_population) {
    if (same(p.host_probe_s, h.probe_s) || !same(leave_out_probe_s, h.probe_s)) out.push_back(h.scale);
  }
  seeded_shuffle(out, "host_population");
  return out;
}

std::vector<double> within_instance_order(const EngineProfile& p) {
  std::vector<double> out = p.host_repeat;
  seeded_shuffle(out, "host_repeat");
  return out;
}

std::vector<double> host_replay_scales(const std::vector<double>& instances, const std::vector<double>& within, double pinned) {
  if (within.empty()) return instances;
  const std::vector<double> hosts = instances.empty() ? std::vector<double>{pinned} : instances;
  std::vector<double> out;
  for (std::size_t d = 0; d < hosts.size() * within.size(); ++d) {
    out.push_back(hosts[d % hosts.size()] * (1 + within[(d / hosts.size()) % within.size()]));
  }
  return out;
}

nlohmann::json with_engine(const EngineProfile& p, const nlohmann::json& scenario, const std::string& where) {
  if (!p.has_constants()) bad_value(where, p.path, "an engine profile with fitted constants (servesim validate fit)");
  if (scenario.contains("pools")) bad_value(where, "a scenario with pools", "a one-pool scenario (the engine replaces its pool's settings)");
  const auto m = scenario.find("model");
  if (m == scenario.end() || !m->is_string()) {
    bad_value(where, m == scenario.end() ? "a scenario without model" : m->dump(), "a scenario naming its model (a catalogue name)");
  }
  const nlohmann::json e = base_scenario(p, scenario.value("name", std::string("run")), m->get<std::string>(), p.fitted["constants"]);
  nlohmann::json s = scenario;
  for (const auto& [key, value] : p.scenario.items()) {
    if (key != "metrics") s[key] = e[key];  // how results are sampled stays the user's
  }
  s["hardware"] = p.hardware;
  return s;
}

std::string resolve_data_path(const std::string& path, const std::string& data_dir) {
  if (fs::exists(path) || fs::path(path).is_absolute()) return path;
  const fs::path under = fs::path(data_dir) / path;
  return fs::exists(under) ? under.string() : path;
}

}  // namespace servesim::validate
