// What a new user meets (issue 13, defects 5, 6 and 9): README examples that do what they
// say, --version, `servesim help`, help text without chopped words, a scenario given as a
// positional argument, a UTF-8 byte-order mark, a long idle gap in a trace.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli;
using testing::run_cli_in;
using testing::slurp;
using testing::temp_dir;
using testing::write_text;
namespace fs = std::filesystem;

class Usability : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override { fs::remove_all(dir_); }
  nlohmann::json summary(const std::string& out) { return nlohmann::json::parse(slurp(dir_ / out / "summary.json")); }
  fs::path dir_;
};

// README: `run --set scheduler.max_num_seqs=16 --out out/s16` "p99 TTFT 92 -> 723 ms". At
// 5.5 req/s the default batch holds more than 16 sequences at its peaks; capping it queues
// requests there, so the tail grows while the median barely moves. Checked loosely: p99
// TTFT at least 5x the default's.
TEST_F(Usability, ReadmeMaxNumSeqsExampleMovesTheTail) {
  ASSERT_EQ(run_cli_in(dir_, "run --quiet --out d").exit_code, 0);
  ASSERT_EQ(run_cli_in(dir_, "run --quiet --set scheduler.max_num_seqs=16 --out s16").exit_code, 0);
  const double base = summary("d")["ttft_s"]["p99"].get<double>(), capped = summary("s16")["ttft_s"]["p99"].get<double>();
  EXPECT_GT(capped, 5 * base) << base << " -> " << capped;
}

// README: `cost predict --hardware h100_sxm --in calibration/shapes_example.csv --out times.csv`.
TEST_F(Usability, ReadmeCostPredictExampleRunsOnTheShippedShapes) {
  const auto r = run_cli_in(dir_, std::string("cost predict --hardware h100_sxm --in ") + SERVESIM_DATA_DIR +
                                      "/calibration/shapes_example.csv --out times.csv");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(count_lines(slurp(dir_ / "times.csv")), 8);  // header + 7 operators (one a grouped MoE GEMM)
}

// Switching a component's implementation drops the old one's keys (the default's paged
// block_size is not a vtensor key).
TEST_F(Usability, SwitchingAComponentImplementationDropsItsOldKeys) {
  const auto r = run_cli_in(dir_, "run --quiet --set workload.num_requests=5 --set kv.impl=vtensor --out v");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto cfg = nlohmann::json::parse(slurp(dir_ / "v" / "resolved_config.json"));
  EXPECT_EQ(cfg["pools"][0]["kv"]["impl"], "vtensor");
}

TEST_F(Usability, PositionalScenarioIsRunNotIgnored) {
  ASSERT_EQ(run_cli_in(dir_, "run --print-scenario --set name=mine --set workload.num_requests=3 > mine.json").exit_code, 0);
  const auto r = run_cli_in(dir_, "run mine.json --quiet --out m");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(summary("m")["scenario"], "mine");
}

TEST_F(Usability, ByteOrderMarkIsSkippedInScenariosAndTraces) {
  ASSERT_EQ(run_cli_in(dir_, "run --print-scenario --set name=bom --set workload.num_requests=3 > s.json").exit_code, 0);
  write_text(dir_ / "bom.json", "\xEF\xBB\xBF" + slurp(dir_ / "s.json"));
  ASSERT_EQ(run_cli_in(dir_, "run bom.json --quiet --out b").exit_code, 0);
  EXPECT_EQ(summary("b")["scenario"], "bom");
  write_text(dir_ / "t.csv", "\xEF\xBB\xBFTIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n");
  const auto r = run_cli_in(dir_, "run --quiet --out t --set 'workload={\"impl\":\"azure_csv\",\"path\":\"t.csv\"}'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(summary("t")["requests"]["completed"], 1);
}

// Two requests 300 days apart: the idle cluster is sampled kMaxIdleSamples (1000) times,
// then sampling jumps to the second arrival. With sample_interval 1 s the old behaviour
// wrote 300 x 86,400 = 25.9 M rows; now: 1000 idle rows + the rows around each request.
TEST_F(Usability, ALongIdleGapInATraceCostsNoRows) {
  write_text(dir_ / "t.csv",
             "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-01-01 00:00:00.0,100,10\n2023-10-28 00:00:00.0,100,10\n");
  const auto r = run_cli_in(dir_, "run --quiet --out g --set metrics.sample_interval=1s "
                                  "--set 'workload={\"impl\":\"azure_csv\",\"path\":\"t.csv\"}'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const int rows = count_lines(slurp(dir_ / "g" / "timeseries.csv")) - 1;
  EXPECT_GT(rows, 1000);
  EXPECT_LT(rows, 1010);
  EXPECT_EQ(summary("g")["requests"]["completed"], 2);
}

TEST(Cli, VersionAndHelpCommand) {
  const auto v = run_cli("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("servesim ", 0), 0u) << v.out;
  EXPECT_EQ(count_lines(v.out), 1);
  const auto h = run_cli("help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("usage: servesim <command>"), std::string::npos) << h.out;
  const auto hr = run_cli("help run"), rh = run_cli("run --help");
  EXPECT_EQ(hr.exit_code, 0);
  EXPECT_EQ(hr.out, rh.out);
}

// Boost chops a word longer than half the description column; paths and option names in
// every subcommand's help must come out whole, wherever the checkout is (--data-dir's
// default, a long path in a deep folder, widens the option column up to its limit).
TEST(Cli, HelpTextKeepsWordsWhole) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> helps = {
      {"run --help", {"--set scheduler.max_num_seqs=128", "models/ and hardware_profiles/"}},
      {"plan memory --help", {"hardware_profiles/devices/", "max_position_embeddings)"}},
      {"cost predict --help", {"hardware_profiles/devices/<name>.json)", "calibration/FITTING.md)"}},
      {"calibrate fit --help", {"calibration/profiles/<device>.json)"}},
      {"validate --help", {"ground-truth"}},
  };
  const std::string deep = "SERVESIM_DATA_DIR=/tmp/a/checkout/in/a/deep/folder/of/a/build/machine/servesim ";
  for (const std::string& env : {std::string(), deep}) {
    for (const auto& [cmd, words] : helps) {
      const auto r = testing::run_shell(env + SERVESIM_BIN + " " + cmd);
      EXPECT_EQ(r.exit_code, 0) << env << cmd;
      for (const auto& w : words) EXPECT_NE(r.out.find(w), std::string::npos) << env << cmd << ": '" << w << "' chopped in:\n" << r.out;
    }
  }
}

}  // namespace
}  // namespace servesim
