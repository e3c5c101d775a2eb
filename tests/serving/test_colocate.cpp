// Nexus-style intra-GPU co-location (colocate.h, the nexus scheduler): hand-worked operator
// times under an SM share, the bandwidth split, the partition rule, and whole runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/serving/catalog.h"
#include "sim/serving/colocate.h"
#include "sim/serving/executor.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

// A device of 1e12 FLOP/s (fp32, the element-wise dtype) and 1e12 B/s of HBM.
DeviceSpec toy_device() {
  DeviceSpec d;
  d.peak_dense_flops["fp32"] = 1e12;
  d.hbm_bandwidth = 1e12;
  return d;
}

Operator elementwise(double flops, double bytes) {
  Operator op;
  op.cls = OpClass::kElementwise;
  op.flops = flops;
  op.bytes = bytes;
  return op;
}

TEST(Colocate, ComputeBoundOperatorDoublesItsComputePartAtHalfTheSms) {
  // 3e9 FLOPs (3 ms at peak) and 1e9 B (1 ms): f = 3 / (3 + 1) = 0.75. Priced at 4 ms on the
  // whole GPU: compute 3 ms, memory 1 ms. At s = 0.5, alone on the bandwidth (b = 1):
  // 3 / 0.5 + 1 = 7 ms.
  const DeviceSpec dev = toy_device();
  EXPECT_DOUBLE_EQ(compute_fraction(elementwise(3e9, 1e9), dev), 0.75);
  StreamWork w;
  add_operator(w, elementwise(3e9, 1e9), 4e6, dev);
  EXPECT_DOUBLE_EQ(stream_ns(w, 0.5, 1.0), 7e6);
}

TEST(Colocate, MemoryBoundOperatorBarelySlowsAtHalfTheSms) {
  // 1e9 FLOPs (1 ms) and 3e9 B (3 ms): f = 0.25; at 4 ms, compute 1 ms and memory 3 ms.
  // At s = 0.5: 1 / 0.5 + 3 = 5 ms (1.25 x, against 1.75 x for the compute-bound one).
  const DeviceSpec dev = toy_device();
  StreamWork w;
  add_operator(w, elementwise(1e9, 3e9), 4e6, dev);
  EXPECT_DOUBLE_EQ(stream_ns(w, 0.5, 1.0), 5e6);
}

TEST(Colocate, BandwidthIsSharedInProportionToDemandOnlyWhenOversubscribed) {
  // Demands u = M / (C + M): 0.75 + 0.25 = 1 fits, b = 1. Two streams of u = 0.75 ask 1.5
  // of the bandwidth: each gets 0.75 / 1.5 = 0.5 of it, b = 1 / 1.5 of its demand; the
  // memory-bound stream at s = 0.5 takes 1 / 0.5 + 3 x 1.5 = 6.5 ms.
  const StreamWork mem{1e6, 3e6}, comp{3e6, 1e6};
  EXPECT_DOUBLE_EQ(hbm_share(mem, comp), 1.0);
  EXPECT_DOUBLE_EQ(hbm_share(mem, mem), 1.0 / 1.5);
  EXPECT_DOUBLE_EQ(stream_ns(mem, 0.5, hbm_share(mem, mem)), 6.5e6);
}

// Decode C = 1, M = 3 ms (u = 0.75); prefill C = 9, M = 1 ms (u = 0.1): b = 1. On the grid
// 0.1: D(s) = 1/s + 3, P(1-s) = 9/(1-s) + 1. max(D, P): s 0.1 -> 13, 0.2 -> 12.25,
// 0.3 -> 13.9: the balancing share s_B = 0.2.
const StreamWork kDecode{1e6, 3e6}, kPrefill{9e6, 1e6};

TEST(Colocate, DecodeGetsTheSmallestShareThatMeetsTheTpotTarget) {
  // Target 5.6 ms: 1/s + 3 <= 5.6 from s = 0.4 (D = 5.5 ms); max(0.4, 0.2) = 0.4.
  // Prefill on 0.6: 9 / 0.6 + 1 = 16 ms.
  const Partition p = choose_partition(kDecode, kPrefill, 5.6e6, 0.1);
  EXPECT_NEAR(p.decode_share, 0.4, 1e-12);
  EXPECT_EQ(p.decode_ns, 5'500'000);
  EXPECT_EQ(p.prefill_ns, 16'000'000);
  EXPECT_EQ(p.step_ns(), 16'000'000);
}

TEST(Colocate, ALooseTargetLeavesTheShareThatBalancesTheStreams) {
  // Every share meets a 1 s target (s_T = 0.1); the balancing share 0.2 wins:
  // D = 1/0.2 + 3 = 8 ms, P = 9/0.8 + 1 = 12.25 ms.
  const Partition p = choose_partition(kDecode, kPrefill, 1e9, 0.1);
  EXPECT_NEAR(p.decode_share, 0.2, 1e-12);
  EXPECT_EQ(p.decode_ns, 8'000'000);
  EXPECT_EQ(p.prefill_ns, 12'250'000);
}

TEST(Colocate, AnUnreachableTargetGivesDecodeTheLargestShare) {
  const Partition p = choose_partition(kDecode, kPrefill, 1.0, 0.1);
  EXPECT_NEAR(p.decode_share, 0.9, 1e-12);
}

json nexus_scenario(std::int64_t requests, double rate) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = requests;
  s["workload"]["rate"] = rate;
  s["scheduler"] = {{"impl", "nexus"}};
  return s;
}

TEST(Colocate, AMixedStepRunsItsPrefillOnlyOnTheSmsDecodeLeaves) {
  // One decode (context 1000) beside a 512-token chunk: the prefill stream runs on 1 - s < 1
  // of the SMs, so the co-located step outlasts the same chunk alone on the whole GPU.
  const ScenarioConfig c = parse_scenario(nexus_scenario(1, 1.0), "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  const PoolRuntime p = build_pool(c.pools[0], catalog, c.source);
  Request dec, pre;
  dec.spec.prompt_tokens = 1000;
  dec.spec.output_tokens = 10;
  dec.num_computed = 1000;
  dec.num_generated = 1;
  pre.spec.prompt_tokens = 512;
  pre.spec.output_tokens = 10;
  StepPlan alone;
  alone.seqs.push_back(ScheduledSeq{&pre, 512, 0});
  alone.num_tokens = 512;
  StepPlan mixed = alone;
  mixed.seqs.insert(mixed.seqs.begin(), ScheduledSeq{&dec, 1, 1000});
  mixed.num_tokens = 513;
  mixed.colocate_tpot_ns = 50e6;
  mixed.colocate_grid = 0.05;
  Executor a(p.exec_context(PlanLinks{})), m(p.exec_context(PlanLinks{}));
  const SimTime t_alone = a.cost_step(alone, KvLayout{true, 16});
  const SimTime t_mixed = m.cost_step(mixed, KvLayout{true, 16});
  EXPECT_GT(m.last_decode_share(), 0.0);
  EXPECT_LT(m.last_decode_share(), 1.0);
  EXPECT_EQ(m.colocated_steps(), 1);
  EXPECT_GT(t_mixed, t_alone);
}

TEST(Colocate, ALoneRequestIsNeverCoLocatedSoNexusChunksLikeSarathi) {
  // One request: its prompt's chunks run with no decode beside them and its decodes with no
  // prefill, each on the whole GPU; nexus with a 512-token prefill stream then takes the
  // steps of sarathi with a 512-token budget and no tile alignment.
  json n = nexus_scenario(1, 1.0);
  n["workload"]["prompt"] = {{"dist", "fixed"}, {"value", 1500}};
  n["workload"]["output"] = {{"dist", "fixed"}, {"value", 20}};
  json s = n;
  s["scheduler"] = {{"impl", "sarathi"}, {"token_budget", 512}, {"tile_size", 1}};
  const SimResult rn = Simulation(n, SimOptions{}).run();
  const SimResult rs = Simulation(s, SimOptions{}).run();
  ASSERT_EQ(rn.records.size(), 1u);
  EXPECT_EQ(rn.records[0].first_token, rs.records[0].first_token);
  EXPECT_EQ(rn.records[0].last_token, rs.records[0].last_token);
}

TEST(Colocate, TheSummaryCountsCoLocatedStepsAndTheirMeanDecodeShare) {
  // At 20 req/s prompts arrive while others decode: some steps hold both streams, and every
  // decode share is on the grid's interior [0.05, 0.95].
  const SimResult res = Simulation(nexus_scenario(300, 20.0), SimOptions{}).run();
  const json& c = res.summary["pools"][0]["colocation"];
  EXPECT_GT(c["steps"].get<std::int64_t>(), 0);
  EXPECT_GE(c["mean_decode_sm_share"].get<double>(), 0.05);
  EXPECT_LE(c["mean_decode_sm_share"].get<double>(), 0.95);
  EXPECT_FALSE(Simulation(json::parse(default_scenario_text()), SimOptions{}).run().summary["pools"][0].contains("colocation"));
}

TEST(Colocate, EveryRequestCompletesUnderLoad) {
  const SimResult res = Simulation(nexus_scenario(300, 20.0), SimOptions{}).run();
  ASSERT_EQ(res.records.size(), 300u);
  for (const auto& r : res.records) {
    ASSERT_FALSE(r.rejected);
    EXPECT_LT(r.first_scheduled, r.first_token);
    EXPECT_LE(r.first_token, r.last_token);
  }
}

}  // namespace
}  // namespace servesim
