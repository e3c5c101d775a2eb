// The size-aware router (sim/sched/impl/size_routers.cpp), on views built by hand: each
// expected choice is worked out in the comment from the router's contract.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "sim/core/error.h"
#include "sim/sched/i_router.h"

namespace servesim {
namespace {
using nlohmann::json;

std::unique_ptr<IRouter> make(json cfg, std::vector<std::string> pools = {"small", "big"}) {
  cfg["impl"] = "size_aware";
  return RouterRegistry::get().build(cfg, "test", nullptr, RouterDeps{4, 1, std::move(pools)});
}

// Candidates 0, 1 in pool 0 ("small") and 2, 3 in pool 1 ("big"), with these outstanding counts.
std::vector<ReplicaView> cluster(std::vector<std::int64_t> outstanding = {0, 0, 0, 0}, std::vector<std::int32_t> pools = {0, 0, 1, 1}) {
  std::vector<ReplicaView> vs;
  for (std::size_t i = 0; i < pools.size(); ++i) {
    ReplicaView v;
    v.replica = static_cast<std::int32_t>(i);
    v.pool = pools[i];
    v.load = ReplicaLoad{outstanding[i], 0, 0.0};
    vs.push_back(v);
  }
  return vs;
}

Request request(std::int32_t prompt, std::int32_t output) {
  Request r;
  r.spec.prompt_tokens = prompt;
  r.spec.output_tokens = output;
  return r;
}

TEST(SizeAwareRouter, EachBucketGoesToThePoolHoldingItsWholeShare) {
  // prompt edge 1024: bucket 0 = prompts < 1024 -> small only; bucket 1 = >= 1024 -> big only.
  auto r = make({{"prompt_edges", {1024}}, {"shares", {{"small", {1, 0}}, {"big", {0, 1}}}}});
  const auto vs = cluster();
  EXPECT_EQ(r->route(request(1023, 10), vs), 0);  // small pool, least loaded: candidate 0 (tie -> lowest)
  EXPECT_EQ(r->route(request(1024, 10), vs), 2);  // big pool: candidate 2
  EXPECT_EQ(r->route(request(5000, 10), vs), 2);
}

TEST(SizeAwareRouter, OutputEdgesSplitBucketsPromptMajor) {
  // Prompt edge 100, output edge 50: buckets (p<100,o<50)=0, (p<100,o>=50)=1, (p>=100,o<50)=2, (p>=100,o>=50)=3.
  // Only bucket 1 goes to big.
  auto r = make({{"prompt_edges", {100}}, {"output_edges", {50}}, {"shares", {{"small", {1, 0, 1, 1}}, {"big", {0, 1, 0, 0}}}}});
  const auto vs = cluster();
  EXPECT_EQ(r->route(request(10, 49), vs), 0);
  EXPECT_EQ(r->route(request(10, 50), vs), 2);
  EXPECT_EQ(r->route(request(100, 50), vs), 0);
}

TEST(SizeAwareRouter, WithinThePoolTheLeastLoadedCandidateIsChosen) {
  auto r = make({{"shares", {{"small", {1}}, {"big", {0}}}}});  // one bucket, all to small
  EXPECT_EQ(r->route(request(10, 10), cluster({5, 2, 0, 0})), 1);  // small = {0: 5, 1: 2}; big's idle ones are not candidates
}

TEST(SizeAwareRouter, SplitSharesFollowSmoothWeightedRoundRobin) {
  // Weights small 3, big 1 (sum 4). Credits (small, big) after adding the weights, winner, then minus 4:
  //   1: (3, 1) small -> (-1, 1);  2: (2, 2) tie -> big (its name sorts first) -> (2, -2);
  //   3: (5, -1) small -> (1, -1); 4: (4, 0) small -> (0, 0): back to the start.
  // So small, big, small, small, repeating: 3 of every 4 to small.
  auto r = make({{"shares", {{"small", {0.75}}, {"big", {0.25}}}}});
  const auto vs = cluster();
  std::vector<std::int32_t> got;
  for (int i = 0; i < 8; ++i) got.push_back(r->route(request(10, 10), vs));
  EXPECT_EQ(got, (std::vector<std::int32_t>{0, 2, 0, 0, 0, 2, 0, 0}));
}

TEST(SizeAwareRouter, ABucketWhosePoolsHaveNoServingCandidateGoesToTheLeastLoadedOfAll) {
  auto r = make({{"shares", {{"small", {0}}, {"big", {1}}}}});
  // Only the small pool's candidates serve (the big pool's replicas are starting, say): least loaded of all = 1.
  EXPECT_EQ(r->route(request(10, 10), cluster({4, 1}, {0, 0})), 1);
}

TEST(SizeAwareRouter, APoolNotInTheGroupIsAnInputError) {
  try {
    (void)make({{"shares", {{"small", {1}}, {"tiny", {1}}}}});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("got 'tiny', expected a pool this router routes to (small, big)"), std::string::npos) << e.what();
  }
}

TEST(SizeAwareRouter, SharesOfTheWrongLengthAreAnInputError) {
  // Two buckets (one prompt edge) but one weight.
  EXPECT_THROW((void)make({{"prompt_edges", {1024}}, {"shares", {{"small", {1}}}}}), InputError);
}

TEST(SizeAwareRouter, ABucketWithNoPositiveWeightIsAnInputError) {
  EXPECT_THROW((void)make({{"prompt_edges", {1024}}, {"shares", {{"small", {1, 0}}, {"big", {0, 0}}}}}), InputError);
}

TEST(SizeAwareRouter, EdgesNotIncreasingAreAnInputError) {
  EXPECT_THROW((void)make({{"prompt_edges", {1024, 512}}, {"shares", {{"small", {1, 1, 1}}}}}), InputError);
}

}  // namespace
}  // namespace servesim
