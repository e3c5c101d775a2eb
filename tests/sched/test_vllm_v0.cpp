// vLLM v0 scheduler rules (sim/sched/impl/vllm_v0.cpp), paged KV of 16-token blocks.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg) : SchedRig("vllm_v0", blocks, std::move(cfg)) {}
};

TEST(VllmV0, AStepThatAdmitsAPromptIsAllPrefill) {
  Rig rig(1000, json::object());
  Request* a = rig.add(20, 5);
  rig.step();  // a's prompt
  Request* b = rig.add(30, 5);
  rig.sched->schedule(rig.now, rig.plan);
  // b's prompt runs alone: a, decoding, waits for the next decode step.
  EXPECT_EQ(rig.scheduled(b), 30);
  EXPECT_EQ(rig.scheduled(a), 0);
  EXPECT_EQ(rig.plan.seqs.size(), 1u);
}

TEST(VllmV0, WithNothingToAdmitTheStepDecodesEveryRunningRequest) {
  Rig rig(1000, json::object());
  Request* a = rig.add(20, 5);
  Request* b = rig.add(30, 5);
  rig.step();  // both prompts in one prefill step
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(b), 1);
  EXPECT_EQ(rig.plan.num_tokens, 2);
}

TEST(VllmV0, WithoutChunkingAPromptMustFitTheBudgetWhole) {
  Rig rig(1000, json{{"max_num_batched_tokens", 100}});
  Request* a = rig.add(60, 4);
  Request* b = rig.add(70, 4);
  Request* c = rig.add(10, 4);
  rig.sched->schedule(0, rig.plan);
  // 60 + 70 > 100: b waits and c, behind it, too.
  EXPECT_EQ(rig.scheduled(a), 60);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.scheduled(c), 0);
}

TEST(VllmV0, AdmissionLeavesTheWatermarkFree) {
  // 100 blocks, watermark 0.1 = 10 blocks. a (1360 tokens = 85 blocks) leaves 15 free;
  // b (100 tokens = 7 blocks) would leave 8 < 10, so it waits.
  Rig rig(100, json{{"watermark", 0.1}});
  Request* a = rig.add(1360, 2);
  Request* b = rig.add(100, 2);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 1360);
  EXPECT_EQ(rig.scheduled(b), 0);
}

TEST(VllmV0, ChunkedPrefillMixesDecodesAndPromptChunks) {
  Rig rig(1000, json{{"max_num_batched_tokens", 64}, {"enable_chunked_prefill", true}});
  Request* a = rig.add(20, 5);
  rig.step();
  Request* b = rig.add(100, 5);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 1);   // running first
  EXPECT_EQ(rig.scheduled(b), 63);  // then a chunk of the rest of the budget
}

TEST(VllmV0, RecomputePreemptionSendsTheNewestBackToWaiting) {
  // 4 blocks; a and b hold 2 each after their 32-token prompts; a's 33rd token needs a
  // third block: b (newest) is preempted by recompute.
  Rig rig(4, json::object());
  Request* a = rig.add(32, 10);
  Request* b = rig.add(32, 10);
  rig.step();
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], b);
  EXPECT_EQ(b->num_computed, 0);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.sched->num_waiting(), 1u);
}

TEST(VllmV0, NoPromptIsAdmittedWhileARequestIsSwappedOut) {
  Rig rig(4, json{{"preemption_mode", "swap"}});
  Request* a = rig.add(32, 10);
  Request* b = rig.add(32, 10);
  rig.step();
  rig.step();  // b swapped out with its 32 computed tokens; a decodes
  ASSERT_EQ(b->preemptions, 1);
  EXPECT_EQ(b->num_computed, 32);
  EXPECT_EQ(rig.kv->swapped_tokens(*b), 32);
  Request* c = rig.add(10, 2);  // fits the one free block, but b is swapped out
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.scheduled(a), 1);
  // b needs 3 blocks to swap back in; 1 is free: it stays out.
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.sched->num_waiting(), 2u);
}

TEST(VllmV0, ASwappedRequestResumesWithItsComputedTokens) {
  Rig rig(4, json{{"preemption_mode", "swap"}});
  Request* a = rig.add(32, 3);
  Request* b = rig.add(32, 10);
  rig.step();  // prompts
  rig.step();  // b swapped out; a's second token
  rig.step();  // a's third and last token: a frees its blocks
  ASSERT_EQ(a->state, RequestState::kFinished);
  rig.sched->schedule(rig.now, rig.plan);
  // b comes back with 32 tokens in KV and 33 known: one token to compute.
  EXPECT_EQ(rig.scheduled(b), 1);
  EXPECT_EQ(rig.plan.seqs[0].context, 32);
}

}  // namespace
}  // namespace servesim
