// KV token dropping in the executor: decode attention reads the kept tokens only
// (sim/kv/token_drop.h), so a long context costs what its budget costs; and whole runs with
// kv.token_drop and the batchllm scheduler.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/kv/token_drop.h"
#include "sim/report/output.h"
#include "sim/serving/executor.h"
#include "tests/serving/one_decode_step.h"

namespace servesim {
namespace {
using nlohmann::json;
using testing::DecodeAt;
using testing::roofline_pool;

TokenDropConfig window_1024() {
  TokenDropConfig c;
  c.policy = TokenDropPolicy::kWindow;
  c.budget = 1024;
  c.sink_tokens = 4;
  return c;
}

TEST(TokenDropCost, ADecodeAttendsToTheBudgetNotItsContext) {
  // Budget 1024: a decode at context 5000 keeps 1024 tokens, its own included, so it reads
  // what a decode at context 1023 without dropping reads (1024 tokens x 131072 B for
  // Llama-3.1-8B: 134,217,728 B); every other operator is the same.
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  const TokenDropConfig drop = window_1024();
  Executor dropping(p.exec_context(PlanLinks{})), plain(p.exec_context(PlanLinks{})), full(p.exec_context(PlanLinks{}));
  DecodeAt a(5000), b(1023), f(5000);
  const SimTime with = dropping.cost_step(a.plan, KvLayout{true, 16, &drop});
  EXPECT_EQ(with, plain.cost_step(b.plan, KvLayout{true, 16}));
  EXPECT_LT(with, full.cost_step(f.plan, KvLayout{true, 16}));  // all 5001 tokens read
}

TEST(TokenDropCost, TheDecodeAttentionOperatorReadsTheBudgetsKv) {
  // The attention operator of a decode at context 5000 under budget 1024: 1023 kept context
  // tokens + its own = 1024 tokens read, each 8 KV heads x 128 x 2 (K, V) x 2 B = 4096 B a
  // layer: 4,194,304 B a layer (against 5001 x 4096 = 20,484,096 B without dropping).
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  const TokenDropConfig drop = window_1024();
  const SeqAttention seq{1, static_cast<std::int32_t>(attended_context(drop, 5000, 1))};
  StepBatch batch;
  batch.seqs = std::span<const SeqAttention>(&seq, 1);
  batch.num_decode = batch.num_tokens = batch.num_logits = 1;
  std::vector<Operator> ops;
  p.plan->step_operators(*p.model, batch, PlanLinks{}, ops);
  int found = 0;
  for (const Operator& op : ops) {
    if (op.cls != OpClass::kAttentionDecode) continue;
    ++found;
    EXPECT_EQ(op.attn.sum_kv, 1024);
    EXPECT_DOUBLE_EQ(op.attn.sum_kv * op.attn.kv_bytes_per_token, 4194304.0);
  }
  EXPECT_GT(found, 0);
}

TEST(TokenDropCost, PastTheBudgetEveryFurtherDecodeCostsTheSame) {
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  const TokenDropConfig drop = window_1024();
  Executor e(p.exec_context(PlanLinks{}));
  DecodeAt a(5000);
  const SimTime first = e.cost_step(a.plan, KvLayout{true, 16, &drop});
  EXPECT_EQ(e.cost_repeated_decode_step(), first);  // context 5001: still 1024 tokens kept
}

TEST(TokenDropCost, APrefillChunkAttendsToItsWholeContext) {
  // Prefill runs with full attention: a 512-token chunk at context 3000 costs the same with
  // or without a 1024-token budget.
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  const TokenDropConfig drop = window_1024();
  Executor dropping(p.exec_context(PlanLinks{})), plain(p.exec_context(PlanLinks{}));
  DecodeAt a(3000, 512), b(3000, 512);
  a.req.spec.prompt_tokens = b.req.spec.prompt_tokens = 4000;
  a.req.num_generated = b.req.num_generated = 0;
  EXPECT_EQ(dropping.cost_step(a.plan, KvLayout{true, 16, &drop}), plain.cost_step(b.plan, KvLayout{true, 16}));
}

TEST(TokenDropSim, TheResolvedConfigListsTheSectionOnlyWhenGiven) {
  json s = json::parse(default_scenario_text());
  EXPECT_FALSE(Simulation(s, SimOptions{}).resolved_config()["pools"][0]["kv"].contains("token_drop"));
  s["kv"]["token_drop"] = {{"policy", "h2o"}, {"budget", 1024}};
  const json kv = Simulation(s, SimOptions{}).resolved_config()["pools"][0]["kv"];
  EXPECT_EQ(kv["token_drop"]["heavy_ratio"], 0.5);  // the declared default, written back
}

TEST(TokenDropSim, TheSummaryNamesTheHeavyAndRecentSplit) {
  // Budget 1024, heavy_ratio 0.25: floor(256.0) = 256 heavy hitters, 1024 - 256 = 768 recent.
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = 20;
  s["kv"]["token_drop"] = {{"policy", "h2o"}, {"budget", 1024}, {"heavy_ratio", 0.25}};
  const SimResult res = Simulation(s, SimOptions{}).run();
  const json& d = res.summary["kv"][0]["token_drop"];
  EXPECT_EQ(d["heavy_tokens"], 256);
  EXPECT_EQ(d["recent_tokens"], 768);
  EXPECT_EQ(res.summary["requests"]["completed"], 20);
}

TEST(TokenDropSim, RunsAreDeterministicForASeed) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = 40;
  s["engine"]["gpu_memory_utilization"] = 0.25;
  s["kv"]["token_drop"] = {{"policy", "window"}, {"budget", 256}};
  const SimResult a = Simulation(s, SimOptions{}).run();
  const SimResult b = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(a.summary.dump(), b.summary.dump());
  EXPECT_EQ(requests_csv(a), requests_csv(b));
}

TEST(BatchLlmSim, AnOfflineBatchWithSharedPrefixesRunsToTheEnd) {
  // 200 requests within a millisecond behind 4 shared 512-token prefixes: every request ends,
  // and the prefix cache serves at least the 196 requests after each group's first one
  // (512 tokens each, a multiple of the 16-token block).
  json s = json::parse(default_scenario_text());
  s["scheduler"] = {{"impl", "batchllm"}};
  s["workload"]["rate"] = 1e6;
  s["workload"]["num_requests"] = 200;
  s["workload"]["duration"] = 0;
  s["workload"]["prefix_groups"] = 4;
  s["workload"]["shared_prefix_tokens"] = 512;
  const SimResult res = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(res.summary["requests"]["completed"], 200);
  EXPECT_GE(res.summary["tokens"]["prefix_cached"].get<std::int64_t>(), 196 * 512);
}

}  // namespace
}  // namespace servesim
