// FastSwitch's reuse of host KV (paged kv.swap_reuse, SwapSpace::put_blocks): a swapped-in
// request's host copy stays valid, so a later swap-out copies only the blocks without one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/kv/swap_space.h"
#include "tests/kv/kv_test_util.h"

namespace servesim {
namespace {
using namespace kvtest;

// Block bytes = 16 tokens x 16384 B = 262144 B.
constexpr double kBlockBytes = 16 * kTokenBytes;

TEST(SwapReuse, SecondSwapOutOfTheSameRequestCopiesOnlyBlocksWithoutAHostCopy) {
  Env env;
  auto kv = env.build({{"impl", "paged"}, {"swap_reuse", true}}, 20 * kBlockBytes);
  Request r = make_request(1, 40, 10);
  KvStepWork w, out1, in, out2;
  ASSERT_TRUE(admit(*kv, r, w));  // 40 computed: blocks of 16 + 16 + 8 tokens
  // First swap-out: nothing on the host yet, all 3 blocks copied.
  ASSERT_EQ(kv->preempt(r, PreemptMode::kSwap, out1), 40);
  EXPECT_DOUBLE_EQ(out1.swap_out_bytes, 3 * kBlockBytes);
  r.num_computed = 40;
  ASSERT_TRUE(kv->allocate(r, 41, in));  // swap-in copies all 3 back; the 2 full ones stay valid on the host
  EXPECT_DOUBLE_EQ(in.swap_in_bytes, 3 * kBlockBytes);
  // Second swap-out at 40 computed: the 2 full blocks have host copies, only the partial
  // third block moves: 1 block, 1 x 8 buffers copies (per_block).
  ASSERT_EQ(kv->preempt(r, PreemptMode::kSwap, out2), 40);
  EXPECT_DOUBLE_EQ(out2.swap_out_bytes, 1 * kBlockBytes);
  EXPECT_EQ(out2.swap_out_chunks, 1 * kBuffers);
  EXPECT_DOUBLE_EQ(kv->summary()["swap_reused_bytes"].get<double>(), 2 * kBlockBytes);
  kv->check_invariants();
}

TEST(SwapReuse, WithoutReuseEverySwapOutCopiesEveryBlock) {
  Env env;
  auto kv = env.build({{"impl", "paged"}}, 20 * kBlockBytes);
  Request r = make_request(1, 40, 10);
  KvStepWork w, out1, in, out2;
  ASSERT_TRUE(admit(*kv, r, w));
  ASSERT_EQ(kv->preempt(r, PreemptMode::kSwap, out1), 40);
  r.num_computed = 40;
  ASSERT_TRUE(kv->allocate(r, 41, in));
  ASSERT_EQ(kv->preempt(r, PreemptMode::kSwap, out2), 40);
  EXPECT_DOUBLE_EQ(out2.swap_out_bytes, 3 * kBlockBytes);
  EXPECT_FALSE(kv->summary().contains("swap_reused_bytes"));
}

TEST(SwapReuse, ALaterTurnReusesTheHostCopyOfTheEarlierTurnsContext) {
  Env env;
  auto kv = env.build({{"impl", "paged"}, {"swap_reuse", true}}, 20 * kBlockBytes);
  // Turn 1: 32 prompt tokens (ids 1, 2 of 16 tokens each); turn 2 repeats them and adds 32
  // (ids 3, 4): its first 2 blocks hash like turn 1's.
  Request t1 = make_request(1, 32, 4, {1, 2, 3, 4}, 16);
  Request t2 = make_request(2, 64, 4, {1, 2, 3, 4}, 16);
  KvStepWork w, out1, in, out2;
  ASSERT_TRUE(admit(*kv, t1, w));  // 32 computed: 2 full blocks
  ASSERT_EQ(kv->preempt(t1, PreemptMode::kSwap, out1), 32);
  EXPECT_DOUBLE_EQ(out1.swap_out_bytes, 2 * kBlockBytes);
  t1.num_computed = 32;
  ASSERT_TRUE(kv->allocate(t1, 33, in));  // back in; its 2 blocks' host copies stay valid
  kv->free(t1);
  ASSERT_TRUE(admit(*kv, t2, w));  // 64 computed: 4 full blocks
  // Turn 2's swap-out: blocks 0 and 1 have host copies, blocks 2 and 3 move: 2 blocks.
  ASSERT_EQ(kv->preempt(t2, PreemptMode::kSwap, out2), 64);
  EXPECT_DOUBLE_EQ(out2.swap_out_bytes, 2 * kBlockBytes);
  EXPECT_EQ(out2.swap_out_chunks, 2 * kBuffers);
  kv->check_invariants();
}

TEST(SwapReuse, KeptCopiesGiveWayToARecordThatNeedsTheirRoom) {
  const double b = 100;
  SwapSpace s(3 * b);  // room for 3 blocks
  s.enable_reuse(b);
  ASSERT_EQ(s.put_blocks(1, 40, 3, b, {11, 12}), 3);
  (void)s.take(1);  // copies of 11 and 12 kept: 2 blocks of room
  EXPECT_DOUBLE_EQ(s.kept_bytes(), 2 * b);
  // Request 2 needs all 3 blocks: both kept copies are dropped to make room.
  ASSERT_EQ(s.put_blocks(2, 48, 3, b, {21, 22, 23}), 3);
  EXPECT_DOUBLE_EQ(s.kept_bytes(), 0.0);
  (void)s.take(2);
  // Request 1 again: its copies are gone, all 3 blocks move.
  EXPECT_EQ(s.put_blocks(1, 40, 3, b, {11, 12}), 3);
  s.check_invariants();
}

TEST(SwapReuse, ARecordThatCannotFitChangesNothing) {
  const double b = 100;
  SwapSpace s(3 * b);
  s.enable_reuse(b);
  ASSERT_EQ(s.put_blocks(1, 40, 3, b, {11, 12}), 3);
  (void)s.take(1);
  // 4 blocks never fit 3 blocks of room: refused, the kept copies stay.
  EXPECT_EQ(s.put_blocks(2, 64, 4, b, {11, 12, 13, 14}), -1);
  EXPECT_DOUBLE_EQ(s.kept_bytes(), 2 * b);
  EXPECT_EQ(s.put_blocks(3, 40, 3, b, {11, 12}), 1);  // the kept copies serve another request with the same blocks
  s.check_invariants();
}

}  // namespace
}  // namespace servesim
