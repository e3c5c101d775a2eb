// Golden end-to-end runs: whole scenarios through the CLI, outputs compared with files
// stored under tests/golden/data/<case>/. A change to a golden file is reviewed like code:
// if a change of behaviour is intended, run tools/update_golden.sh and commit the diff
// with the reason in the message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string head_lines(const std::string& s, int n) {
  std::size_t pos = 0;
  for (int i = 0; i < n && pos != std::string::npos; ++i) {
    pos = s.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  return s.substr(0, pos == std::string::npos ? s.size() : pos);
}

void expect_golden(const std::string& golden_case, const std::string& args) {
  const fs::path out = testing::temp_dir("golden_" + golden_case) / "out";
  const auto r = testing::run_cli("run --quiet --out " + out.string() + " " + args);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const fs::path golden = fs::path(SERVESIM_TEST_DATA) / golden_case;
  const std::string hint = "\nIf this change of behaviour is intended, run tools/update_golden.sh and review the diff.";
  EXPECT_EQ(slurp(out / "summary.json"), slurp(golden / "summary.json")) << "summary.json differs" << hint;
  EXPECT_EQ(slurp(out / "resolved_config.json"), slurp(golden / "resolved_config.json")) << "resolved_config.json differs" << hint;
  EXPECT_EQ(head_lines(slurp(out / "requests.csv"), 101), slurp(golden / "requests_head.csv")) << "requests.csv differs" << hint;
  fs::remove_all(out.parent_path());
}

std::string scenario_arg(const std::string& name) {
  return "--scenario " + (fs::path(SERVESIM_TEST_DATA).parent_path() / "scenarios" / (name + ".json")).string();
}

TEST(Golden, DefaultScenario) { expect_golden("default", ""); }
// A prefill pool and a decode pool (small decode KV: back-pressure and preemptions), the KV
// moved whole over the network path.
TEST(Golden, DisaggregatedOnePrefillOneDecode) { expect_golden("disagg_1p1d", scenario_arg("disagg_1p1d")); }
// Two mixed pools of different devices behind one least-load router.
TEST(Golden, HeterogeneousA100AndH100Pools) { expect_golden("hetero_a100_h100", scenario_arg("hetero_a100_h100")); }
// The bundled Mooncake-format sample over 4 replicas with the prefix-aware router.
TEST(Golden, MooncakeSampleWithPrefixAwareRouter) {
  expect_golden("mooncake_prefix_aware", scenario_arg("mooncake_prefix_aware"));
}

}  // namespace
}  // namespace servesim
