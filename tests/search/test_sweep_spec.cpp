// Sweep expansion: how many points each axis kind gives, in which order, with which ids.
// Expected counts and orders are derived by hand from the rules in sim/search/sweep_spec.h.
#include <gtest/gtest.h>

#include <set>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/cost/sha256.h"
#include "sim/search/sweep_runner.h"
#include "sim/search/sweep_spec.h"
#include "sim/serving/simulation.h"

namespace servesim::search {
namespace {

const nlohmann::json kBase = nlohmann::json::parse(R"({
  "name": "tiny", "seed": 1, "model": "Llama-3.1-8B", "hardware": "h100_sxm",
  "workload": {"impl": "synthetic", "rate": 20, "num_requests": 60, "duration": 0}
})");

Sweep expand(const nlohmann::json& axes, const std::string& outputs = "") {
  return expand_sweep({{"base", kBase}, {"axes", axes}}, "sweep.json", "", outputs);
}

// The value point `p` gives `key` (null when it leaves it at the base).
nlohmann::json value_of(const SweepPoint& p, const std::string& key) {
  for (const auto& o : p.set) {
    if (o.key == key) return o.value;
  }
  return nullptr;
}

TEST(SweepSpec, Grid_PointCountIsTheProductOfItsLists) {
  // 3 values x 2 values = 6 points.
  const Sweep s = expand(R"([{"grid": {"scheduler.max_num_seqs": [4, 16, 64], "workload.rate": [10, 40]}}])"_json);
  EXPECT_EQ(s.points.size(), 6u);
  EXPECT_EQ(s.keys, (std::vector<std::string>{"scheduler.max_num_seqs", "workload.rate"}));
}

TEST(SweepSpec, Grid_LastKeyInSortedOrderVariesFastest) {
  // Sorted keys: scheduler.max_num_seqs < workload.rate, so the rate varies fastest:
  // (4,10) (4,40) (16,10) (16,40) ...
  const Sweep s = expand(R"([{"grid": {"workload.rate": [10, 40], "scheduler.max_num_seqs": [4, 16]}}])"_json);
  ASSERT_EQ(s.points.size(), 4u);
  EXPECT_EQ(value_of(s.points[1], "scheduler.max_num_seqs"), 4);
  EXPECT_EQ(value_of(s.points[1], "workload.rate"), 40);
  EXPECT_EQ(value_of(s.points[2], "scheduler.max_num_seqs"), 16);
  EXPECT_EQ(value_of(s.points[2], "workload.rate"), 10);
  EXPECT_EQ(s.points[2].config.pools[0].scheduler.resolved["max_num_seqs"], 16);
}

TEST(SweepSpec, Zip_AdvancesItsListsTogether) {
  // Two lists of two: 2 points, (h100, seed 1) and (h200, seed 2), not 4.
  const Sweep s = expand(R"([{"zip": {"hardware": ["h100_sxm", "h200_sxm"], "seed": [1, 2]}}])"_json);
  ASSERT_EQ(s.points.size(), 2u);
  EXPECT_EQ(s.points[0].config.pools[0].hardware, "h100_sxm");
  EXPECT_EQ(s.points[0].config.seed, 1u);
  EXPECT_EQ(s.points[1].config.pools[0].hardware, "h200_sxm");
  EXPECT_EQ(s.points[1].config.seed, 2u);
}

TEST(SweepSpec, Points_EmptyObjectIsTheBaseAsItIs) {
  const Sweep s = expand(R"([{"points": [{}, {"scheduler.max_num_seqs": 8, "kv.block_size": 32}]}])"_json);
  ASSERT_EQ(s.points.size(), 2u);
  EXPECT_EQ(s.points[0].id, point_id(parse_scenario(kBase, "x")));
  EXPECT_EQ(s.points[1].config.pools[0].kv.resolved["block_size"], 32);
  EXPECT_EQ(s.keys, (std::vector<std::string>{"kv.block_size", "scheduler.max_num_seqs"}));
}

TEST(SweepSpec, Axes_CombineAsACartesianProductFirstAxisSlowest) {
  // Axis sizes 3, 2, 2: 12 points. Point 5 in mixed radix (4, 2, 1): 5 = 1*4 + 0*2 + 1*1,
  // so grid value 1 (16), zip value 0 (h100_sxm, seed 1), points value 1 (block size 32).
  const Sweep s = expand(R"([{"grid": {"scheduler.max_num_seqs": [4, 16, 64]}},
                             {"zip": {"hardware": ["h100_sxm", "h200_sxm"], "seed": [1, 2]}},
                             {"points": [{"kv.block_size": 16}, {"kv.block_size": 32}]}])"_json);
  ASSERT_EQ(s.points.size(), 12u);
  const SweepPoint& p = s.points[5];
  EXPECT_EQ(value_of(p, "scheduler.max_num_seqs"), 16);
  EXPECT_EQ(value_of(p, "hardware"), "h100_sxm");
  EXPECT_EQ(value_of(p, "seed"), 1);
  EXPECT_EQ(value_of(p, "kv.block_size"), 32);
  EXPECT_EQ(s.keys, (std::vector<std::string>{"scheduler.max_num_seqs", "hardware", "seed", "kv.block_size"}));
}

TEST(SweepSpec, Random_DrawsNSamplesInsideTheirRanges) {
  const Sweep s = expand(R"([{"random": {"n": 20, "seed": 7, "vars": {
      "engine.gpu_memory_utilization": {"uniform": [0.8, 0.9]}, "scheduler.max_num_seqs": {"int": [8, 12]},
      "workload.rate": {"loguniform": [2, 4]}, "kv.block_size": {"choice": [16, 32]}}}}])"_json);
  ASSERT_EQ(s.points.size(), 20u);
  for (const auto& p : s.points) {
    const double rate = value_of(p, "workload.rate").get<double>();
    EXPECT_TRUE(rate >= 2 && rate <= 4) << rate;
    const auto seqs = value_of(p, "scheduler.max_num_seqs").get<std::int64_t>();
    EXPECT_TRUE(seqs >= 8 && seqs <= 12) << seqs;
    const double util = value_of(p, "engine.gpu_memory_utilization").get<double>();
    EXPECT_TRUE(util >= 0.8 && util <= 0.9) << util;
    const auto block = value_of(p, "kv.block_size").get<std::int64_t>();
    EXPECT_TRUE(block == 16 || block == 32) << block;
  }
}

TEST(SweepSpec, Random_SameSeedSameSamplesOtherSeedOthers) {
  const auto axes = [](int seed) {
    return nlohmann::json::array({{{"random", {{"n", 5}, {"seed", seed}, {"vars", {{"workload.rate", {{"uniform", {1, 10}}}}}}}}}});
  };
  const Sweep a = expand(axes(3)), b = expand(axes(3)), c = expand(axes(4));
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(a.points[i].id, b.points[i].id);
  EXPECT_NE(a.points[0].id, c.points[0].id);
}

TEST(SweepSpec, Random_RealsAreRoundedToSixSignificantDigits) {
  const Sweep s = expand(R"([{"random": {"n": 3, "seed": 1, "vars": {"workload.rate": {"uniform": [1, 2]}}}}])"_json);
  for (const auto& p : s.points) {
    const double v = value_of(p, "workload.rate").get<double>();
    EXPECT_EQ(v, std::stod(fmt::format("{:.6g}", v)));
  }
}

TEST(SweepSpec, Id_IsTheFirst16HexDigitsOfSha256OfTheResolvedScenario) {
  const Sweep s = expand(R"([{"grid": {"scheduler.max_num_seqs": [16]}}])"_json);
  nlohmann::json scenario = kBase;
  apply_override(scenario, "scheduler.max_num_seqs=16");
  const std::string expected = sha256_hex(parse_scenario(scenario, "anything.json").resolved().dump()).substr(0, 16);
  EXPECT_EQ(s.points[0].id, expected);
  EXPECT_EQ(s.points[0].id.size(), 16u);
}

TEST(SweepSpec, Id_SameForAScenarioThatSpellsOutADefault) {
  // vllm_v1's max_num_seqs defaults to 256: writing it changes nothing resolved.
  nlohmann::json spelled = kBase;
  apply_override(spelled, "scheduler.max_num_seqs=256");
  EXPECT_EQ(point_id(parse_scenario(spelled, "a.json")), point_id(parse_scenario(kBase, "b.json")));
}

TEST(SweepSpec, Duplicate_TwoPointsWithOneResolvedScenarioAreAnError) {
  try {
    expand(R"([{"points": [{}, {"scheduler.max_num_seqs": 256}]}])"_json);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("sweep.json point 1"), std::string::npos) << m;
    EXPECT_NE(m.find("point 0"), std::string::npos) << m;
  }
}

TEST(SweepSpec, Values_AnObjectReplacesAWholeComponent) {
  const Sweep s = expand(R"([{"points": [{"kv": {"impl": "vattention"}}, {"kv": {"impl": "paged", "block_size": 32}}]}])"_json);
  EXPECT_EQ(s.points[0].config.pools[0].kv.impl, "vattention");
  EXPECT_EQ(s.points[1].config.pools[0].kv.resolved["block_size"], 32);
}

TEST(SweepSpec, Values_PoolsCanBeSweptWhole) {
  const Sweep s = expand(R"([{"points": [
      {"pools": [{"name": "a", "replicas": 1}]},
      {"pools": [{"name": "a", "replicas": 1}, {"name": "b", "replicas": 2, "hardware": "h200_sxm"}]}]}])"_json);
  EXPECT_EQ(s.points[0].config.pools.size(), 1u);
  ASSERT_EQ(s.points[1].config.pools.size(), 2u);
  EXPECT_EQ(s.points[1].config.pools[1].hardware, "h200_sxm");
}

TEST(SweepSpec, Set_AppliesToTheBaseBeforeTheAxes) {
  const Sweep s = expand_sweep({{"base", kBase}, {"set", {{"scheduler.max_num_seqs", 8}}},
                                {"axes", R"([{"grid": {"kv.block_size": [16, 32]}}])"_json}},
                               "sweep.json", "");
  for (const auto& p : s.points) EXPECT_EQ(p.config.pools[0].scheduler.resolved["max_num_seqs"], 8);
}

TEST(SweepSpec, Hash_CoversThePointsAndTheOutputOptions) {
  const auto axes = R"([{"grid": {"scheduler.max_num_seqs": [4, 16]}}])"_json;
  EXPECT_EQ(expand(axes).hash, expand(axes).hash);
  EXPECT_NE(expand(axes).hash, expand(axes, "requests_csv").hash);
  EXPECT_NE(expand(axes).hash, expand(R"([{"grid": {"scheduler.max_num_seqs": [4, 17]}}])"_json).hash);
}

TEST(SweepSpec, Ids_AreDistinctAcrossTheSweep) {
  const Sweep s = expand(R"([{"grid": {"scheduler.max_num_seqs": [4, 16, 64], "workload.rate": [10, 40]}}])"_json);
  std::set<std::string> ids;
  for (const auto& p : s.points) ids.insert(p.id);
  EXPECT_EQ(ids.size(), s.points.size());
}

TEST(SweepSpec, DocsExamples_ExpandToTheDocumentedPointCounts) {
  // example_sweep.json: grid 2 devices x 3 rates (6) x points 2 x zip 2 = 24 (docs/sweep.md);
  // random_sweep.json: n = 8.
  const std::string dir = std::string(SERVESIM_DATA_DIR) + "/docs/sweep/";
  const Sweep example = load_sweep(dir + "example_sweep.json");
  EXPECT_EQ(example.points.size(), 24u);
  const Sweep random = load_sweep(dir + "random_sweep.json");
  EXPECT_EQ(random.points.size(), 8u);
  Catalog catalog(SERVESIM_DATA_DIR);
  EXPECT_NO_THROW(check_catalog_names(example, catalog));
  EXPECT_NO_THROW(check_catalog_names(random, catalog));
}

}  // namespace
}  // namespace servesim::search
