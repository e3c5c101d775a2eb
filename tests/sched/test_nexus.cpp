// Nexus co-location scheduling rules (sim/sched/impl/nexus.cpp), paged KV of 16-token blocks.
// The pricing of a co-located step is tested in tests/serving/test_colocate.cpp.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg) : SchedRig("nexus", blocks, std::move(cfg)) {}
};

TEST(Nexus, ThePrefillStreamTakesItsChunkWhateverTheNumberOfDecodes) {
  Rig rig(1000, json{{"prefill_chunk", 64}});
  Request* a = rig.add(20, 5);
  Request* b = rig.add(20, 5);
  rig.step();  // a and b: whole 20-token prompts (40 <= 64), first tokens
  Request* c = rig.add(100, 5);
  rig.sched->schedule(rig.now, rig.plan);
  // a and b decode first (1 token each); c still gets the full 64-token chunk, not 64 - 2.
  ASSERT_EQ(rig.plan.seqs.size(), 3u);
  EXPECT_EQ(rig.plan.seqs[0].req, a);
  EXPECT_EQ(rig.plan.seqs[1].req, b);
  EXPECT_EQ(rig.scheduled(c), 64);
  EXPECT_EQ(rig.plan.num_tokens, 66);
}

TEST(Nexus, APartialPromptContinuesBeforeNewRequestsWithinTheChunk) {
  Rig rig(1000, json{{"prefill_chunk", 64}});
  Request* a = rig.add(100, 5);
  Request* b = rig.add(30, 5);
  rig.step();  // a: 64 of 100; b: nothing (chunk used)
  EXPECT_EQ(b->first_scheduled, -1);
  rig.sched->schedule(rig.now, rig.plan);
  // a's last 36 tokens, then b's first 64 - 36 = 28 of 30.
  EXPECT_EQ(rig.scheduled(a), 36);
  EXPECT_EQ(rig.scheduled(b), 28);
}

TEST(Nexus, EveryStepAsksTheExecutorToCoLocateWithTheTargetAndGrid) {
  Rig rig(1000, json{{"tpot_target", "20ms"}, {"sm_grid", 0.1}});
  rig.add(10, 5);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_DOUBLE_EQ(rig.plan.colocate_tpot_ns, 20e6);
  EXPECT_DOUBLE_EQ(rig.plan.colocate_grid, 0.1);
  rig.plan.clear();  // a plan cleared by any scheduler runs as one batch
  EXPECT_EQ(rig.plan.colocate_tpot_ns, 0);
}

}  // namespace
}  // namespace servesim
