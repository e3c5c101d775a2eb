// report.html's data (sim/report/report_data.h) and page (html_report.h); the browser test
// of the rendered pages is tools/report/test_reports.mjs (ctest: report_browser).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/report/html_report.h"
#include "sim/report/output.h"
#include "sim/report/report_data.h"
#include "sim/serving/simulation.h"
#include "tests/cli/cli_helpers.h"

namespace servesim::report {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;

TEST(CdfPoints, EveryValueWhenFewerThanTheLimit) {
  // 4 values: point i is (x[i] in ms, (i + 1) / 4).
  std::vector<double> v = {0.004, 0.001, 0.003, 0.002};
  EXPECT_EQ(cdf_points(v, 1e3), json::parse("[[1.0,0.25],[2.0,0.5],[3.0,0.75],[4.0,1.0]]"));
}

TEST(CdfPoints, ThinnedToEvenlySpacedRanksKeepingTheEnds) {
  // 101 values 0..100, 3 points: ranks 0, round(100/2) = 50, 100.
  std::vector<double> v;
  for (int i = 100; i >= 0; --i) v.push_back(i);
  const json p = cdf_points(v, 1.0, 3);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], json::array({0.0, 1.0 / 101}));
  EXPECT_EQ(p[1], json::array({50.0, 51.0 / 101}));
  EXPECT_EQ(p[2], json::array({100.0, 1.0}));
}

// A small run written as `servesim run --out` would.
fs::path write_run(const std::string& name, std::uint64_t seed) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = 60;
  s["seed"] = seed;
  const SimResult r = Simulation(s, SimOptions{}).run();
  const fs::path dir = servesim::testing::temp_dir("report_" + name);
  fs::remove_all(dir);
  write_results(dir.string(), r);
  return dir;
}

// Results are streamed into their files row by row: the files hold exactly the text the
// string writers give (the goldens, written by the CLI, check the text itself).
TEST(ResultFiles, StreamedFilesEqualTheTextWriters) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = 40;
  const SimResult r = Simulation(s, SimOptions{}).run();
  const fs::path dir = servesim::testing::temp_dir("streamed_files");
  fs::remove_all(dir);
  write_results(dir.string(), r);
  EXPECT_EQ(servesim::testing::slurp(dir / "requests.csv"), requests_csv(r));
  EXPECT_EQ(servesim::testing::slurp(dir / "timeseries.csv"), timeseries_csv(r));
  fs::remove_all(dir);
}

// A streamed file whose writer fails leaves the earlier results in place and no temporary
// folder beside them (the same contract as the text files).
TEST(ResultFiles, AFailingStreamedFileKeepsTheOldResults) {
  const fs::path dir = servesim::testing::temp_dir("streamed_fail");
  fs::remove_all(dir);
  const fs::path out = dir / "res";
  write_dir_atomically(out.string(), {{"a.txt", "old\n"}});
  const std::vector<StreamedFile> failing = {
      {"big.csv", [](std::ostream& o) {
         o << "partial\n";
         throw InputError("writer failed");
       }}};
  EXPECT_THROW(write_dir_atomically(out.string(), {{"a.txt", "new\n"}}, failing), InputError);
  EXPECT_EQ(servesim::testing::slurp(out / "a.txt"), "old\n");
  EXPECT_FALSE(fs::exists(out / "big.csv"));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1u);  // only res/
  fs::remove_all(dir);
}

TEST(ReportData, OneRunFolderIsKindRun) {
  const fs::path dir = write_run("one", 1);
  const json d = collect_report_data({dir.string()});
  EXPECT_EQ(d["kind"], "run");
  ASSERT_EQ(d["sets"].size(), 1u);
  const json& set = d["sets"][0];
  EXPECT_EQ(set["summaries"].size(), 1u);
  // The pooled percentiles are summary.json's (same definition), in ms, up to requests.csv's
  // rounding of times to the µs (interpolating between values off by <= 0.5 µs each: <= 1 µs).
  EXPECT_NEAR(set["percentiles_ms"]["ttft"]["p99"].get<double>(), set["summaries"][0]["ttft_s"]["p99"].get<double>() * 1e3, 1e-3);
  EXPECT_EQ(set["cdf_ms"]["ttft"].back()[1], 1.0);
  EXPECT_EQ(set["timeseries"].size(), 1u);  // one replica
  fs::remove_all(dir);
}

TEST(ReportData, TwoFoldersAreAComparisonInTheGivenOrder) {
  const fs::path a = write_run("cmp_a", 1), b = write_run("cmp_b", 2);
  const json d = collect_report_data({a.string(), b.string()});
  EXPECT_EQ(d["kind"], "compare");
  EXPECT_EQ(d["sets"][0]["label"], a.filename().string());
  EXPECT_EQ(d["sets"][1]["label"], b.filename().string());
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(ReportData, ATableOfAKnownNameIsIncluded) {
  const fs::path dir = write_run("extra", 1);
  servesim::testing::write_text(dir / "points.csv", "rate,ttft_p99_ms\n2,40.5\n4,80.25\n");
  const json d = collect_report_data({dir.string()});
  ASSERT_EQ(d["sets"][0]["extras"].size(), 1u);
  EXPECT_EQ(d["sets"][0]["extras"][0]["file"], "points.csv");
  EXPECT_EQ(d["sets"][0]["extras"][0]["rows"], json::parse(R"([["2","40.5"],["4","80.25"]])"));
  fs::remove_all(dir);
}

TEST(HtmlReport, PageInlinesTheLibraryAndLoadsNothingElse) {
  const fs::path dir = write_run("page", 1);
  const std::string html = build_report({dir.string()}, default_assets_dir());
  EXPECT_NE(html.find("<meta name=\"generator\" content=\"servesim report\">"), std::string::npos);
  EXPECT_NE(html.find("echarts"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  fs::remove_all(dir);
}

TEST(HtmlReport, MissingAssetsAreAnInputError) {
  EXPECT_THROW(render_html(json::object(), "/nonexistent/servesim-assets"), InputError);
}

TEST(ReportCli, MissingChartLibraryExitsTwoWithOneLine) {
  const fs::path dir = write_run("cli_assets", 1);
  ::setenv("SERVESIM_REPORT_ASSETS", "/nonexistent/servesim-assets", 1);
  const auto r = servesim::testing::run_cli("report " + dir.string() + " --out " + (dir / "r.html").string());
  ::unsetenv("SERVESIM_REPORT_ASSETS");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(servesim::testing::count_lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("echarts.min.js"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("npm ci"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "r.html"));
  fs::remove_all(dir);
}

TEST(ReportCli, RefusesToReplaceAFileItDidNotWrite) {
  const fs::path dir = write_run("cli_nooverwrite", 1);
  servesim::testing::write_text(dir / "mine.html", "<p>my notes</p>");
  const auto r = servesim::testing::run_cli("report " + dir.string() + " --out " + (dir / "mine.html").string());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  std::ifstream in(dir / "mine.html");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "<p>my notes</p>");
  fs::remove_all(dir);
}

TEST(ReportCli, RunReportAndTimelineLandInTheOutputFolder) {
  const fs::path dir = servesim::testing::temp_dir("cli_run_report");
  fs::remove_all(dir);
  const auto r = servesim::testing::run_cli("run --quiet --set workload.num_requests=20 --report --timeline --out " + dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(fs::is_regular_file(dir / "report.html"));
  EXPECT_TRUE(fs::is_regular_file(dir / "timeline.json"));
  EXPECT_TRUE(fs::is_regular_file(dir / "summary.json"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace servesim::report
