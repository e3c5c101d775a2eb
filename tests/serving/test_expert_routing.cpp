// Expert routing: per-step draws, the slowest expert-parallel shard, and what it costs.
#include <array>
#include <algorithm>
#include <numeric>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/parallel/expert_routing.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

TEST(ExpertRouting, SlowestShardTakesTheMostCopiesAndTheMostActiveExperts) {
  // 8 experts: copies 5 0 3 0 | 1 1 1 1. EP 2: rank 0 holds experts 0-3 (8 copies on 2
  // active experts), rank 1 experts 4-7 (4 copies on 4): most copies 8 (rank 0), most
  // active experts 4 (rank 1). EP 4: ranks {5,0} {3,0} {1,1} {1,1}: 5 copies, 2 active.
  const std::array<std::int64_t, 8> draw{5, 0, 3, 0, 1, 1, 1, 1};
  const ShardLoad ep2 = slowest_shard(draw, 2);
  EXPECT_EQ(ep2.rank, 0);
  EXPECT_EQ(ep2.copies, 8);
  EXPECT_EQ(ep2.active_experts, 4);
  const ShardLoad ep4 = slowest_shard(draw, 4);
  EXPECT_EQ(ep4.rank, 0);
  EXPECT_EQ(ep4.copies, 5);
  EXPECT_EQ(ep4.active_experts, 2);
}

ModelSpec toy_moe() {
  ModelSpec m;
  m.name = "toy-moe";
  m.layers = 1;
  m.hidden = 16;
  m.heads = 2;
  m.kv_heads = 2;
  m.head_dim = 8;
  m.intermediate = 32;
  m.vocab = 64;
  m.moe.num_experts = 8;
  m.moe.experts_per_token = 2;
  m.moe.expert_intermediate = 32;
  return m;
}

const Operator& op_named(const std::vector<Operator>& ops, std::string_view name) {
  const auto it = std::find_if(ops.begin(), ops.end(), [&](const Operator& o) { return name == o.name; });
  EXPECT_NE(it, ops.end()) << name;
  return *it;
}

TEST(ExpertRouting, MoeLayerIsSizedByTheSlowestShard) {
  // 6 tokens x top-2 = 12 copies drawn as 5 0 3 0 | 1 1 1 1 over TP 2 = EP 2. Most copies on
  // a rank: 8 (rank 0); most active experts: 4 (rank 1). The GEMM: 4 groups of
  // ceil(8 / 4) = 2 rows (the weights of 4 experts, the FLOPs of 8 copies); rank 0 receives
  // 8 x hidden 16 x 2 bytes = 256 bytes in the all-to-all. Balanced, each rank would get 6
  // copies over min(4, 6) = 4 experts: 4 groups of ceil(6 / 4) = 2 rows, 192 bytes.
  // A draw 12 0 0 0 | 0 0 0 0 puts all copies on one expert: 1 group of 12 rows.
  const ModelSpec m = toy_moe();
  const auto plan = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"tp", 2}, {"ep", 2}}, "test", nullptr);
  const std::array<SeqAttention, 1> seqs{SeqAttention{6, 0}};
  StepBatch b;
  b.seqs = seqs;
  b.num_tokens = 6;
  b.num_logits = 1;
  std::vector<Operator> balanced, drawn;
  plan->step_operators(m, b, PlanLinks{}, balanced);
  EXPECT_EQ(op_named(balanced, "expert_gate_up").gemm.groups, 4);
  EXPECT_EQ(op_named(balanced, "expert_gate_up").gemm.m, 2);
  EXPECT_DOUBLE_EQ(op_named(balanced, "ep_dispatch").coll.bytes, 192.0);
  const std::array<std::int64_t, 8> draw{5, 0, 3, 0, 1, 1, 1, 1};
  b.expert_tokens = draw;
  plan->step_operators(m, b, PlanLinks{}, drawn);
  EXPECT_EQ(op_named(drawn, "expert_gate_up").gemm.groups, 4);
  EXPECT_EQ(op_named(drawn, "expert_gate_up").gemm.m, 2);
  EXPECT_EQ(op_named(drawn, "expert_down").gemm.m, 2);
  EXPECT_DOUBLE_EQ(op_named(drawn, "ep_dispatch").coll.bytes, 256.0);
  EXPECT_DOUBLE_EQ(op_named(drawn, "ep_combine").coll.bytes, 256.0);
  // The three expert operators carry their layer for a fused-MoE cost model: width 32 / (TP 2
  // / EP 2) = 32, 4 local experts, balanced 6 copies; drawn, the slowest shard's 8 copies.
  for (const char* name : {"expert_gate_up", "expert_act", "expert_down"}) {
    const MoeLayerShape& l = op_named(balanced, name).moe;
    EXPECT_EQ(l.hidden, 16);
    EXPECT_EQ(l.inter, 32);
    EXPECT_EQ(l.topk, 2);
    EXPECT_EQ(l.local_experts, 4);
    EXPECT_EQ(l.ep, 2);
    EXPECT_DOUBLE_EQ(l.copies, 6.0);
    EXPECT_DOUBLE_EQ(op_named(drawn, name).moe.copies, 8.0);
  }
  EXPECT_EQ(op_named(balanced, "expert_gate_up").moe.part, 0);
  EXPECT_EQ(op_named(balanced, "expert_act").moe.part, 1);
  EXPECT_EQ(op_named(balanced, "expert_down").moe.part, 2);
  EXPECT_EQ(op_named(balanced, "router").moe.ep, 0);  // not an expert operator
  const std::array<std::int64_t, 8> hot{12, 0, 0, 0, 0, 0, 0, 0};
  b.expert_tokens = hot;
  std::vector<Operator> one;
  plan->step_operators(m, b, PlanLinks{}, one);
  EXPECT_EQ(op_named(one, "expert_gate_up").gemm.groups, 1);
  EXPECT_EQ(op_named(one, "expert_gate_up").gemm.m, 12);
  EXPECT_DOUBLE_EQ(op_named(one, "ep_dispatch").coll.bytes, 12.0 * 16 * 2);
}

TEST(ExpertRouting, ZipfPopularityFollowsOneOverRank) {
  // s = 1 over 4 experts: weights 1, 1/2, 1/3, 1/4 (sum 25/12) -> 12/25, 6/25, 4/25, 3/25,
  // on a seeded order of the experts.
  ModelSpec m = toy_moe();
  m.moe.num_experts = 4;
  const auto plan = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"routing", "zipf"}}, "test", nullptr);
  std::vector<double> p = plan->expert_popularity(m, 42);
  ASSERT_EQ(p.size(), 4u);
  std::sort(p.begin(), p.end(), std::greater<>());
  EXPECT_DOUBLE_EQ(p[0], 12.0 / 25);
  EXPECT_DOUBLE_EQ(p[1], 6.0 / 25);
  EXPECT_DOUBLE_EQ(p[2], 4.0 / 25);
  EXPECT_DOUBLE_EQ(p[3], 3.0 / 25);
  const auto balanced = ParallelPlanRegistry::get().build({{"impl", "megatron"}}, "test", nullptr);
  EXPECT_TRUE(balanced->expert_popularity(m, 42).empty());
}

TEST(ExpertRouting, ADrawCountsEveryCopyAndRepeatsWithItsSeed) {
  const std::array<double, 4> p{0.4, 0.3, 0.2, 0.1};
  const std::array<double, 4> cdf{0.4, 0.7, 0.9, 1.0};
  std::vector<std::int64_t> a, b;
  Rng r1(7), r2(7);
  draw_expert_tokens(r1, p, cdf, 1000, a);
  draw_expert_tokens(r2, p, cdf, 1000, b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::accumulate(a.begin(), a.end(), std::int64_t{0}), 1000);
}

TEST(ExpertRouting, SkewedRoutingLoadsTheSlowestShardMoreThanUniform) {
  // Mixtral-8x7B over TP 4 = EP 4 (2 experts a GPU). Uniform draws leave the slowest shard a
  // little above the mean; a Zipf popularity with s = 1.5 puts the hottest expert alone at
  // 1 / H(8, 1.5) = 1 / 1.93 = 0.52 of the copies, so the slowest shard is far above the mean (1/4).
  json s = json::parse(default_scenario_text());
  s["model"] = "Mixtral-8x7B-v0.1";
  s["topology"] = "hgx_h100_8";
  s["parallel"] = {{"impl", "megatron"}, {"tp", 4}, {"ep", 4}, {"routing", "uniform"}};
  s["workload"]["num_requests"] = 40;
  const SimResult uni = Simulation(s, SimOptions{}).run();
  s["parallel"]["routing"] = "zipf";
  s["parallel"]["zipf_exponent"] = 1.5;
  const SimResult zipf = Simulation(s, SimOptions{}).run();
  const double u = uni.summary["pools"][0]["expert_routing"]["mean_slowest_shard_load_over_mean"].get<double>();
  const double z = zipf.summary["pools"][0]["expert_routing"]["mean_slowest_shard_load_over_mean"].get<double>();
  EXPECT_GT(u, 1.0);
  EXPECT_GT(z, 1.5);
  EXPECT_GT(z, u);
  EXPECT_GT(zipf.summary["tpot_s"]["p50"].get<double>(), uni.summary["tpot_s"]["p50"].get<double>());
}

}  // namespace
}  // namespace servesim
