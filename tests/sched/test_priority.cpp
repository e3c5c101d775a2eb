// vLLM priority policy rules (sim/sched/impl/priority.cpp), paged KV of 16-token blocks.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg) : SchedRig("priority", blocks, std::move(cfg)) {}
};

TEST(Priority, TheMostUrgentWaitingRequestIsAdmittedFirst) {
  Rig rig(1000, json{{"max_num_batched_tokens", 100}});
  Request* low = rig.add_from(60, 4, 0, /*priority=*/5);
  Request* high = rig.add_from(60, 4, 0, /*priority=*/1);
  rig.sched->schedule(0, rig.plan);
  // high (1 < 5) takes its 60 tokens first; low gets the 40 left.
  EXPECT_EQ(rig.plan.seqs[0].req, high);
  EXPECT_EQ(rig.scheduled(high), 60);
  EXPECT_EQ(rig.scheduled(low), 40);
}

TEST(Priority, KvShortagePreemptsTheLeastUrgentRunningRequest) {
  // 4 blocks. Step 1: l (priority 3) prefills 32 tokens (2 blocks). Step 2: l's 33rd token
  // takes a third block, u (priority 0, 16 tokens) the fourth. Step 3: running in priority
  // order [u, l]; u's 17th token needs a block and none is free: the last running request,
  // l (least urgent, though admitted first), is preempted, not u (the newest).
  Rig rig(4, json::object());
  Request* l = rig.add_from(32, 10, 0, 3);
  rig.step();
  Request* u = rig.add_from(16, 10, 0, 0);
  rig.step();
  ASSERT_EQ(rig.scheduled(u), 16);
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], l);
  EXPECT_EQ(rig.scheduled(u), 1);
}

TEST(Priority, AMoreUrgentWaitingRequestPreemptsALessUrgentRunningOne) {
  // 4 blocks. l (priority 3, 48-token prompt) holds 3 blocks, then 4 after its first
  // decode. u (priority 0, 32 tokens = 2 blocks) cannot fit the 1 free block at step 2:
  // l, strictly less urgent, is preempted before the step and u is admitted.
  Rig rig(4, json::object());
  Request* l = rig.add_from(48, 10, 0, 3);
  rig.step();
  Request* u = rig.add_from(32, 10, 0, 0);
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], l);
  EXPECT_EQ(rig.scheduled(u), 32);
  EXPECT_EQ(rig.scheduled(l), 0);
}

TEST(Priority, EqualPrioritiesNeverPreemptForAWaitingRequest) {
  Rig rig(4, json::object());
  Request* a = rig.add_from(48, 10, 0, 2);
  rig.step();
  Request* b = rig.add_from(32, 10, 0, 2);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_TRUE(rig.plan.preempted.empty());
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(b), 0);
}

}  // namespace
}  // namespace servesim
