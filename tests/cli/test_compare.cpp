// The CI gate: `servesim compare`, `servesim run --seeds`, `servesim gate`, and the pure
// functions behind them (sim/report/compare.h).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/report/compare.h"
#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli;
using testing::temp_dir;
using testing::write_text;
namespace fs = std::filesystem;
namespace cmp = servesim::compare;

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// --- thresholds (hand-derived) ---------------------------------------------------------

TEST(CompareThreshold, ParsesSignPercentAndAbsolute) {
  const auto a = cmp::parse_threshold("ttft.p99=+5%", "--threshold");
  EXPECT_EQ(a.metric, "ttft.p99");
  EXPECT_TRUE(a.rise);
  EXPECT_TRUE(a.relative);
  EXPECT_DOUBLE_EQ(a.limit, 0.05);
  const auto b = cmp::parse_threshold("throughput=-2%", "--threshold");
  EXPECT_EQ(b.metric, "throughput.tok_s");  // the alias
  EXPECT_FALSE(b.rise);
  EXPECT_DOUBLE_EQ(b.limit, 0.02);
  const auto c = cmp::parse_threshold("ttft.p99=+50ms", "--threshold");
  EXPECT_FALSE(c.relative);
  EXPECT_TRUE(c.limit_is_duration);
  EXPECT_DOUBLE_EQ(c.limit, 0.05);  // seconds
  const auto d = cmp::parse_threshold("throughput.req_s=-0.5", "--threshold");
  EXPECT_FALSE(d.relative);
  EXPECT_FALSE(d.limit_is_duration);
  EXPECT_DOUBLE_EQ(d.limit, 0.5);
}

TEST(CompareThreshold, MalformedThresholdsNameTheArgument) {
  for (const std::string bad : {"ttft.p99", "ttft.p99=5%", "=+5%", "ttft.p99=+abc%", "ttft.p99=+", "ttft.p99=+5parsecs", "x=+-3%"}) {
    try {
      cmp::parse_threshold(bad, "--threshold");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InputError& e) {
      EXPECT_TRUE(contains(e.what(), "--threshold")) << e.what();
      EXPECT_TRUE(contains(e.what(), bad)) << e.what();
      EXPECT_TRUE(contains(e.what(), "expected")) << e.what();
    }
  }
}

// Baseline p99 100 ms, candidate 106 ms: the change is +6 %, more than +5 % (fails) and
// less than +10 % (passes). A drop threshold never fails on a rise.
TEST(CompareThreshold, SixPercentRiseFailsFivePercentPassesTen) {
  const auto five = cmp::parse_threshold("ttft.p99=+5%", "t");
  const auto ten = cmp::parse_threshold("ttft.p99=+10%", "t");
  const auto drop = cmp::parse_threshold("ttft.p99=-5%", "t");
  EXPECT_TRUE(cmp::crosses(five, 0.100, 0.106));
  EXPECT_FALSE(cmp::crosses(ten, 0.100, 0.106));
  EXPECT_FALSE(cmp::crosses(drop, 0.100, 0.106));
  EXPECT_NEAR(cmp::relative_change(0.100, 0.106), 0.06, 1e-12);
}

// "More than": exactly +5 % (100 -> 105 ms, whose float difference is 5.000000000000004 %)
// passes; 105.1 ms fails.
TEST(CompareThreshold, ExactlyTheLimitPasses) {
  const auto five = cmp::parse_threshold("ttft.p99=+5%", "t");
  EXPECT_FALSE(cmp::crosses(five, 0.100, 0.105));
  EXPECT_TRUE(cmp::crosses(five, 0.100, 0.1051));
}

// Throughput 1000 -> 975 tok/s is a 2.5 % drop: beyond -2 %, within -3 %; a rise never fails it.
TEST(CompareThreshold, DropThresholdForThroughput) {
  const auto two = cmp::parse_threshold("throughput=-2%", "t");
  const auto three = cmp::parse_threshold("throughput=-3%", "t");
  EXPECT_TRUE(cmp::crosses(two, 1000, 975));
  EXPECT_FALSE(cmp::crosses(three, 1000, 975));
  EXPECT_FALSE(cmp::crosses(two, 1000, 1100));
}

// Absolute: +50 ms on 100 ms -> 151 ms (+51 ms) fails, -> 149 ms passes; -10 req/s on 100 -> 89 fails.
TEST(CompareThreshold, AbsoluteLimits) {
  const auto ms = cmp::parse_threshold("ttft.p99=+50ms", "t");
  EXPECT_TRUE(cmp::crosses(ms, 0.100, 0.151));
  EXPECT_FALSE(cmp::crosses(ms, 0.100, 0.149));
  const auto rate = cmp::parse_threshold("throughput.req_s=-10", "t");
  EXPECT_TRUE(cmp::crosses(rate, 100, 89));
  EXPECT_FALSE(cmp::crosses(rate, 100, 91));
}

TEST(CompareThreshold, ZeroBaseline) {
  const auto t = cmp::parse_threshold("preemptions=+10%", "t");
  EXPECT_FALSE(cmp::crosses(t, 0, 0));
  EXPECT_TRUE(cmp::crosses(t, 0, 3));  // any rise from zero is infinite
}

// --- bootstrap ---------------------------------------------------------------------------

std::vector<double> ramp(int n, double scale, double offset = 0) {
  std::vector<double> v;
  for (int i = 1; i <= n; ++i) v.push_back(scale * (offset + i));
  return v;
}

TEST(CompareBootstrap, SameDistributionIntervalHoldsZeroAndIsDeterministic) {
  const std::vector<std::vector<double>> b = {ramp(200, 1e-3), ramp(200, 1e-3, 3), ramp(200, 1e-3, -2)};
  const std::vector<std::vector<double>> c = {ramp(200, 1e-3, 1), ramp(200, 1e-3, -1), ramp(200, 1e-3, 2)};
  cmp::CompareOptions o;
  const auto [lo, hi] = cmp::bootstrap_relative_interval(b, c, cmp::Stat::kP90, o, "t");
  EXPECT_LT(lo, 0.0);
  EXPECT_GT(hi, 0.0);
  const auto again = cmp::bootstrap_relative_interval(b, c, cmp::Stat::kP90, o, "t");
  EXPECT_EQ(again.first, lo);
  EXPECT_EQ(again.second, hi);
}

// Every candidate value is 1.3x a baseline value: the interval of the mean's relative
// change excludes zero and lies around +30 %.
TEST(CompareBootstrap, ScaledCandidateIntervalExcludesZero) {
  const std::vector<std::vector<double>> b = {ramp(300, 1e-3), ramp(300, 1e-3, 5), ramp(300, 1e-3, -5)};
  const std::vector<std::vector<double>> c = {ramp(300, 1.3e-3), ramp(300, 1.3e-3, 5), ramp(300, 1.3e-3, -5)};
  const auto [lo, hi] = cmp::bootstrap_relative_interval(b, c, cmp::Stat::kMean, {}, "t");
  EXPECT_GT(lo, 0.15);
  EXPECT_LT(hi, 0.45);
  EXPECT_LT(lo, 0.30);
  EXPECT_GT(hi, 0.30);
}

TEST(CompareConfig, DifferencesNameThePath) {
  const nlohmann::json a = {{"seed", 1}, {"scheduler", {{"max_num_seqs", 256}, {"impl", "vllm_v1"}}}};
  const nlohmann::json b = {{"seed", 1}, {"scheduler", {{"max_num_seqs", 4}, {"impl", "vllm_v1"}}}};
  const auto d = cmp::config_differences(a, b);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], "scheduler.max_num_seqs: 256 -> 4");
}

// --- end to end through the CLI ------------------------------------------------------------

// A small loaded scenario: the default (Llama-3.1-8B on one H100, 5.5 req/s) for 60 s.
const std::string kScenario = "--set workload.duration=60s ";

// A minimal well-formedness check of an XML document: tags nest and close, attribute
// values are quoted, text holds no raw '<' and only known entities. Returns the element
// names in document order.
std::vector<std::string> xml_elements(const std::string& x, std::string& error) {
  std::vector<std::string> stack, names;
  std::size_t i = 0;
  if (x.rfind("<?xml", 0) == 0) i = x.find("?>") + 2;
  auto check_text = [&](const std::string& t) {
    for (std::size_t k = 0; k < t.size(); ++k) {
      if (t[k] == '&') {
        const auto semi = t.find(';', k);
        const std::string ent = semi == std::string::npos ? "" : t.substr(k, semi - k + 1);
        if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;") error = "bad entity near " + t.substr(k, 10);
      }
    }
  };
  while (i < x.size() && error.empty()) {
    const auto lt = x.find('<', i);
    if (lt == std::string::npos) {
      check_text(x.substr(i));
      break;
    }
    check_text(x.substr(i, lt - i));
    const auto gt = x.find('>', lt);
    if (gt == std::string::npos) {
      error = "unclosed tag";
      break;
    }
    std::string tag = x.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) error = "mismatched </" + tag.substr(1) + ">";
      else stack.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    if (self_closing) tag.pop_back();
    const auto sp = tag.find(' ');
    const std::string name = tag.substr(0, sp);
    std::string attrs = sp == std::string::npos ? "" : tag.substr(sp);
    // attributes: name="value" pairs
    std::size_t a = 0;
    while (a < attrs.size()) {
      while (a < attrs.size() && attrs[a] == ' ') ++a;
      if (a >= attrs.size()) break;
      const auto eq = attrs.find("=\"", a);
      if (eq == std::string::npos) {
        error = "unquoted attribute in <" + name + ">";
        break;
      }
      const auto end = attrs.find('"', eq + 2);
      if (end == std::string::npos) {
        error = "unterminated attribute in <" + name + ">";
        break;
      }
      const std::string value = attrs.substr(eq + 2, end - eq - 2);
      if (value.find('<') != std::string::npos) error = "'<' in attribute";
      check_text(value);
      a = end + 1;
    }
    names.push_back(name);
    if (!self_closing) stack.push_back(name);
  }
  if (error.empty() && !stack.empty()) error = "unclosed <" + stack.back() + ">";
  return names;
}

class CompareCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = temp_dir("compare").string();
    const auto run = [](const std::string& extra, const std::string& out) {
      const auto r = run_cli("run --quiet " + kScenario + extra + " --out " + dir_ + "/" + out);
      ASSERT_EQ(r.exit_code, 0) << r.out;
    };
    run("--set seed=1", "base");
    run("--set seed=1", "same");
    run("--set seed=1 --set scheduler.max_num_seqs=4", "slow");
    run("--set seed=11", "other_seed");
    run("--set seed=1 --seeds 3", "base3");
    run("--set seed=11 --seeds 3", "other3");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string d(const std::string& name) { return dir_ + "/" + name; }
  static std::string dir_;
};
std::string CompareCli::dir_;

TEST_F(CompareCli, SeedsLayoutHasManifestAndOneFolderPerSeed) {
  EXPECT_TRUE(fs::exists(d("base3/seeds.json")));
  for (const char* s : {"seed-1", "seed-2", "seed-3"}) {
    for (const char* f : {"summary.json", "requests.csv", "resolved_config.json", "timeseries.csv"}) {
      EXPECT_TRUE(fs::exists(d("base3") + "/" + s + "/" + f)) << s << "/" << f;
    }
  }
  EXPECT_FALSE(fs::exists(d("base3/summary.json")));
  // seed-1 of the multi-seed run is the single run with seed 1, byte for byte.
  EXPECT_EQ(read_text(d("base3/seed-1/requests.csv")), read_text(d("base/requests.csv")));
  EXPECT_TRUE(contains(read_text(d("base3/seed-2/resolved_config.json")), "\"seed\": 2"));
}

// The point values of one run are the run's own summary: per-request percentiles from
// requests.csv (microsecond resolution) agree with summary.json's to 1 us; throughput is read.
TEST_F(CompareCli, PointValuesMatchTheRunSummary) {
  const auto base = cmp::load_run_set(d("base"), "baseline");
  const auto c = cmp::compare_runs(base, base, {});
  const auto& summary = base.runs.front().summary;
  int checked = 0;
  for (const auto& delta : c.deltas) {
    const std::string& n = delta.metric.name;
    const auto dot = n.find('.');
    const std::string fam = n.substr(0, dot), stat = n.substr(dot + 1);
    if (fam == "ttft" || fam == "tpot" || fam == "e2e" || fam == "queueing" || fam == "itl") {
      EXPECT_NEAR(delta.baseline, summary[fam + "_s"][stat].get<double>(), 1.01e-6) << n;
      ++checked;
    }
    EXPECT_EQ(delta.abs_change(), 0.0) << n;
  }
  EXPECT_EQ(checked, 20);
  EXPECT_FALSE(c.statistical);
}

TEST_F(CompareCli, IdenticalRunsExitZeroWithZeroDeltas) {
  const auto r = run_cli("compare " + d("base") + " " + d("same") + " --threshold ttft.p99=+1% --threshold throughput=-1%");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "result: no regression (2 thresholds checked)")) << r.out;
  EXPECT_FALSE(contains(r.out, "config differences")) << r.out;
  // Every change column reads +0.000 and +0.00 %.
  std::istringstream lines(r.out);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("ttft.", 0) == 0 || line.rfind("e2e.", 0) == 0 || line.rfind("throughput", 0) == 0) {
      ++rows;
      EXPECT_TRUE(contains(line, "+0.000") && contains(line, "+0.00 %")) << line;
    }
  }
  EXPECT_EQ(rows, 10);
}

TEST_F(CompareCli, SeededRegressionExitsOneNamingTheMetric) {
  const auto r = run_cli("compare " + d("base") + " " + d("slow") + " --threshold ttft.p99=+5% --threshold tpot.p50=+50%");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "REGRESSION ttft.p99 rose")) << r.out;
  EXPECT_TRUE(contains(r.out, "scheduler.max_num_seqs: 256 -> 4")) << r.out;
  EXPECT_TRUE(contains(r.out, "limit +5%")) << r.out;
}

TEST_F(CompareCli, ABareNumberLimitShowsTheUnitItIsReadIn) {
  // Rule (docs/ci_gate.md): a bare number is in the metric's base unit, seconds for latency
  // metrics whose columns show milliseconds; the table and the verdict say so. max_num_seqs 4
  // raises TTFT p99 by far less than 1,000 s and more than 1 ms.
  const auto lax = run_cli("compare " + d("base") + " " + d("slow") + " --threshold ttft.p99=+1000");
  EXPECT_EQ(lax.exit_code, 0) << lax.out;
  EXPECT_TRUE(contains(lax.out, "+1000 s ")) << lax.out;
  const auto tight = run_cli("compare " + d("base") + " " + d("slow") + " --threshold ttft.p99=+0.001 --threshold throughput=-0");
  EXPECT_EQ(tight.exit_code, 1) << tight.out;
  EXPECT_TRUE(contains(tight.out, "limit +0.001 s)")) << tight.out;
  EXPECT_TRUE(contains(tight.out, "-0 tok/s")) << tight.out;
  // With a unit or a percentage, the limit is shown as written.
  const auto ms = run_cli("compare " + d("base") + " " + d("slow") + " --threshold ttft.p99=+1ms");
  EXPECT_TRUE(contains(ms.out, "limit +1ms)")) << ms.out;
}

TEST_F(CompareCli, NoiseOnlyOneSeedFlagsThreeSeedsDoNot) {
  const std::string th = " --threshold ttft.p99=+2% --threshold e2e.p90=+2% --threshold tpot.p50=+2%";
  // One seed against another: a tight threshold flags the noise of one traffic sample.
  const auto one = run_cli("compare " + d("base") + " " + d("other_seed") + th);
  EXPECT_EQ(one.exit_code, 1) << one.out;
  EXPECT_TRUE(contains(one.out, "point estimates only")) << one.out;
  // Three seeds each: the bootstrap interval holds zero, so the crossing is noise.
  const auto three = run_cli("compare " + d("base3") + " " + d("other3") + th);
  EXPECT_EQ(three.exit_code, 0) << three.out;
  EXPECT_TRUE(contains(three.out, "95 % bootstrap percentile intervals, 2000 resamples")) << three.out;
  EXPECT_TRUE(contains(three.out, "3 seeds: 11, 12, 13")) << three.out;
  // The verdict is deterministic: the same command prints the same bytes.
  EXPECT_EQ(run_cli("compare " + d("base3") + " " + d("other3") + th).out, three.out);
}

TEST_F(CompareCli, RegressionWithSeedsIsOutsideTheNoise) {
  const std::string slow3 = d("slow3");
  ASSERT_EQ(run_cli("run --quiet " + kScenario + "--set seed=11 --seeds 3 --set scheduler.max_num_seqs=4 --out " + slow3).exit_code, 0);
  const auto r = run_cli("compare " + d("base3") + " " + slow3 + " --threshold ttft.p99=+5%");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "REGRESSION ttft.p99 rose")) << r.out;
  EXPECT_TRUE(contains(r.out, "95 % interval [+")) << r.out;
}

TEST_F(CompareCli, MarkdownAndJunitReports) {
  const std::string md = d("report.md"), xml = d("report.xml");
  const auto r = run_cli("compare " + d("base") + " " + d("slow") + " --threshold ttft.p99=+5% --threshold throughput=-90% --markdown " + md +
                         " --junit " + xml);
  ASSERT_EQ(r.exit_code, 1) << r.out;
  const std::string m = read_text(md);
  EXPECT_TRUE(contains(m, "### servesim compare: **1 regression**")) << m;
  EXPECT_TRUE(contains(m, "| metric | baseline | candidate | change | threshold | verdict |")) << m;
  EXPECT_TRUE(contains(m, "| ttft.p99 |")) << m;
  EXPECT_TRUE(contains(m, "| +5% | **REGRESSION** |")) << m;
  EXPECT_TRUE(contains(m, "| -90% | ok |")) << m;
  EXPECT_TRUE(contains(m, "`pools.0.scheduler.max_num_seqs: 256 -> 4`")) << m;

  const std::string x = read_text(xml);
  std::string error;
  const auto names = xml_elements(x, error);
  EXPECT_EQ(error, "") << x;
  EXPECT_EQ(std::count(names.begin(), names.end(), "testsuites"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "testsuite"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "testcase"), 2);
  EXPECT_EQ(std::count(names.begin(), names.end(), "failure"), 1);
  EXPECT_TRUE(contains(x, "<testsuites name=\"servesim compare\" tests=\"2\" failures=\"1\"")) << x;
  EXPECT_TRUE(contains(x, "<testcase classname=\"servesim.compare\" name=\"ttft.p99=+5%\">\n      <failure type=\"regression\""))
      << x;
  EXPECT_TRUE(contains(x, "name=\"throughput=-90%\">\n      <system-out>ok: ")) << x;
}

TEST_F(CompareCli, BadInputExitsTwoWithOneLine) {
  const auto expect_error = [](const std::string& args, const std::vector<std::string>& fragments) {
    const auto r = run_cli("compare " + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_EQ(count_lines(r.out), 1) << r.out;
    EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
    for (const auto& f : fragments) EXPECT_TRUE(contains(r.out, f)) << "missing '" << f << "' in: " << r.out;
  };
  expect_error(d("base") + " " + d("nope"), {"nope", "candidate folder missing"});
  expect_error(d("base"), {"servesim compare", "two folders"});
  expect_error(d("base") + " " + d("same") + " --threshold ttft.p99=5%", {"--threshold", "ttft.p99=5%", "a sign"});
  expect_error(d("base") + " " + d("same") + " --threshold ttft.p999=+5%", {"--threshold", "ttft.p999", "a metric both runs report"});
  expect_error(d("base") + " " + d("same") + " --threshold throughput=-5ms", {"--threshold", "throughput=-5ms", "tok/s"});
  expect_error(d("base") + " " + d("same") + " --threshold goodput.fraction=+1%", {"goodput.fraction"});
  // A folder without one of its files.
  const std::string broken = d("broken");
  fs::create_directories(broken);
  fs::copy_file(d("base/summary.json"), broken + "/summary.json", fs::copy_options::overwrite_existing);
  fs::copy_file(d("base/resolved_config.json"), broken + "/resolved_config.json", fs::copy_options::overwrite_existing);
  expect_error(broken + " " + d("same"), {"broken/requests.csv", "baseline run lacks this file"});
  write_text(broken + "/requests.csv", "id,ttft_s,tpot_s,e2e_s,queueing_s,rejected\n1,0.1,abc,0.5,0.0,0\n");
  expect_error(broken + " " + d("same"), {"requests.csv:2", "tpot_s", "abc", "a number of seconds"});
  write_text(broken + "/summary.json", "{\"ttft_s\": ");
  expect_error(broken + " " + d("same"), {"summary.json:1:", "malformed JSON"});
  fs::create_directories(d("badseeds"));
  write_text(d("badseeds/seeds.json"), "{\"runs\": []}");
  expect_error(d("badseeds") + " " + d("same"), {"seeds.json: runs", "non-empty array"});
}

// --- gate ----------------------------------------------------------------------------------

class GateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("gate");
    // The documented example suite, copied so that its baselines land in the temp folder.
    fs::copy(fs::path(SERVESIM_DATA_DIR) / "docs/ci_gate", dir_ / "suite", fs::copy_options::recursive);
    fs::remove_all(dir_ / "suite/baselines");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string suite() const { return (dir_ / "suite/suite.json").string(); }
  std::string out() const { return " --out " + (dir_ / "out").string(); }
  fs::path dir_;
};

TEST_F(GateCli, UpdateBaselinesThenRerunPassesThenPolicyChangeFails) {
  // No baselines yet: bad input, naming the way to create them.
  const auto missing = run_cli("gate " + suite() + out());
  EXPECT_EQ(missing.exit_code, 2) << missing.out;
  EXPECT_EQ(count_lines(missing.out), 1) << missing.out;
  EXPECT_TRUE(contains(missing.out, "--update-baselines")) << missing.out;

  const auto upd = run_cli("gate " + suite() + out() + " --update-baselines");
  ASSERT_EQ(upd.exit_code, 0) << upd.out;
  EXPECT_TRUE(contains(upd.out, "baselines updated")) << upd.out;
  const fs::path base = dir_ / "suite/baselines";
  EXPECT_TRUE(fs::exists(base / "chat_h100/seeds.json"));
  EXPECT_TRUE(fs::exists(base / "chat_h100/seed-42/requests.csv"));
  EXPECT_FALSE(fs::exists(base / "chat_h100/seed-42/timeseries.csv"));  // baselines keep what compare reads
  for (const auto& e : fs::directory_iterator(dir_ / "suite")) {
    EXPECT_EQ(e.path().filename().string().find(".baselines.partial"), std::string::npos) << "temporary left behind";
  }

  const std::string md = (dir_ / "gate.md").string(), xml = (dir_ / "gate.xml").string();
  const auto again = run_cli("gate " + suite() + out() + " --markdown " + md + " --junit " + xml);
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_TRUE(contains(again.out, "no regression")) << again.out;
  EXPECT_TRUE(contains(read_text(md), "## servesim gate: scheduler-policy")) << read_text(md);
  std::string error;
  const auto names = xml_elements(read_text(xml), error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(std::count(names.begin(), names.end(), "testsuite"), 2);
  EXPECT_EQ(std::count(names.begin(), names.end(), "failure"), 0);

  // The policy under test, swapped in by --set: a scheduler that admits 4 sequences.
  const auto worse = run_cli("gate " + suite() + out() + " --set scheduler.max_num_seqs=4 --junit " + xml);
  EXPECT_EQ(worse.exit_code, 1) << worse.out;
  EXPECT_TRUE(contains(worse.out, "REGRESSION chat_h100: ttft.p99 rose")) << worse.out;
  const auto names2 = xml_elements(read_text(xml), error);
  EXPECT_EQ(error, "");
  EXPECT_GE(std::count(names2.begin(), names2.end(), "failure"), 1);
}

TEST_F(GateCli, BadSuiteExitsTwoWithOneLine) {
  write_text(dir_ / "bad.json", R"({"scenarios": [{"name": "a b", "scenario": {}}]})");
  auto r = run_cli("gate " + (dir_ / "bad.json").string() + out());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_TRUE(contains(r.out, "scenarios[0]: name")) << r.out;
  write_text(dir_ / "bad.json", R"({"scenarios": [{"name": "a", "scenario": {}}], "thresholds": ["ttft.p99=5"]})");
  r = run_cli("gate " + (dir_ / "bad.json").string() + out());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "thresholds[0]")) << r.out;
  write_text(dir_ / "bad.json", R"({"scenarios": [{"name": "a", "scenario": {}, "colour": 1}]})");
  r = run_cli("gate " + (dir_ / "bad.json").string() + out());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "colour")) << r.out;
}

}  // namespace
}  // namespace servesim
