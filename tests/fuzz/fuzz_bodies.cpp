// The fuzz bodies for every parser of user input (issue 13), compiled once and shared by the
// libFuzzer executables (fuzz_entry.cpp, `fuzz` preset) and the sanitizer smoke replay
// (fuzz_smoke.cpp, every preset with tests). Contract checked: any input either parses or
// ends in InputError; anything else escaping (an internal error: a JSON type_error, an
// assertion, a sanitizer report, a leak, a hang) is a crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/calibrate/measurements.h"
#include "sim/calibrate/shapes.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/cost/fitted_profile.h"
#include "sim/hardware/device_spec.h"
#include "sim/hardware/topology.h"
#include "sim/model/model_spec.h"
#include "sim/search/plan_config.h"
#include "sim/search/sweep_spec.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "sim/validate/groundtruth.h"
#include "sim/workload/i_workload.h"
#include "tests/fuzz/fuzz_bodies.h"

namespace servesim::fuzz {
namespace {
namespace fs = std::filesystem;

// The input as a file (file readers), in a folder of this process, rewritten each time.
std::string as_file(const std::uint8_t* data, std::size_t size, const char* name) {
  static const fs::path dir = fs::temp_directory_path() / ("servesim-fuzz-" + std::to_string(::getpid()));
  static const bool made = fs::create_directories(dir) || true;
  (void)made;
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return p.string();
}

std::string_view text(const std::uint8_t* data, std::size_t size) { return {reinterpret_cast<const char*>(data), size}; }

// Streams a trace through its workload reader (at most 10,000 requests).
void read_trace(const char* impl, const std::string& path) {
  const nlohmann::json cfg = {{"impl", impl}, {"path", path}};
  auto w = servesim::WorkloadRegistry::get().build(cfg, "fuzz: workload", nullptr, servesim::WorkloadDeps{1, "/nonexistent", "fuzz: workload"});
  for (int i = 0; i < 10000 && w->next(); ++i) {
  }
}


void fuzz_scenario(const std::uint8_t* data, std::size_t size) {
  // A scenario JSON; an input starting with "set\n" is a list of --set lines on the default.
  const std::string_view t = text(data, size);
  nlohmann::json scenario;
  if (t.substr(0, 4) == "set\n") {
    scenario = nlohmann::json::parse(default_scenario_text());
    std::size_t start = 4;
    while (start < t.size()) {
      const std::size_t nl = t.find('\n', start);
      apply_override(scenario, std::string(t.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start)));
      if (nl == std::string_view::npos) break;
      start = nl + 1;
    }
  } else {
    scenario = parse_json_text(t, "fuzz.json");
  }
  (void)parse_scenario(scenario, "fuzz.json");
}

void fuzz_hf_config(const std::uint8_t* data, std::size_t size) {
  (void)ModelSpec::from_hf_config(parse_json_text(text(data, size), "config.json"), "fuzz", "config.json");
}

void fuzz_device(const std::uint8_t* data, std::size_t size) {
  (void)DeviceSpec::from_json(parse_json_text(text(data, size), "device.json"), "device.json");
}

void fuzz_topology(const std::uint8_t* data, std::size_t size) {
  // A node or cluster profile; a cluster's node is looked up beside it or in the data dir.
  (void)Topology::load(as_file(data, size, "topology.json"), SERVESIM_DATA_DIR, "fuzz: topology");
}

void fuzz_fitted_profile(const std::uint8_t* data, std::size_t size) {
  // The in-place reader (from_text_fast) either declines or reads what nlohmann's does.
  const std::string t(text(data, size));
  if (const auto fast = FittedProfile::from_text_fast(t, "profile.json")) {
    try {
      const FittedProfile slow = FittedProfile::from_json(parse_json_text(t, "profile.json"), "profile.json");
      if (slow.to_json().dump() == fast->to_json().dump()) return;
    } catch (const InputError&) {
    }
    std::fprintf(stderr, "fuzz_fitted_profile: the in-place reader accepted what nlohmann's reads otherwise\n");
    std::abort();
  }
  (void)FittedProfile::from_text(t, "profile.json");
}

void fuzz_azure_csv(const std::uint8_t* data, std::size_t size) {
  read_trace("azure_csv", as_file(data, size, "trace.csv"));
}

void fuzz_mooncake_jsonl(const std::uint8_t* data, std::size_t size) {
  read_trace("mooncake_jsonl", as_file(data, size, "trace.jsonl"));
}

void fuzz_sharegpt_csv(const std::uint8_t* data, std::size_t size) {
  read_trace("sharegpt_csv", as_file(data, size, "sharegpt.csv"));
}

void fuzz_vidur_csv(const std::uint8_t* data, std::size_t size) {
  read_trace("vidur_csv", as_file(data, size, "vidur.csv"));
}

void fuzz_agent_jsonl(const std::uint8_t* data, std::size_t size) {
  // An agent-program trace: the first calls of its programs (later calls need completions).
  read_trace("agent", as_file(data, size, "agent.jsonl"));
}

void fuzz_measurements_csv(const std::uint8_t* data, std::size_t size) {
  // Measurement tables: harness CSVs, AIConfigurator and Vidur profiling CSVs.
  calib::MeasurementSet set;
  const std::string p = as_file(data, size, "table.csv");
  calib::read_measurements(p, "table.csv", set);
}

void fuzz_shapes_csv(const std::uint8_t* data, std::size_t size) {
  (void)calib::read_shapes(as_file(data, size, "shapes.csv"));
}

void fuzz_sweep(const std::uint8_t* data, std::size_t size) {
  // A sweep file: base scenario plus axes, every point expanded and parsed.
  (void)search::load_sweep(as_file(data, size, "sweep.json"));
}

void fuzz_plan(const std::uint8_t* data, std::size_t size) {
  // A plan-search file (candidates, SLOs, prices, traffic).
  (void)search::parse_plan(parse_json_text(text(data, size), "plan.json"), "plan.json");
}

void fuzz_groundtruth(const std::uint8_t* data, std::size_t size) {
  // A ground-truth run folder: meta.json, requests.csv and steps.csv, in that order,
  // separated by lines "----".
  static const fs::path dir = fs::temp_directory_path() / ("servesim-fuzz-gt-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string_view t = text(data, size);
  const char* names[] = {"meta.json", "requests.csv", "steps.csv"};
  std::size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    const std::size_t sep = i < 2 ? t.find("\n----\n", start) : std::string_view::npos;
    const std::string_view part = t.substr(std::min(start, t.size()), sep == std::string_view::npos ? std::string_view::npos : sep - start);
    std::ofstream(dir / names[i], std::ios::binary | std::ios::trunc).write(part.data(), static_cast<std::streamsize>(part.size()));
    start = sep == std::string_view::npos ? t.size() : sep + 6;
  }
  (void)validate::read_run(dir.string());
}

}  // namespace

const std::vector<std::pair<std::string, Body>>& targets() {
  static const std::vector<std::pair<std::string, Body>> all = {
      {"scenario", fuzz_scenario},
      {"hf_config", fuzz_hf_config},
      {"device", fuzz_device},
      {"topology", fuzz_topology},
      {"fitted_profile", fuzz_fitted_profile},
      {"azure_csv", fuzz_azure_csv},
      {"mooncake_jsonl", fuzz_mooncake_jsonl},
      {"sharegpt_csv", fuzz_sharegpt_csv},
      {"vidur_csv", fuzz_vidur_csv},
      {"agent_jsonl", fuzz_agent_jsonl},
      {"measurements_csv", fuzz_measurements_csv},
      {"shapes_csv", fuzz_shapes_csv},
      {"sweep", fuzz_sweep},
      {"plan", fuzz_plan},
      {"groundtruth", fuzz_groundtruth},
  };
  return all;
}

Body find(std::string_view name) {
  for (const auto& [n, body] : targets()) {
    if (n == name) return body;
  }
  return nullptr;
}

void run_one(Body body, const std::uint8_t* data, std::size_t size) {
  try {
    body(data, size);
  } catch (const InputError&) {
    // Bad input, reported properly: the expected outcome for most inputs.
  }
}

}  // namespace servesim::fuzz
