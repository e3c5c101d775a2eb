// The executor's operator memo (sim/serving/executor_memo.h): exact keys, what it keeps.
#include <gtest/gtest.h>

#include "sim/serving/executor_memo.h"

namespace servesim {
namespace {

Operator gemm(std::int64_t m) {
  Operator op;
  op.cls = OpClass::kGemm;
  op.name = "qkv_proj";
  op.gemm = GemmShape{m, 1280, 8192, 1, DType::kBf16};
  return op;
}

TEST(OperatorMemo, FindsAnOperatorDifferingOnlyInLabelsNoModelReads) {
  // Rule: name, stage, repeat and overlap are not read by any cost or power model.
  OperatorMemo memo;
  memo.insert(gemm(64), OperatorPrice{1234, 5, "fit"});
  Operator other = gemm(64);
  other.name = "o_proj";
  other.repeat = 80;
  other.stage = StagePart::kLast;
  other.overlap = true;
  const OperatorPrice* hit = memo.find(other);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->ns, 1234);
  EXPECT_EQ(hit->nj, 5);
}

TEST(OperatorMemo, MissesAnOperatorDifferingInAnyShapeField) {
  // Rule: every field a model may read is in the key, bit for bit.
  OperatorMemo memo;
  memo.insert(gemm(64), OperatorPrice{1234, 0, "fit"});
  Operator m = gemm(65);
  Operator n = gemm(64);
  n.gemm.n = 1281;
  Operator dtype = gemm(64);
  dtype.gemm.dtype = DType::kFp8;
  Operator bytes = gemm(64);
  bytes.bytes = 1;  // a field a GEMM's models do not read today is still part of the key
  for (const Operator& op : {m, n, dtype, bytes}) EXPECT_EQ(memo.find(op), nullptr);
}

TEST(OperatorMemo, AttentionIsNeverMemoisable) {
  // Rule: attention depends on per-sequence pairs that are not in the key.
  Operator a;
  a.cls = OpClass::kAttentionDecode;
  EXPECT_FALSE(OperatorMemo::memoisable(a));
  EXPECT_TRUE(OperatorMemo::memoisable(gemm(1)));
  const SeqAttention seq{1, 10};
  Operator g = gemm(1);
  g.attn.seqs = std::span<const SeqAttention>(&seq, 1);
  EXPECT_FALSE(OperatorMemo::memoisable(g));
}

TEST(OperatorMemo, ForgetsEverythingWhenFull) {
  // Rule: at kMaxEntries the next insert starts from an empty memo (bounded memory).
  OperatorMemo memo;
  for (std::size_t i = 0; i < OperatorMemo::kMaxEntries; ++i) memo.insert(gemm(static_cast<std::int64_t>(i) + 1), OperatorPrice{1, 0, "x"});
  EXPECT_NE(memo.find(gemm(1)), nullptr);
  memo.insert(gemm(0), OperatorPrice{2, 0, "x"});
  EXPECT_EQ(memo.find(gemm(1)), nullptr);
  EXPECT_NE(memo.find(gemm(0)), nullptr);
}

}  // namespace
}  // namespace servesim
