// KV token dropping in the paged manager (kv.token_drop, sim/kv/token_drop.h): blocks held
// after N decode tokens with budget B and block size b, blocks freed as the window slides,
// H2O's heavy-hitter blocks, and what stays shareable in the prefix cache.
#include <gtest/gtest.h>

#include "sim/kv/token_drop.h"
#include "tests/kv/kv_test_util.h"

namespace servesim {
namespace {
using namespace kvtest;
using nlohmann::json;

json window(std::int64_t budget, std::int64_t sinks) {
  return {{"impl", "paged"}, {"token_drop", {{"policy", "window"}, {"budget", budget}, {"sink_tokens", sinks}}}};
}
json h2o(std::int64_t budget, double heavy_ratio) {
  return {{"impl", "paged"}, {"token_drop", {{"policy", "h2o"}, {"budget", budget}, {"heavy_ratio", heavy_ratio}}}};
}

// Prefill of `prompt` tokens, then `n` decode steps: the request then has prompt + n tokens
// of positions (the last sampled one not yet computed).
void run(IKvManager& kv, Request& r, int n, KvStepWork& w) {
  ASSERT_TRUE(admit(kv, r, w));
  kv.check_invariants();
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(decode(kv, r, w)) << "decode " << i;
    kv.check_invariants();
  }
}

TEST(TokenDrop, KeptTokensAreTheBudgetAfterADecodeAndEverythingAfterAPrefillChunk) {
  TokenDropConfig c;
  c.policy = TokenDropPolicy::kWindow;
  c.budget = 1024;
  c.sink_tokens = 4;
  EXPECT_EQ(kept_tokens(c, 800, 1), 800);    // under the budget: all
  EXPECT_EQ(kept_tokens(c, 5000, 1), 1024);  // a decode: the budget, its new token included
  EXPECT_EQ(kept_tokens(c, 5000, 2048), 5000);  // a prompt chunk: held whole (full attention)
  // A decode at context 5000 attends to 1023 kept tokens besides its own.
  EXPECT_EQ(attended_context(c, 5000, 1), 1023);
  EXPECT_EQ(attended_context(c, 500, 1), 500);
  EXPECT_EQ(attended_context(c, 3000, 512), 3000);
}

TEST(TokenDrop, WindowHoldsTheSinkBlockAndTheBlocksOfTheRecentWindow) {
  Env env;
  auto kv = env.build(window(64, 4), 100 * 16 * kTokenBytes);
  Request r = make_request(1, 40, 200);
  KvStepWork w;
  run(*kv, r, 100, w);
  // 140 positions; window 64 - 4 = 60: kept [0, 4) and [80, 140), dropped [4, 80). Blocks of
  // 16: 0 (the sinks) kept; 1..4 ([16, 80)) wholly dropped and freed; 5..8 ([80, 144)) kept.
  // 5 blocks held = 80 token slots.
  EXPECT_EQ(kv->usage().used_tokens, 5 * 16);
  EXPECT_DOUBLE_EQ(kv->usage().allocated_bytes, 5 * 16 * kTokenBytes);
}

TEST(TokenDrop, WithoutDroppingTheSameRequestHoldsEveryBlock) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 100 * 16 * kTokenBytes);
  Request r = make_request(1, 40, 200);
  KvStepWork w;
  run(*kv, r, 100, w);
  EXPECT_EQ(kv->usage().used_tokens, 9 * 16);  // ceil(140 / 16) = 9
}

TEST(TokenDrop, H2oHoldsHeavyBlocksAndTheRecentWindowsBlocks) {
  Env env;
  auto kv = env.build(h2o(64, 0.5), 100 * 16 * kTokenBytes);
  Request r = make_request(1, 40, 200);
  KvStepWork w;
  run(*kv, r, 100, w);
  // Heavy 32, recent 32. 140 positions: the recent window is [108, 140); blocks 0..5
  // ([0, 96)) wholly behind it are freed; blocks 6..8 ([96, 144)) kept; the 32 heavy hitters
  // in ceil(32 / 16) = 2 blocks of their own: 5 blocks.
  EXPECT_EQ(kv->usage().used_tokens, 5 * 16);
  // The heavy hitters were gathered once, at the first drop (position 65): 32 tokens copied.
  EXPECT_DOUBLE_EQ(kv->counters().cow_bytes, 32 * kTokenBytes);
}

TEST(TokenDrop, FreedBlocksLetASlidingWindowDecodePastTheCapacity) {
  Env env;
  // 4 blocks = 64 tokens of memory. A window of 48 tokens (no sinks) spans at most
  // ceil(47 / 16) + 1 = 4 blocks, so 1000 decode steps fit; without dropping the 65th
  // token would not.
  auto kv = env.build(window(48, 0), 4 * 16 * kTokenBytes);
  Request r = make_request(1, 20, 2000);
  KvStepWork w;
  run(*kv, r, 1000, w);
  EXPECT_LE(kv->usage().used_tokens, 64);

  auto full = env.build({{"impl", "paged"}}, 4 * 16 * kTokenBytes);
  Request s = make_request(2, 20, 2000);
  ASSERT_TRUE(admit(*full, s, w));
  int steps = 0;
  while (decode(*full, s, w)) ++steps;
  EXPECT_EQ(steps, 44);  // 20 + 44 = 64 positions; the 65th needs a 5th block
}

TEST(TokenDrop, APromptIsHeldWholeUntilItsFirstDecode) {
  Env env;
  auto kv = env.build(h2o(64, 0.5), 100 * 16 * kTokenBytes);
  Request r = make_request(1, 200, 10);
  KvStepWork w;
  ASSERT_TRUE(admit(*kv, r, w));
  EXPECT_EQ(kv->usage().used_tokens, 13 * 16);  // ceil(200 / 16)
  ASSERT_TRUE(decode(*kv, r, w));
  // 201 positions, recent window [169, 201): blocks 10..12 ([160, 208)) + 2 heavy blocks.
  EXPECT_EQ(kv->usage().used_tokens, 5 * 16);
  kv->check_invariants();
}

TEST(TokenDrop, KvPlacedWithoutNewTokensIsCutToTheBudget) {
  // A decode replica taking a request's 200 computed tokens (disaggregation: allocate with
  // num_computed already 200, no new token): kept min(200, 64); h2o 64 (32 heavy): entries
  // 0..9 ([0, 160)) wholly before the recent window [168, 200) are null from the start;
  // entries 10..12 and 2 heavy blocks are taken: 5 blocks.
  Env env;
  auto kv = env.build(h2o(64, 0.5), 100 * 16 * kTokenBytes);
  Request r = make_request(1, 200, 10);
  r.num_computed = 200;
  r.num_generated = 1;
  KvStepWork w;
  ASSERT_TRUE(kv->allocate(r, 200, w));
  EXPECT_EQ(kv->usage().used_tokens, 5 * 16);
  kv->check_invariants();
}

TEST(TokenDrop, BlocksComputedAfterTheDropAreNotShareable) {
  Env env;
  // Ids of 16 tokens: a's prompt (64 tokens) is ids 1..4; ids 5, 6 continue over its output.
  // d's prompt (96 tokens) is ids 1..6. Without dropping, d would hit a's 5 full blocks of
  // ids 1..5 (at most (96 - 1) / 16 = 5); with dropping, a's first decode (position 65 > 64)
  // drops, so its blocks from position 64 on are never registered: d hits ids 1..4 only.
  for (const bool drop : {false, true}) {
    auto kv = env.build(drop ? window(64, 4) : json{{"impl", "paged"}}, 100 * 16 * kTokenBytes);
    Request a = make_request(1, 64, 100, ids(1, 6), 16);
    KvStepWork w;
    run(*kv, a, 40, w);
    Request d = make_request(2, 96, 10, ids(1, 6), 16);
    EXPECT_EQ(kv->cached_prefix(d), drop ? 64 : 80) << "drop " << drop;
  }
}

TEST(TokenDrop, ABlockFreedBehindTheWindowStaysAPrefixHit) {
  Env env;
  auto kv = env.build(window(64, 4), 100 * 16 * kTokenBytes);
  Request a = make_request(1, 64, 100, ids(1, 4), 16);
  KvStepWork w;
  run(*kv, a, 40, w);
  // 104 positions: dropped [4, 44): block 1 ([16, 32)) freed, its content intact (computed
  // with full attention in the prompt), so it stays cached; blocks 0, 2, 3 are still held.
  Request b = make_request(2, 80, 10, {1, 2, 3, 4, 99}, 16);
  EXPECT_EQ(kv->cached_prefix(b), 64);
  ASSERT_TRUE(admit(*kv, b, w));
  EXPECT_EQ(b.cached_prefix_tokens, 64);
  kv->check_invariants();
}

TEST(TokenDrop, PreemptionBySwapOfADroppedRequestRecomputes) {
  Env env;
  auto kv = env.build(window(32, 4), 100 * 16 * kTokenBytes);
  Request a = make_request(1, 40, 100);
  KvStepWork w;
  run(*kv, a, 5, w);
  // A swap keeps whole prefixes only; a request that dropped tokens is recomputed.
  EXPECT_EQ(kv->preempt(a, PreemptMode::kSwap, w), 0);
  EXPECT_EQ(kv->counters().preemptions_recompute, 1);
  EXPECT_EQ(kv->usage().used_tokens, 0);
  kv->check_invariants();
}

TEST(TokenDrop, SinksAtLeastTheBudgetAreRejected) {
  Env env;
  EXPECT_THROW(env.build(window(16, 16), 100 * 16 * kTokenBytes), InputError);
  EXPECT_THROW(env.build(h2o(16, 1.0), 100 * 16 * kTokenBytes), InputError);
  EXPECT_THROW(env.build({{"impl", "paged"}, {"token_drop", {{"policy", "window"}}}}, 100 * 16 * kTokenBytes), InputError);
  EXPECT_THROW(env.build({{"impl", "paged"}, {"token_drop", {{"policy", "h2o"}, {"budget", 64}, {"heavy", 3}}}}, 100 * 16 * kTokenBytes),
               InputError);
}

}  // namespace
}  // namespace servesim
