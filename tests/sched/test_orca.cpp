// Orca iteration-level scheduling rules (sim/sched/impl/orca.cpp), paged KV of 16-token blocks.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg, std::int64_t max_model_len = 0) : SchedRig("orca", blocks, std::move(cfg), max_model_len) {}
};

TEST(Orca, AdmissionReservesTheWholeOutput) {
  // 10 blocks = 160 tokens. Each request reserves 20 + 60 = 80 tokens = 5 blocks: a and b
  // take all 10, c waits although its prompt alone would need 2 blocks.
  Rig rig(10, json::object());
  Request* a = rig.add(20, 60);
  Request* b = rig.add(20, 60);
  Request* c = rig.add(20, 60);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 20);
  EXPECT_EQ(rig.scheduled(b), 20);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.kv->usage().used_tokens, 160);
}

TEST(Orca, MaxTokensSetsTheReservation) {
  // max_tokens 100: a reserves 20 + 100 = 120 tokens = 8 blocks of 10; b needs 8 more.
  Rig rig(10, json{{"max_tokens", 100}});
  Request* a = rig.add(20, 10);
  Request* b = rig.add(20, 10);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 20);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.kv->usage().used_tokens, 128);
}

TEST(Orca, PromptsAreNeverChunked) {
  Rig rig(1000, json{{"max_step_tokens", 100}});
  Request* a = rig.add(60, 4);
  Request* b = rig.add(60, 4);
  rig.sched->schedule(0, rig.plan);
  // b's 60 tokens do not fit the 40 left: it waits whole for the next iteration.
  EXPECT_EQ(rig.scheduled(a), 60);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.plan.num_tokens, 60);
}

TEST(Orca, AReservedRequestIsNeverPreempted) {
  // 4 blocks. a reserves 32 + 10 = 42 tokens = 3 blocks; b (3 blocks) waits until a ends.
  // a decodes its 10 tokens in iterations 1..10 without any preemption; b joins at 11.
  Rig rig(4, json::object());
  Request* a = rig.add(32, 10);
  Request* b = rig.add(32, 10);
  for (int i = 0; i < 10; ++i) {
    rig.step();
    EXPECT_TRUE(rig.plan.preempted.empty());
    EXPECT_EQ(rig.scheduled(b), 0);
  }
  EXPECT_EQ(a->state, RequestState::kFinished);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(b), 32);
}

TEST(Orca, AFinishedRequestsSlotIsReusedAtTheNextIteration) {
  Rig rig(1000, json{{"max_batch_size", 2}});
  rig.add(10, 1);
  Request* b = rig.add(10, 3);
  Request* c = rig.add(10, 1);
  rig.step();  // a and b prefill; a ends (one output token)
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(b), 1);
  EXPECT_EQ(rig.scheduled(c), 10);  // joins while b is still generating
}

TEST(Orca, RejectsWhatCanNeverBeReserved) {
  Rig rig(4, json{{"max_tokens", 50}, {"max_step_tokens", 50}});
  EXPECT_NE(rig.add(10, 5), nullptr);   // reserves 10 + 50 = 60 <= 64
  EXPECT_EQ(rig.add(20, 5), nullptr);   // reserves 20 + 50 = 70 > 64
  Rig small(100, json{{"max_step_tokens", 50}});
  EXPECT_EQ(small.add(60, 1), nullptr);  // a 60-token prompt never fits a 50-token iteration
}

}  // namespace
}  // namespace servesim
