// Sarathi-Serve stall-free batching rules (sim/sched/impl/sarathi.cpp), paged KV of 16-token blocks.
#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg) : SchedRig("sarathi", blocks, std::move(cfg)) {}
};

TEST(Sarathi, DecodesComeFirstAndAPromptFillsTheRestOfTheBudget) {
  Rig rig(1000, json{{"token_budget", 64}, {"tile_size", 1}});
  Request* a = rig.add(40, 5);
  rig.step();  // a: whole 40-token prompt (40 <= 64), first token
  ASSERT_EQ(a->num_generated, 1);
  Request* b = rig.add(100, 5);
  rig.sched->schedule(rig.now, rig.plan);
  // a decodes 1 token first; b's chunk is the 63 tokens left of the 64-token budget.
  ASSERT_EQ(rig.plan.seqs.size(), 2u);
  EXPECT_EQ(rig.plan.seqs[0].req, a);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(b), 63);
  EXPECT_EQ(rig.plan.num_tokens, 64);
}

TEST(Sarathi, APartialPromptContinuesBeforeNewRequests) {
  Rig rig(1000, json{{"token_budget", 64}, {"tile_size", 1}});
  Request* a = rig.add(100, 5);
  Request* b = rig.add(30, 5);
  rig.step();  // a: 64 of 100; b: nothing (budget used)
  EXPECT_EQ(b->first_scheduled, -1);
  rig.sched->schedule(rig.now, rig.plan);
  // a's last 36 tokens, then b's first 64 - 36 = 28 of 30.
  EXPECT_EQ(rig.scheduled(a), 36);
  EXPECT_EQ(rig.scheduled(b), 28);
}

TEST(Sarathi, ChunkSizeCapsOneRequestsPrefill) {
  Rig rig(1000, json{{"token_budget", 64}, {"chunk_size", 16}, {"tile_size", 1}});
  Request* a = rig.add(40, 2);
  Request* b = rig.add(40, 2);
  rig.sched->schedule(0, rig.plan);
  // Each prompt takes at most 16 tokens: 16 + 16 = 32 of the 64-token budget.
  EXPECT_EQ(rig.scheduled(a), 16);
  EXPECT_EQ(rig.scheduled(b), 16);
  EXPECT_EQ(rig.plan.num_tokens, 32);
}

TEST(Sarathi, ACutPromptEndsTheStepOnATileBoundary) {
  Rig rig(1000, json{{"token_budget", 256}, {"chunk_size", 200}, {"tile_size", 128}});
  rig.add(20, 5);
  rig.add(20, 5);
  rig.add(20, 5);
  rig.step();  // three 20-token prompts: all three decode next
  Request* b = rig.add(1000, 5);
  rig.sched->schedule(rig.now, rig.plan);
  // 3 decode tokens; b may take min(200, 253) = 200, but 3 + 200 = 203 is cut back to the
  // tile boundary 128: b takes 125.
  EXPECT_EQ(rig.scheduled(b), 125);
  EXPECT_EQ(rig.plan.num_tokens, 128);
}

TEST(Sarathi, APromptThatEndsInTheStepIsNotCut) {
  Rig rig(1000, json{{"token_budget", 256}, {"tile_size", 128}});
  Request* a = rig.add(100, 5);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 100);  // 100 fits the budget: the whole prompt, unaligned
}

TEST(Sarathi, WithNoTileBoundaryInReachTheChunkGoesUnaligned) {
  // chunk_size 16 < tile 128: (0 + 16) rounds down to 0, so the 16 tokens run unaligned
  // (a prompt is never held back for good).
  Rig rig(1000, json{{"token_budget", 256}, {"chunk_size", 16}, {"tile_size", 128}});
  Request* a = rig.add(100, 2);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 16);
}

TEST(Sarathi, TokenBudgetMustBeAMultipleOfTheTile) {
  EXPECT_THROW(Rig(100, json{{"token_budget", 500}, {"tile_size", 128}}), InputError);
}

TEST(Sarathi, AdmissionAllocatesTheWholePrompt) {
  // 10 blocks = 160 tokens. a's 150-token prompt takes all 10 blocks at admission although
  // only its first 64-token chunk runs; b (10 tokens) then finds no block and waits.
  Rig rig(10, json{{"token_budget", 128}, {"chunk_size", 64}, {"tile_size", 1}});
  Request* a = rig.add(150, 2);
  Request* b = rig.add(10, 2);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 64);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.kv->usage().used_tokens, 160);
}

TEST(Sarathi, ADecodeShortOfKvPreemptsTheNewestRequest) {
  // 4 blocks. a and b (32-token prompts) hold 2 blocks each; a's 33rd token needs a third:
  // b, admitted last, is preempted by recompute and nobody is admitted in that step.
  Rig rig(4, json{{"token_budget", 128}, {"tile_size", 1}});
  Request* a = rig.add(32, 10);
  Request* b = rig.add(32, 10);
  rig.step();
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], b);
  EXPECT_EQ(b->num_computed, 0);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.sched->num_waiting(), 1u);
  rig.kv->check_invariants();
}

}  // namespace
}  // namespace servesim
