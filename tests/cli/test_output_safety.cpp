// --out never destroys what servesim did not write, results are replaced by one atomic
// rename, and SIGINT/SIGTERM stop a run cleanly (issue 13, defects 1 and 2).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <thread>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli_in;
using testing::slurp;
using testing::spawn_cli;
using testing::temp_dir;
using testing::write_text;
namespace fs = std::filesystem;

const std::string kSmall = "--quiet --set workload.num_requests=5 ";

class OutputSafety : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_);
  }
  // Entries of `d` whose names start with "." other than the marker: temporaries left behind.
  static std::vector<std::string> hidden_leftovers(const fs::path& d) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(d)) {
      const std::string n = e.path().filename().string();
      if (n.rfind('.', 0) == 0) out.push_back(n);
    }
    return out;
  }
  static void expect_refused(const testing::CliResult& r, const std::string& fragment) {
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_EQ(count_lines(r.out), 1) << r.out;
    EXPECT_EQ(r.out.rfind("error: --out: ", 0), 0u) << r.out;
    EXPECT_NE(r.out.find(fragment), std::string::npos) << "missing '" << fragment << "' in: " << r.out;
  }
  fs::path dir_;
};

TEST_F(OutputSafety, RefusesAFolderHoldingOtherFilesAndLeavesItAlone) {
  fs::create_directories(dir_ / "mydata");
  write_text(dir_ / "mydata" / "thesis.tex", "years of work");
  const auto r = run_cli_in(dir_, "run " + kSmall + "--out mydata");
  expect_refused(r, "--force");
  EXPECT_NE(r.out.find("thesis.tex"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(dir_ / "mydata" / "thesis.tex"), "years of work");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "mydata"), fs::directory_iterator()), 1);
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
}

TEST_F(OutputSafety, ForceReplacesAFolderServesimDidNotWrite) {
  fs::create_directories(dir_ / "mydata");
  write_text(dir_ / "mydata" / "old.txt", "x");
  const auto r = run_cli_in(dir_, "run " + kSmall + "--out mydata --force");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "mydata" / "old.txt"));
  EXPECT_TRUE(fs::exists(dir_ / "mydata" / "summary.json"));
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
}

TEST_F(OutputSafety, RefusesTheWorkingDirectoryItsParentsRootAndTilde) {
  write_text(dir_ / "keep.txt", "mine");
  // Each refused even with --force; none touches a file.
  for (const std::string& out :
       std::vector<std::string>{".", "./", "..", "../..", "/", "~", "~/res", dir_.string(), dir_.parent_path().string(), ""}) {
    SCOPED_TRACE(out);
    const auto r = run_cli_in(dir_, "run " + kSmall + "--force --out '" + out + "'");
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_EQ(count_lines(r.out), 1) << r.out;
    EXPECT_EQ(r.out.rfind("error: --out: ", 0), 0u) << r.out;
  }
  EXPECT_EQ(slurp(dir_ / "keep.txt"), "mine");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(OutputSafety, TrailingSlashReplacesOldResultsAndLeavesNoTemporaries) {
  // Two runs with different seeds into "res/": the second replaces the first completely.
  ASSERT_EQ(run_cli_in(dir_, "run " + kSmall + "--set seed=1 --out res/").exit_code, 0);
  const std::string first = slurp(dir_ / "res" / "requests.csv");
  ASSERT_FALSE(first.empty());
  EXPECT_TRUE(fs::exists(dir_ / "res" / ".servesim-output"));
  const auto r = run_cli_in(dir_, "run " + kSmall + "--set seed=2 --out res/");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(slurp(dir_ / "res" / "requests.csv"), first);
  EXPECT_TRUE(fs::exists(dir_ / "res" / "summary.json"));
  EXPECT_TRUE(hidden_leftovers(dir_).empty());
}

TEST_F(OutputSafety, AnEmptyFolderIsUsed) {
  fs::create_directories(dir_ / "empty");
  ASSERT_EQ(run_cli_in(dir_, "run " + kSmall + "--out empty").exit_code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "empty" / "summary.json"));
}

TEST_F(OutputSafety, RefusesAFileAndASymlink) {
  write_text(dir_ / "afile", "data");
  expect_refused(run_cli_in(dir_, "run " + kSmall + "--out afile"), "a file with that name exists");
  fs::create_directories(dir_ / "real");
  write_text(dir_ / "real" / "x", "y");
  fs::create_directory_symlink(dir_ / "real", dir_ / "link");
  expect_refused(run_cli_in(dir_, "run " + kSmall + "--out link --force"), "symbolic link");
  EXPECT_EQ(slurp(dir_ / "afile"), "data");
  EXPECT_EQ(slurp(dir_ / "real" / "x"), "y");
}

TEST_F(OutputSafety, AFailedRunKeepsTheOldResultsAndCreatesNoParents) {
  ASSERT_EQ(run_cli_in(dir_, "run " + kSmall + "--out res").exit_code, 0);
  const std::string before = slurp(dir_ / "res" / "summary.json");
  const auto r = run_cli_in(dir_, "run " + kSmall + "--set scheduler.max_num_seqs=0 --out res");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(slurp(dir_ / "res" / "summary.json"), before);
  // An unwritable destination: the parent folders this run created are removed again.
  fs::create_directories(dir_ / "ro");
  fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  if (::access((dir_ / "ro").c_str(), W_OK) == 0) GTEST_SKIP() << "running as root: permissions do not bind";
  const auto r2 = run_cli_in(dir_, "run " + kSmall + "--out ro/a/b/res");
  EXPECT_EQ(r2.exit_code, 2) << r2.out;
  EXPECT_EQ(count_lines(r2.out), 1) << r2.out;
  fs::permissions(dir_ / "ro", fs::perms::owner_all);
  EXPECT_TRUE(fs::is_empty(dir_ / "ro"));
}

TEST_F(OutputSafety, StaleTemporariesOfDeadRunsAreRemovedOthersKept) {
  // pid 9999999 is never a live process on Linux (pid_max <= 2^22 = 4194304); ours is alive.
  const fs::path dead = dir_ / ".res.servesim-partial-9999999";
  const fs::path alive = dir_ / (".res.servesim-partial-" + std::to_string(::getpid()));
  const fs::path unmarked = dir_ / ".res.servesim-partial-9999998";
  // Killed between creating its temporary folder and writing the marker: empty.
  const fs::path empty = dir_ / ".res.servesim-partial-9999997";
  for (const auto& d : {dead, alive, unmarked, empty}) fs::create_directories(d);
  write_text(dead / ".servesim-output", "");
  write_text(alive / ".servesim-output", "");
  write_text(unmarked / "notes.txt", "someone's");
  ASSERT_EQ(run_cli_in(dir_, "run " + kSmall + "--out res").exit_code, 0);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));
  EXPECT_TRUE(fs::exists(unmarked / "notes.txt"));  // no marker and not empty: not servesim's, not touched
  EXPECT_FALSE(fs::exists(empty));                  // empty: nothing can be lost
}

// A run of a few tenths of a second in release builds (8,000 requests, ~800 KB of results).
// (1,500 under the sanitizers, which run ~10x slower: the same few tenths of a second.)
const std::vector<std::string> kLongRun = {"run", "--quiet", "--set",
                                           testing::kSanitized ? "workload.num_requests=1500" : "workload.num_requests=8000",
                                           "--set", "workload.duration=0", "--out", "res"};
// A run of tens of seconds: a signal 1.5 s in finds it simulating.
const std::vector<std::string> kVeryLongRun = {"run", "--quiet", "--set", "workload.num_requests=1000000", "--set",
                                               "workload.duration=0", "--out", "res"};

int wait_exit(pid_t pid, bool* signalled = nullptr) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (signalled) *signalled = WIFSIGNALED(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(OutputSafety, SigintAndSigtermStopCleanlyWithTheirExitCodes) {
  for (const auto& [sig, code] : {std::pair{SIGINT, 130}, std::pair{SIGTERM, 143}}) {
    SCOPED_TRACE(sig);
    const pid_t pid = spawn_cli(dir_, kVeryLongRun, dir_ / "log.txt");
    // Well into the run (a sanitizer build takes a while to start; the run lasts minutes).
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ::kill(pid, sig);
    bool signalled = true;
    EXPECT_EQ(wait_exit(pid, &signalled), code);
    EXPECT_FALSE(signalled) << "killed by the signal instead of handling it";
    const std::string log = slurp(dir_ / "log.txt");
    EXPECT_EQ(count_lines(log), 1) << log;
    EXPECT_NE(log.find(sig == SIGINT ? "SIGINT" : "SIGTERM"), std::string::npos) << log;
    EXPECT_FALSE(fs::exists(dir_ / "res"));
    fs::remove(dir_ / "log.txt");
    EXPECT_TRUE(hidden_leftovers(dir_).empty());
  }
}

// The kill test: SIGTERM at random moments of a run that replaces earlier results, 50 times.
// Afterwards `res` holds either the old results or the new ones, complete, never a mix, a
// partial folder or nothing; no temporary is left.
TEST_F(OutputSafety, KillTestFiftyRandomSigtermsLeaveOldOrNewResults) {
  std::vector<std::string> old_run = kLongRun, new_run = kLongRun;
  old_run.insert(old_run.end(), {"--set", "seed=1"});
  new_run.insert(new_run.end(), {"--set", "seed=2"});
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_exit(spawn_cli(dir_, new_run, dir_ / "log.txt")), 0) << slurp(dir_ / "log.txt");
  const double full_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string new_summary = slurp(dir_ / "res" / "summary.json");
  const std::string new_requests = slurp(dir_ / "res" / "requests.csv");
  ASSERT_EQ(wait_exit(spawn_cli(dir_, old_run, dir_ / "log.txt")), 0) << slurp(dir_ / "log.txt");
  const std::string old_summary = slurp(dir_ / "res" / "summary.json");
  const std::string old_requests = slurp(dir_ / "res" / "requests.csv");
  ASSERT_NE(old_summary, new_summary);

  std::mt19937_64 rng(13);
  // Half the signals anywhere in the run, half in its last fifth (the writing).
  std::uniform_real_distribution<double> anywhere(0.0, 1.05), late(0.8, 1.05);
  int saw_old = 0, saw_new = 0, stopped = 0;
  for (int i = 0; i < 50; ++i) {
    SCOPED_TRACE(i);
    const double at = full_s * (i % 2 == 0 ? anywhere(rng) : late(rng));
    const pid_t pid = spawn_cli(dir_, i % 3 == 0 ? old_run : new_run, dir_ / "log.txt");
    std::this_thread::sleep_for(std::chrono::duration<double>(at));
    ::kill(pid, SIGTERM);
    const int code = wait_exit(pid);
    EXPECT_TRUE(code == 0 || code == 143) << code << ": " << slurp(dir_ / "log.txt");
    stopped += code == 143;
    ASSERT_TRUE(fs::is_directory(dir_ / "res"));
    const std::string s = slurp(dir_ / "res" / "summary.json"), q = slurp(dir_ / "res" / "requests.csv");
    const bool is_old = s == old_summary && q == old_requests, is_new = s == new_summary && q == new_requests;
    EXPECT_TRUE(is_old || is_new) << "results are neither the old nor the new ones";
    EXPECT_TRUE(fs::exists(dir_ / "res" / "timeseries.csv") && fs::exists(dir_ / "res" / "resolved_config.json"));
    saw_old += is_old;
    saw_new += is_new;
    fs::remove(dir_ / "log.txt");
    EXPECT_TRUE(hidden_leftovers(dir_).empty());
  }
  std::printf("kill test: %d runs stopped by the signal; %d times the old results, %d times the new (one full run %.2f s)\n",
              stopped, saw_old, saw_new, full_s);
}

}  // namespace
}  // namespace servesim
