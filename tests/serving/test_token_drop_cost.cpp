// KV token dropping in the executor: decode attention reads the kept tokens only
// (sim/kv/token_drop.h), so a long context costs what its budget costs.
#include <gtest/gtest.h>

#include "sim/kv/token_drop.h"
#include "sim/serving/executor.h"
#include "tests/serving/one_decode_step.h"

namespace servesim {
namespace {
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

}  // namespace
}  // namespace servesim
