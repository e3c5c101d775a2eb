// The paged (vLLM) manager: capacity, prefix hits on Mooncake-style hash ids, copy-on-write
// forks, preemption by recompute and by swap.
#include <algorithm>

#include <gtest/gtest.h>

#include "tests/kv/kv_test_util.h"

namespace servesim {
namespace {
using namespace kvtest;

// Block bytes = 16 tokens x 16384 B = 262144 B.
constexpr double kBlockBytes = 16 * kTokenBytes;

TEST(PagedKv, CapacityIsWholeBlocksOfTheMemoryLeft) {
  Env env;
  // 10.5 blocks of memory hold 10 blocks of 16 tokens.
  auto kv = env.build({{"impl", "paged"}}, 10.5 * kBlockBytes);
  EXPECT_EQ(kv->capacity_tokens(), 160);
  EXPECT_TRUE(kv->paged_layout());
  EXPECT_EQ(kv->kernel_block_size(), 16);
}

TEST(PagedKv, FreeReturnsEveryBlock) {
  Env env;
  auto kv = env.build({{"impl", "paged"}, {"enable_prefix_caching", false}}, 10 * kBlockBytes);
  Request a = make_request(1, 40, 5), b = make_request(2, 33, 5);
  KvStepWork w;
  ASSERT_TRUE(admit(*kv, a, w));
  ASSERT_TRUE(admit(*kv, b, w));
  // 40 tokens -> 3 blocks, 33 -> 3 blocks.
  EXPECT_EQ(kv->usage().used_tokens, 6 * 16);
  kv->free(a);
  kv->free(b);
  kv->check_invariants();
  EXPECT_EQ(kv->usage().used_tokens, 0);
  EXPECT_EQ(kv->usage().allocated_bytes, 0.0);
  EXPECT_EQ(a.kv_slot, -1);
}

TEST(PagedKv, ShortMemoryFailsAndChangesNothing) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 4 * kBlockBytes);
  Request a = make_request(1, 48, 5), b = make_request(2, 20, 5);
  KvStepWork w;
  ASSERT_TRUE(admit(*kv, a, w));  // 3 of 4 blocks
  const KvUsage before = kv->usage();
  const KvCounters c_before = kv->counters();
  EXPECT_FALSE(kv->allocate(b, 20, w));  // needs 2
  EXPECT_EQ(b.kv_slot, -1);
  EXPECT_EQ(kv->usage().used_tokens, before.used_tokens);
  EXPECT_EQ(kv->counters().units_allocated, c_before.units_allocated);
  kv->check_invariants();
}

TEST(PagedKv, MooncakeHashIdsHitWholeMatchingBlocks) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 400 * kBlockBytes);
  // Mooncake: one id per 512 prompt tokens, the last one for the partial tail.
  Request a = make_request(1, 1300, 4, {11, 12, 13}, 512);
  KvStepWork w;
  ASSERT_TRUE(admit(*kv, a, w));
  kv->free(a);
  // Same first two ids, different third: units 0 and 1 (tokens 0..1023) match, 64 blocks.
  Request b = make_request(2, 1300, 4, {11, 12, 99}, 512);
  EXPECT_EQ(kv->cached_prefix(b), 1024);
  // Same three ids and prompt length: the ids cover min(3 x 512, 1300) = 1300 tokens; the
  // full blocks inside are floor(1300 / 16) = 81, all computed by a, and at most
  // (1300 - 1) / 16 = 81 blocks may hit: 1296 tokens.
  Request c = make_request(3, 1300, 4, {11, 12, 13}, 512);
  EXPECT_EQ(kv->cached_prefix(c), 1296);
  // A different first id shares nothing.
  Request d = make_request(4, 1300, 4, {7, 12, 13}, 512);
  EXPECT_EQ(kv->cached_prefix(d), 0);
  ASSERT_TRUE(admit(*kv, c, w));
  EXPECT_EQ(c.cached_prefix_tokens, 1296);
  // Lookups: a's 1300 tokens and c's 1300; hits: c's 1296.
  EXPECT_EQ(kv->counters().prefix_lookup_tokens, 2600);
  EXPECT_EQ(kv->counters().prefix_hit_tokens, 1296);
  kv->check_invariants();
}

TEST(PagedKv, ForkSharesBlocksAndCopiesThePartlyFilledLastOnWrite) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 10 * kBlockBytes);
  Request p = make_request(1, 20, 10), c = make_request(2, 20, 10);
  KvStepWork w;
  ASSERT_TRUE(kv->allocate(p, 20, w));  // 2 blocks, the second holds 4 tokens
  p.num_computed = 20;
  ASSERT_TRUE(kv->fork(p, c, w));
  c.num_computed = 20;
  EXPECT_EQ(kv->usage().used_tokens, 32);  // shared: still 2 blocks
  kv->check_invariants();
  // The child appends token 21: its shared last block is copied first (4 tokens).
  KvStepWork w2;
  ASSERT_TRUE(kv->allocate(c, 21, w2));
  EXPECT_DOUBLE_EQ(w2.cow_bytes, 4 * kTokenBytes);
  EXPECT_EQ(w2.cow_chunks, kBuffers);
  EXPECT_EQ(kv->usage().used_tokens, 48);
  // The parent's last block is now its own: it appends in place.
  KvStepWork w3;
  ASSERT_TRUE(kv->allocate(p, 21, w3));
  EXPECT_DOUBLE_EQ(w3.cow_bytes, 0);
  EXPECT_EQ(kv->usage().used_tokens, 48);
  kv->check_invariants();
  kv->free(p);
  kv->free(c);
  EXPECT_EQ(kv->usage().used_tokens, 0);
  kv->check_invariants();
}

TEST(PagedKv, RecomputePreemptionKeepsComputedBlocksAsHits) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 20 * kBlockBytes);
  Request r = make_request(1, 50, 10);
  KvStepWork w;
  ASSERT_TRUE(admit(*kv, r, w));  // 50 computed, one token sampled: 51 known
  EXPECT_EQ(kv->preempt(r, PreemptMode::kRecompute, w), 0);
  EXPECT_EQ(r.kv_slot, -1);
  EXPECT_EQ(kv->usage().used_tokens, 0);
  r.num_computed = 0;
  // Its 3 full computed blocks (48 tokens) stay cached; (51 - 1) / 16 = 3 may hit.
  EXPECT_EQ(kv->cached_prefix(r), 48);
  ASSERT_TRUE(admit(*kv, r, w));
  EXPECT_EQ(kv->counters().preemptions_recompute, 1);
  kv->check_invariants();
}

TEST(PagedKv, SwapPreemptionCopiesWholeBlocksPerLayerAndBuffer) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 20 * kBlockBytes);
  Request r = make_request(1, 40, 10);
  KvStepWork w;
  ASSERT_TRUE(admit(*kv, r, w));  // 40 computed (3 blocks)
  KvStepWork out;
  EXPECT_EQ(kv->preempt(r, PreemptMode::kSwap, out), 40);
  EXPECT_EQ(r.kv_slot, -1);
  EXPECT_EQ(kv->swapped_tokens(r), 40);
  EXPECT_EQ(kv->usage().used_tokens, 0);
  // vLLM copies each block of each buffer separately: 3 blocks x 8 buffers.
  EXPECT_DOUBLE_EQ(out.swap_out_bytes, 3 * kBlockBytes);
  EXPECT_EQ(out.swap_out_chunks, 3 * kBuffers);
  // Resume: num_computed = 40, the next step computes token 41.
  r.num_computed = 40;
  KvStepWork in;
  ASSERT_TRUE(kv->allocate(r, 41, in));
  EXPECT_DOUBLE_EQ(in.swap_in_bytes, 3 * kBlockBytes);
  EXPECT_EQ(in.swap_in_chunks, 3 * kBuffers);
  EXPECT_EQ(kv->swapped_tokens(r), 0);
  EXPECT_EQ(kv->usage().used_tokens, 48);
  EXPECT_EQ(kv->counters().preemptions_swap, 1);
  kv->check_invariants();
}

TEST(PagedKv, CoalescedSwapIsOneCopyPerBuffer) {
  Env env;
  auto kv = env.build({{"impl", "paged"}, {"swap_copy", "coalesced"}}, 20 * kBlockBytes);
  Request r = make_request(1, 40, 10);
  KvStepWork w, out;
  ASSERT_TRUE(admit(*kv, r, w));
  EXPECT_EQ(kv->preempt(r, PreemptMode::kSwap, out), 40);
  EXPECT_EQ(out.swap_out_chunks, kBuffers);
}

TEST(PagedKv, FullSwapSpaceFallsBackToRecompute) {
  Env env;
  // Room for 2 blocks of swap: a 3-block request does not fit.
  auto kv = env.build({{"impl", "paged"}, {"swap_space", 2 * kBlockBytes}}, 20 * kBlockBytes);
  Request r = make_request(1, 40, 10);
  KvStepWork w, out;
  ASSERT_TRUE(admit(*kv, r, w));
  EXPECT_EQ(kv->preempt(r, PreemptMode::kSwap, out), 0);
  EXPECT_EQ(out.swap_out_bytes, 0.0);
  EXPECT_EQ(kv->swapped_tokens(r), 0);
  EXPECT_EQ(kv->counters().preemptions_recompute, 1);
  kv->check_invariants();
}

TEST(PagedKv, FragmentationIsTheUnfilledTailOfEachBlock) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 20 * kBlockBytes);
  Request r = make_request(1, 40, 10);
  KvStepWork w;
  ASSERT_TRUE(kv->allocate(r, 40, w));
  // 40 tokens in 3 blocks of 16: 8 slots unused.
  const KvUsage u = kv->usage();
  EXPECT_DOUBLE_EQ(u.allocated_bytes, 3 * kBlockBytes);
  EXPECT_DOUBLE_EQ(u.used_bytes, 40 * kTokenBytes);
  EXPECT_DOUBLE_EQ(1.0 - u.used_bytes / u.allocated_bytes, 8.0 / 48.0);
}

TEST(PagedKv, KvDtypeSetsCapacity) {
  // Capacity follows the model's bytes per token at the KV dtype (the memory plan passes it).
  Env env;
  const double mem = 64 * kMiB;
  for (DType d : {DType::kBf16, DType::kFp8, DType::kInt4, DType::kInt2}) {
    const double per_token = env.model.kv_bytes_per_token(d);
    KvDeps deps{env.model, mem, per_token, env.model.layers, 1, nullptr, 1};
    auto kv = KvManagerRegistry::get().build({{"impl", "paged"}}, "test.json: kv", nullptr, deps);
    EXPECT_EQ(kv->capacity_tokens(), static_cast<std::int64_t>(mem / (per_token * 16)) * 16) << dtype_name(d);
  }
  // bf16 -> fp8 halves the bytes, so the capacity doubles (no scale overhead for fp8).
  EXPECT_DOUBLE_EQ(env.model.kv_bytes_per_token(DType::kBf16), 2 * env.model.kv_bytes_per_token(DType::kFp8));
}

TEST(PagedKv, FreedBlocksStayCachedUntilReusedInLruOrder) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 4 * kBlockBytes);
  KvStepWork w;
  // a: 40 tokens in blocks 1, 2, 3 (the never-used blocks go out in id order); the step
  // fills 1 and 2, which are registered. Freeing a queues 3, 2, 1 (tail first) behind the
  // never-used block 4.
  Request a = make_request(1, 40, 5);
  ASSERT_TRUE(admit(*kv, a, w));
  kv->free(a);
  EXPECT_EQ(kv->usage().cached_tokens, 32);
  Request again = make_request(1, 40, 5);  // a's content: (40 - 1) / 16 = 2 blocks may hit
  EXPECT_EQ(kv->cached_prefix(again), 32);
  // b takes 4 and 3 (3 carried no hash): both of a's cached blocks are still hits.
  Request b = make_request(2, 32, 5);
  ASSERT_TRUE(admit(*kv, b, w));
  EXPECT_EQ(kv->counters().cache_evictions, 0);
  EXPECT_EQ(kv->cached_prefix(again), 32);
  // b's 33rd token takes block 2, evicting a's second block: one block of a's prefix left.
  ASSERT_TRUE(decode(*kv, b, w));
  EXPECT_EQ(kv->counters().cache_evictions, 1);
  EXPECT_EQ(kv->cached_prefix(again), 16);
  kv->check_invariants();
  // Freeing b queues 2, 3, 4 behind 1; c takes 1, evicting a's first block. b's two full
  // blocks (3 and 4) stay cached.
  kv->free(b);
  Request c = make_request(3, 16, 5);
  ASSERT_TRUE(kv->allocate(c, 16, w));
  EXPECT_EQ(kv->counters().cache_evictions, 2);
  EXPECT_EQ(kv->cached_prefix(again), 0);
  EXPECT_EQ(kv->usage().cached_tokens, 32);
  Request b_again = make_request(2, 33, 5);
  EXPECT_EQ(kv->cached_prefix(b_again), 32);
  kv->check_invariants();
}

TEST(BlockHasher, ExtendAppendsTheChainBlockHashGivesOneByOne) {
  // 100 prompt tokens with ids in 32-token units over the first 64 (covered: 64 tokens, so
  // blocks 0..3 of 16 hash ids and the rest are the request's own), 20 output tokens.
  const Request r = make_request(9, 100, 20, {3, 4}, 32);
  const BlockHasher hasher(16);
  std::vector<std::uint64_t> one_by_one;
  std::uint64_t parent = 0;
  for (std::int64_t i = 0; i < 8; ++i) one_by_one.push_back(parent = hasher.block_hash(r, i, parent));
  std::vector<std::uint64_t> extended;
  hasher.extend(r, 3, extended);  // blocks 0..2
  hasher.extend(r, 3, extended);  // nothing more
  ASSERT_EQ(extended.size(), 3u);
  hasher.extend(r, 8, extended);  // 3..7, chained on block 2's
  EXPECT_EQ(extended, one_by_one);
  // Blocks 0 and 1 lie in the first 32-token unit, at offsets 0 and 16: different hashes;
  // a request with the same ids shares blocks 0..3 and no own block.
  EXPECT_NE(one_by_one[0], one_by_one[1]);
  std::vector<std::uint64_t> other;
  hasher.extend(make_request(10, 100, 20, {3, 4}, 32), 8, other);
  EXPECT_TRUE(std::equal(other.begin(), other.begin() + 4, one_by_one.begin()));
  for (std::size_t i = 4; i < 8; ++i) EXPECT_NE(other[i], one_by_one[i]);
}

TEST(PagedKv, HitBlocksInTheFreeQueueCountAgainstTheRoomANewRequestNeeds) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 6 * kBlockBytes);  // blocks 1..6
  KvStepWork w;
  // a computes 48 tokens of ids {7, 8, 9} in blocks 1, 2, 3 (registered); b takes 4 and 5.
  Request a = make_request(1, 48, 5, {7, 8, 9}, 16), b = make_request(2, 32, 5);
  ASSERT_TRUE(admit(*kv, a, w));
  ASSERT_TRUE(admit(*kv, b, w));
  // c shares a's three blocks while a holds them: it needs one fresh block (49 tokens -> 4
  // blocks), and block 6 is free.
  Request c = make_request(3, 49, 5, {7, 8, 9}, 16);
  EXPECT_EQ(kv->cached_prefix(c), 48);
  ASSERT_TRUE(kv->allocate(c, 49, w));
  EXPECT_EQ(kv->usage().used_tokens, 6 * 16);
  kv->free(c);
  kv->free(b);
  kv->free(a);
  kv->check_invariants();
  // The free queue is 6, 5, 4 (c's and b's, tail first), then a's 3, 2, 1, all cached but
  // 6 (c never computed its step). d takes 6, 5, 4, evicting b's two full blocks, so the
  // queue holds only a's three. e would revive them and still need a fourth block: nothing
  // is left, so it fails and changes nothing.
  Request d = make_request(4, 48, 5);
  ASSERT_TRUE(kv->allocate(d, 48, w));
  EXPECT_EQ(kv->usage().used_tokens, 3 * 16);
  EXPECT_EQ(kv->counters().cache_evictions, 2);
  Request e = make_request(5, 49, 5, {7, 8, 9}, 16);
  EXPECT_EQ(kv->cached_prefix(e), 48);
  EXPECT_FALSE(kv->allocate(e, 49, w));
  EXPECT_EQ(e.kv_slot, -1);
  EXPECT_EQ(kv->counters().cache_evictions, 2);
  EXPECT_EQ(kv->cached_prefix(e), 48);  // its hits are intact
  // Once d is gone its blocks are free too: e revives a's three and takes one of d's, which
  // carry no hash (d never computed its step): nothing more is evicted.
  kv->free(d);
  ASSERT_TRUE(kv->allocate(e, 49, w));
  EXPECT_EQ(kv->usage().used_tokens, 4 * 16);
  EXPECT_EQ(kv->counters().cache_evictions, 2);
  kv->check_invariants();
}

TEST(PagedKv, AWaitingRequestsHitsHeldByOthersAtItsLookupAreLostWhenFreedAndEvicted) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 4 * kBlockBytes);  // blocks 1..4
  KvStepWork w;
  // a computes ids {7, 8, 9} in blocks 1, 2, 3 and holds them while e looks its prefix up.
  Request a = make_request(1, 48, 5, {7, 8, 9}, 16);
  ASSERT_TRUE(admit(*kv, a, w));
  Request e = make_request(5, 49, 5, {7, 8, 9}, 16);
  EXPECT_EQ(kv->cached_prefix(e), 48);
  // a finishes: its blocks queue 3, 2, 1 behind the never-used 4. An unrelated 16-token
  // request takes 4 (no eviction): e's hits are all still there.
  kv->free(a);
  Request f = make_request(6, 16, 5);
  ASSERT_TRUE(kv->allocate(f, 16, w));
  EXPECT_EQ(kv->counters().cache_evictions, 0);
  EXPECT_EQ(kv->cached_prefix(e), 48);
  // d takes 3 and 2, evicting them: only block 1 of e's prefix is left.
  Request d = make_request(4, 32, 5);
  ASSERT_TRUE(kv->allocate(d, 32, w));
  EXPECT_EQ(kv->counters().cache_evictions, 2);
  EXPECT_EQ(kv->cached_prefix(e), 16);
  // d computes its blocks 3 and 2 (cached under its own hashes) and is freed, then f,
  // which computed nothing. The queue is 1, then d's 2 and 3 (tail first), then f's 4. g
  // takes 1 (evicting e's last hit) and 2 (evicting one of d's).
  d.num_computed = 32;
  kv->commit(d);
  kv->free(d);
  kv->free(f);
  Request g = make_request(7, 32, 5);
  ASSERT_TRUE(kv->allocate(g, 32, w));
  EXPECT_EQ(kv->counters().cache_evictions, 4);
  EXPECT_EQ(kv->cached_prefix(e), 0);
  kv->check_invariants();
}

TEST(PagedKv, AnIdenticalBlockComputedTwiceIsRegisteredOnce) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 10 * kBlockBytes);
  KvStepWork w;
  // a and b share one id over their 32-token prompts: the same two block hashes. Both are
  // allocated before either step commits, so both compute the blocks; a commits first and
  // its blocks are the cached ones, b's carry no hash.
  Request a = make_request(1, 32, 5, {5}, 32), b = make_request(2, 32, 5, {5}, 32);
  ASSERT_TRUE(kv->allocate(a, 32, w));
  ASSERT_TRUE(kv->allocate(b, 32, w));
  a.num_computed = b.num_computed = 32;
  kv->commit(a);
  kv->commit(b);
  kv->check_invariants();
  kv->free(b);
  EXPECT_EQ(kv->usage().cached_tokens, 0);  // b's freed blocks: nothing cached
  kv->free(a);
  EXPECT_EQ(kv->usage().cached_tokens, 32);
  Request c = make_request(3, 33, 5, {5}, 32);
  EXPECT_EQ(kv->cached_prefix(c), 32);
  kv->check_invariants();
}

TEST(PagedKv, OwnBlocksStayHitsUntilEvictedAndTheirChainStartsAgain) {
  // Requests without prefix ids: every block's hash is the request's own (its id mixed in),
  // kept in the request's chain instead of the index. The hits, evictions and cached tokens
  // are those of the index: here worked out by hand over a pool of 4 blocks.
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 4 * kBlockBytes);
  KvStepWork w;
  // r (id 1): 48 tokens in blocks 1, 2, 3, all full and registered. Freeing r queues 3, 2, 1
  // behind the never-used block 4.
  Request r = make_request(1, 48, 10);
  ASSERT_TRUE(admit(*kv, r, w));
  kv->free(r);
  Request again = make_request(1, 49, 10);  // (49 - 1) / 16 = 3 blocks may hit
  EXPECT_EQ(kv->cached_prefix(again), 48);
  // x (id 2) takes 4 and 3: r's last block is evicted, its first two still hit.
  Request x = make_request(2, 32, 5);
  ASSERT_TRUE(admit(*kv, x, w));
  EXPECT_EQ(kv->counters().cache_evictions, 1);
  EXPECT_EQ(kv->cached_prefix(again), 32);
  // y (id 3) takes 2 and 1: nothing of r is left.
  Request y = make_request(3, 32, 5);
  ASSERT_TRUE(admit(*kv, y, w));
  EXPECT_EQ(kv->counters().cache_evictions, 3);
  EXPECT_EQ(kv->cached_prefix(again), 0);
  kv->check_invariants();
  // Freeing x then y queues 3, 4, 1, 2 (each table tail first); each holds 2 cached blocks.
  kv->free(x);
  kv->free(y);
  EXPECT_EQ(kv->usage().cached_tokens, 64);
  // r again (a new request object, same id): 48 tokens take 3, 4 (x's) and 1 (y's second).
  Request r2 = make_request(1, 48, 10);
  EXPECT_EQ(kv->cached_prefix(r2), 0);
  ASSERT_TRUE(admit(*kv, r2, w));
  EXPECT_EQ(kv->counters().cache_evictions, 6);
  EXPECT_EQ(kv->usage().cached_tokens, 16);  // y's first block, 2
  kv->free(r2);
  EXPECT_EQ(kv->usage().cached_tokens, 64);
  EXPECT_EQ(kv->cached_prefix(again), 48);
  Request y_again = make_request(3, 33, 5);
  EXPECT_EQ(kv->cached_prefix(y_again), 16);
  Request x_again = make_request(2, 33, 5);
  EXPECT_EQ(kv->cached_prefix(x_again), 0);
  kv->check_invariants();
}

TEST(PagedKv, AnOwnBlockComputedTwiceIsRegisteredOnce) {
  // Two tables of one request id (no prefix ids) compute the same two own blocks in one
  // step: the first to commit keeps the hashes, the other's blocks carry none.
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 10 * kBlockBytes);
  KvStepWork w;
  Request a = make_request(1, 32, 5), b = make_request(1, 32, 5);
  ASSERT_TRUE(kv->allocate(a, 32, w));
  ASSERT_TRUE(kv->allocate(b, 32, w));
  a.num_computed = b.num_computed = 32;
  kv->commit(a);
  kv->commit(b);
  kv->check_invariants();
  kv->free(b);
  EXPECT_EQ(kv->usage().cached_tokens, 0);
  kv->free(a);
  EXPECT_EQ(kv->usage().cached_tokens, 32);
  Request c = make_request(1, 33, 5);
  EXPECT_EQ(kv->cached_prefix(c), 32);
  kv->check_invariants();
}

TEST(PagedKv, AFinishedRequestsOwnBlocksStayCachedAndAreEvictedButFoundByNone) {
  // Rule (paged_own.cpp): a request's own blocks are registered when its table is released,
  // as commit() would have registered them; a finished request never comes back, so its own
  // blocks are cached (they count, and reusing one is an eviction) but nothing can find them.
  // A preempted one (not finished) finds its blocks when re-admitted. Pool of 4 blocks.
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 4 * kBlockBytes);
  KvStepWork w;
  Request done = make_request(1, 32, 1);  // one output token: done after its prefill
  ASSERT_TRUE(admit(*kv, done, w));
  ASSERT_TRUE(done.done());
  kv->free(done);
  kv->check_invariants();
  EXPECT_EQ(kv->usage().cached_tokens, 32);  // its two full blocks
  Request same_id = make_request(1, 33, 1);
  EXPECT_EQ(kv->cached_prefix(same_id), 0);
  // A preempted request (id 2, not finished): freed, its two blocks are found again.
  Request preempted = make_request(2, 32, 5);
  ASSERT_TRUE(admit(*kv, preempted, w));  // blocks 3 and 4 (never used)
  kv->free(preempted);
  EXPECT_EQ(kv->usage().cached_tokens, 64);
  Request back = make_request(2, 33, 5);
  EXPECT_EQ(kv->cached_prefix(back), 32);
  kv->check_invariants();
  // A third request takes two blocks: the queue's front is the finished request's (freed
  // first): two evictions, 32 cached tokens left, the preempted request's still found.
  Request x = make_request(3, 32, 5);
  ASSERT_TRUE(admit(*kv, x, w));
  EXPECT_EQ(kv->counters().cache_evictions, 2);
  EXPECT_EQ(kv->usage().cached_tokens, 32);
  EXPECT_EQ(kv->cached_prefix(back), 32);
  kv->check_invariants();
}

}  // namespace
}  // namespace servesim
