// SGLang scheduler rules (sim/sched/impl/sglang.cpp), paged KV of 16-token blocks.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg, bool prefix_caching = false) : SchedRig("sglang", blocks, std::move(cfg), 0, prefix_caching) {}
};

TEST(Sglang, APrefillStepRunsBeforeDecodes) {
  Rig rig(1000, json::object());
  Request* a = rig.add(20, 5);
  rig.step();
  Request* b = rig.add(30, 5);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(b), 30);
  EXPECT_EQ(rig.scheduled(a), 0);  // decodes wait for the next step
}

TEST(Sglang, LongestPrefixMatchServesTheBestCachedRequestFirst) {
  for (const char* policy : {"lpm", "fcfs"}) {
    Rig rig(1000, json{{"schedule_policy", policy}}, /*prefix_caching=*/true);
    rig.add(48, 2, {1, 2, 3});
    rig.step();  // its 3 full blocks are cached
    rig.step();  // it ends
    Request* x = rig.add(48, 2, {9, 9, 9});
    Request* y = rig.add(64, 2, {1, 2, 3, 4});  // 48 tokens cached
    rig.sched->schedule(rig.now, rig.plan);
    ASSERT_EQ(rig.plan.seqs.size(), 2u);
    EXPECT_EQ(rig.plan.seqs[0].req, std::string(policy) == "lpm" ? y : x) << policy;
    EXPECT_EQ(rig.scheduled(y), 16);  // 64 - 48 cached
  }
}

TEST(Sglang, NewTokenRatioReservesRunningOutputAndDecays) {
  // 10 blocks = 160 tokens; decay in one step from 0.7 to 0.1.
  Rig rig(10, json{{"new_token_ratio_decay_steps", 1}});
  Request* a = rig.add(20, 100);  // 20 + 100 = 120 < 160: admitted
  Request* b = rig.add(20, 60);
  rig.step();  // a's prompt; b: 80 >= 160 - 120 (a's admission) = 40, waits
  EXPECT_EQ(rig.scheduled(b), 0);
  rig.step();
  // Step 2: a holds 2 blocks (32 tokens) and has 99 tokens to go x 0.7 = 69.3:
  // 160 - 32 - 69.3 = 58.7 <= 80, so b waits and the step decodes a (ratio -> 0.1).
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.scheduled(a), 1);
  rig.sched->schedule(rig.now, rig.plan);
  // Step 3: 160 - 32 - 98 x 0.1 = 118.2 > 80: b's prompt runs (a prefill step).
  EXPECT_EQ(rig.scheduled(b), 20);
  EXPECT_EQ(rig.scheduled(a), 0);
}

TEST(Sglang, APromptOverTheChunkSizeContinuesFirstInTheNextStep) {
  Rig rig(1000, json{{"chunked_prefill_size", 64}});
  Request* a = rig.add(100, 2);
  Request* b = rig.add(10, 2);
  rig.step();  // a: 64 (cut: the chunked request); nothing else joins
  EXPECT_EQ(rig.scheduled(a), 64);
  EXPECT_EQ(rig.scheduled(b), 0);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(a), 36);  // the rest of a first
  EXPECT_EQ(rig.scheduled(b), 10);  // then b within the 28 chunk tokens left
}

TEST(Sglang, MaxPrefillTokensBoundsAStepButTheFirstAlwaysJoins) {
  Rig rig(1000, json{{"max_prefill_tokens", 50}, {"chunked_prefill_size", 0}});
  Request* a = rig.add(50, 2);
  Request* b = rig.add(10, 2);
  rig.sched->schedule(0, rig.plan);
  // a's 50 tokens use up the 50 (a first request joins even at the limit); b waits.
  EXPECT_EQ(rig.scheduled(a), 50);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.add(51, 2), nullptr);  // unchunked, a prompt over max_prefill_tokens never runs
}

TEST(Sglang, ADecodeShortOfKvRetractsTheLongestPromptAmongEqualOutputs) {
  // 4 blocks, no output reserved (ratio 0). a (30-token prompt, 2 blocks) prefills in step
  // 1; b (16 + 10 = 26 < 64 - 32 free) prefills alone in step 2 (1 block); steps 3 and 4
  // decode both (b takes the last block). Step 5: a's 33rd token needs a third block;
  // a and b have 3 output tokens each, so the longer prompt, a, is retracted; b decodes.
  Rig rig(4, json{{"init_new_token_ratio", 0.0}, {"min_new_token_ratio", 0.0}});
  Request* a = rig.add(30, 10);
  rig.step();
  Request* b = rig.add(16, 10);
  rig.step();
  EXPECT_EQ(rig.scheduled(b), 16);
  rig.step();
  rig.step();
  ASSERT_EQ(a->num_generated, 3);
  ASSERT_EQ(b->num_generated, 3);
  rig.sched->schedule(rig.now, rig.plan);
  ASSERT_EQ(rig.plan.preempted.size(), 1u);
  EXPECT_EQ(rig.plan.preempted[0], a);
  EXPECT_EQ(a->num_computed, 0);
  EXPECT_EQ(rig.scheduled(b), 1);
  rig.kv->check_invariants();
}

}  // namespace
}  // namespace servesim
