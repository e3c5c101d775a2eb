// `servesim run --uncertainty N` and `servesim validate --uncertainty N`: prediction
// intervals from the fits' held-out errors (sim/cli/uncertainty.h).
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::run_cli;
using testing::slurp;
using testing::temp_dir;

// A short run of the default scenario (h100_sxm: calibrated, with residuals).
const std::string kShort = "--set workload.duration=20s --quiet ";

TEST(Uncertainty, RunWritesIntervalsAroundEveryHeadlineMetricDeterministically) {
  const auto d = temp_dir("uncertainty");
  auto r = run_cli("run " + kShort + "--uncertainty 4 --out " + (d / "a").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = run_cli("run " + kShort + "--uncertainty 4 --out " + (d / "b").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string a = slurp(d / "a" / "uncertainty.json");
  EXPECT_EQ(a, slurp(d / "b" / "uncertainty.json"));  // same scenario, seed and N: same intervals
  const auto j = nlohmann::json::parse(a);
  EXPECT_EQ(j["replays"], 4);
  EXPECT_EQ(j["metrics"].size(), 7u);
  for (const auto& [name, m] : j["metrics"].items()) {
    EXPECT_LE(m["lo"].get<double>(), m["hi"].get<double>()) << name;
    EXPECT_GT(m["point"].get<double>(), 0) << name;
  }
  // The summary is the unperturbed run's: the same as without --uncertainty.
  r = run_cli("run " + kShort + "--out " + (d / "c").string());
  EXPECT_EQ(slurp(d / "a" / "summary.json"), slurp(d / "c" / "summary.json"));
}

TEST(Uncertainty, BadRequestsExitTwoWithOneLineAndWriteNothing) {
  const auto d = temp_dir("uncertainty_bad");
  auto r = run_cli("run " + kShort + "--uncertainty 1 --out " + (d / "x").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("--uncertainty"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("at least 2 replays"), std::string::npos) << r.out;
  // A device with no fitted profile has no residuals: intervals cannot be drawn.
  testing::write_text(d / "unprofiled_gpu.json", testing::unprofiled_device_json());
  r = run_cli("run " + kShort + "--set hardware=" + (d / "unprofiled_gpu.json").string() + " --uncertainty 3 --out " + (d / "y").string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("unprofiled_gpu.residuals.json"), std::string::npos) << r.out;
  EXPECT_EQ(testing::count_lines(r.out), 1) << r.out;
  EXPECT_FALSE(std::filesystem::exists(d / "x"));
  EXPECT_FALSE(std::filesystem::exists(d / "y"));
}

// gh200_144gb's profile is derived from h200_sxm; its rule was checked H200 -> H100 on the
// harness's GEMMs and attention (h100_from_h200_harness.residuals.json: one chip layout, as
// H200 -> GH200; given first, so it answers for the families it checked) and A100 -> H100 on
// collectives (calibration/transfer_check/h100_from_a100.residuals.json: what the first lacks).
TEST(Uncertainty, RunOnADerivedDeviceSaysWhereEachFamilysDrawsComeFrom) {
  const auto d = temp_dir("uncertainty_derived");
  const std::string args = "run --set workload.duration=20s --set hardware=gh200_144gb --uncertainty 3 --out ";
  auto r = run_cli(args + (d / "a").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_EQ(run_cli(args + (d / "b").string() + " --quiet").exit_code, 0);
  const std::string a = slurp(d / "a" / "uncertainty.json");
  EXPECT_EQ(a, slurp(d / "b" / "uncertainty.json"));
  const auto j = nlohmann::json::parse(a);
  ASSERT_EQ(j["draws"].size(), 1u);
  const auto& pool = j["draws"].begin().value();
  EXPECT_EQ(pool["device"], "gh200_144gb");
  EXPECT_EQ(pool["derived_profile"], "calibration/profiles/gh200_144gb.json");
  // checked: derived vs measured, the source fit's error included
  EXPECT_EQ(pool["families"]["collective"]["from"], "transfer_check");
  EXPECT_EQ(pool["families"]["collective"]["residuals"], "calibration/transfer_check/h100_from_a100.residuals.json");
  for (const char* f : {"gemm", "attention_prefill", "attention_decode"}) {  // the same-layout check's
    EXPECT_EQ(pool["families"][f]["from"], "transfer_check") << f;
    EXPECT_EQ(pool["families"][f]["residuals"], "calibration/transfer_check/h100_from_h200_harness.residuals.json") << f;
  }
  for (const char* f : {"copy", "moe"}) {  // never checked: the source's held-out errors
    EXPECT_EQ(pool["families"][f]["from"], "source_held_out") << f;
    EXPECT_EQ(pool["families"][f]["residuals"], "calibration/profiles/h200_sxm.residuals.json") << f;
    EXPECT_EQ(pool["families"][f]["derivation_error"], "unknown (not checked)") << f;
  }
  EXPECT_NE(r.out.find("copy, moe: source_held_out (calibration/profiles/h200_sxm.residuals.json): "
                       "the derivation's own error unknown (not checked)"),
            std::string::npos)
      << r.out;
}

// A data dir that is the repository's but for calibration/profiles/gh200_144gb.json, whose
// derived_from.expected_error.residuals is `residuals` (written with `content` unless empty).
std::filesystem::path data_dir_with_gh200_check(const std::filesystem::path& root, const std::string& residuals, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path data = root / "data", src = SERVESIM_DATA_DIR;
  fs::create_directories(data / "calibration" / "profiles");
  for (const auto& e : fs::directory_iterator(src)) {
    if (e.path().filename() != "calibration") fs::create_symlink(e.path(), data / e.path().filename());
  }
  for (const auto& e : fs::directory_iterator(src / "calibration")) {
    if (e.path().filename() != "profiles") fs::create_symlink(e.path(), data / "calibration" / e.path().filename());
  }
  for (const auto& e : fs::directory_iterator(src / "calibration" / "profiles")) {
    if (e.path().filename() != "gh200_144gb.json") fs::create_symlink(e.path(), data / "calibration" / "profiles" / e.path().filename());
  }
  auto p = nlohmann::json::parse(slurp(src / "calibration" / "profiles" / "gh200_144gb.json"));
  p["derived_from"]["expected_error"]["residuals"] = residuals;
  std::ofstream(data / "calibration" / "profiles" / "gh200_144gb.json") << p.dump(1);
  if (!content.empty()) std::ofstream(data / residuals) << content;
  return data;
}

TEST(Uncertainty, ADerivedProfilesMissingOrMalformedCheckExitsTwoWithOneLineAndWritesNothing) {
  const auto d = temp_dir("uncertainty_derived_bad");
  const std::string args = "run --set workload.duration=20s --set hardware=gh200_144gb --uncertainty 3 --quiet ";
  // Named in the profile, not there.
  auto data = data_dir_with_gh200_check(d / "missing", "gone.residuals.json", "");
  auto r = run_cli(args + "--data-dir " + data.string() + " --out " + (d / "x").string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(testing::count_lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("calibration/profiles/gh200_144gb.json: derived_from.expected_error.residuals"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gone.residuals.json"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(d / "x"));
  // There, but a quantile is not a number.
  data = data_dir_with_gh200_check(d / "malformed", "bad.residuals.json",
                                   R"({"schema": "servesim.residuals/1", "families": {"gemm": {"quantiles": [0.1, "x"]}}})");
  r = run_cli(args + "--data-dir " + data.string() + " --out " + (d / "y").string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(testing::count_lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("bad.residuals.json: families.gemm.quantiles"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("numbers > -1"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(d / "y"));
}

// `run --engine`: the user's workload on the HF engine profile. Without --host-scale the
// replays draw the host of the engine's measured machine instances (every instance of
// fitted.host_population, each once in 8 replays of 8 instances); with it, no host term and
// the cost model's host_scale is the one given, and a slower host (x2) cannot make the
// host-bound engine's TPOT smaller.
TEST(Uncertainty, RunOnAnEngineProfileDrawsTheHostOfItsMachineInstances) {
  const auto d = temp_dir("uncertainty_engine");
  const std::string engine = std::string(SERVESIM_DATA_DIR) + "/engines/hf_transformers_cb_h200.json";
  const std::string args = "run --set workload.duration=10s --quiet --engine " + engine + " ";
  const auto profile = nlohmann::json::parse(slurp(engine));
  std::vector<double> population;
  for (const auto& i : profile["fitted"]["host_population"]["instances"]) population.push_back(i["scale"].get<double>());
  ASSERT_GE(population.size(), 2u);
  auto r = run_cli(args + "--uncertainty " + std::to_string(population.size()) + " --out " + (d / "a").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto u = nlohmann::json::parse(slurp(d / "a" / "uncertainty.json"));
  auto drawn = u["host_term"]["scales"].get<std::vector<double>>();
  std::sort(drawn.begin(), drawn.end());
  std::sort(population.begin(), population.end());
  EXPECT_EQ(drawn, population);
  const auto resolved = nlohmann::json::parse(slurp(d / "a" / "resolved_config.json"));
  EXPECT_EQ(resolved["pools"][0]["cost"]["impl"], "hf_engine");
  EXPECT_EQ(resolved["pools"][0]["hardware"], profile["hardware"]);
  r = run_cli(args + "--host-scale 2 --uncertainty 2 --out " + (d / "b").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto ub = nlohmann::json::parse(slurp(d / "b" / "uncertainty.json"));
  EXPECT_FALSE(ub["host_term"].contains("scales"));
  EXPECT_EQ(nlohmann::json::parse(slurp(d / "b" / "resolved_config.json"))["pools"][0]["cost"]["host_scale"], 2.0);
  EXPECT_GE(ub["metrics"]["tpot_p50"]["point"].get<double>(), u["metrics"]["tpot_p50"]["point"].get<double>());
}

TEST(Uncertainty, BadEngineRequestsExitTwoWithOneLineAndWriteNothing) {
  const auto d = temp_dir("uncertainty_engine_bad");
  const std::string engine = std::string(SERVESIM_DATA_DIR) + "/engines/hf_transformers_cb_h200.json";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--host-scale 2", "--engine FILE"},
      {"--engine " + engine + " --host-scale 0", "a host time multiplier"},
      {"--engine " + (d / "none.json").string(), "none.json"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [flags, expect] = cases[i];
    const std::filesystem::path out = d / fmt::format("x{}", i);
    auto r = run_cli("run --set workload.duration=10s --quiet " + flags + " --out " + out.string());
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.out;
    EXPECT_EQ(testing::count_lines(r.out), 1) << r.out;
    EXPECT_NE(r.out.find(expect), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

TEST(Uncertainty, ValidateReportsHowManyMeasuredValuesFallInside) {
  const auto d = temp_dir("uncertainty_validate");
  const auto r = run_cli("validate " + std::string(SERVESIM_DATA_DIR) + "/calibration/data/groundtruth --uncertainty 2 --quiet --out " +
                         (d / "v").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(slurp(d / "v" / "intervals.json"));
  // Every validation run contributes its four metrics (TTFT/TPOT/E2E p50, throughput).
  EXPECT_EQ(j["total"].get<int>(), 4 * static_cast<int>(j["runs"].size()));
  EXPECT_LE(j["inside"].get<int>(), j["total"].get<int>());
}

}  // namespace
}  // namespace servesim
