// `servesim run` on the autoscaling example of docs/autoscaling.md, shortened: the summary
// carries the autoscale block with the cold start derived by hand.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {

// Llama-3.1-8B: 8,030,261,248 parameters in bf16 = 16,060,522,496 bytes on one H100, read from
// storage at the default 0.9 GB/s (17.845 s), plus the default 64 s of engine start-up.
TEST(AutoscaleCli, TheDocsScenarioRunsAndReportsItsColdStart) {
  const auto dir = testing::temp_dir("autoscale_cli");
  const std::string scenario = std::string(SERVESIM_DATA_DIR) + "/docs/autoscaling/day_autoscaled.json";
  const testing::CliResult r = testing::run_cli_in(
      dir, "run --quiet --out res --scenario " + scenario +
               " --set cost.impl=roofline --set workload.rate=20 --set workload.duration=3min --set workload.diurnal_period=3min");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(dir / "res" / "summary.json");
  const nlohmann::json s = nlohmann::json::parse(in);
  const nlohmann::json& a = s["autoscale"]["pools"][0];
  EXPECT_NEAR(a["cold_start_s"].get<double>(), 16'060'522'496.0 / 0.9e9 + 64.0, 1e-6);
  EXPECT_EQ(a["pool"], "default");
  EXPECT_TRUE(s["cost"].contains("gpu_hours"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace servesim
