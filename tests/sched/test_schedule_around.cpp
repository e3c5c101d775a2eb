// IScheduler::schedule_around: a step formed beside pipeline micro-batches in flight.
#include <array>

#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

TEST(ScheduleAround, InFlightRequestsAreNeitherScheduledNorReordered) {
  SchedRig rig("vllm_v1", 1000, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(16, 8);
  Request* b = rig.add(16, 8);
  Request* c = rig.add(16, 8);
  rig.step();  // all three prefilled and decoding, running order a, b, c
  const std::array<Request*, 1> flying{b};
  rig.sched->schedule_around(rig.now, rig.plan, flying);
  // b's micro-batch is still in the pipeline: only a and c decode; b keeps its place.
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.scheduled(c), 1);
  const auto running = rig.sched->running();
  ASSERT_EQ(running.size(), 3u);
  EXPECT_EQ(running[0], a);
  EXPECT_EQ(running[1], b);
  EXPECT_EQ(running[2], c);
}

TEST(ScheduleAround, RequestsAdmittedBesideAFlightGoAfterIt) {
  SchedRig rig("vllm_v1", 1000, json{{"max_num_batched_tokens", 1000}});
  Request* a = rig.add(16, 8);
  rig.step();
  Request* d = rig.add(16, 8);
  const std::array<Request*, 1> flying{a};
  rig.sched->schedule_around(rig.now, rig.plan, flying);
  EXPECT_EQ(rig.scheduled(a), 0);
  EXPECT_EQ(rig.scheduled(d), 16);
  const auto running = rig.sched->running();
  ASSERT_EQ(running.size(), 2u);
  EXPECT_EQ(running[0], a);  // admitted first, it stays the older one (the later victim)
  EXPECT_EQ(running[1], d);
}

TEST(ScheduleAround, InFlightRequestsCountTowardMaxNumSeqs) {
  // max_num_seqs 2: a and b run (b in flight); c may not be admitted beside them.
  SchedRig rig("vllm_v1", 1000, json{{"max_num_batched_tokens", 1000}, {"max_num_seqs", 2}});
  Request* a = rig.add(16, 8);
  Request* b = rig.add(16, 8);
  rig.step();
  Request* c = rig.add(16, 8);
  const std::array<Request*, 1> flying{b};
  rig.sched->schedule_around(rig.now, rig.plan, flying);
  EXPECT_EQ(rig.scheduled(a), 1);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.sched->num_waiting(), 1u);
}

}  // namespace
}  // namespace servesim
