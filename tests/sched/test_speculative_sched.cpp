// Speculative decode steps in the token-budget scheduler (SchedulerDeps::spec_tokens):
// what a decoding request asks for, and how a verify step advances it and its KV.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

// vllm_v1 with k = 3 proposals per decode step, `blocks` blocks of 16 tokens.
struct Rig : SchedRig {
  explicit Rig(json cfg = json::object(), std::int64_t blocks = 1000) : SchedRig("vllm_v1", blocks, std::move(cfg), 0, false, 3) {}
};

TEST(SpeculativeSched, DecodingRequestVerifiesItsPendingTokenPlusKProposals) {
  Rig rig;
  Request* a = rig.add(30, 10);
  rig.step();  // prefill: 30 tokens, first token sampled; no proposals on a prompt
  EXPECT_EQ(a->num_generated, 1);
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.seqs.size(), 1u);
  EXPECT_EQ(rig.plan.seqs[0].new_tokens, 4);  // 1 pending + k = 3
  EXPECT_EQ(rig.plan.seqs[0].draft, 3);
  EXPECT_EQ(rig.plan.seqs[0].context, 30);
  EXPECT_EQ(rig.plan.num_tokens, 4);
}

TEST(SpeculativeSched, PromptStepsCarryNoProposals) {
  Rig rig;
  rig.add(30, 10);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.plan.seqs[0].new_tokens, 30);
  EXPECT_EQ(rig.plan.seqs[0].draft, 0);
}

TEST(SpeculativeSched, VerifyStepKeepsAcceptedTokensAndSamplesOneMore) {
  // After the prefill: 30 computed, 1 generated (31 known). A verify step with 2 of 3
  // proposals accepted: the pending token and 2 proposals enter the KV (30 + 3 = 33
  // computed) and 3 tokens are sampled (1 + 3 = 4 generated), one pending again.
  Rig rig;
  Request* a = rig.add(30, 10);
  rig.step();
  rig.sched->schedule(rig.now, rig.plan);
  rig.plan.seqs[0].accepted = 2;  // the engine's draw
  rig.now += 1000;
  rig.sched->update(rig.now, rig.plan, rig.events);
  EXPECT_EQ(a->num_computed, 33);
  EXPECT_EQ(a->num_generated, 4);
  EXPECT_EQ(a->num_tokens() - a->num_computed, 1);
  ASSERT_EQ(rig.events.sampled.size(), 1u);
  EXPECT_EQ(a->last_token, rig.now);
  EXPECT_EQ(a->prev_token, 1000);  // the tokens arrive together: one gap since the prefill's
}

TEST(SpeculativeSched, KvHoldsTheTokensPlusTheVerifySlotsAndRejectedSlotsAreReused) {
  // Blocks of 16. Verify 1: slots for 30 + 4 = 34 tokens -> 3 blocks (48 token slots).
  // With 0 accepted, 31 tokens stay; verify 2 needs 31 + 4 = 35 slots: still 3 blocks (the
  // rejected slots are reused, nothing more is taken).
  Rig rig;
  Request* a = rig.add(30, 20);
  rig.step();
  EXPECT_EQ(rig.kv->usage().used_tokens, 32);  // 2 blocks for the 30-token prompt
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.kv->usage().used_tokens, 48);
  rig.plan.seqs[0].accepted = 0;
  rig.sched->update(rig.now += 1000, rig.plan, rig.events);
  EXPECT_EQ(a->num_computed, 31);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.plan.seqs[0].new_tokens, 4);
  EXPECT_EQ(rig.kv->usage().used_tokens, 48);
  // All 3 accepted: 31 + 4 = 35 computed; the next verify needs 39 slots: 3 blocks still.
  rig.plan.seqs[0].accepted = 3;
  rig.sched->update(rig.now += 1000, rig.plan, rig.events);
  EXPECT_EQ(a->num_computed, 35);
  EXPECT_EQ(a->num_generated, 6);
  rig.kv->check_invariants();
}

TEST(SpeculativeSched, ProposalsStopAtTheOutputLength) {
  // Output 3: after the first token 2 remain, so k = min(3, 3 - 1 - 1) = 1.
  Rig rig;
  rig.add(30, 3);
  rig.step();
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.plan.seqs[0].new_tokens, 2);
  EXPECT_EQ(rig.plan.seqs[0].draft, 1);
}

TEST(SpeculativeSched, TheTokenBudgetCutsProposals) {
  // Budget 6 tokens: a verifies 4 (1 + 3), b only 2 of its 4 (1 + 1 proposal).
  Rig rig(json{{"max_num_batched_tokens", 6}});
  Request* a = rig.add(3, 10);
  Request* b = rig.add(3, 10);
  rig.step();  // both prompts (3 + 3 = 6 tokens)
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 4);
  EXPECT_EQ(rig.scheduled(b), 2);
  EXPECT_EQ(rig.plan.seqs[1].draft, 1);
}

TEST(SpeculativeSched, OnlyTokenBudgetSchedulersSpeculate) {
  EXPECT_TRUE(Rig().sched->speculates());
  EXPECT_FALSE(SchedRig("sarathi", 100, json::object()).sched->speculates());
}

}  // namespace
}  // namespace servesim
