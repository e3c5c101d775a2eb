// Continuum's program-aware queue order (vllm_v1 queue_order = "program").
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

// A call of the agent program that arrived at `program_arrival`, itself arriving at `arrival`.
Request* add_call(SchedRig& rig, SimTime arrival, SimTime program_arrival, std::int32_t prompt) {
  Request& r = rig.reqs.emplace_back();
  r.spec.id = static_cast<RequestId>(rig.reqs.size() - 1);
  r.spec.arrival = arrival;
  r.spec.program_arrival = program_arrival;
  r.spec.prompt_tokens = prompt;
  r.spec.output_tokens = 4;
  return rig.sched->add(&r) ? &r : nullptr;
}

TEST(ProgramOrder, AReturningCallGoesAheadOfLaterProgramsCalls) {
  // A 40-token budget. Waiting, in call-arrival order: p (program started at 50, first
  // call at 50, 32 tokens), q (program started at 60, 32 tokens), then r (the second call
  // of a program that started at 10, arriving at 70, 32 tokens). By program arrival the
  // order is r (10), p (50), q (60): r takes 32 tokens, p the 8 left, q nothing.
  SchedRig rig("vllm_v1", 100, json{{"max_num_batched_tokens", 40}, {"queue_order", "program"}});
  Request* p = add_call(rig, 50, 50, 32);
  Request* q = add_call(rig, 60, 60, 32);
  Request* r = add_call(rig, 70, 10, 32);
  rig.sched->schedule(100, rig.plan);
  EXPECT_EQ(rig.scheduled(r), 32);
  EXPECT_EQ(rig.scheduled(p), 8);
  EXPECT_EQ(rig.scheduled(q), 0);
}

TEST(ProgramOrder, ByDefaultTheQueueIsFcfsOverCalls) {
  // The same calls under vLLM's FCFS: p takes 32 tokens, q the 8 left, r nothing.
  SchedRig rig("vllm_v1", 100, json{{"max_num_batched_tokens", 40}});
  Request* p = add_call(rig, 50, 50, 32);
  Request* q = add_call(rig, 60, 60, 32);
  Request* r = add_call(rig, 70, 10, 32);
  rig.sched->schedule(100, rig.plan);
  EXPECT_EQ(rig.scheduled(p), 32);
  EXPECT_EQ(rig.scheduled(q), 8);
  EXPECT_EQ(rig.scheduled(r), 0);
}

TEST(ProgramOrder, ARequestOutsideAProgramIsOrderedByItsOwnArrival) {
  // s (no program, arriving at 30) sits between the program of 10 and the one of 50.
  SchedRig rig("vllm_v1", 100, json{{"max_num_batched_tokens", 40}, {"queue_order", "program"}});
  Request* p = add_call(rig, 50, 50, 32);
  Request* s = add_call(rig, 30, -1, 32);
  Request* r = add_call(rig, 70, 10, 32);
  rig.sched->schedule(100, rig.plan);
  EXPECT_EQ(rig.plan.seqs.size(), 2u);
  EXPECT_EQ(rig.scheduled(r), 32);
  EXPECT_EQ(rig.scheduled(s), 8);
  EXPECT_EQ(rig.scheduled(p), 0);
}

}  // namespace
}  // namespace servesim
