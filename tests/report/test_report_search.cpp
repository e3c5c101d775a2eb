// report.html's data for sweep and plan-search folders (sim/report/report_search.h); the
// pages are drawn in the browser test (tools/report/test_reports.mjs, ctest: report_browser).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/report/report_data.h"
#include "sim/report/report_search.h"
#include "tests/cli/cli_helpers.h"

namespace servesim::report {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;
using servesim::testing::temp_dir;
using servesim::testing::write_text;

// A finished sweep over one key, as `servesim sweep` leaves it (the files the report reads):
// point 0 ok with TTFT p99 0.25 s and 1,000 output tokens/s, point 1 failed.
fs::path write_sweep(const std::string& name) {
  const fs::path dir = temp_dir("report_search_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_text(dir / "journal.jsonl", "{\"servesim_sweep\":1,\"name\":\"my-sweep\",\"hash\":\"x\",\"points\":2}\n");
  write_text(dir / "points.csv", "index,id,status,workload.rate,completed,rejected,error\n0,a,ok,4,10,0,\n1,b,failed,8,,,too big\n");
  write_text(dir / "points.jsonl",
             "{\"index\":0,\"id\":\"a\",\"set\":{\"workload.rate\":4},\"status\":\"ok\",\"summary\":{\"scenario\":\"base\","
             "\"ttft_s\":{\"p99\":0.25},\"throughput\":{\"output_tokens_per_s\":1000.0}}}\n"
             "{\"index\":1,\"id\":\"b\",\"set\":{\"workload.rate\":8},\"status\":\"failed\",\"error\":\"too big\"}\n");
  return dir;
}

TEST(SearchFolderKind, TellsSweepsAndPlanSearchesByTheirFiles) {
  const fs::path sweep = write_sweep("kind");
  const fs::path plan = temp_dir("report_search_kind_plan");
  fs::create_directories(plan);
  write_text(plan / "plans.jsonl", "");
  write_text(plan / "pareto.json", "{}");
  const fs::path run = temp_dir("report_search_kind_run");
  fs::create_directories(run);
  write_text(run / "summary.json", "{}");
  EXPECT_EQ(search_folder_kind(sweep.string()), SearchFolder::kSweep);
  EXPECT_EQ(search_folder_kind(plan.string()), SearchFolder::kPlan);
  EXPECT_EQ(search_folder_kind(run.string()), SearchFolder::kNone);
}

TEST(SweepData, KeysAreThePointsCsvColumnsBetweenStatusAndCompleted) {
  const json d = collect_sweep_data(write_sweep("keys").string());
  EXPECT_EQ(d["kind"], "sweep");
  EXPECT_EQ(d["keys"], json::array({"workload.rate"}));
  EXPECT_EQ(d["name"], "my-sweep");  // the journal's header names the sweep
}

TEST(SweepData, MetricsAreScaledToTheirDisplayUnits) {
  // TTFT p99 0.25 s -> 250 ms; output tokens/s as they are; a metric the summary lacks is absent.
  const json d = collect_sweep_data(write_sweep("metrics").string());
  const json& m = d["points"][0]["m"];
  EXPECT_DOUBLE_EQ(m["ttft_p99"].get<double>(), 250.0);
  EXPECT_DOUBLE_EQ(m["throughput_tok_s"].get<double>(), 1000.0);
  EXPECT_FALSE(m.contains("tpot_p99"));
}

TEST(SweepData, FailedPointKeepsItsError) {
  const json d = collect_sweep_data(write_sweep("failed").string());
  EXPECT_EQ(d["points"][1]["status"], "failed");
  EXPECT_EQ(d["points"][1]["error"], "too big");
  EXPECT_FALSE(d["points"][1].contains("m"));
}

TEST(ReportData, OneSweepFolderGivesTheSweepDocument) {
  const fs::path dir = write_sweep("doc");
  const json d = collect_report_data({dir.string()}, "T");
  EXPECT_EQ(d["kind"], "sweep");
  EXPECT_EQ(d["title"], "T");
  EXPECT_EQ(d["label"], dir.filename().string());
}

TEST(ReportData, SweepFolderAmongSeveralIsAnInputError) {
  const fs::path s = write_sweep("among");
  EXPECT_THROW(collect_report_data({s.string(), s.string()}), InputError);
}

TEST(PlanData, CandidatesKeepTheRankedOrderOfPlansJsonl) {
  const fs::path dir = temp_dir("report_search_plan");
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_text(dir / "plans.jsonl", "{\"rank\":1,\"candidate\":\"b\"}\n{\"rank\":2,\"candidate\":\"a\"}\n{\"rank\":0,\"candidate\":\"c\"}\n");
  write_text(dir / "pareto.json", "{\"cost_vs_latency\":[],\"cost_vs_headroom\":[],\"latency_metric\":\"ttft_p99_at_target_s\"}");
  write_text(dir / "plan.json", "{\"name\":\"p\",\"target_rate\":10}");
  const json d = collect_report_data({dir.string()});
  EXPECT_EQ(d["kind"], "plan");
  ASSERT_EQ(d["candidates"].size(), 3u);
  EXPECT_EQ(d["candidates"][0]["candidate"], "b");
  EXPECT_EQ(d["candidates"][2]["candidate"], "c");
  EXPECT_EQ(d["pareto"]["latency_metric"], "ttft_p99_at_target_s");
  EXPECT_EQ(d["plan"]["target_rate"], 10);
}

}  // namespace
}  // namespace servesim::report
