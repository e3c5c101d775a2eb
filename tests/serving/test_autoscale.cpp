// Autoscaling (sim/serving/autoscale.h): the controller's decisions worked by hand, and whole
// runs: cold start before any work, drains, bounds, and a fixed-count autoscale section
// changing no result.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/core/params.h"
#include "sim/serving/autoscale.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

// queue_length with 10 requests per replica, 1..4 replicas, cool-downs as given.
AutoscaleConfig hand_config(const std::string& up_cd = "0s", const std::string& down_cd = "0s") {
  json j = {{"policy", {{"impl", "queue_length"}, {"target_outstanding", 10}}},
            {"min_replicas", 1},
            {"max_replicas", 4},
            {"interval", "10s"},
            {"scale_up_cooldown", up_cd},
            {"scale_down_cooldown", down_cd}};
  Params p(j, "test: autoscale");
  AutoscaleConfig c = parse_autoscale(p);
  p.finish();
  c.resolved = p.resolved();
  return c;
}

PoolLoad load(double t_s, std::int64_t outstanding) {
  PoolLoad l;
  l.now = from_seconds(t_s);
  l.running = outstanding;
  return l;
}

const SimTime kCold = from_seconds(100.0);

// Replicas 10..13, replica 10 serving from 0. At 10 s, 25 requests in flight: ceil(25 / 10)
// = 3 wanted, so 11 and 12 start (cold start 100 s: serving at 110 s). At 120 s, 5 in flight:
// 1 wanted, so the highest serving ones drain, 12 then 11; they empty at 130 s and 140 s.
// GPU time by 200 s: 200 s (10) + 130 s (11: 10..140) + 120 s (12: 10..130) = 450 s.
TEST(Autoscale, StepsUpThenDownAndCountsHeldTimeFromColdStartToDrain) {
  PoolScaler s(hand_config(), "p", {10, 11, 12, 13}, 1, kCold, 0.0);
  const auto up = s.decide(load(10, 25));
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].replica, 11);
  EXPECT_EQ(up[0].to, ReplicaPhase::kStarting);
  EXPECT_EQ(up[1].replica, 12);
  s.ready(11, from_seconds(110));
  s.ready(12, from_seconds(110));
  const auto down = s.decide(load(120, 5));
  ASSERT_EQ(down.size(), 2u);
  EXPECT_EQ(down[0].replica, 12);
  EXPECT_EQ(down[0].to, ReplicaPhase::kDraining);
  EXPECT_EQ(down[1].replica, 11);
  s.drained(12, from_seconds(130));
  s.drained(11, from_seconds(140));
  EXPECT_EQ(s.count(ReplicaPhase::kServing), 1);
  EXPECT_EQ(s.held(11, from_seconds(200)), from_seconds(130));
  const json sum = s.summary(from_seconds(200), 2);
  EXPECT_EQ(sum["cold_starts"], 2);
  EXPECT_EQ(sum["drains_completed"], 2);
  EXPECT_DOUBLE_EQ(sum["replica_hours"].get<double>(), 450.0 / 3600.0);
  EXPECT_DOUBLE_EQ(sum["gpu_hours"].get<double>(), 2 * 450.0 / 3600.0);  // 2 GPUs per replica
  EXPECT_EQ(sum["peak_provisioned"], 3);
}

// 1000 in flight wants 100 replicas: clamped to max 4. Nothing in flight wants 0: clamped to
// min 1 (replica 10 stays; the three others drain).
TEST(Autoscale, DesiredCountIsClampedToTheBounds) {
  PoolScaler s(hand_config(), "p", {10, 11, 12, 13}, 1, kCold, 0.0);
  EXPECT_EQ(s.decide(load(10, 1000)).size(), 3u);
  EXPECT_EQ(s.count(ReplicaPhase::kStarting), 3);
  for (int id : {11, 12, 13}) s.ready(id, from_seconds(110));
  EXPECT_EQ(s.decide(load(120, 0)).size(), 3u);
  EXPECT_EQ(s.count(ReplicaPhase::kServing), 1);
  EXPECT_EQ(s.phase(10), ReplicaPhase::kServing);
}

// Up cool-down 60 s: up at 10 s (2 wanted); at 20 s (3 wanted) 10 s have passed, refused; at
// 70 s, 60 s have passed, allowed. Down cool-down 300 s after the last scale event (70 s):
// refused at 300 s (230 s), allowed at 370 s.
TEST(Autoscale, CooldownsDelayTheNextScaleEvent) {
  PoolScaler s(hand_config("60s", "300s"), "p", {10, 11, 12, 13}, 1, kCold, 0.0);
  EXPECT_EQ(s.decide(load(10, 15)).size(), 1u);
  EXPECT_TRUE(s.decide(load(20, 25)).empty());
  EXPECT_EQ(s.decide(load(70, 25)).size(), 1u);
  EXPECT_TRUE(s.decide(load(300, 5)).empty());
  EXPECT_EQ(s.decide(load(370, 5)).size(), 2u);  // both starting ones cancelled
}

// Scaling down cancels a replica still starting before draining a serving one; scaling up
// takes a draining replica back (warm, serving at once) before starting a stopped one.
TEST(Autoscale, CancelsStartsFirstAndTakesDrainingReplicasBackFirst) {
  PoolScaler s(hand_config(), "p", {10, 11, 12, 13}, 2, kCold, 0.0);
  EXPECT_EQ(s.decide(load(10, 30)).size(), 1u);  // 12 starts
  const auto down = s.decide(load(20, 10));      // 1 wanted: 12 cancelled, 11 drains
  ASSERT_EQ(down.size(), 2u);
  EXPECT_EQ(down[0].replica, 12);
  EXPECT_EQ(down[0].to, ReplicaPhase::kStopped);
  EXPECT_EQ(down[1].replica, 11);
  EXPECT_EQ(down[1].to, ReplicaPhase::kDraining);
  const auto up = s.decide(load(30, 20));  // 2 wanted: 11 serves again, no cold start
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].replica, 11);
  EXPECT_EQ(up[0].to, ReplicaPhase::kServing);
  EXPECT_EQ(s.summary(from_seconds(40), 1)["cold_starts"], 1);
}

// HPA rule: 2 serving replicas at KV use 0.9 and 0.5 (sum 1.4), target 0.5: ceil(1.4 / 0.5)
// = 3; at sum 1.05 (mean 0.525, within 10 % of 0.5) the provisioned count is kept.
TEST(Autoscale, TargetUtilizationFollowsTheHpaRuleWithATolerance) {
  auto policy = AutoscalerRegistry::get().build({{"impl", "target_utilization"}, {"target", 0.5}}, "test", nullptr);
  PoolLoad l;
  l.serving = 2;
  l.provisioned = 2;
  l.kv_used_sum = 1.4;
  EXPECT_EQ(policy->desired(l), 3);
  l.kv_used_sum = 1.05;
  EXPECT_EQ(policy->desired(l), 2);
}

// A whole run: 1 replica serving, up to 2; queue_length target 1 (any 2 requests in flight
// want 2 replicas); the cold start loads the replica's weights over its host link, then the
// engine starts in 5 s.
json scaled_scenario() {
  json s = json::parse(default_scenario_text());
  s["cost"] = {{"impl", "roofline"}};
  s["workload"]["duration"] = "60s";
  s["workload"]["rate"] = 8;
  s["autoscale"] = {{"policy", {{"impl", "queue_length"}, {"target_outstanding", 1}}},
                    {"max_replicas", 2},
                    {"interval", "1s"},
                    {"scale_down_cooldown", "0s"},
                    {"load_from", "host"},
                    {"engine_startup", "5s"}};
  return s;
}

// Cold start = weight bytes of the (one-GPU) replica / the H100's host link + 5 s; a started
// replica receives no request that arrived before its cold start ended.
TEST(Autoscale, NoWorkReachesAReplicaBeforeItsColdStartEnds) {
  Simulation sim(scaled_scenario(), SimOptions{});
  const double expect_cold = sim.memory_plan().weight_bytes / 64e9 + 5.0;  // PCIe 5.0 x16: 64 GB/s per direction
  const SimResult r = sim.run();
  const json& a = r.summary["autoscale"]["pools"][0];
  EXPECT_NEAR(a["cold_start_s"].get<double>(), expect_cold, 1e-6);
  ASSERT_GE(a["cold_starts"].get<int>(), 1);
  // The first start happens at a control instant t0 (a row with starting = 1); serving from t0 + cold.
  double t0 = -1;
  for (const json& row : a["replicas_over_time"]) {
    if (row["starting"] == 1) {
      t0 = row["t_s"].get<double>();
      break;
    }
  }
  ASSERT_GT(t0, 0);
  for (const RequestRecord& rec : r.records) {
    if (rec.replica == 1) EXPECT_GE(to_seconds(rec.arrival), t0 + expect_cold - 1e-9);
  }
}

// Drained replicas stop: every row of the series has serving + starting within [1, 2], and
// the GPU time held is below the whole run on both replicas (2 x simulated time).
TEST(Autoscale, ReplicaCountStaysWithinBoundsAndDrainedReplicasStopCounting) {
  const SimResult r = Simulation(scaled_scenario(), SimOptions{}).run();
  const json& a = r.summary["autoscale"]["pools"][0];
  for (const json& row : a["replicas_over_time"]) {
    const int n = row["serving"].get<int>() + row["starting"].get<int>();
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 2);
  }
  EXPECT_GE(a["drains_completed"].get<int>(), 1);
  const double sim_s = r.summary["simulated_time_s"].get<double>();
  EXPECT_LT(a["gpu_hours"].get<double>() * 3600.0, 2 * sim_s);
  EXPECT_DOUBLE_EQ(r.summary["cost"]["gpu_hours"].get<double>(), a["gpu_hours"].get<double>());
}

// With at most 2 replicas only replica 1 ever drains. From a drain's start (a row with
// draining = 1; control events come last at their instant, so an arrival at that very
// instant came before the decision) no request arriving is routed to it, and it stops
// (draining back to 0 with serving 1) only once every request it held has its last token.
// (target_outstanding 8: the count hovers between 1 and 2, so replica 1 drains while busy.)
TEST(Autoscale, ADrainingReplicaTakesNoNewWorkAndStopsOnceItsRequestsFinish) {
  json sc = scaled_scenario();
  sc["autoscale"]["policy"]["target_outstanding"] = 8;
  const SimResult r = Simulation(sc, SimOptions{}).run();
  const json& rows = r.summary["autoscale"]["pools"][0]["replicas_over_time"];
  int drains = 0;
  for (std::size_t i = 0; i + 1 < rows.size(); ++i) {
    if (rows[i]["draining"] != 1) continue;
    const double start = rows[i]["t_s"].get<double>(), end = rows[i + 1]["t_s"].get<double>();
    const bool stopped = rows[i + 1]["draining"] == 0 && rows[i + 1]["serving"] == 1;
    for (const RequestRecord& rec : r.records) {
      if (rec.replica != 1) continue;
      const double arrival = to_seconds(rec.arrival);
      EXPECT_FALSE(arrival > start && arrival < end) << "request " << rec.id << " routed to a draining replica";
      if (stopped && arrival < start) EXPECT_LE(to_seconds(rec.last_token), end + 1e-9);
    }
    drains += stopped && end > start ? 1 : 0;  // a busy drain that ended in a stop
  }
  EXPECT_GE(drains, 1);
}

TEST(Autoscale, SameScenarioGivesTheSameRun) {
  const SimResult a = Simulation(scaled_scenario(), SimOptions{}).run();
  const SimResult b = Simulation(scaled_scenario(), SimOptions{}).run();
  EXPECT_EQ(a.summary.dump(), b.summary.dump());
}

// min = max = replicas: the count can never change; with the control interval equal to the
// sampling interval the run ends at the same instant, so every result is the same.
TEST(Autoscale, AFixedCountSectionChangesNoResult) {
  json fixed = scaled_scenario();
  fixed["replicas"] = 2;
  fixed["autoscale"]["min_replicas"] = 2;
  json plain = fixed;
  plain.erase("autoscale");
  const SimResult a = Simulation(fixed, SimOptions{}).run();
  const SimResult b = Simulation(plain, SimOptions{}).run();
  ASSERT_EQ(a.records.size(), b.records.size());
  for (std::size_t i = 0; i < a.records.size(); ++i) {
    EXPECT_EQ(a.records[i].replica, b.records[i].replica);
    EXPECT_EQ(a.records[i].last_token, b.records[i].last_token);
  }
  EXPECT_DOUBLE_EQ(a.summary["cost"]["run_usd"].get<double>(), b.summary["cost"]["run_usd"].get<double>());
  EXPECT_DOUBLE_EQ(a.summary["energy"]["total_j"].get<double>(), b.summary["energy"]["total_j"].get<double>());
}

}  // namespace
}  // namespace servesim
