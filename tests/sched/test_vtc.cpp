// Virtual Token Counter rules (sim/sched/impl/vtc.cpp), paged KV of 16-token blocks.
// Budget 50 tokens without chunking: one 40-token prompt per step.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig() : SchedRig("vtc", 1000, json{{"max_num_batched_tokens", 50}, {"enable_chunked_prefill", false}}) {}
};

TEST(Vtc, TheLeastServedClientIsAdmittedFirst) {
  Rig rig;
  Request* a1 = rig.add_from(40, 1, /*client=*/0, 0);
  Request* a2 = rig.add_from(40, 1, 0, 0);
  Request* b1 = rig.add_from(40, 1, /*client=*/1, 0);
  rig.step();  // counters tie at 0: client 0 (lower id) gets a1; c0 = 40 x 1 + 1 x 2 = 42
  EXPECT_EQ(rig.scheduled(a1), 40);
  rig.sched->schedule(rig.now, rig.plan);
  // c1 = 0 < 42: b1 goes before a2, which arrived earlier.
  EXPECT_EQ(rig.scheduled(b1), 40);
  EXPECT_EQ(rig.scheduled(a2), 0);
}

TEST(Vtc, AReturningClientsCounterIsLiftedToTheBackloggedMinimum) {
  Rig rig;
  rig.add_from(40, 1, 0, 0);
  rig.add_from(40, 1, 0, 0);
  Request* a3 = rig.add_from(40, 1, 0, 0);
  rig.step();  // a1: c0 = 42
  rig.step();  // a2: c0 = 84
  // Client 1 arrives while client 0 is backlogged (a3): c1 = max(0, 84) = 84, not 0.
  Request* b1 = rig.add_from(40, 1, 1, 0);
  rig.sched->schedule(rig.now, rig.plan);
  // A tie at 84 goes to the lower client id: a3. Without the lift b1 would go first.
  EXPECT_EQ(rig.scheduled(a3), 40);
  EXPECT_EQ(rig.scheduled(b1), 0);
}

TEST(Vtc, OutputTokensCountWithTheirWeight) {
  // Client 0: a1 (10-token prompt, 30 outputs), a2 (45); client 1: b1 (11, 1 output), b2
  // (45), all at t = 0 (counters 0). Step 1: a1 (tie, lower id); a2 does not fit the 40
  // left. c0 = 10 + w. Step 2: client 1 (0 < c0): b1; b2 does not fit. c0 = 10 + 2w,
  // c1 = 11 + w. Step 3: with w = 2, c1 = 13 < c0 = 14: b2; with w = 0, c0 = 10 < 11: a2.
  for (const double w : {2.0, 0.0}) {
    SchedRig rig("vtc", 1000, json{{"max_num_batched_tokens", 50}, {"enable_chunked_prefill", false}, {"output_weight", w}});
    rig.add_from(10, 30, 0, 0);
    Request* a2 = rig.add_from(45, 1, 0, 0);
    rig.add_from(11, 1, 1, 0);
    Request* b2 = rig.add_from(45, 1, 1, 0);
    rig.step();
    rig.step();
    rig.sched->schedule(rig.now, rig.plan);
    EXPECT_EQ(rig.scheduled(b2), w > 0 ? 45 : 0) << w;
    EXPECT_EQ(rig.scheduled(a2), w > 0 ? 0 : 45) << w;
  }
}

}  // namespace
}  // namespace servesim
