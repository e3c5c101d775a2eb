// The cluster side of the scheduler contract (i_scheduler.h), for every scheduler: an
// adopted request (KV resident, prompt done) decodes at the next step, running() lists it,
// detach() removes it, and can_adopt() stops at the running limit.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

class ClusterContract : public ::testing::TestWithParam<const char*> {};

TEST_P(ClusterContract, AnAdoptedRequestDecodesAndDetachRemovesIt) {
  SchedRig rig(GetParam(), 100, json::object());
  Request& r = rig.reqs.emplace_back();
  r.spec.prompt_tokens = 32;
  r.spec.output_tokens = 4;
  KvStepWork work;
  ASSERT_TRUE(rig.kv->allocate(r, 32, work));
  r.num_computed = 32;
  r.sample_token(0);  // the first token came from the prefill replica: 33 known, 32 computed
  rig.sched->adopt(&r);
  ASSERT_EQ(rig.sched->running().size(), 1u);
  EXPECT_EQ(rig.sched->running()[0], &r);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.scheduled(&r), 1);
  rig.sched->update(1000, rig.plan, rig.events);
  EXPECT_EQ(r.num_generated, 2);
  rig.sched->detach(&r);
  EXPECT_EQ(rig.sched->num_running(), 0u);
  EXPECT_FALSE(rig.sched->has_work());
}

TEST_P(ClusterContract, CanAdoptStopsAtTheRunningLimit) {
  // Every scheduler's running limit defaults to at most 1024 requests (hf_cb: 1024, the others 32-256).
  SchedRig rig(GetParam(), 100, json::object());
  EXPECT_TRUE(rig.sched->can_adopt(0));
  EXPECT_FALSE(rig.sched->can_adopt(1024));
}

INSTANTIATE_TEST_SUITE_P(Schedulers, ClusterContract,
                         ::testing::Values("vllm_v1", "hf_cb", "vllm_v0", "sarathi", "nexus", "orca", "static", "trtllm", "sglang",
                                           "priority", "vtc"));

}  // namespace
}  // namespace servesim
