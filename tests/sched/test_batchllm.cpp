// BatchLLM scheduler rules (sim/sched/impl/batchllm.cpp), paged KV of 16-token blocks;
// prefix ids are in 16-token units. Every request arrives at t = 0 (an offline batch).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "tests/sched/sched_rig.h"

namespace servesim {
namespace {

struct Rig : SchedRig {
  Rig(json cfg, bool prefix_caching = true) : SchedRig("batchllm", 1000, std::move(cfg), 0, prefix_caching) {}
  // Runs steps until nothing is left; returns the requests in the order they first ran.
  std::vector<const Request*> run_order() {
    for (int i = 0; i < 1000 && sched->has_work(); ++i) step();
    std::vector<const Request*> order;
    for (const Request& r : reqs) order.push_back(&r);
    std::stable_sort(order.begin(), order.end(), [](const Request* a, const Request* b) { return a->first_scheduled < b->first_scheduled; });
    return order;
  }
};

// One request at a time (max_num_seqs 1), so the admission order is the run order.
const json kOneAtATime = json{{"max_num_seqs", 1}};

TEST(BatchLlm, RequestsSharingAFirstPrefixIdRunTogether) {
  Rig rig(kOneAtATime);
  // Arrival order a1, b1, a2, b2; equal lengths, so equal decode-to-prefill ratios and the
  // groups go by key: group 1 (a1, a2), then group 2 (b1, b2).
  Request* a1 = rig.add(32, 2, {1, 10});
  Request* b1 = rig.add(32, 2, {2, 20});
  Request* a2 = rig.add(32, 2, {1, 11});
  Request* b2 = rig.add(32, 2, {2, 21});
  EXPECT_EQ(rig.run_order(), (std::vector<const Request*>{a1, a2, b1, b2}));
}

TEST(BatchLlm, WithinAGroupRequestsFollowTheirPrefixIdsLexicographically) {
  Rig rig(kOneAtATime);
  // A depth-first walk of group 1's prefix tree: {1,3,8} < {1,5,6} < {1,5,7}.
  Request* x = rig.add(48, 2, {1, 5, 7});
  Request* y = rig.add(48, 2, {1, 3, 8});
  Request* z = rig.add(48, 2, {1, 5, 6});
  EXPECT_EQ(rig.run_order(), (std::vector<const Request*>{y, z, x}));
}

TEST(BatchLlm, GroupsWithMoreDecodePerPrefillTokenGoFirst) {
  for (const bool long_first : {true, false}) {
    Rig rig(json{{"max_num_seqs", 1}, {"long_decode_first", long_first}});
    // Group 1: 2 x (prompt 100, output 10): ratio 20 / 200 = 0.1. Group 2: prompt 20,
    // output 40: ratio 2. A request without ids (prompt 40, output 40): ratio 1.
    Request* p = rig.add(100, 10, {1, 2});
    Request* q = rig.add(20, 40, {2});
    Request* u = rig.add(40, 40);
    Request* p2 = rig.add(100, 10, {1, 3});
    const auto order = rig.run_order();
    if (long_first) {
      EXPECT_EQ(order, (std::vector<const Request*>{q, u, p, p2}));
    } else {  // groups by their first request's arrival
      EXPECT_EQ(order, (std::vector<const Request*>{p, p2, q, u}));
    }
  }
}

TEST(BatchLlm, ASharedPrefixIsComputedOnceThenReused) {
  Rig rig(json{{"max_num_batched_tokens", 1000}});
  // r1..r3 share ids 1, 2, 3 (48 tokens); each has a 16-token tail of its own. u has no ids
  // (its own group, after group 1: equal ratios, prefix-id groups sort first by key).
  Request* r1 = rig.add(64, 4, {1, 2, 3, 11});
  Request* r2 = rig.add(64, 4, {1, 2, 3, 12});
  Request* r3 = rig.add(64, 4, {1, 2, 3, 13});
  Request* u = rig.add(64, 4);
  rig.step();
  // Step 1: r1 computes the prefix; r2 and r3 are passed over while it does; u starts.
  EXPECT_EQ(rig.scheduled(r1), 64);
  EXPECT_EQ(rig.scheduled(r2), 0);
  EXPECT_EQ(rig.scheduled(r3), 0);
  EXPECT_EQ(rig.scheduled(u), 64);
  rig.step();
  // Step 2: the 3 shared blocks are cached; r2 and r3 compute their 16-token tails only.
  EXPECT_EQ(rig.scheduled(r2), 16);
  EXPECT_EQ(rig.scheduled(r3), 16);
  EXPECT_EQ(r2->cached_prefix_tokens, 48);
  EXPECT_EQ(r3->cached_prefix_tokens, 48);
}

TEST(BatchLlm, VllmV1ComputesTheSharedPrefixOncePerRequestOfTheSameStep) {
  // The contrast of the rule above: vLLM v1 admits all three in step 1, none finds a hit.
  SchedRig rig("vllm_v1", 1000, json{{"max_num_batched_tokens", 1000}}, 0, true);
  Request* r1 = rig.add(64, 4, {1, 2, 3, 11});
  Request* r2 = rig.add(64, 4, {1, 2, 3, 12});
  Request* r3 = rig.add(64, 4, {1, 2, 3, 13});
  rig.step();
  EXPECT_EQ(rig.scheduled(r1) + rig.scheduled(r2) + rig.scheduled(r3), 3 * 64);
  EXPECT_EQ(r2->cached_prefix_tokens + r3->cached_prefix_tokens, 0);
}

TEST(BatchLlm, StepsAreFilledToTheTokenBudget) {
  Rig rig(json{{"max_num_batched_tokens", 100}});
  // Three 64-token prompts without shared ids: 64 + 36 (a chunk of the second) = 100.
  Request* a = rig.add(64, 4);
  Request* b = rig.add(64, 4);
  Request* c = rig.add(64, 4);
  rig.step();
  EXPECT_EQ(rig.scheduled(a), 64);
  EXPECT_EQ(rig.scheduled(b), 36);
  EXPECT_EQ(rig.scheduled(c), 0);
  EXPECT_EQ(rig.plan.num_tokens, 100);
}

}  // namespace
}  // namespace servesim
