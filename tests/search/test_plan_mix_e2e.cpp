// A Melange mix simulated end to end (plan_mix.h, MixRun): the scenario it writes, and the
// size_aware router sending each bucket to the pool the program assigned it to.
#include <gtest/gtest.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/search/plan_config.h"
#include "sim/search/plan_mix.h"
#include "sim/serving/catalog.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"

namespace servesim::search {
namespace {

std::shared_ptr<Catalog> catalog() { return std::make_shared<Catalog>(SERVESIM_DATA_DIR); }

PlanConfig two_size_plan() {
  return parse_plan(nlohmann::json::parse(R"({
    "name": "m", "seed": 3, "model": "Llama-3.1-8B", "target_rate": 4,
    "traffic": {"prompt": {"dist": "empirical", "values": [200, 3000], "weights": [1, 1]},
                "output": {"dist": "fixed", "value": 8}},
    "slo": {"ttft": "2s"}, "candidates": {"devices": ["a100_sxm4_80gb", "h100_sxm"]},
    "search": {"requests": 120, "short_requests": 20, "min_duration": "5s"},
    "mix": {"prompt_edges": [1024], "output_edges": [], "samples": 400}
  })"),
                    "plan.json");
}

// A solution written by hand: one A100 replica takes every short prompt (bucket 0), two H100
// replicas every long one (bucket 1).
MixResult hand_mix(const PlanConfig& plan) {
  MixResult r;
  r.buckets = mix_buckets(plan, catalog(), 0);
  for (const Candidate& c : enumerate_candidates(plan)) {
    MixUnit u;
    u.c = c;
    r.units.push_back(u);
    r.simulated.push_back(r.units.size() - 1);
  }
  for (const MixBucket& b : r.buckets) r.problem.load.push_back(b.share * plan.target_rate);
  r.mix.feasible = true;
  r.mix.replicas = {1, 2};
  r.mix.share = {{1, 0}, {0, 1}};
  return r;
}

TEST(PlanMixEndToEnd, ScenarioHasAPoolPerUnitAndTheSharesAsRouterWeights) {
  const PlanConfig plan = two_size_plan();
  const MixResult r = hand_mix(plan);
  const nlohmann::json s = mix_scenario(plan, r, r.mix, 0);
  ASSERT_EQ(s["pools"].size(), 2u);
  EXPECT_EQ(s["pools"][0]["name"], "u1_a100_sxm4_80gb_tp1");
  EXPECT_EQ(s["pools"][0]["hardware"], "a100_sxm4_80gb");
  EXPECT_EQ(s["pools"][0]["replicas"], 1);
  EXPECT_EQ(s["pools"][1]["replicas"], 2);
  EXPECT_FALSE(s.contains("replicas"));  // pools carry the counts
  EXPECT_EQ(s["router"]["impl"], "size_aware");
  EXPECT_EQ(s["router"]["shares"]["u1_a100_sxm4_80gb_tp1"], nlohmann::json({1.0, 0.0}));
  EXPECT_EQ(s["router"]["shares"]["u2_h100_sxm_tp1"], nlohmann::json({0.0, 1.0}));
  EXPECT_EQ(s["workload"]["rate"], 4);  // the plan's traffic at the target rate
}

// Rule (size_aware): bucket 0 (prompt < 1024) goes only to the A100 pool (replica 0), bucket 1
// only to the H100 pool (replicas 1 and 2). Every record must follow it.
TEST(PlanMixEndToEnd, EveryRequestRunsOnThePoolItsBucketWasAssigned) {
  const PlanConfig plan = two_size_plan();
  const MixResult r = hand_mix(plan);
  Simulation sim(parse_scenario(mix_scenario(plan, r, r.mix, 0), "mix.json"), catalog());
  const SimResult res = sim.run();
  std::int64_t short_n = 0, long_n = 0;
  for (const RequestRecord& rec : res.records) {
    if (rec.prompt_tokens < 1024) {
      EXPECT_EQ(rec.replica, 0);
      ++short_n;
    } else {
      EXPECT_TRUE(rec.replica == 1 || rec.replica == 2) << rec.replica;
      ++long_n;
    }
  }
  EXPECT_GT(short_n, 0);
  EXPECT_GT(long_n, 0);
}

// run_plan_mix simulates its mix and the best single type end to end: both runs exist, with
// one value per SLO, and the mix's scenario uses the size-aware router.
TEST(PlanMixEndToEnd, PlanMixRunsTheMixAndTheBestSingleType) {
  const PlanConfig plan = two_size_plan();
  const MixResult r = run_plan_mix(plan, PriceBook::load(SERVESIM_DATA_DIR), catalog(), {1, {}, {}});
  ASSERT_TRUE(r.mix_run.simulated) << r.mix_run.reason;
  ASSERT_TRUE(r.single_run.simulated) << r.single_run.reason;
  EXPECT_EQ(r.mix_run.outcome.values.size(), 1u);
  EXPECT_EQ(r.mix_run.scenario["router"]["impl"], "size_aware");
  EXPECT_EQ(r.single_run.scenario["pools"].size(), 1u);
  bool has_file = false;
  for (const auto& [name, text] : mix_files(plan, r, "prices.json")) has_file |= name == "mix_scenario.json";
  EXPECT_TRUE(has_file);
}

TEST(PlanMixEndToEnd, ADisaggregatedUnitCannotBeRoutedBySize) {
  PlanConfig plan = two_size_plan();
  MixResult r = hand_mix(plan);
  r.units[1].c.split = Split{1, 1};
  EXPECT_THROW((void)mix_scenario(plan, r, r.mix, 0), InputError);
}

}  // namespace
}  // namespace servesim::search
