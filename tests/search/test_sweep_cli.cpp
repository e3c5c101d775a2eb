// `servesim sweep` end to end: results independent of threads and ranks, resume after kills
// at random moments (each point journaled exactly once), clean stops.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;
using testing::run_cli_in;
using testing::run_shell_in;
using testing::slurp;
using testing::spawn_cli;
using testing::temp_dir;

const std::string kSweep = std::string(SERVESIM_TEST_DATA) + "/tiny_sweep.json";  // 12 points
constexpr std::size_t kPoints = 12;  // grid 3 x 2, times zip 2


// The journal's point lines (the header excluded, a partial last line excluded).
std::vector<nlohmann::json> journal_points(const fs::path& dir) {
  const std::string text = slurp(dir / "journal.jsonl");
  std::vector<nlohmann::json> out;
  std::size_t pos = text.find('\n') + 1;
  for (std::size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    out.push_back(nlohmann::json::parse(text.substr(pos, nl - pos)));
  }
  return out;
}

// The files of a finished sweep that must not depend on how it ran.
void expect_same_results(const fs::path& a, const fs::path& b) {
  ASSERT_TRUE(fs::exists(a / "points.csv"));
  ASSERT_TRUE(fs::exists(b / "points.csv"));
  EXPECT_EQ(slurp(a / "points.csv"), slurp(b / "points.csv"));
  EXPECT_EQ(slurp(a / "points.jsonl"), slurp(b / "points.jsonl"));
  std::size_t folders = 0;
  for (const auto& e : fs::directory_iterator(a / "points")) {
    if (e.path().filename().string().front() == '.') continue;
    ++folders;
    for (const char* f : {"summary.json", "resolved_config.json"}) {
      EXPECT_EQ(slurp(e.path() / f), slurp(b / "points" / e.path().filename() / f)) << e.path() / f;
    }
  }
  EXPECT_EQ(folders, kPoints);
}

// The reference: one uninterrupted single-threaded run, shared by the tests of this file.
struct Reference {
  fs::path dir;
  double wall_s = 0;  // its wall time, to spread kills over a run
};
const Reference& reference_run() {
  static const Reference ref = [] {
    const fs::path d = temp_dir("sweep_reference");
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_cli_in(d, "sweep " + kSweep + " --out ref --threads 1 --quiet");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return Reference{d / "ref", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
  }();
  return ref;
}
const fs::path& reference() { return reference_run().dir; }

TEST(SweepCli, Run_WritesATableRowAndAFolderPerPoint) {
  const fs::path& ref = reference();
  const std::string csv = slurp(ref / "points.csv");
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')), kPoints + 1);  // header + rows
  EXPECT_EQ(csv.rfind("index,id,status,scheduler.max_num_seqs,workload.rate,hardware,seed,completed,", 0), 0u) << csv;
  EXPECT_EQ(journal_points(ref).size(), kPoints);
  for (const auto& e : fs::directory_iterator(ref / "points")) EXPECT_FALSE(fs::exists(e.path() / "requests.csv"));  // off by default
}

TEST(SweepCli, Threads_OneAndTwoThreadsGiveByteIdenticalResults) {
  const fs::path d = temp_dir("sweep_threads");
  const auto r = run_cli_in(d, "sweep " + kSweep + " --out two --threads 2 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  expect_same_results(reference(), d / "two");
  fs::remove_all(d);
}

TEST(SweepCli, Resume_AfterKillsAtRandomMomentsEachPointRunsOnceAndTablesMatch) {
  const fs::path d = temp_dir("sweep_kill");
  // Kill moments spread over the whole run (the reference's wall time on one thread; two
  // threads take about half of it, so some kills come late or after the end).
  std::mt19937 rng(20261204);  // fixed: the same fractions on every run of the test
  std::uniform_real_distribution<double> fraction(0.05, 0.8);
  const double wall_ms = reference_run().wall_s * 1e3;
  std::vector<nlohmann::json> before;
  int kills = 0;
  for (int round = 0; round < 6; ++round) {
    std::vector<std::string> args = {"sweep", kSweep, "--out", "res", "--threads", "2", "--quiet"};
    if (round > 0) args.push_back("--resume");
    const pid_t pid = spawn_cli(d, args, d / "log.txt");
    // Round 0 is killed at once (during start-up), so at least one run is always killed
    // whatever the machine's load did to the reference's wall time; the others at random.
    const double f = fraction(rng);
    std::this_thread::sleep_for(std::chrono::microseconds(round == 0 ? 2000 : static_cast<std::int64_t>(f * wall_ms * 1e3)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    kills += WIFSIGNALED(status);
    if (!fs::exists(d / "res" / "journal.jsonl")) continue;
    // Append-only: what the journal held before this round is still its beginning.
    const auto now = journal_points(d / "res");
    ASSERT_GE(now.size(), before.size());
    for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(now[i], before[i]);
    before = now;
  }
  EXPECT_GT(kills, 0) << "every run finished before its kill: the sweep is too small for this test";
  std::printf("%d of 6 runs killed before they finished; %zu points in the journal before the last resume\n", kills, before.size());
  const auto r = run_cli_in(d, "sweep " + kSweep + " --out res --threads 2 --resume --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::set<std::size_t> seen;
  for (const auto& line : journal_points(d / "res")) {
    EXPECT_TRUE(seen.insert(line["index"].get<std::size_t>()).second) << "point " << line["index"] << " ran twice";
  }
  EXPECT_EQ(seen.size(), kPoints);
  for (const auto& e : fs::directory_iterator(d / "res" / "points")) {
    EXPECT_NE(e.path().filename().string().front(), '.') << "left behind: " << e.path();
  }
  expect_same_results(reference(), d / "res");
  fs::remove_all(d);
}

TEST(SweepCli, Sigint_StopsCleanlyAndResumeFinishes) {
  const fs::path d = temp_dir("sweep_sigint");
  const pid_t pid = spawn_cli(d, {"sweep", kSweep, "--out", "res", "--threads", "1"}, d / "log.txt");
  // Wait for the first finished point, then stop.
  for (int i = 0; i < 500 && (!fs::exists(d / "res" / "journal.jsonl") || journal_points(d / "res").empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 0) GTEST_SKIP() << "the sweep finished before SIGINT arrived";
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(d / "log.txt");
  EXPECT_NE(slurp(d / "log.txt").find("--resume"), std::string::npos) << slurp(d / "log.txt");
  EXPECT_FALSE(fs::exists(d / "res" / "points.csv"));  // the tables only once every point is done
  for (const auto& e : fs::directory_iterator(d)) EXPECT_EQ(e.path().filename().string().find(".res."), std::string::npos) << e.path();
  const auto r = run_cli_in(d, "sweep " + kSweep + " --out res --resume --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  expect_same_results(reference(), d / "res");
  fs::remove_all(d);
}

TEST(SweepCli, Resume_OfAFinishedSweepRunsNothingAndKeepsTheTables) {
  const fs::path d = temp_dir("sweep_finished");
  fs::copy(reference(), d / "res", fs::copy_options::recursive);
  const auto r = run_cli_in(d, "sweep " + kSweep + " --out res --resume");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("(0 run now, 12 from the journal, 0 failed)"), std::string::npos) << r.out;
  expect_same_results(reference(), d / "res");
  fs::remove_all(d);
}

TEST(SweepCli, FailedPoint_IsATableRowNotASweepError) {
  // Llama-3.1-70B in bf16 (~141 GB of weights) does not fit one 80 GB H100: that point fails,
  // the other runs.
  const fs::path d = temp_dir("sweep_failed");
  testing::write_text(d / "s.json", R"({"base": ")" + std::string(SERVESIM_TEST_DATA) + R"(/tiny_base.json",
    "axes": [{"points": [{}, {"model": "Llama-3.1-70B"}]}]})");
  const auto r = run_cli_in(d, "sweep s.json --out res --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string csv = slurp(d / "res" / "points.csv");
  EXPECT_NE(csv.find(",ok,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",failed,Llama-3.1-70B,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("does not fit"), std::string::npos) << csv;
  fs::remove_all(d);
}

TEST(SweepCli, RequestsCsv_WrittenPerPointOnlyWhenAsked) {
  const fs::path d = temp_dir("sweep_requests");
  testing::write_text(d / "s.json", R"({"base": ")" + std::string(SERVESIM_TEST_DATA) + R"(/tiny_base.json",
    "axes": [{"grid": {"scheduler.max_num_seqs": [8]}}]})");
  const auto r = run_cli_in(d, "sweep s.json --out res --requests-csv --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto it = fs::directory_iterator(d / "res" / "points");
  const std::string csv = slurp(it->path() / "requests.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 61);  // header + the base's 60 requests
  fs::remove_all(d);
}

#ifdef SERVESIM_MPIEXEC
TEST(SweepCli, Mpi_TwoRanksWriteTheSameTablesAsOneProcess) {
  const fs::path d = temp_dir("sweep_mpi");
  // As root Open MPI asks for both variables; LeakSanitizer (asan preset) would report Open
  // MPI's own allocations.
  const auto r = run_shell_in(d, std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 ") +
                                     SERVESIM_MPIEXEC + " -n 2 --oversubscribe " + SERVESIM_BIN + " sweep " + kSweep +
                                     " --out mpi --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("x 2 rank(s)"), std::string::npos) << r.out;
  expect_same_results(reference(), d / "mpi");
  fs::remove_all(d);
}
#endif

}  // namespace
}  // namespace servesim
