// The sweep folder: journal, resume, and the tables, with hand-made outcomes (no simulation).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/core/error.h"
#include "sim/search/sweep_output.h"
#include "sim/search/sweep_tables.h"
#include "tests/cli/cli_helpers.h"

namespace servesim::search {
namespace {
namespace fs = std::filesystem;
using servesim::testing::slurp;
using servesim::testing::temp_dir;

const nlohmann::json kBase = nlohmann::json::parse(R"({
  "name": "tiny", "seed": 1, "model": "Llama-3.1-8B", "hardware": "h100_sxm",
  "workload": {"impl": "synthetic", "rate": 20, "num_requests": 60, "duration": 0}
})");

Sweep sweep_of(const std::string& axes) {
  return expand_sweep({{"base", kBase}, {"axes", nlohmann::json::parse(axes)}}, "sweep.json", "");
}

const nlohmann::json kSummary = nlohmann::json::parse(R"({
  "requests": {"completed": 60, "rejected": 1},
  "ttft_s": {"p50": 0.0125, "p99": 0.25},
  "tpot_s": {"p50": 0.004, "p99": 0.0055},
  "e2e_s": {"p99": 1.5},
  "throughput": {"requests_per_s": 19.5, "output_tokens_per_s": 700.25}
})");

PointOutcome ok(std::size_t index) {
  PointOutcome o;
  o.index = index;
  o.summary = kSummary;
  o.files = {{"summary.json", kSummary.dump(2) + "\n"}};
  return o;
}

std::size_t lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST(SweepFolder, New_HoldsTheMarkerAndTheJournalHeaderOnly) {
  const fs::path dir = temp_dir("sweep_new") / "out";
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16]}}])");
  SweepFolder f(dir.string(), s, false, {});
  EXPECT_TRUE(fs::exists(dir / kOutputMarker));
  EXPECT_EQ(slurp(dir / "journal.jsonl"), journal_header(s) + "\n");
  EXPECT_EQ(f.done(), 0u);
}

TEST(SweepFolder, Record_WritesThePointFolderThenOneJournalLine) {
  const fs::path dir = temp_dir("sweep_record") / "out";
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16]}}])");
  SweepFolder f(dir.string(), s, false, {});
  f.record(ok(1));
  EXPECT_EQ(lines(slurp(dir / "journal.jsonl")), 2u);  // header + point 1
  EXPECT_EQ(slurp(dir / "points" / s.points[1].id / "summary.json"), kSummary.dump(2) + "\n");
  EXPECT_TRUE(f.has(1));
  EXPECT_FALSE(f.has(0));
}

TEST(SweepFolder, Resume_KnowsThePointsOfTheJournal) {
  const fs::path dir = temp_dir("sweep_resume") / "out";
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16, 64]}}])");
  { SweepFolder(dir.string(), s, false, {}).record(ok(2)); }
  SweepFolder f(dir.string(), s, true, {});
  EXPECT_TRUE(f.resumed());
  EXPECT_EQ(f.done(), 1u);
  EXPECT_TRUE(f.has(2));
}

TEST(SweepFolder, Resume_DropsALineCutShortByAKill) {
  const fs::path dir = temp_dir("sweep_partial") / "out";
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16, 64]}}])");
  { SweepFolder(dir.string(), s, false, {}).record(ok(0)); }
  const std::string whole = slurp(dir / "journal.jsonl");
  std::ofstream(dir / "journal.jsonl", std::ios::app) << R"({"index":1,"id":"ab)";
  SweepFolder f(dir.string(), s, true, {});
  EXPECT_EQ(f.done(), 1u);
  EXPECT_FALSE(f.has(1));
  EXPECT_EQ(slurp(dir / "journal.jsonl"), whole);  // the next line starts clean
}

TEST(SweepFolder, Resume_AJournalOfAnotherSweepIsAnInputError) {
  const fs::path dir = temp_dir("sweep_other") / "out";
  { SweepFolder(dir.string(), sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16]}}])"), false, {}); }
  const Sweep other = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 32]}}])");
  try {
    SweepFolder f(dir.string(), other, true, {});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("different sweep"), std::string::npos) << e.what();
  }
}

TEST(SweepFolder, Resume_AMissingFolderStartsANewSweep) {
  const fs::path dir = temp_dir("sweep_missing") / "out";
  SweepFolder f(dir.string(), sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4]}}])"), true, {});
  EXPECT_FALSE(f.resumed());
  EXPECT_TRUE(fs::exists(dir / "journal.jsonl"));
}

TEST(SweepFolder, Resume_AMalformedCompleteLineIsAnInputError) {
  const fs::path dir = temp_dir("sweep_malformed") / "out";
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16]}}])");
  { SweepFolder(dir.string(), s, false, {}); }
  std::ofstream(dir / "journal.jsonl", std::ios::app) << "garbage\n";
  EXPECT_THROW(SweepFolder(dir.string(), s, true, {}), InputError);
}

TEST(SweepFolder, Lock_ASecondSweepOnTheSameFolderIsRefused) {
  const fs::path dir = temp_dir("sweep_lock") / "out";
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16]}}])");
  SweepFolder first(dir.string(), s, false, {});
  EXPECT_THROW(SweepFolder(dir.string(), s, true, {}), InputError);
  EXPECT_THROW(SweepFolder(dir.string(), s, false, {}), InputError);
}

TEST(SweepTables, Csv_OneRowPerPointInPointOrderWithTheVariedKeys) {
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4, 16]}}])");
  JournalEntry a{0, s.points[0].id, true, "", kSummary};
  JournalEntry b{1, s.points[1].id, false, "sweep.json point 1: model: does not fit, \"really\"", {}};
  // Seconds with 6 decimals, request rate with 4, token rate with 2; a failed point has empty
  // metrics and its error quoted (it holds a comma and quotes, doubled).
  const std::string expected =
      "index,id,status,scheduler.max_num_seqs,completed,rejected,ttft_p50_s,ttft_p99_s,tpot_p50_s,tpot_p99_s,e2e_p99_s,"
      "requests_per_s,output_tokens_per_s,error\n"
      "0," + s.points[0].id + ",ok,4,60,1,0.012500,0.250000,0.004000,0.005500,1.500000,19.5000,700.25,\n"
      "1," + s.points[1].id + ",failed,16,,,,,,,,,,\"sweep.json point 1: model: does not fit, \"\"really\"\"\"\n";
  EXPECT_EQ(points_csv(s, {a, b}), expected);
}

TEST(SweepTables, Csv_GoodputColumnsWhenTheScenariosSetSlos) {
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4]}}])");
  nlohmann::json summary = kSummary;
  summary["goodput"] = {{"requests_per_s", 18.0}, {"fraction", 0.9}};
  const std::string csv = points_csv(s, {JournalEntry{0, s.points[0].id, true, "", summary}});
  EXPECT_NE(csv.find(",goodput_requests_per_s,goodput_fraction,error\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",700.25,18.0000,0.9000,\n"), std::string::npos) << csv;
}

TEST(SweepTables, Jsonl_OneLinePerPointWithItsSetAndSummary) {
  const Sweep s = sweep_of(R"([{"grid": {"scheduler.max_num_seqs": [4]}}])");
  const std::string jsonl = points_jsonl(s, {JournalEntry{0, s.points[0].id, true, "", kSummary}});
  const nlohmann::json line = nlohmann::json::parse(jsonl.substr(0, jsonl.find('\n')));
  EXPECT_EQ(line["set"], (nlohmann::json{{"scheduler.max_num_seqs", 4}}));
  EXPECT_EQ(line["summary"], kSummary);
  EXPECT_EQ(lines(jsonl), 1u);
}

}  // namespace
}  // namespace servesim::search
