// Speculative decoding (engine.speculative): acceptance expectation and draws, the step's
// cost as draft plus verify, and whole runs whose step counts follow from the rules.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/report/output.h"
#include "sim/serving/catalog.h"
#include "sim/serving/executor.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "sim/serving/speculative.h"

namespace servesim {
namespace {
using nlohmann::json;

TEST(Speculative, ExpectedTokensWithAConstantAlphaIsTheGeometricSum) {
  // alpha 0.8, k 3: 1 + 0.8 + 0.64 + 0.512 = 2.952 = (1 - 0.8^4) / (1 - 0.8).
  EXPECT_NEAR(expected_tokens_per_step({0.8, 0.8, 0.8}, 3), 2.952, 1e-12);
  EXPECT_NEAR(expected_tokens_per_step({0.8, 0.8, 0.8}, 3), (1 - std::pow(0.8, 4)) / 0.2, 1e-12);
}

TEST(Speculative, ExpectedTokensWithPerPositionRatesChainsTheConditionals) {
  // 1 + 0.9 + 0.9 x 0.5 + 0.9 x 0.5 x 0.2 = 1 + 0.9 + 0.45 + 0.09 = 2.44.
  EXPECT_NEAR(expected_tokens_per_step({0.9, 0.5, 0.2}, 3), 2.44, 1e-12);
}

TEST(Speculative, DrawsAreTruncatedGeometricWithTheExpectedMeanAndTail) {
  // alpha 0.6, k 5: E[accepted] = 0.6 + 0.36 + 0.216 + 0.1296 + 0.07776 = 1.38336;
  // P(all 5 accepted) = 0.6^5 = 0.07776; P(none) = 0.4. 200000 draws: standard errors
  // below 0.003 (mean) and 0.0011 (proportions).
  const std::vector<double> a(5, 0.6);
  Rng rng(7);
  double sum = 0;
  int all = 0, none = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const std::int32_t x = draw_accepted(a, 5, rng);
    ASSERT_GE(x, 0);
    ASSERT_LE(x, 5);
    sum += x;
    all += x == 5;
    none += x == 0;
  }
  EXPECT_NEAR(sum / n, 1.38336, 0.012);
  EXPECT_NEAR(static_cast<double>(all) / n, 0.07776, 0.005);
  EXPECT_NEAR(static_cast<double>(none) / n, 0.4, 0.005);
}

TEST(Speculative, CertainAndImpossibleAcceptanceAreExact) {
  Rng rng(1);
  EXPECT_EQ(draw_accepted({1.0, 1.0, 1.0}, 3, rng), 3);
  EXPECT_EQ(draw_accepted({0.0, 1.0, 1.0}, 3, rng), 0);
  EXPECT_EQ(draw_accepted({1.0, 1.0, 1.0}, 2, rng), 2);  // k below the list: only k positions
}

TEST(Speculative, DraftHeadIsOneLayerOfTheTargetsShape) {
  Catalog catalog(SimOptions{}.data_dir);
  const auto target = catalog.model("Llama-3.1-8B", "test");
  const ModelSpec head = draft_head_spec(*target);
  EXPECT_EQ(head.layers, 1);
  EXPECT_EQ(head.hidden, target->hidden);
  EXPECT_EQ(head.vocab, target->vocab);
}

// Executors of the roofline cost over Llama-3.1-8B on one H100, optionally with a drafter.
struct Rig {
  ScenarioConfig c;
  Catalog catalog{SimOptions{}.data_dir};
  PoolRuntime p;
  std::shared_ptr<const ModelSpec> draft;
  Rig() {
    json s = json::parse(default_scenario_text());
    s["cost"] = {{"impl", "roofline"}};
    c = parse_scenario(s, "scenario.json");
    p = build_pool(c.pools[0], catalog, c.source);
    draft = catalog.model("Llama-3.2-1B", "test");
  }
  // Non-CPU operator time of one step (ns), the CPU's exposed share left out.
  SimTime device_ns(const ModelSpec* model, const ModelSpec* drafter, std::int32_t new_tokens, std::int32_t drafted,
                    std::int64_t context) {
    ExecutorContext ctx = p.exec_context(PlanLinks{});
    ExecutorContext c2{model ? *model : ctx.model, ctx.plan, ctx.cost, ctx.links, ctx.weight_dtype, ctx.act_dtype,
                       ctx.kv_dtype, nullptr, 0, 0, OverlapConfig{}, drafter};
    Executor exec(c2);
    Request r;
    r.spec.prompt_tokens = static_cast<std::int32_t>(context);
    r.spec.output_tokens = 20;
    r.num_generated = 1;
    r.num_computed = context;
    r.state = RequestState::kRunning;
    StepPlan plan;
    plan.seqs.push_back(ScheduledSeq{&r, new_tokens, context, drafted, 0});
    plan.num_tokens = new_tokens;
    exec.cost_step(plan, KvLayout{true, 16});
    SimTime t = 0;
    for (std::size_t k = 0; k < exec.ns_by_class().size(); ++k) {
      if (k != static_cast<std::size_t>(OpClass::kCpu)) t += exec.ns_by_class()[k];
    }
    return t;
  }
};

TEST(Speculative, StepCostIsTheDraftForwardsPlusTheVerifyChunk) {
  // k = 3 on a 100-token context: the drafter (Llama-3.2-1B) runs 3 decode forwards at
  // contexts 100, 101, 102, then the target verifies 4 query tokens (4 logits) on context
  // 100. Every operator is priced alone in integer ns, so the step's operator time is the
  // sum of those four steps priced separately.
  Rig rig;
  const SimTime spec = rig.device_ns(nullptr, rig.draft.get(), 4, 3, 100);
  const SimTime verify = rig.device_ns(nullptr, nullptr, 4, 3, 100);
  SimTime drafts = 0;
  for (int j = 0; j < 3; ++j) drafts += rig.device_ns(rig.draft.get(), nullptr, 1, 0, 100 + j);
  EXPECT_EQ(spec, verify + drafts);
}

TEST(Speculative, VerifyOfFourTokensCostsAboutOneDecodeAtBatchOne) {
  // At batch 1 a forward is bound by reading the weights (8.03e9 x 2 B); 4 query tokens
  // instead of 1 add ~4 x 2 x 8e9 FLOP = 64 GFLOP, ~0.1 ms at ~700 TFLOP/s against ~5 ms of
  // weight reads: the verify costs at most 10 % more than a plain decode.
  Rig rig;
  const SimTime decode = rig.device_ns(nullptr, nullptr, 1, 0, 100);
  const SimTime verify = rig.device_ns(nullptr, nullptr, 4, 3, 100);
  EXPECT_GT(verify, decode);
  EXPECT_LT(static_cast<double>(verify), 1.1 * static_cast<double>(decode));
}

json one_request(std::int32_t output) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = 1;
  s["workload"]["prompt"] = {{"dist", "fixed"}, {"value", 32}};
  s["workload"]["output"] = {{"dist", "fixed"}, {"value", output}};
  return s;
}

TEST(Speculative, CertainAcceptanceEmitsKPlusOneTokensPerStep) {
  // Output 9, k 3, alpha 1: the prefill samples token 1; then 4 tokens a step (k capped so
  // no proposal passes the output: min(3, 9 - 1 - 1) = 3, then min(3, 9 - 5 - 1) = 3): 5, 9.
  // Three steps in all, against nine without speculation.
  json s = one_request(9);
  s["engine"]["speculative"] = {{"method", "eagle"}, {"k", 3}, {"acceptance", 1.0}};
  SimResult res = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(res.summary["steps"]["count"], 3);
  EXPECT_EQ(res.summary["requests"]["completed"], 1);
  SimResult plain = Simulation(one_request(9), SimOptions{}).run();
  EXPECT_EQ(plain.summary["steps"]["count"], 9);
}

TEST(Speculative, NoAcceptanceStillEmitsOneTokenPerStep) {
  // alpha 0: every verify step keeps only the target's own token, as plain decoding.
  json s = one_request(9);
  s["engine"]["speculative"] = {{"method", "mtp"}, {"k", 2}, {"acceptance", 0.0}};
  SimResult res = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(res.summary["steps"]["count"], 9);
}

TEST(Speculative, ProposalsNeverPassTheOutputLength) {
  // Output 4, k 5, alpha 1: token 1 at the prefill, then k = min(5, 4 - 1 - 1) = 2: tokens
  // 2..4 in one step. Two steps.
  json s = one_request(4);
  s["engine"]["speculative"] = {{"method", "eagle"}, {"k", 5}, {"acceptance", 1.0}};
  SimResult res = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(res.summary["steps"]["count"], 2);
}

TEST(Speculative, RunsAreDeterministicForASeed) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = 40;
  s["engine"]["speculative"] = {{"method", "draft_model"}, {"draft_model", "Llama-3.2-1B"}, {"k", 4}, {"acceptance", 0.7}};
  SimResult a = Simulation(s, SimOptions{}).run();
  SimResult b = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(a.summary.dump(), b.summary.dump());
  EXPECT_EQ(requests_csv(a), requests_csv(b));
}

TEST(Speculative, DrafterWeightsAndKvComeOutOfTheKvMemory) {
  // Llama-3.2-1B as the drafter: its weights (1.236e9 x 2 B, embedding tied) leave the KV
  // memory, and each token also holds its 16 layers x 2 x 8 heads x 64 x 2 B = 32 KiB of KV
  // (the target's: 32 x 2 x 8 x 128 x 2 B = 128 KiB).
  Catalog catalog(SimOptions{}.data_dir);
  json s = json::parse(default_scenario_text());
  const ScenarioConfig plain = parse_scenario(s, "scenario.json");
  s["engine"]["speculative"] = {{"method", "draft_model"}, {"draft_model", "Llama-3.2-1B"}, {"k", 3}};
  const ScenarioConfig spec = parse_scenario(s, "scenario.json");
  const PoolRuntime a = build_pool(plain.pools[0], catalog, plain.source);
  const PoolRuntime b = build_pool(spec.pools[0], catalog, spec.source);
  EXPECT_NEAR(a.memory.kv_bytes - b.memory.kv_bytes, 1.2358e9 * 2, 0.01e9);
  EXPECT_DOUBLE_EQ(a.memory.kv_bytes_per_token, 131072.0);
  EXPECT_DOUBLE_EQ(b.memory.kv_bytes_per_token, 131072.0 + 32768.0);
}

TEST(Speculative, AbsentSectionLeavesTheResolvedConfigAsBefore) {
  Simulation sim(json::parse(default_scenario_text()), SimOptions{});
  EXPECT_FALSE(sim.resolved_config()["pools"][0]["engine"].contains("speculative"));
}

}  // namespace
}  // namespace servesim
