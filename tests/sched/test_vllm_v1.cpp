// vLLM v1 scheduler rules, driven with the real paged KV manager at a tiny capacity.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

// `blocks` KV blocks of 16 tokens; scheduler parameters as given.
struct Rig : SchedRig {
  Rig(std::int64_t blocks, json sched_cfg, std::int64_t max_model_len = 0) : SchedRig("vllm_v1", blocks, std::move(sched_cfg), max_model_len) {}
};

TEST(VllmV1, TokenBudgetIsRespectedAndPromptsAreChunked) {
  Rig rig(1000, json{{"max_num_batched_tokens", 100}});
  Request* a = rig.add(60, 4);
  Request* b = rig.add(60, 4);
  Request* c = rig.add(60, 4);
  rig.sched->schedule(0, rig.plan);
  // Budget 100: a takes its whole 60-token prompt, b the remaining 40 (a chunk), c nothing.
  EXPECT_EQ(rig.scheduled(a), 60);
  EXPECT_EQ(rig.scheduled(b), 40);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.plan.num_tokens, 100);
}

TEST(VllmV1, RunningRequestsAreServedBeforeWaitingOnes) {
  Rig rig(1000, json{{"max_num_batched_tokens", 100}});
  Request* a = rig.add(60, 4);
  Request* b = rig.add(60, 4);
  Request* c = rig.add(60, 4);
  rig.step();  // a: prefill done, first token; b: 40 of 60
  EXPECT_EQ(a->num_generated, 1);
  EXPECT_EQ(b->num_generated, 0);
  rig.sched->schedule(rig.now, rig.plan);
  // Running first: a decodes 1, b finishes its prompt (20), then c gets 60 of the 79 left.
  ASSERT_EQ(rig.plan.seqs.size(), 3u);
  EXPECT_EQ(rig.plan.seqs[0].req, a);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.plan.seqs[1].req, b);
  EXPECT_EQ(rig.scheduled(b), 20);
  EXPECT_EQ(rig.scheduled(c), 60);
  EXPECT_EQ(rig.plan.num_tokens, 81);
}

TEST(VllmV1, WithoutChunkingAPromptThatDoesNotFitBlocksTheQueue) {
  Rig rig(1000, json{{"max_num_batched_tokens", 100}, {"enable_chunked_prefill", false}});
  Request* a = rig.add(60, 4);
  Request* b = rig.add(70, 4);
  Request* c = rig.add(10, 4);
  rig.sched->schedule(0, rig.plan);
  // b needs 70 > 40 left: it waits, and c behind it waits too (head-of-line blocking).
  EXPECT_EQ(rig.scheduled(a), 60);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.scheduled(c), 0);
}

TEST(VllmV1, KvShortageBlocksAdmissionHeadOfLine) {
  // 5 blocks = 80 tokens. a holds 4 blocks (64-token prompt); b (30 tokens = 2 blocks) does
  // not fit in the 1 left, and c (10 tokens = 1 block) behind it must not jump the queue.
  Rig rig(5, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(64, 2);
  Request* b = rig.add(30, 2);
  Request* c = rig.add(10, 2);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 64);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.sched->num_waiting(), 2u);
}

TEST(VllmV1, PreemptsTheMostRecentlyAdmittedWhenBlocksRunShort) {
  // 4 blocks of 16 tokens. a and b each have a 32-token prompt (2 blocks each, all 4 used).
  Rig rig(4, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(32, 10);
  Request* b = rig.add(32, 10);
  rig.step();  // both prefilled; each sampled its first token: 33 tokens known, 32 computed
  ASSERT_EQ(a->num_computed, 32);
  ASSERT_EQ(b->num_computed, 32);
  // Next step a needs a third block for its 33rd token; none is free, so b (admitted last)
  // is preempted by recompute and a proceeds alone. No waiting request is admitted.
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], b);
  EXPECT_EQ(b->preemptions, 1);
  EXPECT_EQ(b->num_computed, 0);
  EXPECT_EQ(b->kv_slot, -1);
  EXPECT_EQ(b->state, RequestState::kWaiting);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.sched->num_waiting(), 1u);
  EXPECT_EQ(rig.sched->num_running(), 1u);
  rig.kv->check_invariants();
}

TEST(VllmV1, PreemptedRequestRecomputesItsGeneratedTokens) {
  Rig rig(4, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(32, 3);
  Request* b = rig.add(32, 2);
  rig.step();  // a and b: first tokens
  rig.step();  // b preempted (1 token generated), a decodes its second token
  ASSERT_EQ(b->preemptions, 1);
  EXPECT_EQ(a->num_generated, 2);
  rig.step();  // a decodes its third and last token and frees its blocks; b still waits
  EXPECT_EQ(a->state, RequestState::kFinished);
  rig.sched->schedule(rig.now, rig.plan);
  // b returns with prompt + its one generated token to recompute: 33 tokens.
  EXPECT_EQ(rig.scheduled(b), 33);
}

TEST(VllmV1, MaxNumSeqsCapsRunningRequests) {
  Rig rig(1000, json{{"max_num_batched_tokens", 1000}, {"max_num_seqs", 2}});
  rig.add(10, 5);
  rig.add(10, 5);
  Request* c = rig.add(10, 5);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.plan.seqs.size(), 2u);
  EXPECT_EQ(rig.scheduled(c), 0);
}

TEST(VllmV1, RejectsRequestsThatCanNeverFit) {
  Rig rig(4, json{{"max_num_batched_tokens", 1000}}, /*max_model_len=*/50);
  EXPECT_EQ(rig.add(45, 10), nullptr);  // 55 > max_model_len 50
  Rig small(2, json{{"max_num_batched_tokens", 1000}});
  EXPECT_EQ(small.add(30, 10), nullptr);  // 40 tokens > 2 blocks x 16
  EXPECT_NE(small.add(20, 12), nullptr);  // 32 tokens fit exactly
}

TEST(VllmV1, FinishedRequestsFreeTheirBlocks) {
  Rig rig(8, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(20, 2);
  rig.step();
  rig.step();
  EXPECT_EQ(a->state, RequestState::kFinished);
  EXPECT_EQ(a->kv_slot, -1);
  EXPECT_EQ(rig.kv->usage().used_tokens, 0);
  EXPECT_EQ(a->first_token, 1000);
  EXPECT_EQ(a->last_token, 2000);
  EXPECT_FALSE(rig.sched->has_work());
}

TEST(VllmV1, PureDecodesRepeatWhileTheWaitingHeadCannotFit) {
  // 5 blocks = 80 tokens. a's 64-token prompt takes 4 blocks; its first decode takes the
  // 5th. b (30 tokens = 2 blocks) waits: decodes only take blocks, so it cannot fit before a
  // finishes, and the batch repeats: a has 10 - 1 - 1 = 8 more decode steps before its last.
  Rig rig(5, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(64, 10);
  rig.step();  // a's prompt; its first token
  Request* b = rig.add(30, 2);
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.scheduled(a), 1);
  ASSERT_EQ(rig.scheduled(b), 0);
  ASSERT_EQ(rig.sched->num_waiting(), 1u);
  EXPECT_EQ(rig.sched->repeatable_decode_steps(rig.plan), 8);
}

TEST(VllmV1, AWaitingHeadWithSharedPrefixStopsTheRepeat) {
  // As above, but b's prompt is described by prefix ids: a block a running request
  // registers could extend b's cached prefix, so b might fit later: no repeat.
  Rig rig(5, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(64, 10);
  rig.step();
  Request* b = rig.add(30, 2, {7, 8});
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.scheduled(a), 1);
  ASSERT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.sched->repeatable_decode_steps(rig.plan), 0);
}

}  // namespace
}  // namespace servesim
