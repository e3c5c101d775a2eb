// Heterogeneous mixes (sim/search/mix_solver.*, plan_mix.*): the Melange integer program on
// a case solved by hand, its limits, and the request-size buckets of a plan's traffic.
#include <gtest/gtest.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/search/mix_solver.h"
#include "sim/search/plan_config.h"
#include "sim/search/plan_mix.h"
#include "sim/serving/catalog.h"

namespace servesim::search {
namespace {

// Two device types, two buckets (worked by hand):
//   unit A: $1/h, 1 GPU;  one replica sustains 10 req/s of small requests, 1 req/s of large ones
//   unit B: $3/h, 4 GPUs; one replica sustains 20 req/s of small requests, 10 req/s of large ones
//   load: 20 req/s small, 5 req/s large.
// A replica's time is shared: sum_b load_b * y_ub / cap_ub <= x_u.
// - A alone: 20/10 + 5/1 = 7 replicas, $7/h.  B alone: 20/20 + 5/10 = 1.5 -> 2 replicas, $6/h.
// - With one B ($3), B is 10x faster than A on large requests but only 2x on small ones, so B
//   takes all the large load (5/10 = half its time) and 10 req/s small (the other half);
//   the other 10 req/s small need 10/10 = 1 A. Total $4/h (5 GPUs).
// - Nothing cheaper: $3 buys one B (1.5 replicas of work needed) or three A (7 needed);
//   $4 with B = 0 is four A (< 7). So (A, B) = (1, 1) at $4/h is the optimum.
MixProblem hand_problem() {
  MixProblem p;
  p.usd_per_hour = {1, 3};
  p.gpus = {1, 4};
  p.load = {20, 5};
  p.capacity = {{10, 1}, {20, 10}};
  return p;
}

TEST(MixSolver, FindsTheHandDerivedOptimum) {
  const MixSolution s = solve_mix(hand_problem());
  ASSERT_TRUE(s.feasible);
  EXPECT_EQ(s.replicas, (std::vector<std::int64_t>{1, 1}));
  EXPECT_DOUBLE_EQ(s.usd_per_hour, 4.0);
  EXPECT_EQ(s.gpus, 5);
  // B serves all of the large bucket and half of the small one; A the other half.
  EXPECT_NEAR(s.share[1][1], 1.0, 1e-9);
  EXPECT_NEAR(s.share[1][0], 0.5, 1e-9);
  EXPECT_NEAR(s.share[0][0], 0.5, 1e-9);
}

TEST(MixSolver, SingleTypeNeedsWholeReplicasOfItsOwnWork) {
  // A alone: 7 replicas ($7/h); B alone: ceil(1.5) = 2 replicas ($6/h) -- see hand_problem().
  const MixSolution a = solve_single(hand_problem(), 0), b = solve_single(hand_problem(), 1);
  ASSERT_TRUE(a.feasible);
  ASSERT_TRUE(b.feasible);
  EXPECT_EQ(a.replicas[0], 7);
  EXPECT_DOUBLE_EQ(a.usd_per_hour, 7.0);
  EXPECT_EQ(b.replicas[1], 2);
  EXPECT_DOUBLE_EQ(b.usd_per_hour, 6.0);
}

TEST(MixSolver, GpuLimitBelowEveryMixIsInfeasible) {
  // The optimum uses 5 GPUs; 2 x B uses 8; 7 x A uses 7. With at most 4 GPUs one B (1.5
  // replicas of work needed) or four A (7 needed) cannot cover the load.
  MixProblem p = hand_problem();
  p.max_gpus = 4;
  EXPECT_FALSE(solve_mix(p).feasible);
  p.max_gpus = 5;
  EXPECT_TRUE(solve_mix(p).feasible);
}

TEST(MixSolver, BucketNoUnitServesIsInfeasible) {
  MixProblem p = hand_problem();
  p.capacity = {{10, 0}, {20, 0}};  // nobody sustains any large-request rate
  EXPECT_FALSE(solve_mix(p).feasible);
}

TEST(MixSolver, EmptyBucketNeedsNoCapacity) {
  MixProblem p = hand_problem();
  p.load = {20, 0};
  p.capacity = {{10, 0}, {20, 0}};
  // Only small requests: A at $1 per 10 req/s beats B at $3 per 20 req/s: 2 x A, $2/h.
  const MixSolution s = solve_mix(p);
  ASSERT_TRUE(s.feasible);
  EXPECT_EQ(s.replicas, (std::vector<std::int64_t>{2, 0}));
}

// Rule: a bucket's share is the fraction of the sampled requests in it. Prompts are 100 or
// 2000 tokens with weights 3:1 and outputs always 16, so with edges 1024 (prompt) and 256
// (output) the buckets are p[1,1024) x o[1,256) with share ~3/4 and p[1024,inf) x o[1,256)
// with ~1/4 (4000 samples: binomial sd sqrt(0.1875/4000) = 0.007; 5 sd = 0.035), and the two
// long-output buckets are empty.
TEST(PlanMix, BucketSharesAreTheSampledFractions) {
  const PlanConfig plan = parse_plan(nlohmann::json::parse(R"({
    "model": "Llama-3.1-8B", "target_rate": 4,
    "traffic": {"prompt": {"dist": "empirical", "values": [100, 2000], "weights": [3, 1]},
                "output": {"dist": "fixed", "value": 16}},
    "slo": {"ttft": "1s"}, "candidates": {"devices": ["h100_sxm"]},
    "mix": {"prompt_edges": [1024], "output_edges": [256], "samples": 4000}
  })"),
                                     "plan.json");
  const auto b = mix_buckets(plan, std::make_shared<Catalog>(SERVESIM_DATA_DIR), 0);
  ASSERT_EQ(b.size(), 4u);  // prompt-major: (short, short-out), (short, long-out), (long, short-out), (long, long-out)
  EXPECT_EQ(b[0].label(), "prompt [1, 1024) x output [1, 256)");
  EXPECT_EQ(b[3].label(), "prompt [1024, inf) x output [256, inf)");
  EXPECT_NEAR(b[0].share, 0.75, 0.035);
  EXPECT_NEAR(b[2].share, 0.25, 0.035);
  EXPECT_EQ(b[1].share, 0.0);
  EXPECT_EQ(b[3].share, 0.0);
  EXPECT_DOUBLE_EQ(b[0].share + b[2].share, 1.0);
  for (std::int32_t p : b[2].prompts) EXPECT_EQ(p, 2000);
}

std::string mix_text(const PlanConfig& plan, int threads) {
  const MixResult r = run_plan_mix(plan, PriceBook::load(SERVESIM_DATA_DIR), std::make_shared<Catalog>(SERVESIM_DATA_DIR),
                                   {threads, {}, {}});
  std::string s;
  for (const auto& [name, text] : mix_files(plan, r, "prices.json")) s += name + "\n" + text;
  return s + mix_summary(plan, r);
}

TEST(PlanMix, ResultsDoNotDependOnTheThreadCount) {
  const PlanConfig plan = parse_plan(nlohmann::json::parse(R"({
    "model": "Llama-3.1-8B", "target_rate": 4,
    "traffic": {"prompt": {"dist": "empirical", "values": [256, 2048]}, "output": {"dist": "fixed", "value": 16}},
    "slo": {"ttft": "500ms", "tpot": "50ms"}, "candidates": {"devices": ["h100_sxm", "a100_sxm4_80gb"]},
    "search": {"requests": 60, "short_requests": 20, "tolerance": 0.1, "min_duration": "5s"},
    "mix": {"output_edges": [], "samples": 200}
  })"),
                                     "plan.json");
  const std::string one = mix_text(plan, 1);
  EXPECT_EQ(one, mix_text(plan, 2));
  EXPECT_EQ(one, mix_text(plan, 3));
}

// Rule (plan_mix.h): a unit whose one replica uses more GPUs than limits.max_gpus is listed,
// not simulated. TP 2 on one GPU at most: over the limit; TP 1 is simulated.
TEST(PlanMix, UnitOverTheGpuLimitIsListedNotSimulated) {
  const PlanConfig plan = parse_plan(nlohmann::json::parse(R"({
    "model": "Llama-3.1-8B", "target_rate": 2,
    "traffic": {"prompt": {"dist": "fixed", "value": 256}, "output": {"dist": "fixed", "value": 16}},
    "slo": {"ttft": "500ms", "tpot": "50ms"}, "candidates": {"devices": ["h100_sxm"], "tp": [1, 2]},
    "limits": {"max_gpus": 1},
    "search": {"requests": 60, "short_requests": 20, "tolerance": 0.1, "min_duration": "5s"}
  })"),
                                     "plan.json");
  const MixResult r = run_plan_mix(plan, PriceBook::load(SERVESIM_DATA_DIR), std::make_shared<Catalog>(SERVESIM_DATA_DIR), {1, {}, {}});
  ASSERT_EQ(r.units.size(), 2u);
  EXPECT_TRUE(r.units[0].reason.empty());
  EXPECT_GT(r.units[0].simulations, 0);
  EXPECT_TRUE(r.units[1].over_limit);
  EXPECT_EQ(r.units[1].simulations, 0);
  EXPECT_NE(r.units[1].reason.find("over limits.max_gpus 1"), std::string::npos) << r.units[1].reason;
  EXPECT_EQ(r.simulated, (std::vector<std::size_t>{0}));
}

TEST(PlanMix, EdgesMustIncrease) {
  nlohmann::json j = nlohmann::json::parse(R"({"model": "m", "target_rate": 1, "slo": {"ttft": "1s"},
    "candidates": {"devices": ["h100_sxm"]}, "mix": {"prompt_edges": [512, 512]}})");
  try {
    (void)parse_plan(j, "plan.json");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("plan.json: mix.prompt_edges[1]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace servesim::search
