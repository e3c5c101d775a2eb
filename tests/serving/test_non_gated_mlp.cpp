// Models whose MLP has no gate (OPT: fc1 -> ReLU -> fc2): the operators a step runs and the
// activation memory the plan reserves, against the gated (SwiGLU) layout of the same sizes.
#include <gtest/gtest.h>

#include <cstring>

#include "sim/serving/memory_plan.h"
#include "tests/serving/one_decode_step.h"

namespace servesim {
namespace {
using testing::OneDecodeStep;
using testing::roofline_pool;

const Operator* find_op(const std::vector<Operator>& ops, const char* name) {
  for (const Operator& op : ops) {
    if (std::strcmp(op.name, name) == 0) return &op;
  }
  return nullptr;
}

TEST(NonGatedMlp, OneDecodeTokenRunsFc1TheActivationAndFc2) {
  // OPT-13B at TP 1 (hidden 5120, ffn_dim 20480): a decode token runs fc1 as a
  // 1 x 20480 x 5120 GEMM, the ReLU reads and writes 20480 16-bit values (81,920 B) and fc2
  // is 1 x 5120 x 20480, in each of the 40 layers; no gate_up_proj.
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("opt-13b", c);
  const OneDecodeStep s(p, PlanLinks{});
  EXPECT_EQ(find_op(s.ops, "gate_up_proj"), nullptr);
  EXPECT_EQ(find_op(s.ops, "act_mul"), nullptr);
  const Operator* up = find_op(s.ops, "up_proj");
  const Operator* act = find_op(s.ops, "act");
  const Operator* down = find_op(s.ops, "down_proj");
  ASSERT_TRUE(up && act && down);
  EXPECT_EQ(up->gemm.m, 1);
  EXPECT_EQ(up->gemm.n, 20480);
  EXPECT_EQ(up->gemm.k, 5120);
  EXPECT_EQ(up->repeat, 40);
  EXPECT_DOUBLE_EQ(act->bytes, 2.0 * 20480 * 2);
  EXPECT_EQ(down->gemm.n, 5120);
  EXPECT_EQ(down->gemm.k, 20480);
}

TEST(NonGatedMlp, ActivationPeakHoldsFc1sOutputAndTheActivationOnly) {
  // The forward pass at T batched tokens holds the residual stream and the normed input
  // (2 x hidden), the QKV output (3 x hidden, MHA) and the MLP's intermediates: 2 x ffn_dim
  // without a gate (3 x with one). OPT-13B, fp16, TP 1, 256 sequences (the forward pass
  // dominates sampling at 8192 tokens): 8192 x 2 B x (2 x 5120 + 15360 + 2 x 20480).
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("opt-13b", c);
  MemoryConfig m = p.mem;
  m.max_num_batched_tokens = 8192;
  m.max_num_seqs = 256;
  EXPECT_DOUBLE_EQ(activation_peak_bytes(*p.model, *p.plan, m), 8192.0 * 2.0 * (2 * 5120 + 15360 + 2 * 20480));
}

}  // namespace
}  // namespace servesim
