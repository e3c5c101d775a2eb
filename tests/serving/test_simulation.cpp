// Whole simulations: independence, determinism, and step costs against first principles.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/report/output.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

json small_scenario(std::int64_t requests = 200, double rate = 8.0) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = requests;
  s["workload"]["rate"] = rate;
  return s;
}

TEST(Simulation, TwoSimulationsInOneProcessMatchEachAlone) {
  const json a_cfg = small_scenario();
  json b_cfg = small_scenario();
  b_cfg["seed"] = 99;
  b_cfg["scheduler"]["max_num_seqs"] = 8;
  // Alone.
  SimResult a_alone = Simulation(a_cfg, SimOptions{}).run();
  SimResult b_alone = Simulation(b_cfg, SimOptions{}).run();
  // Interleaved construction: both alive at once in one process.
  Simulation a(a_cfg, SimOptions{});
  Simulation b(b_cfg, SimOptions{});
  SimResult b_res = b.run();
  SimResult a_res = a.run();
  EXPECT_EQ(requests_csv(a_res), requests_csv(a_alone));
  EXPECT_EQ(requests_csv(b_res), requests_csv(b_alone));
  EXPECT_EQ(a_res.summary.dump(), a_alone.summary.dump());
  EXPECT_NE(requests_csv(a_res), requests_csv(b_res));
}

TEST(Simulation, SameScenarioAndSeedGiveByteIdenticalOutputs) {
  SimResult x = Simulation(small_scenario(), SimOptions{}).run();
  SimResult y = Simulation(small_scenario(), SimOptions{}).run();
  EXPECT_EQ(x.summary.dump(), y.summary.dump());
  EXPECT_EQ(requests_csv(x), requests_csv(y));
  EXPECT_EQ(timeseries_csv(x), timeseries_csv(y));
  EXPECT_EQ(x.resolved_config.dump(), y.resolved_config.dump());
}

TEST(Simulation, ResolvedConfigHoldsEveryDefault) {
  Simulation sim(small_scenario(), SimOptions{});
  const json& r = sim.resolved_config();
  const json& pool = r["pools"][0];  // the top-level form is the one-pool cluster
  EXPECT_EQ(pool["name"], "default");
  EXPECT_EQ(pool["role"], "mixed");
  EXPECT_EQ(pool["scheduler"]["impl"], "vllm_v1");
  EXPECT_EQ(pool["kv"]["block_size"], 16);
  EXPECT_EQ(pool["cost"]["impl"], "calibrated");
  EXPECT_TRUE(pool["cost"]["fallback"].contains("kernel_overhead"));  // a default the scenario did not set
  EXPECT_EQ(pool["engine"]["gpu_memory_utilization"], 0.9);
  EXPECT_EQ(r["workload"]["num_requests"], 200);
  EXPECT_EQ(r["router"]["impl"], "round_robin");
  EXPECT_TRUE(r["metrics"]["slo"].contains("e2e"));  // a default the scenario did not set
  EXPECT_EQ(r["kv_transfer"]["mode"], "layerwise");
  EXPECT_EQ(r["migration"]["enabled"], false);
}

TEST(Simulation, EveryRequestCompletesWithConsistentTimes) {
  SimResult res = Simulation(small_scenario(300, 20.0), SimOptions{}).run();
  ASSERT_EQ(res.records.size(), 300u);
  for (const auto& r : res.records) {
    ASSERT_FALSE(r.rejected);
    EXPECT_LE(r.arrival, r.first_scheduled);
    EXPECT_LT(r.first_scheduled, r.first_token);
    EXPECT_LE(r.first_token, r.last_token);
    if (r.output_tokens > 1) EXPECT_LT(r.first_token, r.last_token);
  }
}

TEST(Simulation, DecodeStepIsBoundByReadingTheWeights) {
  // One request with a 1-token prompt: every decode step reads all of Llama-3.1-8B's
  // weights once. With bf16 weights (8.03e9 params * 2 B = 16.06 GB) at the H100's
  // 3.35 TB/s times the achievable fraction, a step cannot be faster than
  // 16.06e9 / 3.35e12 = 4.8 ms, and the roofline adds kernel overheads and CPU time on top.
  json s = small_scenario(1);
  s["workload"]["prompt"] = {{"dist", "fixed"}, {"value", 1}};
  s["workload"]["output"] = {{"dist", "fixed"}, {"value", 101}};
  SimResult res = Simulation(s, SimOptions{}).run();
  ASSERT_EQ(res.records.size(), 1u);
  const double tpot = res.records[0].tpot_ns() * 1e-9;
  EXPECT_GT(tpot, 4.8e-3);
  EXPECT_LT(tpot, 4.8e-3 * 2.0);
}

TEST(Simulation, HigherLoadRaisesLatency) {
  SimResult light = Simulation(small_scenario(400, 2.0), SimOptions{}).run();
  SimResult heavy = Simulation(small_scenario(400, 40.0), SimOptions{}).run();
  EXPECT_GT(heavy.summary["tpot_s"]["mean"].get<double>(), light.summary["tpot_s"]["mean"].get<double>());
  EXPECT_GT(heavy.summary["steps"]["mean_batch_seqs"].get<double>(), light.summary["steps"]["mean_batch_seqs"].get<double>());
}

TEST(Simulation, PrefixCachingServesSharedMooncakePrefixes) {
  // Two requests share hash_ids [0, 1] = 1024 tokens; the second arrives after the first
  // finished, so with caching on its first 1024 tokens are served from cache.
  json s = small_scenario();
  s["workload"] = {{"impl", "mooncake_jsonl"}, {"path", std::string(SERVESIM_TEST_DATA) + "/shared_prefix.jsonl"}};
  SimResult on = Simulation(s, SimOptions{}).run();
  ASSERT_EQ(on.records.size(), 2u);
  EXPECT_EQ(on.records[0].cached_prefix_tokens, 0);
  EXPECT_EQ(on.records[1].cached_prefix_tokens, 1024);
  s["kv"]["enable_prefix_caching"] = false;
  SimResult off = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(off.records[1].cached_prefix_tokens, 0);
  EXPECT_LT(on.records[1].ttft(), off.records[1].ttft());
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// The multi-step advance must be invisible in the results: the same scenario with and
// without it gives byte-identical requests, time series and summary (but the event count).
void expect_fast_forward_invisible(nlohmann::json s) {
  s["engine"]["fast_forward"] = true;
  SimResult on = Simulation(s, SimOptions{}).run();
  s["engine"]["fast_forward"] = false;
  SimResult off = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(requests_csv(on), requests_csv(off));
  EXPECT_EQ(timeseries_csv(on), timeseries_csv(off));
  EXPECT_LT(on.events, off.events);
  on.summary.erase("events");
  off.summary.erase("events");
  EXPECT_EQ(on.summary.dump(), off.summary.dump());
}

TEST(FastForward, InvisibleOnTheDefaultScenario) { expect_fast_forward_invisible(small_scenario(300, 5.5)); }

TEST(FastForward, InvisibleUnderPreemptionAndTightMemory) {
  nlohmann::json s = small_scenario(300, 30.0);
  s["kv"]["num_gpu_blocks_override"] = 600;  // 9,600 tokens: requests get preempted
  SimResult probe = Simulation(s, SimOptions{}).run();
  ASSERT_GT(probe.summary["requests"]["preemptions"].get<int>(), 0);
  expect_fast_forward_invisible(s);
}

TEST(FastForward, InvisibleWhileRequestsWaitForSwappedOutMemory) {
  // vLLM v1 merges pure decode steps while the waiting head cannot fit; with swap
  // preemption the head may be a swapped-out request that resumes with its KV.
  nlohmann::json s = small_scenario(300, 30.0);
  s["kv"]["num_gpu_blocks_override"] = 600;
  s["scheduler"]["preemption_mode"] = "swap";
  SimResult probe = Simulation(s, SimOptions{}).run();
  ASSERT_GT(probe.summary["kv"][0]["preemptions_swap"].get<int>(), 0);
  expect_fast_forward_invisible(s);
}

TEST(FastForward, InvisibleUnderRotatingPrioritiesAndOverlappedReusedSwaps) {
  // FastSwitch's mechanisms together: priorities rotating among 3 clients every 2 s drive
  // the priority scheduler's preemptions, by coalesced swaps overlapped with compute and
  // reusing host copies.
  nlohmann::json s = small_scenario(300, 30.0);
  s["kv"]["num_gpu_blocks_override"] = 600;
  s["kv"]["swap_copy"] = "coalesced";
  s["kv"]["swap_reuse"] = true;
  s["scheduler"] = {{"impl", "priority"}, {"preemption_mode", "swap"}};
  s["engine"]["swap_overlap"] = true;
  s["workload"]["clients"] = nlohmann::json::array({{{"priority", 0}}, {{"priority", 1}}, {{"priority", 2}}});
  s["workload"]["priority_rotation"] = "2s";
  SimResult probe = Simulation(s, SimOptions{}).run();
  ASSERT_GT(probe.summary["kv"][0]["preemptions_swap"].get<int>(), 0);
  expect_fast_forward_invisible(s);
}

TEST(FastForward, InvisibleWithSeveralReplicasAndPrefixSharing) {
  nlohmann::json s = small_scenario(300, 12.0);
  s["replicas"] = 3;
  s["router"] = {{"impl", "least_load"}};
  s["workload"]["prefix_groups"] = 4;
  s["workload"]["shared_prefix_tokens"] = 512;
  expect_fast_forward_invisible(s);
}

}  // namespace
}  // namespace servesim
