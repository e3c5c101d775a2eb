// `servesim run --uncertainty N` and `servesim validate --uncertainty N`: prediction
// intervals from the fits' held-out errors (sim/cli/uncertainty.h).
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
  // b200 has no fitted profile, so no residuals: intervals cannot be drawn.
  r = run_cli("run " + kShort + "--set hardware=b200 --uncertainty 3 --out " + (d / "y").string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("b200.residuals.json"), std::string::npos) << r.out;
  EXPECT_EQ(testing::count_lines(r.out), 1) << r.out;
  EXPECT_FALSE(std::filesystem::exists(d / "x"));
  EXPECT_FALSE(std::filesystem::exists(d / "y"));
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
