// The physical lower bound of single operators, worked by hand on the round test device
// (1e15 FLOP/s bf16, 2e15 fp8, 1e12 B/s HBM, 4e11 B/s NVLink, 5e10 B/s host link).
#include <gtest/gtest.h>

#include "sim/cost/physical_bound.h"
#include "tests/cost/test_helpers.h"

namespace servesim {
namespace {

TEST(PhysicalBound, GemmIsTheSlowerOfPeakFlopsAndTheBytesItMustMove) {
  const PhysicalBound b(testing::round_device());
  Operator op;
  op.cls = OpClass::kGemm;
  // m = n = k = 4096 bf16: 2 * 4096^3 = 1.374e11 FLOPs -> 137.4389 us; bytes 3 * 4096^2 * 2
  // = 100663296 -> 100.663 us: compute-bound.
  op.gemm = GemmShape{4096, 4096, 4096, 1, DType::kBf16};
  EXPECT_NEAR(b.seconds(op), 2.0 * 4096.0 * 4096 * 4096 / 1e15, 1e-12);
  // m = 1: FLOPs 3.3554e7 -> 0.0336 us; bytes (4096 + 4096^2 + 4096) * 2 = 33570816 ->
  // 33.570816 us: memory-bound.
  op.gemm.m = 1;
  EXPECT_NEAR(b.seconds(op), 33570816.0 / 1e12, 1e-12);
  // fp8 at m = 4096: twice the peak, half the bytes: 68.72 us vs 50.33 us.
  op.gemm = GemmShape{4096, 4096, 4096, 1, DType::kFp8};
  EXPECT_NEAR(b.seconds(op), 2.0 * 4096.0 * 4096 * 4096 / 2e15, 1e-12);
}

TEST(PhysicalBound, DecodeAttentionReadsItsKvOnce) {
  const PhysicalBound b(testing::round_device());
  std::vector<SeqAttention> seqs(8, SeqAttention{1, 999});
  Operator op;
  op.cls = OpClass::kAttentionDecode;
  op.attn.heads = 32;
  op.attn.kv_heads = 8;
  op.attn.head_dim = op.attn.v_head_dim = 128;
  op.attn.kv_bytes_per_token = 2.0 * 8 * 128 * 2;  // K and V, 8 heads of 128, bf16: 4096 B
  op.attn.seqs = seqs;
  compute_attention_aggregates(op.attn);
  // KV: 8 x 1000 tokens x 4096 B = 32768000 B -> 32.768 us; FLOPs 2 x 8000 x 32 x 256 =
  // 131072000 -> 0.131 us.
  EXPECT_NEAR(b.seconds(op), 32768000.0 / 1e12, 1e-12);
}

// A sliding window of w keys: a sequence attends at most w keys and q x w query-key pairs.
TEST(AttendedSpan, ASlidingWindowClipsKeysAndPairs) {
  EXPECT_DOUBLE_EQ(attended_span(1, 1000, 0).keys, 1001);
  EXPECT_DOUBLE_EQ(attended_span(1, 1000, 0).pairs, 1001);      // 1 x 1000 + 1 x 2 / 2
  EXPECT_DOUBLE_EQ(attended_span(1, 1000, 128).keys, 128);
  EXPECT_DOUBLE_EQ(attended_span(1, 1000, 128).pairs, 128);
  EXPECT_DOUBLE_EQ(attended_span(512, 0, 128).keys, 128);
  // Rows at x = 1..128 attend x keys, the other 384 rows 128: 8,256 + 49,152.
  EXPECT_DOUBLE_EQ(attended_span(512, 0, 128).pairs, 57408);
  // After 100 cached tokens: x = 101..128 attend x (28 rows, 3,206 pairs), 72 rows 128.
  EXPECT_DOUBLE_EQ(attended_span(100, 100, 128).pairs, 3206 + 72 * 128);
  EXPECT_DOUBLE_EQ(attended_span(1, 100, 128).keys, 101);            // the window does not bind
  // Aggregates of a step: (q 1, ctx 1000) and (q 1, ctx 50) under a 128-key window.
  const std::vector<SeqAttention> seqs = {{1, 1000}, {1, 50}};
  Operator op;
  op.attn.window = 128;
  op.attn.seqs = seqs;
  compute_attention_aggregates(op.attn);
  EXPECT_EQ(op.attn.sum_kv, 128 + 51);
  EXPECT_EQ(op.attn.max_kv, 128);
  EXPECT_DOUBLE_EQ(op.attn.sum_q_kv, 128 + 51);
}

TEST(PhysicalBound, CollectivesMoveTheirShareOverTheLinkAndCopiesTheirBytes) {
  const PhysicalBound b(testing::round_device());
  Operator op;
  op.cls = OpClass::kCollective;
  op.coll = CollectiveShape{CollectiveKind::kAllReduce, 8e6, 4, 0, 0};
  EXPECT_NEAR(b.seconds(op), 0.75 * 8e6 / 4e11, 1e-15);  // (n-1)/n of 8 MB over NVLink
  op.coll.link_bandwidth = 5e10;                          // a slower link given by the plan
  EXPECT_NEAR(b.seconds(op), 0.75 * 8e6 / 5e10, 1e-15);
  op.coll.ranks = 1;
  EXPECT_EQ(b.seconds(op), 0.0);
  Operator copy;
  copy.cls = OpClass::kCopy;
  copy.copy = CopyShape{CopyKind::kHostToDevice, 1e9, 4, true};
  EXPECT_NEAR(b.seconds(copy), 1e9 / 5e10, 1e-12);
  copy.copy.kind = CopyKind::kDeviceToDevice;  // read and write in HBM
  EXPECT_NEAR(b.seconds(copy), 2e9 / 1e12, 1e-12);
}

}  // namespace
}  // namespace servesim
