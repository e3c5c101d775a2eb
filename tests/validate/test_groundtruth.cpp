// Readers of ground-truth run folders, the replay workload, sweep groups and engine
// profiles, on the hand-made run in data/tiny_run (2 requests, 4 steps) and on broken
// copies of it: every bad input is an InputError naming the file, line or field.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "tests/error_of.h"
#include "sim/core/error.h"
#include "sim/validate/engine_fit.h"
#include "sim/validate/engine_profile.h"
#include "sim/validate/groundtruth.h"
#include "sim/workload/i_workload.h"

namespace servesim::validate {
namespace {

using servesim::testing::error_of;
namespace fs = std::filesystem;

const std::string kRun = std::string(SERVESIM_TEST_DATA) + "/tiny_run";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A copy of tiny_run in a fresh temp folder, with `file` replaced by `text` (if given).
fs::path broken_copy(const std::string& name, const std::string& file = "", const std::string& text = "") {
  const fs::path d = fs::temp_directory_path() / ("servesim_gt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  for (const char* f : {"meta.json", "requests.csv", "steps.csv"}) fs::copy_file(fs::path(kRun) / f, d / f);
  if (!file.empty()) std::ofstream(d / file, std::ios::trunc) << text;
  return d;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(Groundtruth, ReadsTheTinyRun) {
  const GtRun run = read_run(kRun);
  EXPECT_EQ(run.meta.name, "tiny_run");
  EXPECT_EQ(run.meta.role, "validation");
  EXPECT_EQ(run.meta.model, "Llama-3.1-8B");
  EXPECT_EQ(run.meta.num_blocks, 100);
  EXPECT_EQ(run.meta.block_size, 256);
  EXPECT_DOUBLE_EQ(run.meta.safety_margin, 0.15);
  EXPECT_FALSE(run.meta.cuda_graphs);
  ASSERT_EQ(run.requests.size(), 2u);
  EXPECT_DOUBLE_EQ(run.requests[1].arrival_s, 0.5);
  EXPECT_EQ(run.requests[1].input_tokens, 4);
  EXPECT_EQ(run.requests[0].output_tokens, 3);
  EXPECT_TRUE(run.requests[0].finished);
  ASSERT_EQ(run.steps.size(), 4u);
  ASSERT_EQ(run.steps[2].seqs.size(), 2u);
  EXPECT_EQ(run.steps[2].seqs[1].rid, 1);
  EXPECT_EQ(run.steps[2].seqs[1].q, 4);
  EXPECT_EQ(run.steps[2].seqs[0].context, 9);
  EXPECT_DOUBLE_EQ(run.steps[2].duration_s, 0.4);
}

TEST(Groundtruth, HostProbeIsTheMedianPlanBuildAfterTheFirst) {
  EXPECT_EQ(read_meta(kRun).host_plan_build_s, 0.0);  // the tiny run has none
  const std::string meta = slurp(fs::path(kRun) / "meta.json");
  auto with_probe = [&](const std::string& name, const std::string& probe) {
    const std::string text = replace(meta, "\"sdpa_backend_setting\"", "\"sdpa_probe\": " + probe + ", \"sdpa_backend_setting\"");
    return broken_copy(name, "meta.json", text);
  };
  // as_configured cases 0.9 (first: skipped), 0.02, 0.06, 0.04 and 0.05: median of the last
  // four (0.04 + 0.05) / 2 = 0.045; other modes and failed cases do not count.
  fs::path d = with_probe("probe", R"({"cases": [{"mode": "as_configured", "first_call_s": 0.9},
      {"mode": "as_configured", "first_call_s": 0.02}, {"mode": "math_only", "first_call_s": 7},
      {"mode": "as_configured", "first_call_s": 0.06}, {"mode": "as_configured", "error": "x"},
      {"mode": "as_configured", "first_call_s": 0.04}, {"mode": "as_configured", "first_call_s": 0.05}]})");
  EXPECT_NEAR(read_meta(d.string()).host_plan_build_s, 0.045, 1e-12);
  fs::remove_all(d);
  d = with_probe("probe_bad", R"({"cases": [{"mode": "as_configured", "first_call_s": "slow"}]})");
  EXPECT_NE(error_of([&] { read_meta(d.string()); }).find("sdpa_probe.cases[].first_call_s"), std::string::npos);
  fs::remove_all(d);
  d = with_probe("probe_kind", "5");
  EXPECT_NE(error_of([&] { read_meta(d.string()); }).find("meta.json: sdpa_probe"), std::string::npos);
  fs::remove_all(d);
}

TEST(Groundtruth, CompositionParsing) {
  const auto s = parse_composition("3:1:400;7:512:0", "w");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].rid, 3);
  EXPECT_EQ(s[0].q, 1);
  EXPECT_EQ(s[0].context, 400);
  EXPECT_EQ(s[1].q, 512);
  for (const char* bad : {"", "1:2", "1:2:3:4", "a:1:0", "1:0:5", "1:1:-1", "1:1:0;"}) {
    EXPECT_NE(error_of([&] { parse_composition(bad, "steps.csv:2:19"); }).find("steps.csv:2:19"), std::string::npos) << bad;
  }
}

TEST(Groundtruth, BadFilesNameTheFileLineAndField) {
  const std::string req = slurp(fs::path(kRun) / "requests.csv");
  const std::string steps = slurp(fs::path(kRun) / "steps.csv");
  const std::string meta = slurp(fs::path(kRun) / "meta.json");
  struct Case {
    std::string name, file, text, expect;
  };
  const std::vector<Case> cases = {
      {"tokens", "requests.csv", replace(req, "0,0.000000,0.000000,8,3", "0,0.000000,0.000000,eight,3"), "requests.csv:2"},
      {"zero_out", "requests.csv", replace(req, ",4,2,2,", ",4,0,2,"), "requests.csv:3"},
      {"order", "requests.csv", replace(req, "1,0.500000,0.500000", "1,0.500000,-0.1"), "requests.csv:3"},
      {"status", "requests.csv", replace(req, "0,FINISHED\n1", "0,DONE\n1"), "requests.csv:2"},
      {"rid", "steps.csv", replace(steps, "1:1:4", "9:1:4"), "steps.csv:5"},
      {"kv", "steps.csv", replace(steps, ",1,0,1,5,1,", ",1,0,1,6,1,"), "steps.csv:5"},
      {"count", "steps.csv", replace(steps, "0.298900,1,8,0,8,", "0.298900,2,8,0,8,"), "steps.csv:2"},
      {"column", "steps.csv", replace(steps, "composition", "compo"), "steps.csv"},
      {"meta_field", "meta.json", replace(meta, "\"num_blocks\": 100", "\"num_blockz\": 100"), "engine_config.num_blocks"},
      {"overrides", "meta.json", replace(meta, "\"overrides\": {}", "\"overrides\": {\"num_hidden_layers\": 2}"), "model.overrides"},
      {"name", "meta.json", replace(meta, "\"name\": \"tiny_run\"", "\"name\": \"../x\""), "run.name"},
      {"json", "meta.json", "{ not json", "meta.json"},
  };
  for (const Case& c : cases) {
    const fs::path d = broken_copy(c.name, c.file, c.text);
    const std::string err = error_of([&] { read_run(d.string()); });
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.name << ": " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << c.name << ": one line";
    fs::remove_all(d);
  }
  const fs::path d = broken_copy("missing");
  fs::remove(d / "steps.csv");
  EXPECT_NE(error_of([&] { read_run(d.string()); }).find("steps.csv"), std::string::npos);
  fs::remove_all(d);
}

TEST(Groundtruth, FindRunsInAFolderOfRuns) {
  const fs::path d = fs::temp_directory_path() / ("servesim_gt_runs_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d / "b_run");
  fs::create_directories(d / "a_run");
  fs::create_directories(d / "not_a_run");
  std::ofstream(d / "b_run" / "meta.json") << "{}";
  std::ofstream(d / "a_run" / "meta.json") << "{}";
  const auto runs = find_runs(d.string());
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(fs::path(runs[0]).filename(), "a_run");
  EXPECT_EQ(find_runs(kRun), std::vector<std::string>{kRun});
  EXPECT_NE(error_of([&] { find_runs((d / "not_a_run").string()); }).find("not_a_run"), std::string::npos);
  fs::remove_all(d);
}

TEST(Groundtruth, ReplayWorkloadYieldsTheMeasuredArrivals) {
  auto w = WorkloadRegistry::get().build(nlohmann::json{{"impl", "groundtruth_replay"}, {"run", kRun}}, "test: workload", nullptr,
                                         WorkloadDeps{1, SERVESIM_DATA_DIR, "test: workload"});
  const auto a = w->next();
  const auto b = w->next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->id, 0);
  EXPECT_EQ(a->arrival, 0);
  EXPECT_EQ(a->prompt_tokens, 8);
  EXPECT_EQ(b->arrival, 500'000'000);  // 0.5 s
  EXPECT_EQ(b->output_tokens, 2);
  EXPECT_FALSE(w->next());
}

TEST(Groundtruth, SweepGroups) {
  const auto g = parse_sweep_groups("1x(q512,ctx0)+16x(q1,ctx1024)", "w");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].count, 1);
  EXPECT_EQ(g[0].q, 512);
  EXPECT_EQ(g[1].count, 16);
  EXPECT_EQ(g[1].context, 1024);
  for (const char* bad : {"", "1x(q512)", "x(q1,ctx0)", "1x(q0,ctx0)", "1x(q1,ctx0", "1x(q1,ctx0)+"}) {
    EXPECT_NE(error_of([&] { parse_sweep_groups(bad, "sweep.csv:3:2"); }).find("sweep.csv:3:2"), std::string::npos) << bad;
  }
}

TEST(EngineProfile, RunMustComeFromTheProfiledEngine) {
  const EngineProfile p = EngineProfile::load(std::string(SERVESIM_TEST_DATA) + "/engine_test.json");
  EXPECT_TRUE(p.has_constants());
  GtRun run = read_run(kRun);
  const nlohmann::json s = scenario_for_run(p, run, p.fitted["constants"]);
  EXPECT_EQ(s["model"], "Llama-3.1-8B");
  EXPECT_EQ(s["cost"]["model"], "Llama-3.1-8B");
  EXPECT_EQ(s["kv"]["num_gpu_blocks_override"], 100);
  EXPECT_EQ(s["scheduler"]["max_batch_tokens"], 8192);
  EXPECT_EQ(s["cost"]["launch_per_layer"], 0.01);
  run.meta.sdpa_backend = "no-cudnn";
  const std::string err = error_of([&] { check_run_matches(p, run.meta, kRun); });
  EXPECT_NE(err.find("sdpa_backend_setting"), std::string::npos) << err;
  EXPECT_NE(err.find("no-cudnn"), std::string::npos) << err;
}

// A user's scenario on the profile's engine: the engine's scheduler, KV manager and cost model
// (with the fitted constants, for the scenario's model) and hardware; the workload and seed
// stay the user's. A scenario with pools or without a model name is refused, naming the option.
TEST(EngineProfile, WithEngineTakesTheEnginesSettingsAndKeepsTheWorkload) {
  const EngineProfile p = EngineProfile::load(std::string(SERVESIM_TEST_DATA) + "/engine_test.json");
  const nlohmann::json user = {{"model", "Llama-3.1-8B"}, {"hardware", "a100_sxm4_80gb"}, {"seed", 7},
                               {"scheduler", {{"impl", "vllm_v1"}, {"max_num_seqs", 16}}},
                               {"workload", {{"impl", "synthetic"}, {"num_requests", 5}}}};
  const nlohmann::json s = with_engine(p, user, "--engine");
  EXPECT_EQ(s["hardware"], p.hardware);
  EXPECT_EQ(s["scheduler"]["impl"], "hf_cb");
  EXPECT_FALSE(s["scheduler"].contains("max_num_seqs"));  // the user's scheduler is replaced, not merged
  EXPECT_EQ(s["cost"]["impl"], p.scenario["cost"]["impl"]);
  EXPECT_EQ(s["cost"]["launch_per_layer"], 0.01);
  EXPECT_EQ(s["cost"]["model"], "Llama-3.1-8B");
  EXPECT_EQ(s["seed"], 7);
  EXPECT_EQ(s["workload"], user["workload"]);
  nlohmann::json pools = user;
  pools["pools"] = nlohmann::json::array();
  EXPECT_NE(error_of([&] { with_engine(p, pools, "--engine"); }).find("--engine"), std::string::npos);
  nlohmann::json no_model = user;
  no_model.erase("model");
  EXPECT_NE(error_of([&] { with_engine(p, no_model, "--engine"); }).find("naming its model"), std::string::npos);
}

// The machine instances replays draw hosts from: probes 30, 36 and 45 ms against the fit
// machine's 30 ms are scales 1, 1.2 and 1.5. Without a run to leave out every instance is
// drawn; a run probed at 36 ms leaves its own process out; a run on the fit machine keeps it
// (the fit machine is always kept). The order is a seeded permutation.
TEST(EngineProfile, HostDrawOrderIsEveryInstanceButTheRunsOwnProcess) {
  EngineProfile p;
  p.host_probe_s = 0.030;
  p.host_population = {{0.030, 1.0}, {0.036, 1.2}, {0.045, 1.5}};
  const auto sorted = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(host_draw_order(p)), (std::vector<double>{1.0, 1.2, 1.5}));
  EXPECT_EQ(sorted(host_draw_order(p, 0.036)), (std::vector<double>{1.0, 1.5}));
  EXPECT_EQ(sorted(host_draw_order(p, 0.030)), (std::vector<double>{1.0, 1.2, 1.5}));
  EXPECT_EQ(host_draw_order(p), host_draw_order(p));
}

TEST(EngineProfile, MalformedProfileIsAnInputError) {
  const fs::path d = fs::temp_directory_path() / ("servesim_engine_" + std::to_string(::getpid()));
  fs::create_directories(d);
  const std::string good = slurp(std::string(SERVESIM_TEST_DATA) + "/engine_test.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {replace(good, "servesim.engine/1", "servesim.engine/9"), "schema"},
      {replace(good, "\"cuda_graphs\": false", "\"cuda_graphs\": \"no\""), "engine.cuda_graphs"},
      {replace(good, "\"gpu_sweeps\": []", "\"gpu_sweeps\": [3]"), "calibration.gpu_sweeps"},
      {replace(good, "\"scheduler\": {\"impl\": \"hf_cb\"},", ""), "scenario.scheduler"},
  };
  for (const auto& [text, expect] : cases) {
    std::ofstream(d / "p.json", std::ios::trunc) << text;
    const std::string err = error_of([&] { EngineProfile::load((d / "p.json").string()); });
    EXPECT_NE(err.find(expect), std::string::npos) << expect << ": " << err;
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace servesim::validate
