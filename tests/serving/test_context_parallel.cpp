// Context parallelism (parallel.cp, ring attention) and attention data parallelism
// (parallel.attention = dp): rank shapes, the ring's overlap rule, memory per rank, and the
// slowest attention-DP rank setting the step.
#include <algorithm>
#include <array>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/serving/catalog.h"
#include "sim/serving/context_parallel.h"
#include "sim/serving/executor.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

TEST(ContextParallel, RingRoundTimeIsTheLongerOfComputeAndTransfer) {
  // cp 4, one layer: rounds of r = 3 ns, sends of x = 2 ns (4 rounds = 12, 3 sends = 6).
  // r + (cp - 1) max(r, x) = 3 + 3 x 3 = 12: every send hides behind a round.
  EXPECT_EQ(ring_attention_ns(12, 6, 4), 12);
  // cp 2: r = 2, x = 5 (rounds 4, sends 5): 2 + 1 x 5 = 7, the transfer shows.
  EXPECT_EQ(ring_attention_ns(4, 5, 2), 7);
  // Over 10 layers (sums 10x): 10 x (3 + 3 x 3) = 120.
  EXPECT_EQ(ring_attention_ns(120, 60, 4), 120);
  // cp 1: nothing to overlap.
  EXPECT_EQ(ring_attention_ns(7, 0, 1), 7);
}

TEST(ContextParallel, EachRankSeesItsShareOfEveryPrefillAndTheWholeDecodeBatch) {
  // cp 4. Decode {1 query, 100 cached} -> {1, ceil(100 / 4) = 25}: the rank attends the
  // query against its 25 tokens. Prefill {64, 1000} -> {16, 250}: one ring round (16 of its
  // queries against one block); its pairs 16 x 250 + 16 x 17 / 2 = 4136, about 1/16 of the
  // sequence's 64 x 1000 + 64 x 65 / 2 = 66080 (66080 / 16 = 4130).
  const std::array<SeqAttention, 2> seqs{SeqAttention{1, 100}, SeqAttention{64, 1000}};
  std::vector<SeqAttention> out;
  shard_context(seqs, 1, 4, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].q, 1);
  EXPECT_EQ(out[0].context, 25);
  EXPECT_EQ(out[1].q, 16);
  EXPECT_EQ(out[1].context, 250);
}

ModelSpec toy_dense() {
  ModelSpec m;
  m.name = "toy";
  m.layers = 2;
  m.hidden = 16;
  m.heads = 2;
  m.kv_heads = 2;
  m.head_dim = 8;
  m.intermediate = 32;
  m.vocab = 64;
  return m;
}

const Operator& op_named(const std::vector<Operator>& ops, std::string_view name) {
  const auto it = std::find_if(ops.begin(), ops.end(), [&](const Operator& o) { return name == o.name; });
  EXPECT_NE(it, ops.end()) << name;
  return *it;
}

TEST(ContextParallel, LinearLayersRunOnTheRanksTokensAndTheRingPassesKvBlocks) {
  // cp 2, tp 1, 2 layers: a 10-token prompt; the rank's view {5, 0}. Linear layers on
  // ceil(10 / 2) = 5 tokens; attention 2 rounds a layer (repeat 4), 1 block send a layer
  // (repeat 2) of 5 tokens x (2 KV heads x 8 x K and V x 2 B = 64 B) = 320 B.
  const ModelSpec m = toy_dense();
  const auto plan = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"cp", 2}}, "test", nullptr);
  EXPECT_EQ(plan->degrees().devices_per_replica(), 2);
  const std::array<SeqAttention, 1> seqs{SeqAttention{5, 0}};
  StepBatch b;
  b.seqs = seqs;
  b.num_tokens = 10;
  b.num_logits = 1;
  std::vector<Operator> ops;
  plan->step_operators(m, b, PlanLinks{}, ops);
  EXPECT_EQ(op_named(ops, "qkv_proj").gemm.m, 5);
  EXPECT_EQ(op_named(ops, "attn_prefill").repeat, 4);
  EXPECT_EQ(op_named(ops, kRingKvSend).repeat, 2);
  EXPECT_DOUBLE_EQ(op_named(ops, kRingKvSend).coll.bytes, 320.0);
  EXPECT_EQ(op_named(ops, kRingKvSend).coll.ranks, 2);
}

TEST(ContextParallel, DecodeGathersQueriesAndScattersPartialOutputs) {
  // cp 2, 3 decode sequences: all-gather 3 x 2 heads x 8 x 2 B = 96 B of queries, and a
  // reduce-scatter of fp32 partial outputs with their log-sum-exp, 3 x 2 x (8 + 1) x 4 B = 216 B,
  // each once a layer; the linear layers on ceil(3 / 2) = 2 tokens.
  const ModelSpec m = toy_dense();
  const auto plan = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"cp", 2}}, "test", nullptr);
  const std::array<SeqAttention, 3> seqs{SeqAttention{1, 50}, SeqAttention{1, 50}, SeqAttention{1, 50}};
  StepBatch b;
  b.seqs = seqs;
  b.num_decode = 3;
  b.num_tokens = 3;
  b.num_logits = 3;
  std::vector<Operator> ops;
  plan->step_operators(m, b, PlanLinks{}, ops);
  EXPECT_DOUBLE_EQ(op_named(ops, "cp_query_all_gather").coll.bytes, 96.0);
  EXPECT_DOUBLE_EQ(op_named(ops, "cp_attn_reduce_scatter").coll.bytes, 216.0);
  EXPECT_EQ(op_named(ops, "cp_query_all_gather").repeat, 2);
  EXPECT_EQ(op_named(ops, "qkv_proj").gemm.m, 2);
}

DeviceSpec device_of(double bytes) {
  DeviceSpec d;
  d.name = "toy-gpu";
  d.hbm_runtime_capacity = bytes;
  return d;
}

TEST(ContextParallel, EachRankHoldsOneCpShareOfTheKv) {
  // 2 layers x 64 B a token a layer = 128 B a token on one device; cp 4 ranks each hold a
  // quarter of every sequence: 32 B per token of the replica, so 4x the tokens.
  const ModelSpec m = toy_dense();
  const auto one = ParallelPlanRegistry::get().build({{"impl", "megatron"}}, "test", nullptr);
  const auto cp4 = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"cp", 4}}, "test", nullptr);
  MemoryConfig c;
  c.max_num_batched_tokens = 16;
  c.max_num_seqs = 1;
  const MemoryPlan a = plan_memory(m, device_of(1e6), *one, c);
  const MemoryPlan b = plan_memory(m, device_of(1e6), *cp4, c);
  EXPECT_DOUBLE_EQ(a.kv_bytes_per_token, 128.0);
  EXPECT_DOUBLE_EQ(b.kv_bytes_per_token, 32.0);
  EXPECT_DOUBLE_EQ(b.weight_bytes, a.weight_bytes);  // weights are replicated over CP ranks
}

TEST(ContextParallel, SlidingWindowModelsAndAttentionDpOnDenseModelsAreRefused) {
  ModelSpec m = toy_dense();
  m.sliding_window = 8;
  const auto cp2 = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"cp", 2}}, "test", nullptr);
  EXPECT_THROW(cp2->validate(m, "s.json: parallel"), InputError);
  const auto dp = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"tp", 2}, {"ep", 1}, {"attention", "dp"}},
                                                     "test", nullptr);
  EXPECT_THROW(dp->validate(toy_dense(), "s.json: parallel"), InputError);
}

ModelSpec toy_moe() {
  ModelSpec m = toy_dense();
  m.name = "toy-moe";
  m.kv_heads = 1;
  m.moe.num_experts = 4;
  m.moe.experts_per_token = 2;
  m.moe.expert_intermediate = 32;
  return m;
}

TEST(AttentionDp, EachRankHoldsWholeAttentionAndItsOwnRequestsKv) {
  // One KV head of 8 x K,V x 2 B = 32 B a layer, 2 layers: 64 B a token. TP 2 replicates the
  // head on both devices (64 B per replica token on each); attention DP over 2 ranks holds
  // each request's KV on one of them: 32 B per replica token, twice the tokens.
  const ModelSpec m = toy_moe();
  const auto tp = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"tp", 2}, {"ep", 2}}, "test", nullptr);
  const auto dp = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"tp", 2}, {"ep", 2}, {"attention", "dp"}},
                                                     "test", nullptr);
  dp->validate(m, "test");
  MemoryConfig c;
  c.max_num_batched_tokens = 16;
  c.max_num_seqs = 1;
  EXPECT_DOUBLE_EQ(plan_memory(m, device_of(1e6), *tp, c).kv_bytes_per_token, 64.0);
  EXPECT_DOUBLE_EQ(plan_memory(m, device_of(1e6), *dp, c).kv_bytes_per_token, 32.0);
  // Weights: everything but routed experts whole on each rank, experts over ep:
  // layers + experts / 2 + embedding + LM head.
  const WeightBytes w = m.weight_bytes(DType::kBf16);
  EXPECT_DOUBLE_EQ(dp->weight_bytes_per_device(m, DType::kBf16),
                   w.layers + w.routed_experts / 2 + w.embedding + w.lm_head);
}

TEST(AttentionDp, RankAttendsItsOwnTokensAndExpertsTakeTheGroupsCopies) {
  // Rank with 6 of the group's 10 tokens, top-2 of 4 experts over ep 2: attention and the
  // router on 6 tokens with both heads (no TP split, no all-reduce); each rank's experts get
  // 10 x 2 / 2 = 10 copies over its 2 experts (2 groups of 5 rows); the all-to-all carries
  // the larger of the 12 copies it sends and the 10 it receives: 12 x 16 x 2 B = 384 B.
  const ModelSpec m = toy_moe();
  const auto dp = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"tp", 2}, {"ep", 2}, {"attention", "dp"}},
                                                     "test", nullptr);
  const std::array<SeqAttention, 1> seqs{SeqAttention{6, 0}};
  StepBatch b;
  b.seqs = seqs;
  b.num_tokens = 6;
  b.num_logits = 1;
  b.group_tokens = 10;
  std::vector<Operator> ops;
  dp->step_operators(m, b, PlanLinks{}, ops);
  EXPECT_EQ(op_named(ops, "qkv_proj").gemm.m, 6);
  EXPECT_EQ(op_named(ops, "qkv_proj").gemm.n, (2 + 2 * 1) * 8);
  EXPECT_EQ(op_named(ops, "expert_gate_up").gemm.groups, 2);
  EXPECT_EQ(op_named(ops, "expert_gate_up").gemm.m, 5);
  EXPECT_DOUBLE_EQ(op_named(ops, "ep_dispatch").coll.bytes, 384.0);
  EXPECT_TRUE(std::none_of(ops.begin(), ops.end(), [](const Operator& o) { return std::string_view(o.name) == "tp_all_reduce"; }));
}

// A pool of the default scenario with the given model, hardware and parallel keys.
PoolRuntime pool_of(const std::string& model, const std::string& hardware, const json& parallel,
                    std::int64_t max_model_len = 0) {
  json s = json::parse(default_scenario_text());
  s["model"] = model;
  s["hardware"] = hardware;
  s["parallel"] = parallel;
  if (max_model_len > 0) s["engine"]["max_model_len"] = max_model_len;
  static ScenarioConfig c;  // the pool points at its config
  c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  return build_pool(c.pools[0], catalog, c.source);
}

TEST(ContextParallel, AContextBeyondOneGpusKvFitsOverCpRanks) {
  // Llama-3.1-8B (BF16) on an H100: 0.9 x 79.2 GiB less 15 GiB of weights and the
  // activations leaves about 55 GiB for KV at 128 KiB a token: about 450K tokens, short of
  // a 1M-token context. Over cp = 4 ranks each holds a quarter of it (32 KiB a token):
  // about 1.8M tokens, so it fits.
  EXPECT_THROW(pool_of("Llama-3.1-8B", "h100_sxm", json::object(), 1000000), InputError);
  const PoolRuntime p = pool_of("Llama-3.1-8B", "h100_sxm", {{"cp", 4}}, 1000000);
  EXPECT_EQ(p.max_model_len, 1000000);
  EXPECT_DOUBLE_EQ(p.memory.kv_bytes_per_token, 32.0 * 1024);
}

// Prices ops as the executor's critical path does (before any overlap rule).
SimTime sum_ns(const ICostModel& cost, const std::vector<Operator>& ops, OpClass only = OpClass::kCpu,
               std::string_view name = "") {
  SimTime t = 0;
  for (const Operator& op : ops) {
    if (op.overlap) continue;
    if (only != OpClass::kCpu && (op.cls != only || (!name.empty() && name != op.name))) continue;
    t += cost.predict(op)->ns * op.repeat;
  }
  return t;
}

SimTime cpu_ns(const ICostModel& cost, std::int64_t seqs, std::int64_t tokens, SimTime device) {
  Operator cpu;
  cpu.cls = OpClass::kCpu;
  cpu.items = seqs;
  cpu.cpu_tokens = tokens;
  cpu.cpu_kv_tokens = tokens;
  cpu.gpu_seconds = to_seconds(device);
  return cost.predict(cpu)->ns;
}

TEST(ContextParallel, AStepIsItsOperatorsLessTheSendsHiddenBehindRingRounds) {
  // Llama-3.1-8B, CP 2 on H100s, one 32768-token prompt. The step is the sum of one rank's
  // operators (rank view {16384, 0}) less min(rounds x (cp - 1) / cp, sends), then the
  // engine's CPU time.
  const PoolRuntime p = pool_of("Llama-3.1-8B", "h100_sxm", {{"cp", 2}});
  const PlanLinks links{0, 0, 0, 0, 450e9, 2e-6};
  ExecutorContext ctx = p.exec_context(links);
  ctx.power = nullptr;  // times as the cost model gives them
  Executor exec(ctx);
  Request r;
  r.spec.prompt_tokens = 32768;
  r.spec.output_tokens = 10;
  r.state = RequestState::kRunning;
  StepPlan step;
  step.seqs.push_back(ScheduledSeq{&r, 32768, 0});
  step.num_tokens = 32768;
  const std::array<SeqAttention, 1> view{SeqAttention{16384, 0}};
  StepBatch b;
  b.seqs = view;
  b.num_tokens = 32768;
  b.num_logits = 1;
  b.weight_dtype = b.act_dtype = b.kv_dtype = DType::kBf16;
  std::vector<Operator> ops;
  p.plan->step_operators(*p.model, b, links, ops);
  const SimTime rounds = sum_ns(*p.cost, ops, OpClass::kAttentionPrefill);
  const SimTime sends = sum_ns(*p.cost, ops, OpClass::kCollective, kRingKvSend);
  ASSERT_GT(rounds, 0);
  ASSERT_GT(sends, 0);
  const SimTime device = sum_ns(*p.cost, ops) - std::min(rounds / 2, sends);
  EXPECT_EQ(exec.cost_step(step, KvLayout{true, 16}), device + cpu_ns(*p.cost, 1, 32768, device));
}

TEST(AttentionDp, TheSlowestRankSetsTheStep) {
  // Qwen3-30B-A3B over 2 H100s, attention DP + EP 2. Request 0 (rank 0) prefills 2000
  // tokens, request 1 (rank 1) 100: rank 0's operators (its 2000 tokens' attention, the
  // group's 2100 tokens' expert copies) are the step's.
  const PoolRuntime p = pool_of("Qwen3-30B-A3B", "h100_sxm", {{"tp", 2}, {"ep", 2}, {"attention", "dp"}});
  const PlanLinks links{450e9, 2e-6, 0, 0};
  ExecutorContext ctx = p.exec_context(links);
  ctx.power = nullptr;  // times as the cost model gives them
  Executor exec(ctx);
  std::array<Request, 2> reqs;
  StepPlan step;
  const std::array<std::int32_t, 2> prompt{2000, 100};
  for (std::size_t i = 0; i < 2; ++i) {
    reqs[i].spec.id = static_cast<RequestId>(i);
    reqs[i].spec.prompt_tokens = prompt[i];
    reqs[i].spec.output_tokens = 10;
    reqs[i].state = RequestState::kRunning;
    step.seqs.push_back(ScheduledSeq{&reqs[i], prompt[i], 0});
    step.num_tokens += prompt[i];
  }
  const std::array<SeqAttention, 1> rank0{SeqAttention{2000, 0}};
  StepBatch b;
  b.seqs = rank0;
  b.num_tokens = 2000;
  b.num_logits = 1;
  b.group_tokens = 2100;
  b.weight_dtype = b.act_dtype = b.kv_dtype = DType::kBf16;
  std::vector<Operator> ops;
  p.plan->step_operators(*p.model, b, links, ops);
  const SimTime device = sum_ns(*p.cost, ops);
  EXPECT_EQ(exec.cost_step(step, KvLayout{true, 16}), device + cpu_ns(*p.cost, 2, 2100, device));
}

}  // namespace
}  // namespace servesim
