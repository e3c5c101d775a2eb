// Global router rules, each checked on views built by hand with the expected choice worked
// out in the comment. Candidates are numbered by their index in the view list.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/sched/i_router.h"

namespace servesim {
namespace {
using nlohmann::json;

std::unique_ptr<IRouter> make(json cfg, std::int32_t n, std::uint64_t seed = 1) {
  return RouterRegistry::get().build(cfg, "test", nullptr, RouterDeps{n, seed, {}});
}

// A candidate with `waiting` + `running` outstanding requests, `kv` of its KV in use, and a
// prefix cache that holds `cached` leading tokens of any request.
ReplicaView view(std::int64_t waiting, std::int64_t running = 0, double kv = 0.0, std::int64_t cached = 0) {
  ReplicaView v;
  v.load = ReplicaLoad{waiting, running, kv};
  v.kv_capacity_tokens = 1 << 20;
  v.kv_free_tokens = v.kv_capacity_tokens;
  if (cached > 0) v.cached_prefix = [cached](const Request&) { return cached; };
  return v;
}

std::vector<ReplicaView> loads(std::initializer_list<std::int64_t> outstanding) {
  std::vector<ReplicaView> vs;
  for (std::int64_t o : outstanding) vs.push_back(view(o));
  return vs;
}

Request request(RequestId id, std::int32_t prompt, std::vector<std::uint64_t> prefix_ids = {},
                std::int32_t prefix_unit = 512, std::int64_t session = -1) {
  Request r;
  r.spec.id = id;
  r.spec.prompt_tokens = prompt;
  r.spec.output_tokens = 16;
  r.spec.prefix_ids = std::move(prefix_ids);
  r.spec.prefix_unit = prefix_unit;
  r.spec.session = session;
  return r;
}

// ---- round_robin, least_load (unchanged) ----

TEST(Router, RoundRobinCyclesThroughCandidatesWhateverTheirLoad) {
  auto router = make({{"impl", "round_robin"}}, 3);
  const auto vs = loads({9, 0, 5});
  const Request r = request(0, 100);
  std::vector<std::int32_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(router->route(r, vs));
  EXPECT_EQ(got, (std::vector<std::int32_t>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(Router, LeastLoadPicksFewestOutstandingTiesToLowestIndex) {
  auto router = make({{"impl", "least_load"}}, 4);
  // Outstanding = waiting + running: 2+1 = 3, 0+2 = 2, 1+1 = 2, 4+0 = 4 -> 1 and 2 tie at 2 -> 1.
  const std::vector<ReplicaView> vs{view(2, 1), view(0, 2), view(1, 1), view(4, 0)};
  EXPECT_EQ(router->route(request(0, 100), vs), 1);
  // All equal -> 0.
  EXPECT_EQ(router->route(request(1, 100), loads({3, 3, 3, 3})), 0);
}

// ---- least_kv ----

TEST(Router, LeastKvPicksLowestKvUsedFraction) {
  auto router = make({{"impl", "least_kv"}}, 4);
  // KV use 0.5, 0.7, 0.3, 0.9: replica 2 has 0.3, the lowest -> 2, though it has the most requests.
  const std::vector<ReplicaView> vs{view(0, 1, 0.5), view(0, 1, 0.7), view(5, 5, 0.3), view(0, 0, 0.9)};
  EXPECT_EQ(router->route(request(0, 100), vs), 2);
}

TEST(Router, LeastKvTiesGoToFewerOutstandingThenLowestIndex) {
  auto router = make({{"impl", "least_kv"}}, 4);
  // 1, 2, 3 tie at 0.2; outstanding 5, 3, 3 -> 2 and 3 tie at 3 -> 2.
  const std::vector<ReplicaView> vs{view(0, 0, 0.4), view(5, 0, 0.2), view(1, 2, 0.2), view(3, 0, 0.2)};
  EXPECT_EQ(router->route(request(0, 100), vs), 2);
}

// ---- power_of_two ----

TEST(Router, PowerOfTwoIsDeterministicForASeed) {
  auto a = make({{"impl", "power_of_two"}}, 8, 7);
  auto b = make({{"impl", "power_of_two"}}, 8, 7);
  auto c = make({{"impl", "power_of_two"}}, 8, 8);
  const auto vs = loads({3, 1, 4, 1, 5, 9, 2, 6});
  const Request r = request(0, 100);
  std::vector<std::int32_t> ga, gb, gc;
  for (int i = 0; i < 200; ++i) {
    ga.push_back(a->route(r, vs));
    gb.push_back(b->route(r, vs));
    gc.push_back(c->route(r, vs));
  }
  EXPECT_EQ(ga, gb);
  EXPECT_NE(ga, gc);  // another seed, another sequence
}

TEST(Router, PowerOfTwoPicksTheLessLoadedOfTheTwoDrawnTiesToTheFirst) {
  // The contract names the stream and the draws: first ~ U{0..n-1}, second ~ U{0..n-2},
  // shifted past first. Replaying them gives the pair; the choice must be its less loaded
  // member, or the first drawn on a tie.
  const std::int32_t n = 5;
  const std::uint64_t seed = 42;
  auto router = make({{"impl", "power_of_two"}}, n, seed);
  Rng mirror = Rng::for_component(seed, "router.power_of_two");
  for (int call = 0; call < 1000; ++call) {
    std::vector<ReplicaView> vs;
    for (std::int32_t i = 0; i < n; ++i) vs.push_back(view((call * 7 + i * 3) % 4));  // many ties
    std::int64_t first = mirror.uniform_int(0, n - 1);
    std::int64_t second = mirror.uniform_int(0, n - 2);
    if (second >= first) ++second;
    const std::int64_t expected =
        vs[static_cast<std::size_t>(second)].outstanding() < vs[static_cast<std::size_t>(first)].outstanding() ? second
                                                                                                                : first;
    ASSERT_EQ(router->route(request(call, 100), vs), expected) << "call " << call;
  }
}

TEST(Router, PowerOfTwoNeverPicksTheMostLoadedAndReachesEveryOther) {
  // Outstanding 2, 0, 4, 1, 3, all different: whichever pair is drawn, candidate 2 (4, the
  // most) loses. Every other candidate wins whenever it is drawn with a more loaded one
  // (chance >= 2/20 per call), so over 1000 calls each of them is chosen.
  auto router = make({{"impl", "power_of_two"}}, 5, 3);
  const auto vs = loads({2, 0, 4, 1, 3});
  std::vector<int> count(5, 0);
  for (int i = 0; i < 1000; ++i) ++count[static_cast<std::size_t>(router->route(request(i, 100), vs))];
  EXPECT_EQ(count[2], 0);
  for (int c : {0, 1, 3, 4}) EXPECT_GT(count[static_cast<std::size_t>(c)], 0) << "candidate " << c;
}

TEST(Router, PowerOfTwoChoosesEveryCandidateOver1000CallsAtEqualLoad) {
  // Equal loads: the first drawn wins, uniform over 5 -> about 200 each.
  auto router = make({{"impl", "power_of_two"}}, 5, 11);
  const auto vs = loads({1, 1, 1, 1, 1});
  std::vector<int> count(5, 0);
  for (int i = 0; i < 1000; ++i) ++count[static_cast<std::size_t>(router->route(request(i, 100), vs))];
  for (int c : count) {
    EXPECT_GT(c, 120);
    EXPECT_LT(c, 280);
  }
}

TEST(Router, PowerOfTwoWithTwoCandidatesAlwaysPicksTheLessLoaded) {
  // Both are always drawn. Outstanding: 1 has fewer -> 1. KV measure: 0 uses less -> 0.
  auto by_count = make({{"impl", "power_of_two"}}, 2, 5);
  auto by_kv = make({{"impl", "power_of_two"}, {"load", "kv"}}, 2, 5);
  const std::vector<ReplicaView> vs{view(5, 0, 0.1), view(0, 0, 0.9)};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(by_count->route(request(i, 100), vs), 1);
    EXPECT_EQ(by_kv->route(request(i, 100), vs), 0);
  }
}

// ---- session_affinity ----

TEST(Router, SessionAffinitySticksToTheFirstCandidateOfASession) {
  auto router = make({{"impl", "session_affinity"}}, 3);
  // Session 5's first request: outstanding 2, 0, 1 -> least-loaded 1; session bound to 1.
  EXPECT_EQ(router->route(request(0, 100, {}, 0, 5), loads({2, 0, 1})), 1);
  // Now 1 is the busiest (0, 4, 0), but session 5 stays on 1.
  EXPECT_EQ(router->route(request(1, 100, {}, 0, 5), loads({0, 4, 0})), 1);
  // A new session 6: least-loaded, 0 and 2 tie at 0 -> 0.
  EXPECT_EQ(router->route(request(2, 100, {}, 0, 6), loads({0, 4, 0})), 0);
  // Without a session: least-loaded -> 2.
  EXPECT_EQ(router->route(request(3, 100), loads({1, 4, 0})), 2);
  // Both sessions keep their candidates.
  EXPECT_EQ(router->route(request(4, 100, {}, 0, 6), loads({9, 0, 0})), 0);
  EXPECT_EQ(router->route(request(5, 100, {}, 0, 5), loads({0, 9, 0})), 1);
}

TEST(Router, SessionAffinityMovesAnOverloadedSessionOnlyWhenAsked) {
  auto sticky = make({{"impl", "session_affinity"}}, 3);
  auto moving = make({{"impl", "session_affinity"}, {"overload_outstanding", 4}}, 3);
  // First request of session 1: outstanding 0, 1, 1 -> 0 for both routers.
  EXPECT_EQ(sticky->route(request(0, 100, {}, 0, 1), loads({0, 1, 1})), 0);
  EXPECT_EQ(moving->route(request(0, 100, {}, 0, 1), loads({0, 1, 1})), 0);
  // Outstanding 4, 1, 2: 0 reaches the limit 4 and 1 has fewer -> the moving router sends it
  // to 1 and rebinds; the default (off) keeps 0.
  EXPECT_EQ(sticky->route(request(1, 100, {}, 0, 1), loads({4, 1, 2})), 0);
  EXPECT_EQ(moving->route(request(1, 100, {}, 0, 1), loads({4, 1, 2})), 1);
  // Outstanding 0, 3, 0: 1 has 3 < 4, not overloaded -> the session stays on 1.
  EXPECT_EQ(moving->route(request(2, 100, {}, 0, 1), loads({0, 3, 0})), 1);
  // Outstanding 5, 5, 5: at the limit but no other has fewer -> stays on 1.
  EXPECT_EQ(moving->route(request(3, 100, {}, 0, 1), loads({5, 5, 5})), 1);
}

// ---- prefix_aware ----
// Defaults (SGLang's library defaults): cache_threshold 0.5, balance_abs_threshold 32,
// balance_rel_threshold 1.1, on_miss smallest_tree. Prefix unit 512 tokens.

TEST(Router, PrefixAwareSharedPrefixFollowsTheFirstRequestUntilImbalanceTrips) {
  auto router = make({{"impl", "prefix_aware"}}, 3);
  // A: 4 blocks (2048 tokens), nothing cached or remembered. Outstanding 3, 1, 2: balanced
  // (3 - 1 = 2 <= 32). Best rate 0 < 0.5 -> smallest tree: all empty, fewest outstanding -> 1.
  EXPECT_EQ(router->route(request(0, 2048, {1, 2, 3, 9}), loads({3, 1, 2})), 1);
  // B shares A's first 3 blocks: 1 remembers them -> hit 3 * 512 = 1536 of 2048 = 0.75 >= 0.5.
  // Outstanding 0, 5, 0: balanced (5 - 0 = 5 <= 32) -> 1, though 0 and 2 are idle.
  EXPECT_EQ(router->route(request(1, 2048, {1, 2, 3, 7}), loads({0, 5, 0})), 1);
  // C shares them too, but outstanding 0, 40, 1: 40 - 0 = 40 > 32 and 40 > 0 * 1.1 ->
  // imbalanced -> shortest queue 0.
  EXPECT_EQ(router->route(request(2, 2048, {1, 2, 3, 8}), loads({0, 40, 1})), 0);
  // Outstanding 0, 32, 1: 32 - 0 = 32, not > 32 -> balanced. C was remembered on 0, so 0 and
  // 1 both match 3 blocks; tie on hit -> fewer outstanding -> 0.
  EXPECT_EQ(router->route(request(3, 2048, {1, 2, 3, 6}), loads({0, 32, 1})), 0);
  // With 0 busier (5, 2, 1) the tie on hit goes to 1 (fewer outstanding than 0); 2 matches nothing.
  EXPECT_EQ(router->route(request(4, 2048, {1, 2, 3, 5}), loads({5, 2, 1})), 1);
}

TEST(Router, PrefixAwareRelativeThresholdGatesTheImbalanceTest) {
  // balance_abs_threshold 2, balance_rel_threshold 3: outstanding 10, 4 -> 10 - 4 = 6 > 2 but
  // 10 > 4 * 3 = 12 fails -> balanced -> the remembered prefix wins (0). With 13, 4: both hold
  // -> imbalanced -> 1.
  auto router = make({{"impl", "prefix_aware"}, {"balance_abs_threshold", 2}, {"balance_rel_threshold", 3.0}}, 2);
  EXPECT_EQ(router->route(request(0, 1024, {1, 2}), loads({0, 0})), 0);  // miss, all empty -> 0
  EXPECT_EQ(router->route(request(1, 1024, {1, 2}), loads({10, 4})), 0);
  EXPECT_EQ(router->route(request(2, 1024, {1, 2}), loads({13, 4})), 1);
}

TEST(Router, PrefixAwareReplicaCacheCountsAsWellAsMemory) {
  auto router = make({{"impl", "prefix_aware"}}, 3);
  // No prefix ids (no memory). Replica 2 caches 1024 of a 2048-token prompt: rate 0.5 >= 0.5 -> 2.
  std::vector<ReplicaView> vs{view(0), view(0), view(1, 0, 0.0, 1024)};
  EXPECT_EQ(router->route(request(0, 2048), vs), 2);
  // 1000 of 2048 = 0.49 < 0.5 -> smallest tree: all empty -> fewest outstanding (1, 0, 0):
  // 1 and 2 tie -> 1.
  vs[2] = view(0, 0, 0.0, 1000);
  vs[0] = view(1);
  EXPECT_EQ(router->route(request(1, 2048), vs), 1);
  // Memory vs cache, the larger wins: A (4 blocks) misses and goes to 0 (empty trees, equal load).
  EXPECT_EQ(router->route(request(2, 2048, {7, 8, 9, 10}), loads({0, 0, 0})), 0);
  // B shares 1 block with A: 0 remembers 512 tokens (0.25); 1 caches 1536 (0.75) -> 1.
  vs = {view(0), view(0, 0, 0.0, 1536), view(0)};
  EXPECT_EQ(router->route(request(3, 2048, {7, 11, 12, 13}), vs), 1);
}

TEST(Router, PrefixAwareMatchIsCappedAtPromptTokens) {
  auto router = make({{"impl", "prefix_aware"}}, 2);
  // R1: prompt 1000 tokens, 2 ids of 512 (the last partial). Miss -> smallest tree -> 0.
  EXPECT_EQ(router->route(request(0, 1000, {5, 6}), loads({0, 0})), 0);
  // R2, same ids: 0 remembers 2 blocks = 1024 tokens, capped at the prompt -> 1000. Replica 1
  // caches the whole prompt, 1000. Equal hits -> fewer outstanding (3 vs 1) -> 1. Without
  // the cap 0 would win with 1024.
  const std::vector<ReplicaView> vs{view(3), view(1, 0, 0.0, 1000)};
  EXPECT_EQ(router->route(request(1, 1000, {5, 6}), vs), 1);
}

TEST(Router, PrefixAwareMissGoesToSmallestTreeOrLeastLoad) {
  auto tree = make({{"impl", "prefix_aware"}}, 2);
  auto load = make({{"impl", "prefix_aware"}, {"on_miss", "least_load"}}, 2);
  // A {1, 2}: both miss, outstanding 0, 1 -> 0 for both (empty trees tie; fewer outstanding).
  EXPECT_EQ(tree->route(request(0, 1024, {1, 2}), loads({0, 1})), 0);
  EXPECT_EQ(load->route(request(0, 1024, {1, 2}), loads({0, 1})), 0);
  // B {3, 4} shares nothing: smallest tree is 1 (0 blocks vs 2); least load is still 0.
  EXPECT_EQ(tree->route(request(1, 1024, {3, 4}), loads({0, 1})), 1);
  EXPECT_EQ(load->route(request(1, 1024, {3, 4}), loads({0, 1})), 0);
}

TEST(Router, PrefixAwareMemoryForgetsLeastRecentlyRoutedBeyondMaxBlocks) {
  // Same sequence on max_blocks 2 and 4, two candidates, 2-block (1024-token) prompts.
  for (const std::int64_t max_blocks : {2, 4}) {
    auto router = make({{"impl", "prefix_aware"}, {"max_blocks", max_blocks}}, 2);
    // A {1, 2} -> 0 (miss, empty trees, outstanding tie).
    EXPECT_EQ(router->route(request(0, 1024, {1, 2}), loads({0, 0})), 0);
    // C {5, 6} forced to 0 by imbalance (0, 40): 0 now remembers {5, 6} and, with room for
    // 4, {1, 2}; with room for 2, A's blocks were dropped.
    EXPECT_EQ(router->route(request(1, 1024, {5, 6}), loads({0, 40})), 0);
    // A again at outstanding 1, 0: remembered -> rate 1 -> 0; forgotten -> miss -> smallest
    // tree: 0 holds 2 blocks, 1 holds 0 -> 1.
    EXPECT_EQ(router->route(request(2, 1024, {1, 2}), loads({1, 0})), max_blocks == 2 ? 1 : 0);
  }
}

TEST(Router, PrefixAwareMemoryDropsAPathsTailBeforeItsRoot) {
  // max_blocks 2, a 3-block request {1, 2, 3} -> 0: blocks are recorded deepest first, so
  // the third is the oldest and is dropped; 0 keeps {1, 2}.
  auto router = make({{"impl", "prefix_aware"}, {"max_blocks", 2}}, 2);
  EXPECT_EQ(router->route(request(0, 1536, {1, 2, 3}), loads({0, 0})), 0);
  // Same request at outstanding 1, 0: 0 matches 2 leading blocks = 1024 of 1536 = 0.67 >= 0.5
  // -> 0. (Had the root been dropped, nothing would match and the smallest tree, 1, would win.)
  EXPECT_EQ(router->route(request(1, 1536, {1, 2, 3}), loads({1, 0})), 0);
}

TEST(Router, PrefixAwareMemoryStaysExactOverManyTouches) {
  // max_blocks 4. Each round forces (by imbalance, outstanding 0, 40) the hot path {1, 2}
  // and then a fresh path {1000 + i, 5000 + i} onto 0. The fresh path's two blocks push out
  // the previous fresh path (older than the hot path's re-touch), so after any round 0
  // remembers exactly {1, 2} and the last fresh path. 3000 rounds re-touch the hot path
  // often enough to exercise the eviction order's compaction many times.
  auto router = make({{"impl", "prefix_aware"}, {"max_blocks", 4}}, 2);
  RequestId id = 0;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    ASSERT_EQ(router->route(request(id++, 1024, {1, 2}), loads({0, 40})), 0);
    ASSERT_EQ(router->route(request(id++, 1024, {1000 + i, 5000 + i}), loads({0, 40})), 0);
  }
  // At outstanding 1, 0 a remembered path stays on 0 (rate 1); a forgotten one misses and
  // goes to the smallest tree, 1 (0 blocks vs 4).
  EXPECT_EQ(router->route(request(id++, 1024, {1, 2}), loads({1, 0})), 0);
  EXPECT_EQ(router->route(request(id++, 1024, {1000 + 2999, 5000 + 2999}), loads({1, 0})), 0);
  EXPECT_EQ(router->route(request(id++, 1024, {1000 + 2998, 5000 + 2998}), loads({1, 0})), 1);
}

TEST(Router, PrefixAwareWeightedModeSumsPrefixQueueAndKvScores) {
  auto router = make({{"impl", "prefix_aware"}, {"mode", "weighted"}}, 3);
  // Prompt 2048. Cached: 1024, 0, 2048 -> rate 0.5, 0, 1.
  // Outstanding 4, 0, 8 -> queue (8 - o) / 8: 0.5, 1, 0. KV use 0.5, 0.2, 0.6 -> 0.5, 0.8, 0.4.
  // Weights 3, 2, 2: 0 -> 1.5 + 1 + 1 = 3.5; 1 -> 0 + 2 + 1.6 = 3.6; 2 -> 3 + 0 + 0.8 = 3.8 -> 2.
  const std::vector<ReplicaView> vs{view(4, 0, 0.5, 1024), view(0, 0, 0.2), view(8, 0, 0.6, 2048)};
  EXPECT_EQ(router->route(request(0, 2048), vs), 2);
  // prefix_weight 1: 0 -> 0.5 + 1 + 1 = 2.5; 1 -> 3.6; 2 -> 1 + 0 + 0.8 = 1.8 -> 1.
  auto light = make({{"impl", "prefix_aware"}, {"mode", "weighted"}, {"prefix_weight", 1.0}}, 3);
  EXPECT_EQ(light->route(request(0, 2048), vs), 1);
  // All equal: queue 1 for all (max == min), equal scores -> lowest index 0.
  EXPECT_EQ(router->route(request(1, 2048), loads({2, 2, 2})), 0);
}

TEST(Router, PrefixAwareWeightedModeUsesItsMemory) {
  auto router = make({{"impl", "prefix_aware"}, {"mode", "weighted"}}, 2);
  // A {1, 2, 3, 4} at equal load -> equal scores -> 0; 0 remembers 4 blocks.
  EXPECT_EQ(router->route(request(0, 2048, {1, 2, 3, 4}), loads({0, 0})), 0);
  // B shares 3 blocks, outstanding 1, 0: 0 -> 3 * 0.75 + 2 * 0 + 2 * 1 = 4.25;
  // 1 -> 0 + 2 * 1 + 2 * 1 = 4 -> 0.
  EXPECT_EQ(router->route(request(1, 2048, {1, 2, 3, 9}), loads({1, 0})), 0);
}

// ---- parameters ----

TEST(Router, UnknownParameterKeysAreRejected) {
  EXPECT_THROW(make({{"impl", "least_load"}, {"bogus", 1}}, 2), InputError);
  EXPECT_THROW(make({{"impl", "least_kv"}, {"bogus", 1}}, 2), InputError);
  EXPECT_THROW(make({{"impl", "power_of_two"}, {"bogus", 1}}, 2), InputError);
  EXPECT_THROW(make({{"impl", "session_affinity"}, {"bogus", 1}}, 2), InputError);
  EXPECT_THROW(make({{"impl", "prefix_aware"}, {"bogus", 1}}, 2), InputError);
  // A key of the other prefix_aware mode is not silently ignored.
  EXPECT_THROW(make({{"impl", "prefix_aware"}, {"prefix_weight", 1.0}}, 2), InputError);
  EXPECT_THROW(make({{"impl", "prefix_aware"}, {"mode", "weighted"}, {"cache_threshold", 0.3}}, 2), InputError);
  // Values out of their domain.
  EXPECT_THROW(make({{"impl", "power_of_two"}, {"load", "tokens"}}, 2), InputError);
  EXPECT_THROW(make({{"impl", "prefix_aware"}, {"cache_threshold", 1.5}}, 2), InputError);
  EXPECT_THROW(make({{"impl", "nonexistent_router"}}, 2), InputError);
}

TEST(Router, ResolvedConfigNamesEveryDefault) {
  json resolved;
  (void)RouterRegistry::get().build({{"impl", "prefix_aware"}}, "test", &resolved, RouterDeps{2, 0, {}});
  EXPECT_EQ(resolved["mode"], "cache_aware");
  EXPECT_EQ(resolved["cache_threshold"], 0.5);
  EXPECT_EQ(resolved["balance_abs_threshold"], 32);
  EXPECT_EQ(resolved["balance_rel_threshold"], 1.1);
  EXPECT_EQ(resolved["on_miss"], "smallest_tree");
  EXPECT_EQ(resolved["max_blocks"], 0);
  EXPECT_FALSE(resolved.contains("prefix_weight"));
  (void)RouterRegistry::get().build({{"impl", "power_of_two"}}, "test", &resolved, RouterDeps{2, 0, {}});
  EXPECT_EQ(resolved["load"], "outstanding");
}

}  // namespace
}  // namespace servesim
