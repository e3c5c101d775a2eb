// TensorRT-LLM in-flight batching rules (sim/sched/impl/trtllm.cpp), paged KV of 16-token blocks.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg) : SchedRig("trtllm", blocks, std::move(cfg)) {}
};

TEST(Trtllm, GuaranteedNoEvictStartsOnlyWhatItsWholeLengthFits) {
  // 10 blocks. Each request's maximum length is 20 + 60 = 80 tokens = 5 blocks: a and b
  // book all 10, so c waits; only the prompts' 2 blocks each are allocated now.
  Rig rig(10, json::object());
  Request* a = rig.add(20, 60);
  Request* b = rig.add(20, 60);
  Request* c = rig.add(20, 60);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 20);
  EXPECT_EQ(rig.scheduled(b), 20);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.kv->usage().used_tokens, 64);
}

TEST(Trtllm, MaxUtilizationStartsWhatThisStepFits) {
  Rig rig(10, json{{"capacity_scheduler_policy", "MAX_UTILIZATION"}});
  rig.add(20, 60);
  rig.add(20, 60);
  Request* c = rig.add(20, 60);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(c), 20);  // 6 of 10 blocks allocated
}

TEST(Trtllm, MaxUtilizationPausesTheNewestOnShortage) {
  // 4 blocks; a and b hold 2 each; a's 33rd token needs a third: b is paused (recompute).
  Rig rig(4, json{{"capacity_scheduler_policy", "MAX_UTILIZATION"}});
  Request* a = rig.add(32, 10);
  Request* b = rig.add(32, 10);
  rig.step();
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], b);
  EXPECT_EQ(rig.scheduled(a), 1);
}

TEST(Trtllm, GuaranteedNoEvictNeverPreempts) {
  // 4 blocks: a books 42 tokens = 3 blocks, b (3 more) waits until a has ended.
  Rig rig(4, json::object());
  Request* a = rig.add(32, 10);
  Request* b = rig.add(32, 10);
  for (int i = 0; i < 10; ++i) {
    rig.step();
    EXPECT_TRUE(rig.plan.preempted.empty());
    EXPECT_EQ(rig.scheduled(b), 0);
  }
  EXPECT_EQ(a->state, RequestState::kFinished);
}

TEST(Trtllm, WithoutChunkingAContextRunsWhole) {
  Rig rig(1000, json{{"max_num_tokens", 100}});
  Request* a = rig.add(60, 4);
  Request* b = rig.add(70, 4);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 60);
  EXPECT_EQ(rig.scheduled(b), 0);  // 70 > the 40 tokens left
  EXPECT_EQ(rig.add(101, 1), nullptr);  // longer than max_num_tokens: rejected
}

TEST(Trtllm, GenerationFirstThenContextChunksInBlockUnits) {
  Rig rig(1000, json{{"max_num_tokens", 64}, {"enable_chunked_context", true}});
  Request* a = rig.add(20, 5);
  rig.step();
  Request* b = rig.add(100, 5);
  rig.sched->schedule(rig.now, rig.plan);
  // a's generation token first; 63 tokens left, b's chunk is 63 rounded down to 16s: 48.
  EXPECT_EQ(rig.plan.seqs[0].req, a);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(b), 48);
}

TEST(Trtllm, UnderOneBlockLeftAChunkTakesTheTokensLeft) {
  // max_num_tokens 8 < the 16-token block: rounding down would give 0; the chunk is 8.
  Rig rig(1000, json{{"max_num_tokens", 8}, {"enable_chunked_context", true}});
  Request* a = rig.add(100, 2);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 8);
}

}  // namespace
}  // namespace servesim
