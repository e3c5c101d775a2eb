// Static (FasterTransformer) batching rules (sim/sched/impl/static_batch.cpp), paged KV of 16-token blocks.
#include <gtest/gtest.h>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(std::int64_t blocks, json cfg) : SchedRig("static", blocks, std::move(cfg)) {}
};

TEST(StaticBatch, ABatchRunsUntilItsLongestRequestEnds) {
  Rig rig(1000, json{{"max_batch_size", 2}});
  Request* a = rig.add(10, 1);
  Request* b = rig.add(10, 3);
  Request* c = rig.add(10, 1);
  rig.step();  // step 1: a and b prefill, a ends with its only token
  EXPECT_EQ(a->state, RequestState::kFinished);
  rig.step();  // step 2: b's second token; c may not join the batch in flight
  EXPECT_EQ(rig.scheduled(b), 1);
  EXPECT_EQ(rig.scheduled(c), 0);
  rig.step();  // step 3: b's third and last token ends the batch
  EXPECT_EQ(b->state, RequestState::kFinished);
  rig.sched->schedule(rig.now, rig.plan);
  EXPECT_EQ(rig.scheduled(c), 10);  // a new batch
}

TEST(StaticBatch, TheContextStepComputesWholePromptsWithinTheBatchTokens) {
  Rig rig(1000, json{{"max_batch_tokens", 100}});
  Request* a = rig.add(60, 2);
  Request* b = rig.add(50, 2);
  Request* c = rig.add(10, 2);
  rig.sched->schedule(0, rig.plan);
  // 60 + 50 > 100: the batch is a alone, and c behind b does not jump the queue.
  EXPECT_EQ(rig.scheduled(a), 60);
  EXPECT_EQ(rig.scheduled(b), 0);
  EXPECT_EQ(rig.scheduled(c), 0);
}

TEST(StaticBatch, EachRequestReservesItsMaximumLength) {
  // 10 blocks; 20 + 60 = 80 tokens = 5 blocks each: a batch of two fills the cache.
  Rig rig(10, json{{"max_batch_size", 8}});
  rig.add(20, 60);
  rig.add(20, 60);
  Request* c = rig.add(20, 60);
  rig.sched->schedule(0, rig.plan);
  EXPECT_EQ(rig.plan.seqs.size(), 2u);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.kv->usage().used_tokens, 160);
}

TEST(StaticBatch, RejectsAPromptLongerThanTheBatchTokens) {
  Rig rig(1000, json{{"max_batch_tokens", 100}});
  EXPECT_EQ(rig.add(101, 1), nullptr);
  EXPECT_NE(rig.add(100, 1), nullptr);
}

}  // namespace
}  // namespace servesim
