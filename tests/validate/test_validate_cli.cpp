// `servesim validate` end to end on the hand-made run data/tiny_run with the test profile
// data/engine_test.json, whose constants make every step host-bound at exactly
// 32 layers x 10 ms = 0.32 s (all other host costs 0; a step of <= 12 tokens of Llama-3.1-8B
// needs a few ms of device time, far below 0.32 s).
//
// Simulated schedule (hf_cb): r0 (prompt 8, output 3) arrives at 0, r1 (4, 2) at 0.5 s.
//   step 1 [0, 0.32]: r0 prefill -> first token 0.32
//   step 2 [0.32, 0.64]: r0 decode (r1 arrives during it)
//   step 3 [0.64, 0.96]: r0 decode (3rd token: done at 0.96) + r1 prefill -> first token 0.96
//   step 4 [0.96, 1.28]: r1 decode (done at 1.28)
// Predicted: TTFT r0 0.32, r1 0.46; E2E r0 0.96, r1 0.78; TPOT r0 (0.96-0.32)/2 = 0.32, r1 0.32.
// Measured (requests.csv): TTFT r0 0.3001, r1 1.0206-0.5 = 0.5206; E2E r0 1.0206, r1 0.8409;
//   TPOT r0 (1.0206-0.3001)/2 = 0.36025, r1 1.3409-1.0206 = 0.3203.
// Percentiles of two values (linear): p50 = mean, p90 = low + 0.9 (high - low).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/validate/engine_fit.h"
#include "sim/validate/engine_profile.h"
#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;
using testing::run_cli;
using testing::temp_dir;

const std::string kData = SERVESIM_TEST_DATA;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

TEST(ValidateCli, TinyRunEndToEndWithHandDerivedErrors) {
  const fs::path out = temp_dir("validate_tiny") / "out";
  const auto r = run_cli("validate " + kData + "/tiny_run --engine " + kData + "/engine_test.json --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* f : {"validation.json", "summary.md", "tiny_run/per_request.csv", "tiny_run/per_step.csv", "tiny_run/per_request.svg"}) {
    EXPECT_TRUE(fs::is_regular_file(out / f)) << f;
  }
  const nlohmann::json v = read_json(out / "validation.json")["runs"][0];
  const double tol = 1e-6;
  // Steps: measured 0.30, 0.32, 0.40, 0.32 s against 0.32 each: errors +1/15, 0, -0.2, 0.
  // |error| sorted 0, 0, 0.0667, 0.2: median (0 + 1/15)/2 = 1/30; p90 at rank 2.7:
  // 1/15 + 0.7 x (0.2 - 1/15) = 0.16. Signed: -0.2, 0, 0, 1/15: median 0.
  EXPECT_NEAR(v["step_time"]["abs_error_median"].get<double>(), 1.0 / 30, tol);
  EXPECT_NEAR(v["step_time"]["abs_error_p90"].get<double>(), 0.16, tol);
  EXPECT_NEAR(v["step_time"]["error_median"].get<double>(), 0.0, tol);
  EXPECT_EQ(v["num_steps"]["measured"].get<double>(), 4);
  EXPECT_EQ(v["num_steps"]["predicted"].get<double>(), 4);
  // TTFT p50: measured (0.3001 + 0.5206)/2 = 0.41035, predicted (0.32 + 0.46)/2 = 0.39.
  EXPECT_NEAR(v["ttft_s"]["p50"]["measured"].get<double>(), 0.41035, tol);
  EXPECT_NEAR(v["ttft_s"]["p50"]["predicted"].get<double>(), 0.39, tol);
  EXPECT_NEAR(v["ttft_s"]["p50"]["error"].get<double>(), 0.39 / 0.41035 - 1, tol);
  // TTFT p90: measured 0.3001 + 0.9 x 0.2205 = 0.49855; predicted 0.32 + 0.9 x 0.14 = 0.446.
  EXPECT_NEAR(v["ttft_s"]["p90"]["measured"].get<double>(), 0.49855, tol);
  EXPECT_NEAR(v["ttft_s"]["p90"]["predicted"].get<double>(), 0.446, tol);
  // TPOT p50: measured (0.36025 + 0.3203)/2 = 0.340275, predicted 0.32.
  EXPECT_NEAR(v["tpot_s"]["p50"]["measured"].get<double>(), 0.340275, tol);
  EXPECT_NEAR(v["tpot_s"]["p50"]["predicted"].get<double>(), 0.32, tol);
  // E2E p50: measured (1.0206 + 0.8409)/2 = 0.93075, predicted (0.96 + 0.78)/2 = 0.87.
  EXPECT_NEAR(v["e2e_s"]["p50"]["measured"].get<double>(), 0.93075, tol);
  EXPECT_NEAR(v["e2e_s"]["p50"]["predicted"].get<double>(), 0.87, tol);
  // Throughput: 5 output tokens over [0, 1.3409] measured, [0, 1.28] predicted.
  EXPECT_NEAR(v["throughput_output_tokens_per_s"]["measured"].get<double>(), 5 / 1.3409, tol);
  EXPECT_NEAR(v["throughput_output_tokens_per_s"]["predicted"].get<double>(), 5 / 1.28, tol);
  // Targets: step median 3.3% <= 5% pass; TTFT p50 -5.0% pass; TPOT p50 -6.0% pass;
  // throughput +4.8% pass.
  for (const auto& t : v["targets"]) EXPECT_TRUE(t["pass"].get<bool>()) << t.dump();
  // The table on stdout names the run and the metrics.
  EXPECT_NE(r.out.find("run tiny_run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TTFT p50"), std::string::npos) << r.out;
  // per_request.csv: a header and one row per request.
  std::ifstream in(out / "tiny_run" / "per_request.csv");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(testing::count_lines(text), 3);
  EXPECT_NE(text.find("1,4,2,0.520600,0.460000,"), std::string::npos) << text;
  fs::remove_all(out.parent_path());
}

// --host-probe: the run's host probe (sdpa_probe: as_configured plan builds 0.5 s, skipped as
// the first, then 0.03, 0.04, 0.03 s: median 0.03 s) over the profile's fitted.host_probe
// (0.02 s) gives host_scale 1.5, so every step of the tiny run takes 1.5 x 0.32 = 0.48 s:
//   step 1 [0, 0.48] r0 prefill; step 2 [0.48, 0.96] r0 decode (r1 arrives at 0.5);
//   step 3 [0.96, 1.44] r0 decode + r1 prefill; step 4 [1.44, 1.92] r1 decode.
// Predicted TTFT r0 0.48, r1 1.44 - 0.5 = 0.94: p50 0.71. Steps measured 0.30, 0.32, 0.40,
// 0.32 against 0.48: errors +0.6, +0.5, +0.2, +0.5, |error| median 0.5. Decode-only steps
// (2 and 4): +0.5, +0.5; steps with prefill (1 and 3): +0.6, +0.2, median 0.4.
TEST(ValidateCli, HostProbeScalesTheHostTimeByTheRunsProbeOverTheFitMachines) {
  const fs::path base = temp_dir("validate_probe");
  const fs::path run = base / "tiny_run";
  fs::create_directories(run);
  for (const char* f : {"requests.csv", "steps.csv"}) fs::copy_file(fs::path(kData) / "tiny_run" / f, run / f);
  nlohmann::json meta = read_json(fs::path(kData) / "tiny_run" / "meta.json");
  meta["sdpa_probe"] = {{"cases",
                         {{{"mode", "as_configured"}, {"first_call_s", 0.5}},
                          {{"mode", "as_configured"}, {"first_call_s", 0.03}},
                          {{"mode", "cudnn_only"}, {"first_call_s", 9.0}},
                          {{"mode", "as_configured"}, {"error", "out of memory"}},
                          {{"mode", "as_configured"}, {"first_call_s", 0.04}},
                          {{"mode", "as_configured"}, {"first_call_s", 0.03}}}}};
  std::ofstream(run / "meta.json") << meta.dump();
  nlohmann::json p = read_json(kData + "/engine_test.json");
  p["fitted"]["host_probe"] = {{"sdpa_plan_build_s", 0.02}, {"runs", 1}, {"rule", "test"}};
  std::ofstream(base / "engine.json") << p.dump();
  const fs::path out = base / "out";
  const auto r = run_cli("validate " + run.string() + " --host-probe --engine " + (base / "engine.json").string() + " --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("host scale 1.500"), std::string::npos) << r.out;
  const nlohmann::json v = read_json(out / "validation.json")["runs"][0];
  const double tol = 1e-6;
  EXPECT_NEAR(v["host_scale"].get<double>(), 1.5, tol);
  EXPECT_NEAR(v["step_time"]["abs_error_median"].get<double>(), 0.5, tol);
  EXPECT_NEAR(v["step_time_decode_only"]["abs_error_median"].get<double>(), 0.5, tol);
  EXPECT_EQ(v["step_time_decode_only"]["count"].get<int>(), 2);
  EXPECT_NEAR(v["step_time_with_prefill"]["abs_error_median"].get<double>(), 0.4, tol);
  EXPECT_NEAR(v["ttft_s"]["p50"]["predicted"].get<double>(), 0.71, tol);
  // Without the flag the same run keeps scale 1 (steps of 0.32 s: TTFT p50 0.39).
  const auto plain = run_cli("validate " + run.string() + " -q --engine " + (base / "engine.json").string() + " --out " + (base / "plain").string());
  ASSERT_EQ(plain.exit_code, 0) << plain.out;
  const nlohmann::json w = read_json(base / "plain" / "validation.json")["runs"][0];
  EXPECT_EQ(w["host_scale"].get<double>(), 1.0);
  EXPECT_NEAR(w["ttft_s"]["p50"]["predicted"].get<double>(), 0.39, tol);
  // A run without a probe keeps scale 1, and says so.
  const auto unprobed = run_cli("validate " + kData + "/tiny_run --host-probe --engine " + (base / "engine.json").string() + " --out " + (base / "unprobed").string());
  ASSERT_EQ(unprobed.exit_code, 0) << unprobed.out;
  EXPECT_NE(unprobed.out.find("tiny_run: no host probe"), std::string::npos) << unprobed.out;
  EXPECT_EQ(read_json(base / "unprobed" / "validation.json")["runs"][0]["host_scale"].get<double>(), 1.0);
  // A profile without the fit machine's probe cannot scale: exit 2, nothing written.
  const auto bad = run_cli("validate " + run.string() + " --host-probe --engine " + kData + "/engine_test.json --out " + (base / "bad").string());
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("fitted.host_probe"), std::string::npos) << bad.out;
  EXPECT_FALSE(fs::exists(base / "bad"));
  fs::remove_all(base);
}

// A copy of the tiny run whose meta.json carries an SDPA probe whose cases after the first
// have median `probe_s` (and, when given, another engine setting).
fs::path probed_tiny_run(const fs::path& dir, double probe_s, const std::string& sdpa_backend = "") {
  fs::create_directories(dir);
  for (const char* f : {"requests.csv", "steps.csv"}) fs::copy_file(fs::path(kData) / "tiny_run" / f, dir / f);
  nlohmann::json meta = read_json(fs::path(kData) / "tiny_run" / "meta.json");
  meta["run"]["name"] = dir.filename().string();
  meta["sdpa_probe"] = {{"cases", {{{"mode", "as_configured"}, {"first_call_s", 0.5}}, {{"mode", "as_configured"}, {"first_call_s", probe_s}}}}};
  if (!sdpa_backend.empty()) meta["sdpa_backend_setting"] = sdpa_backend;
  std::ofstream(dir / "meta.json") << meta.dump();
  return dir;
}

// The host population: one instance per probing process (runs sharing a probe value), only
// runs of the profile's engine configuration, scale = probe / the fit machine's probe.
TEST(ValidateCli, HostPopulationHasOneInstancePerProbingProcessOfTheEngine) {
  const fs::path base = temp_dir("validate_population");
  probed_tiny_run(base / "pop" / "a1", 0.03);
  probed_tiny_run(base / "pop" / "a2", 0.03);  // the same process as a1
  probed_tiny_run(base / "pop" / "b", 0.06);
  probed_tiny_run(base / "pop" / "other_engine", 0.09, "no-cudnn");
  fs::create_directories(base / "pop" / "unprobed");
  for (const char* f : {"meta.json", "requests.csv", "steps.csv"}) fs::copy_file(fs::path(kData) / "tiny_run" / f, base / "pop" / "unprobed" / f);
  nlohmann::json p = read_json(kData + "/engine_test.json");
  p["calibration"]["host_population"] = {(base / "pop").string()};
  std::ofstream(base / "engine.json") << p.dump();
  const validate::EngineProfile profile = validate::EngineProfile::load((base / "engine.json").string());
  const nlohmann::json pop = validate::host_population(profile, 0.02, SimOptions{});
  ASSERT_EQ(pop["instances"].size(), 2u) << pop.dump();
  EXPECT_DOUBLE_EQ(pop["instances"][0]["probe_s"].get<double>(), 0.03);
  EXPECT_DOUBLE_EQ(pop["instances"][0]["scale"].get<double>(), 1.5);
  EXPECT_EQ(pop["instances"][0]["runs"], nlohmann::json({"a1", "a2"}));
  EXPECT_DOUBLE_EQ(pop["instances"][1]["scale"].get<double>(), 3.0);
  fs::remove_all(base);
}

// The test engine with the fit machine's probe 0.02 s and a population of three instances:
// the fit machine (scale 1), probe 0.03 (1.5) and 0.025 (1.25).
nlohmann::json engine_with_population() {
  nlohmann::json p = read_json(kData + "/engine_test.json");
  p["fitted"]["host_probe"] = {{"sdpa_plan_build_s", 0.02}, {"runs", 1}, {"rule", "test"}};
  p["fitted"]["host_population"] = {
      {"instances",
       {{{"probe_s", 0.02}, {"scale", 1.0}}, {{"probe_s", 0.03}, {"scale", 1.5}}, {{"probe_s", 0.025}, {"scale", 1.25}}}}};
  return p;
}

// validate --uncertainty draws each replay's host from the population, keeping the fit
// machine (scale 1) and leaving out the run's own process (probe 0.03, scale 1.5): replays
// alternate scales 1 and 1.25. Hand-derived TTFT p50 (every step 0.32 s x scale, r1 arrives
// at 0.5): scale 1: (0.32 + 0.46) / 2 = 0.39; scale 1.25, steps 0.40: r0 0.40, r1 joins the
// third step [0.80, 1.20]: (0.40 + 0.70) / 2 = 0.55. Four replays, 90 %: nearest ranks 1
// and 4: [0.39, 0.55].
TEST(ValidateCli, UncertaintyDrawsTheHostOfOtherMachineInstances) {
  const fs::path base = temp_dir("validate_host_draws");
  const fs::path run = probed_tiny_run(base / "tiny_run", 0.03);
  nlohmann::json p = engine_with_population();
  std::ofstream(base / "engine.json") << p.dump();
  const auto r = run_cli("validate " + run.string() + " --uncertainty 4 --engine " + (base / "engine.json").string() + " --out " +
                         (base / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const nlohmann::json j = read_json(base / "out" / "intervals.json");
  const double tol = 1e-6;
  EXPECT_EQ(j["runs"][0]["host_instances"].get<int>(), 2);
  EXPECT_NEAR(j["runs"][0]["ttft_p50"]["lo"].get<double>(), 0.39, tol);
  EXPECT_NEAR(j["runs"][0]["ttft_p50"]["hi"].get<double>(), 0.55, tol);
  EXPECT_NEAR(j["runs"][0]["ttft_p50"]["point"].get<double>(), 0.39, tol);
  // With --host-probe the run's own probe sets the scale (1.5: TTFT p50 0.71), no host draw.
  const auto probed = run_cli("validate " + run.string() + " --host-probe --uncertainty 4 --engine " + (base / "engine.json").string() +
                              " --out " + (base / "probed").string());
  ASSERT_EQ(probed.exit_code, 0) << probed.out;
  const nlohmann::json k = read_json(base / "probed" / "intervals.json");
  EXPECT_EQ(k["runs"][0]["host_instances"].get<int>(), 0);
  EXPECT_NEAR(k["runs"][0]["ttft_p50"]["lo"].get<double>(), 0.71, tol);
  EXPECT_NEAR(k["runs"][0]["ttft_p50"]["hi"].get<double>(), 0.71, tol);
  // A population instance without a positive scale is refused, naming the field.
  p["fitted"]["host_population"]["instances"][1]["scale"] = -1;
  std::ofstream(base / "bad.json") << p.dump();
  const auto bad = run_cli("validate " + run.string() + " --uncertainty 4 --engine " + (base / "bad.json").string() + " --out " +
                           (base / "bad").string());
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("fitted.host_population.instances[].scale"), std::string::npos) << bad.out;
  EXPECT_FALSE(fs::exists(base / "bad"));
  fs::remove_all(base);
}

// Run-to-run host variation on one instance (fitted.host_repeat): per process with two or more
// runs, each run's host time (median over decode-only steps of duration - wait) over the
// mean of its process's, minus 1. a2 repeats a1 with every step's duration and wait x1.1, so
// host 0.3191 and 0.35101 s: deviations 1 / 1.05 - 1 and 1.1 / 1.05 - 1 = -/+0.04762; b (one
// run in its process) has nothing to compare with.
TEST(ValidateCli, HostRepeatComparesEachRunWithTheOtherRunsOfItsProcess) {
  const fs::path base = temp_dir("validate_repeat");
  probed_tiny_run(base / "rep" / "a1", 0.03);
  const fs::path a2 = probed_tiny_run(base / "rep" / "a2", 0.03);
  probed_tiny_run(base / "rep" / "b", 0.06);
  {
    std::ifstream in(a2 / "steps.csv");
    std::string line, out;
    std::getline(in, line);
    out = line + "\n";
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::stringstream ss(line);
      for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
      for (const std::size_t col : {std::size_t{2}, std::size_t{6}}) cells[col] = fmt::format("{:.6f}", std::stod(cells[col]) * 1.1);
      for (std::size_t c = 0; c < cells.size(); ++c) out += (c ? "," : "") + cells[c];
      out += "\n";
    }
    std::ofstream(a2 / "steps.csv") << out;
  }
  nlohmann::json p = read_json(kData + "/engine_test.json");
  p["calibration"]["repeat_runs"] = {(base / "rep").string()};
  std::ofstream(base / "engine.json") << p.dump();
  const validate::EngineProfile profile = validate::EngineProfile::load((base / "engine.json").string());
  const nlohmann::json rep = validate::host_repeat(profile, SimOptions{});
  ASSERT_EQ(rep["processes"].size(), 1u) << rep.dump();
  EXPECT_EQ(rep["processes"][0]["runs"], nlohmann::json({"a1", "a2"}));
  ASSERT_EQ(rep["deviations"].size(), 2u);
  EXPECT_NEAR(rep["deviations"][0].get<double>(), -0.04762, 1e-5);
  EXPECT_NEAR(rep["deviations"][1].get<double>(), 0.04762, 1e-5);
  // Folders with no process of two runs: refused, naming the field.
  p["calibration"]["repeat_runs"] = {(base / "rep" / "b").string()};
  std::ofstream(base / "single.json") << p.dump();
  const validate::EngineProfile single = validate::EngineProfile::load((base / "single.json").string());
  try {
    validate::host_repeat(single, SimOptions{});
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("calibration.repeat_runs"), std::string::npos) << e.what();
  }
  fs::remove_all(base);
}

// With fitted.host_repeat, each replay's host is also scaled by 1 + a within-instance deviation,
// every (instance, deviation) pair once in the first n x m replays. Hand-derived as the test
// above (every step 0.32 s x scale; r0's first token after one step, r1 (arrives at 0.5) after
// the first step starting at or after 0.5; TTFT p50 the mean of the two):
//   scale 0.8 (steps 0.256): r1 in the step [0.512, 0.768]: (0.256 + 0.268) / 2 = 0.262;
//   scale 1.0: 0.39; scale 1.2 (0.384): r1 in [0.768, 1.152]: (0.384 + 0.652) / 2 = 0.518;
//   scale 1.5 (0.48): r1 in [0.96, 1.44]: (0.48 + 0.94) / 2 = 0.71;
//   scale 1.8 (0.576): r1 in [0.576, 1.152]: (0.576 + 0.652) / 2 = 0.614.
// Instances {1, 1.25} (the run's own 1.5 left out) x deviations {-0.2, +0.2}: scales 0.8, 1.0,
// 1.2, 1.5 over four replays: [0.262, 0.71]. With --host-probe (the run's own scale 1.5) the
// deviations still apply: 1.2 and 1.8, [0.518, 0.614].
TEST(ValidateCli, UncertaintyAlsoDrawsTheRunToRunVariationOfOneInstance) {
  const fs::path base = temp_dir("validate_within");
  const fs::path run = probed_tiny_run(base / "tiny_run", 0.03);
  nlohmann::json p = engine_with_population();
  p["fitted"]["host_repeat"] = {{"deviations", {-0.2, 0.2}}, {"rule", "test"}};
  std::ofstream(base / "engine.json") << p.dump();
  const std::string args = "validate " + run.string() + " --uncertainty 4 --engine " + (base / "engine.json").string();
  const auto r = run_cli(args + " --out " + (base / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const nlohmann::json j = read_json(base / "out" / "intervals.json");
  const double tol = 1e-6;
  EXPECT_EQ(j["runs"][0]["host_instances"].get<int>(), 2);
  EXPECT_EQ(j["within_instance"].get<int>(), 2);
  EXPECT_NEAR(j["runs"][0]["ttft_p50"]["lo"].get<double>(), 0.262, tol);
  EXPECT_NEAR(j["runs"][0]["ttft_p50"]["hi"].get<double>(), 0.71, tol);
  const auto probed = run_cli(args + " --host-probe --out " + (base / "probed").string());
  ASSERT_EQ(probed.exit_code, 0) << probed.out;
  const nlohmann::json k = read_json(base / "probed" / "intervals.json");
  EXPECT_EQ(k["runs"][0]["host_instances"].get<int>(), 0);
  EXPECT_NEAR(k["runs"][0]["ttft_p50"]["lo"].get<double>(), 0.518, tol);
  EXPECT_NEAR(k["runs"][0]["ttft_p50"]["hi"].get<double>(), 0.614, tol);
  EXPECT_NE(k["host_term"].get<std::string>().find("within-instance"), std::string::npos);
  // A deviation outside (-1, 1) is refused, naming the field.
  p["fitted"]["host_repeat"]["deviations"] = {0.1, -1.5};
  std::ofstream(base / "bad.json") << p.dump();
  const auto bad = run_cli("validate " + run.string() + " --uncertainty 4 --engine " + (base / "bad.json").string() + " --out " +
                           (base / "bad").string());
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("fitted.host_repeat.deviations[]"), std::string::npos) << bad.out;
  EXPECT_FALSE(fs::exists(base / "bad"));
  fs::remove_all(base);
}

TEST(ValidateCli, SameInputsGiveByteIdenticalOutputs) {
  const fs::path base = temp_dir("validate_det");
  for (const char* o : {"a", "b"}) {
    const auto r = run_cli("validate " + kData + "/tiny_run -q --engine " + kData + "/engine_test.json --out " + (base / o).string());
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  for (const char* f : {"validation.json", "summary.md", "tiny_run/per_request.csv", "tiny_run/per_step.csv", "tiny_run/per_request.svg"}) {
    std::ifstream a(base / "a" / f), b(base / "b" / f);
    const std::string ta((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
    const std::string tb((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
    EXPECT_EQ(ta, tb) << f;
  }
  fs::remove_all(base);
}

TEST(ValidateCli, BadInputExitsWith2AndWritesNothing) {
  const fs::path base = temp_dir("validate_bad");
  const fs::path out = base / "out";
  // A missing run folder.
  auto r = run_cli("validate " + (base / "nope").string() + " --engine " + kData + "/engine_test.json --out " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("nope"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  // A profile without fitted constants.
  nlohmann::json p = read_json(kData + "/engine_test.json");
  p.erase("fitted");
  std::ofstream(base / "unfitted.json") << p.dump();
  r = run_cli("validate " + kData + "/tiny_run --engine " + (base / "unfitted.json").string() + " --out " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("validate fit"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  // A run of another engine setting (SDPA backend) than the profile models.
  p = read_json(kData + "/engine_test.json");
  p["engine"]["sdpa_backend"] = "no-cudnn";
  std::ofstream(base / "nocudnn.json") << p.dump();
  r = run_cli("validate " + kData + "/tiny_run --engine " + (base / "nocudnn.json").string() + " --out " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("sdpa_backend_setting"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  // Fitting must refuse a validation run among the calibration runs.
  p = read_json(kData + "/engine_test.json");
  p["calibration"]["runs"] = {kData + "/tiny_run"};
  std::ofstream(base / "fit_on_val.json") << p.dump();
  r = run_cli("validate fit --engine " + (base / "fit_on_val.json").string() + " --out " + (base / "fitted.json").string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("run.role"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(base / "fitted.json"));
  fs::remove_all(base);
}

// The committed engine profile is what its calibration inputs give: a fresh fit reproduces
// its constants (within 2%: a change to the inner cost model or the plan that moves them more
// means the profile must be refitted with `servesim validate fit`).
TEST(ValidateCli, CommittedEngineProfileIsReproducibleFromItsCalibrationInputs) {
  const std::string profile = std::string(SERVESIM_DATA_DIR) + "/engines/hf_transformers_cb_h200.json";
  if (!fs::exists(std::string(SERVESIM_DATA_DIR) + "/calibration/data/groundtruth/llama8b_online_r1.5_cal/steps.csv")) {
    GTEST_SKIP() << "ground-truth data absent";
  }
  const fs::path base = temp_dir("validate_refit");
  const auto r = run_cli("validate fit --engine " + profile + " --out " + (base / "refit.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const nlohmann::json committed = read_json(profile)["fitted"]["constants"];
  const nlohmann::json fresh = read_json(base / "refit.json")["fitted"]["constants"];
  ASSERT_EQ(committed.size(), fresh.size());
  for (const auto& [k, v] : committed.items()) {
    const double a = v.get<double>(), b = fresh.at(k).get<double>();
    EXPECT_NEAR(b, a, 0.02 * std::fabs(a) + 1e-12) << k << ": the profile is stale, run `servesim validate fit`";
  }
  // The fit machine's host probe: the two Llama calibration runs came from one process whose
  // sdpa_probe plan builds after the first are 29.939, 29.642, 28.568, 28.738 ms (median
  // (28.738 + 29.642) / 2 = 29.19 ms) for both; the Qwen run has no probe.
  const nlohmann::json probe = read_json(base / "refit.json")["fitted"]["host_probe"];
  EXPECT_NEAR(probe["sdpa_plan_build_s"].get<double>(), 0.02919, 1e-9);
  EXPECT_EQ(probe["runs"].get<int>(), 2);
  EXPECT_EQ(read_json(profile)["fitted"]["host_probe"], probe);
  fs::remove_all(base);
}

// Every validation run of the ground truth replays without error (accuracy is reported in
// calibration/data/groundtruth/VALIDATION.md, not asserted here).
TEST(ValidateCli, RealValidationRunsReplay) {
  const std::string gt = std::string(SERVESIM_DATA_DIR) + "/calibration/data/groundtruth";
  if (!fs::exists(gt + "/llama8b_online_r3_val/steps.csv")) GTEST_SKIP() << "ground-truth data absent";
  const fs::path out = temp_dir("validate_real") / "out";
  const auto r = run_cli("validate " + gt + " -q --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const nlohmann::json v = read_json(out / "validation.json");
  EXPECT_EQ(v["runs"].size(), 3u);  // the runs of role "validation"
  for (const auto& run : v["runs"]) {
    EXPECT_EQ(run["role"], "validation");
    EXPECT_EQ(run["ttft_s"]["count"].get<int>(), run["e2e_s"]["count"].get<int>());
  }
  fs::remove_all(out.parent_path());
}

// The multi-step advance (engine.fast_forward) merges runs of identical decode steps of hf_cb;
// the replay of a real run must be byte-identical with it on and off.
TEST(ValidateCli, FastForwardIsInvisibleInAReplay) {
  const std::string gt = std::string(SERVESIM_DATA_DIR) + "/calibration/data/groundtruth/llama8b_online_r3_val";
  if (!fs::exists(gt + "/steps.csv")) GTEST_SKIP() << "ground-truth data absent";
  const fs::path base = temp_dir("validate_ff");
  std::string outputs[2];
  for (int on = 0; on < 2; ++on) {
    nlohmann::json p = read_json(std::string(SERVESIM_DATA_DIR) + "/engines/hf_transformers_cb_h200.json");
    p["scenario"]["engine"]["fast_forward"] = on == 1;
    std::ofstream(base / "p.json") << p.dump();
    const auto r = run_cli("validate " + gt + " -q --engine " + (base / "p.json").string() + " --out " + (base / "out").string());
    ASSERT_EQ(r.exit_code, 0) << r.out;
    std::ifstream a(base / "out" / "llama8b_online_r3_val" / "per_request.csv");
    outputs[on] = std::string((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
  }
  EXPECT_FALSE(outputs[0].empty());
  EXPECT_EQ(outputs[0], outputs[1]);
  fs::remove_all(base);
}

}  // namespace
}  // namespace servesim
