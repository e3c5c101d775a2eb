// Static vs autoscaled plans over time (plan_autoscale.h): a step of traffic worked by hand,
// and the synthetic day's rate (bad input: tests/search/test_plan_cli.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/search/plan_autoscale.h"
#include "sim/search/plan_config.h"
#include "sim/search/plan_eval.h"
#include "sim/serving/catalog.h"

namespace servesim::search {
namespace {

std::shared_ptr<Catalog> catalog() { return std::make_shared<Catalog>(SERVESIM_DATA_DIR); }

// One H100 replica as a single server: fixed 2048-token prompts, one output token, one
// sequence per step (the plan search's hand-checkable case): each request takes S alone.
nlohmann::json server_plan() {
  return nlohmann::json::parse(R"({
    "name": "step", "seed": 5, "model": "Llama-3.1-8B", "target_rate": 10,
    "traffic": {"arrival": "gamma", "cv": 0.001, "prompt": {"dist": "fixed", "value": 2048}, "output": {"dist": "fixed", "value": 1}},
    "slo": {"ttft": "10s"},
    "candidates": {"devices": ["h100_sxm"], "replicas": [2], "max_num_seqs": [1], "max_num_batched_tokens": [2048]}
  })");
}

// A trace: `n1` requests spaced `gap1` apart from t = 0, then `n2` spaced `gap2` apart.
std::string write_step_trace(const std::string& name, int n1, double gap1, int n2, double gap2) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream f(path);
  f << "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  auto stamp = [](double t) {
    const auto us = static_cast<std::int64_t>(t * 1e6 + 0.5);
    return fmt::format("2026-01-01 {:02d}:{:02d}:{:02d}.{:06d}0", us / 3'600'000'000, us / 60'000'000 % 60, us / 1'000'000 % 60, us % 1'000'000);
  };
  double t = 0;
  for (int i = 0; i < n1; ++i, t += gap1) f << stamp(t) << ",2048,1\n";
  t = n1 * gap1;
  for (int i = 0; i < n2; ++i, t += gap2) f << stamp(t) << ",2048,1\n";
  return path;
}

// S: the TTFT of one request alone on the candidate.
double service_time(const PlanConfig& plan) {
  PlanConfig p = plan;
  p.slo.targets = {{"ttft", from_seconds(1000), 100}};
  const Candidate c = enumerate_candidates(p).front();
  return simulate_and_judge(candidate_scenario(p, c, 0.001, 1, 0), 0.001, 1, p.slo, false, catalog(), "probe", {}).values.at(0);
}

// The step, worked by hand. Phase 1, [0, 300 s): one request every 4 S; phase 2, [300, 600 s):
// one every S / 1.5 -- more than one server can take, less than two. The static plan holds 2
// replicas all day; the policy (queue_length, one request in flight per replica, 1..2
// replicas, asked every 5 s, no scale-down within 1000 s, a cold start of weights at
// 1000 GB/s = 16 ms and no engine start-up) starts with 1.
// - Phase 1 holds at most one request in flight: desired ceil(1 / 1) = 1, no change.
// - At 300 s the first phase-2 request has just arrived (1 in flight: no change); by 305 s
//   one server has fallen (1.5 - 1) x 5 / S requests behind (~25 at S ~ 0.1 s): desired 2, the
//   second replica is held from 305 s (its GPUs count from the start of its cold start) and
//   serves from 305.016 s; the 1000 s window keeps it to the end.
// - The last request finishes just after 600 s (the backlog is gone long before: two servers
//   have 0.5 / S of spare rate); the run ends at the next event: the static run's next 1 s
//   time-series sample, T in [600, 601] s, the autoscaled run's next 5 s control tick, T' in
//   [600, 605] s. GPUs are held until the run ends.
// So static = 2 T / 3600 GPU-hours in [0.3333, 0.3339]; autoscaled = (T' + T' - 305) / 3600
// in [0.2486, 0.2514]: about 25 % less. Static: every TTFT is S (two servers, evenly spaced
// arrivals, nobody waits), so every request meets a TTFT bound of 3 S; autoscaled: the
// backlog of 305 s waits up to ~2.5 s > 3 S, so some do not.
TEST(PlanAutoscale, StepTrafficAutoscaledHoldsFewerGpuHoursThanTheStaticPeakPlan) {
  nlohmann::json j = server_plan();
  const double s = service_time(parse_plan(j, "plan.json"));
  ASSERT_GT(s, 0.01);
  ASSERT_LT(s, 0.5);
  const int n1 = static_cast<int>(300 / (4 * s)), n2 = static_cast<int>(300 / (s / 1.5));
  const std::string trace = write_step_trace("servesim_step_trace.csv", n1, 300.0 / n1, n2, 300.0 / n2);
  j["slo"]["ttft"] = fmt::format("{:.3f}ms", 3 * s * 1e3);
  j["autoscale"] = {{"trace", {{"impl", "azure_csv"}, {"path", trace}}},
                    {"policies", {{{"policy", {{"impl", "queue_length"}, {"target_outstanding", 1}}},
                                   {"min_replicas", 1},
                                   {"interval", "5s"},
                                   {"scale_down_cooldown", "1000s"},
                                   {"storage_bandwidth", "1000GB/s"},
                                   {"engine_startup", "0s"}}}}};
  const PlanConfig plan = parse_plan(j, "plan.json");
  PlanResult result;
  CandidateResult cr;
  cr.c = enumerate_candidates(plan).front();
  cr.price = 3.2;
  cr.meets_target = true;
  cr.rank = 1;
  result.candidates = {cr};
  result.ranking = {0};
  const std::vector<DayRun> runs = run_day_comparison(plan, result, catalog(), {1, {}, {}});
  ASSERT_EQ(runs.size(), 2u);
  const DayRun &stat = runs[0], &scaled = runs[1];
  EXPECT_EQ(stat.policy, -1);
  EXPECT_GE(stat.outcome.gpu_hours, 2 * 600 / 3600.0);
  EXPECT_LE(stat.outcome.gpu_hours, 2 * 601 / 3600.0);
  EXPECT_GE(scaled.outcome.gpu_hours, (600 + 600 - 305) / 3600.0);
  EXPECT_LE(scaled.outcome.gpu_hours, (605 + 605 - 305) / 3600.0 + 1e-9);
  EXPECT_DOUBLE_EQ(stat.usd, stat.outcome.gpu_hours * 3.2);
  const nlohmann::json& pool = scaled.outcome.autoscale.at("pools").at(0);
  EXPECT_EQ(pool.at("scale_ups"), 1);
  EXPECT_EQ(pool.at("settings").at("max_replicas"), 2);  // default: the static plan's replicas
  EXPECT_DOUBLE_EQ(stat.outcome.goodput, 1.0);
  EXPECT_LT(scaled.outcome.goodput, 1.0);
  std::filesystem::remove(trace);
}

// The synthetic day: mean rate target / (1 + A), so that its peak is the target rate.
TEST(PlanAutoscale, SyntheticDayPeaksAtTheTargetRate) {
  nlohmann::json j = server_plan();
  j["autoscale"] = {{"duration", "2h"}, {"diurnal_amplitude", 0.6}, {"policies", {{{"policy", {{"impl", "queue_length"}}}}}}};
  const PlanConfig plan = parse_plan(j, "plan.json");
  const Candidate c = enumerate_candidates(plan).front();
  const nlohmann::json st = day_scenario(plan, c, -1, 0);
  EXPECT_DOUBLE_EQ(st["workload"]["rate"].get<double>(), 10 / 1.6);  // 6.25 req/s mean, 10 at the peak
  EXPECT_DOUBLE_EQ(st["workload"]["diurnal_period"].get<double>(), 7200);  // the period defaults to the duration
  EXPECT_EQ(st["replicas"], 2);
  const nlohmann::json sc = day_scenario(plan, c, 0, 0);
  EXPECT_EQ(sc["replicas"], 1);                          // min_replicas (default 1) serve at time 0
  EXPECT_EQ(sc["autoscale"]["max_replicas"], 2);         // default: the static plan's replicas
}

}  // namespace
}  // namespace servesim::search
