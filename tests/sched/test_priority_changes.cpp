// FastSwitch's priority changes: a request's priority follows its PriorityTrace, re-read by
// the `priority` scheduler at each step (rule 5 of sim/sched/impl/priority.cpp).
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

TEST(PriorityTrace, APriorityHoldsFromEachChangeUntilTheNext) {
  const PriorityTrace t{{10, 20}, {4, 1}, 0};
  EXPECT_EQ(t.at(5, 7), 7);   // before the first change: the request's own
  EXPECT_EQ(t.at(10, 7), 4);  // from 10 on
  EXPECT_EQ(t.at(19, 7), 4);
  EXPECT_EQ(t.at(25, 7), 1);  // from 20 on, for good
}

TEST(PriorityTrace, APeriodicTraceRepeatsEveryPeriod) {
  // A rotation of period 20: 2 on [0, 10), 0 on [10, 20), then again.
  const PriorityTrace t{{0, 10}, {2, 0}, 20};
  EXPECT_EQ(t.at(5, 9), 2);
  EXPECT_EQ(t.at(15, 9), 0);
  EXPECT_EQ(t.at(25, 9), 2);  // 25 mod 20 = 5
  EXPECT_EQ(t.at(35, 9), 0);  // 35 mod 20 = 15
}

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg) : SchedRig("priority", blocks, std::move(cfg)) {}
  // A request arriving now with `priority`, changed by `trace` (null: never).
  Request* add_traced(std::int32_t prompt, std::int32_t priority, const PriorityTrace* trace) {
    Request& r = reqs.emplace_back();
    r.spec.arrival = now;
    r.spec.priority = priority;
    r.spec.priority_trace = trace;
    r.spec.id = static_cast<RequestId>(reqs.size() - 1);
    r.spec.prompt_tokens = prompt;
    r.spec.output_tokens = 10;
    return sched->add(&r) ? &r : nullptr;
  }
};

TEST(PriorityChanges, ARunningRequestWhosePriorityFallsIsPreemptedForAMoreUrgentWaitingOne) {
  // 4 blocks of 16 tokens. a (priority 0, becoming 3 at t = 2000 ns) prefills 48 tokens
  // (3 blocks) in the step at 0. b (priority 1, 32 tokens = 2 blocks) arrives at 1000: a is
  // still more urgent (0 < 1), so nothing is preempted and b does not fit the 1 free block;
  // a's 49th token takes it. At 2000 a's priority is 3 > 1: b cannot get its 2 blocks (none
  // free), so a is preempted before the step and b is admitted with its 32 tokens.
  Rig rig(4, json::object());
  const PriorityTrace falls{{2000}, {3}, 0};
  Request* a = rig.add_traced(48, 0, &falls);
  rig.step();
  Request* b = rig.add_traced(32, 1, nullptr);
  rig.step();
  EXPECT_TRUE(rig.plan.preempted.empty());
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.scheduled(a), 1);
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.now, 2000);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], a);
  EXPECT_EQ(rig.scheduled(b), 32);
}

TEST(PriorityChanges, AWaitingRequestWhosePriorityRisesIsAdmittedFirst) {
  // Plenty of blocks, a 40-token budget. x (priority 1) and y (priority 5, becoming 0 at
  // t = 500 ns) arrive at 0, y queued behind x. At the step at 1000 y's priority is 0: the
  // queue is re-ordered, y takes its 32 tokens first and x the 8 left.
  Rig rig(100, json{{"max_num_batched_tokens", 40}});
  const PriorityTrace rises{{500}, {0}, 0};
  Request* x = rig.add_traced(32, 1, nullptr);
  Request* y = rig.add_traced(32, 5, &rises);
  rig.sched->schedule(1000, rig.plan);
  EXPECT_EQ(rig.scheduled(y), 32);
  EXPECT_EQ(rig.scheduled(x), 8);
}

}  // namespace
}  // namespace servesim
