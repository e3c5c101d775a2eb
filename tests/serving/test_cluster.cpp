// The cluster of pools: the parsed scenario, the shared catalog, the executor's pricing
// rule, KV transfers (disaggregation) and live migration, each against a value derived by
// hand from the model, device and scenario parameters (written beside the assertion).
//
// Numbers used throughout (read from the data files):
// - Llama-3.1-8B (models/Llama-3.1-8B/config.json): 32 layers, 32 heads, 8 KV heads,
//   hidden 4096 (head_dim 4096 / 32 = 128), intermediate 14336, vocab 128256, bf16.
//   KV per token in bf16: 32 layers x 2 (K and V) x 8 heads x 128 x 2 B = 131072 B.
// - h100_sxm (hardware_profiles/devices/h100_sxm.json): NVLink 450 GB/s per direction,
//   HBM 3.35 TB/s with achievable fraction 0.8.
// - kv_transfer defaults (scenario_config.cpp): network 400 Gb/s = 50e9 B/s, 17 us;
//   NVLink latency 5 us; devices_per_node 8.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/report/output.h"
#include "sim/serving/catalog.h"
#include "sim/serving/executor.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "tests/serving/one_decode_step.h"

namespace servesim {
namespace {
using nlohmann::json;

constexpr double kKvBytesPerToken = 131072;  // Llama-3.1-8B, bf16 (see the header)
constexpr double kNvlink = 450e9;            // h100_sxm intra_node_bandwidth, B/s per direction
constexpr SimTime kNvlinkLatency = 5000;     // kv_transfer.nvlink_latency default, ns
constexpr double kNetwork = 50e9;            // kv_transfer.network_bandwidth default (400 Gb/s)
constexpr SimTime kNetworkLatency = 17000;   // kv_transfer.network_latency default, ns

// The transfer rule of Simulation::reschedule_transfers for one transfer alone on its path
// at `rate`: ceil(bytes / rate in ns) plus the path latency.
SimTime transfer_ns(double bytes, double rate, SimTime latency) {
  return static_cast<SimTime>(std::ceil(bytes / rate * 1e9)) + latency;
}

// Explicit requests (arrival ms, prompt, output) as a Mooncake JSONL trace in a temp file.
std::string write_trace(const std::string& name, const std::vector<std::tuple<int, int, int>>& reqs) {
  // One file per process: ctest runs tests in parallel processes that reuse names.
  const std::string path = ::testing::TempDir() + "/cluster_" + name + "_" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream out(path);
  for (const auto& [ms, prompt, output] : reqs) {
    out << json{{"timestamp", ms}, {"input_length", prompt}, {"output_length", output}}.dump() << "\n";
  }
  return path;
}

json trace_workload(const std::string& path) { return {{"impl", "mooncake_jsonl"}, {"path", path}}; }

json synthetic_workload(std::int64_t n, double rate) {
  return {{"impl", "synthetic"}, {"num_requests", n}, {"rate", rate}};
}

json base(const json& workload) {
  return {{"name", "cluster"}, {"seed", 7}, {"model", "Llama-3.1-8B"}, {"hardware", "h100_sxm"}, {"workload", workload}};
}

json disaggregated(std::int64_t prefill, std::int64_t decode, const json& workload) {
  json s = base(workload);
  s["pools"] = json::array({{{"name", "prefill"}, {"role", "prefill"}, {"replicas", prefill}},
                            {{"name", "decode"}, {"role", "decode"}, {"replicas", decode}}});
  return s;
}

std::string summary_without_events(const SimResult& r) {
  json s = r.summary;
  s.erase("events");
  return s.dump();
}

// The InputError message of parse_scenario(s), or "" when it parses.
std::string parse_error(const json& s) {
  try {
    (void)parse_scenario(s, "scenario.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------------------------------
// 1. ScenarioConfig

TEST(ClusterConfig, OnePoolFormHasTheDocumentedDefaults) {
  const ScenarioConfig c = parse_scenario(base(synthetic_workload(1, 1.0)), "scenario.json");
  ASSERT_EQ(c.pools.size(), 1u);
  const PoolConfig& p = c.pools[0];
  EXPECT_FALSE(c.pools_form);
  EXPECT_EQ(p.name, "default");
  EXPECT_EQ(p.role, PoolRole::kMixed);
  EXPECT_EQ(p.replicas, 1);
  EXPECT_EQ(p.scheduler.impl, "vllm_v1");
  EXPECT_EQ(p.kv.impl, "paged");
  EXPECT_EQ(p.cost.impl, "roofline");
  EXPECT_EQ(c.router.impl, "round_robin");
  EXPECT_EQ(c.disaggregation.decode_router.impl, "least_kv");
  EXPECT_TRUE(c.kv_transfer.layerwise);  // mode "layerwise"
  EXPECT_EQ(c.kv_transfer.resolved["mode"], "layerwise");
  EXPECT_DOUBLE_EQ(c.kv_transfer.network_bandwidth, 50e9);  // 400 Gb/s / 8 bits
  EXPECT_DOUBLE_EQ(c.kv_transfer.network_latency_s, 17e-6);
  EXPECT_DOUBLE_EQ(c.kv_transfer.nvlink_latency_s, 5e-6);
  EXPECT_EQ(c.kv_transfer.devices_per_node, 8);
  EXPECT_FALSE(c.migration.enabled);
  EXPECT_FALSE(c.disaggregated());
}

TEST(ClusterConfig, PoolsInheritTopLevelValuesTheyDoNotSetAndOverrideThoseTheySet) {
  json s = base(synthetic_workload(1, 1.0));
  s["scheduler"] = {{"impl", "vllm_v1"}, {"max_num_seqs", 64}};
  s["pools"] = json::array({{{"name", "a"}},
                            {{"name", "b"},
                             {"model", "Qwen2.5-7B"},
                             {"hardware", "a100_sxm4_80gb"},
                             {"scheduler", {{"impl", "hf_cb"}}}}});
  const ScenarioConfig c = parse_scenario(s, "scenario.json");
  ASSERT_EQ(c.pools.size(), 2u);
  EXPECT_TRUE(c.pools_form);
  // Pool a sets nothing: the top level's model, hardware and scheduler object.
  EXPECT_EQ(c.pools[0].model, "Llama-3.1-8B");
  EXPECT_EQ(c.pools[0].hardware, "h100_sxm");
  EXPECT_EQ(c.pools[0].scheduler.impl, "vllm_v1");
  EXPECT_EQ(c.pools[0].scheduler.resolved["max_num_seqs"], 64);
  // Pool b sets all three: its own (the scheduler object replaces the top-level one whole).
  EXPECT_EQ(c.pools[1].model, "Qwen2.5-7B");
  EXPECT_EQ(c.pools[1].hardware, "a100_sxm4_80gb");
  EXPECT_EQ(c.pools[1].scheduler.impl, "hf_cb");
  EXPECT_FALSE(c.pools[1].scheduler.resolved.contains("max_num_seqs"));
}

TEST(ClusterConfig, BadPoolInputsNameTheField) {
  json unknown = base(synthetic_workload(1, 1.0));
  unknown["pools"] = json::array({{{"name", "a"}, {"replicaz", 2}}});
  std::string e = parse_error(unknown);
  EXPECT_NE(e.find("pools[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("replicaz"), std::string::npos) << e;

  json dup = base(synthetic_workload(1, 1.0));
  dup["pools"] = json::array({{{"name", "a"}}, {{"name", "a"}}});
  e = parse_error(dup);
  EXPECT_NE(e.find("pools[1].name"), std::string::npos) << e;

  json no_decode = base(synthetic_workload(1, 1.0));
  no_decode["pools"] = json::array({{{"name", "p"}, {"role", "prefill"}}});
  e = parse_error(no_decode);
  EXPECT_NE(e.find("pools"), std::string::npos) << e;
  EXPECT_NE(e.find("prefill pool without a decode pool"), std::string::npos) << e;

  json replicas = base(synthetic_workload(1, 1.0));
  replicas["replicas"] = 2;
  replicas["pools"] = json::array({{{"name", "a"}}});
  e = parse_error(replicas);
  EXPECT_NE(e.find("replicas"), std::string::npos) << e;

  json not_array = base(synthetic_workload(1, 1.0));
  not_array["pools"] = {{"name", "a"}};
  e = parse_error(not_array);
  EXPECT_NE(e.find("pools"), std::string::npos) << e;
  EXPECT_NE(e.find("array"), std::string::npos) << e;
}

TEST(ClusterConfig, ParamDocsListEveryLevel) {
  std::vector<std::string> keys;
  for (const ParamDoc& d : scenario_param_docs()) keys.push_back(d.key);
  auto has = [&](const std::string& k) { return std::find(keys.begin(), keys.end(), k) != keys.end(); };
  for (const char* k : {"name", "seed", "model", "hardware", "replicas", "pools", "router", "workload", "kv_transfer",
                        "migration", "pools[].role", "pools[].replicas", "engine.gpu_memory_utilization",
                        "metrics.slo.ttft", "kv_transfer.mode", "migration.enabled", "disaggregation.decode_router"}) {
    EXPECT_TRUE(has(k)) << k;
  }
}

// ---------------------------------------------------------------------------------------
// 2. The scheduler's budgets size the memory plan

TEST(ClusterMemory, HfCbRequestBudgetSizesTheSamplerLogits) {
  json s = base(synthetic_workload(1, 1.0));
  s["scheduler"] = {{"impl", "hf_cb"}};  // max_batch_tokens 8192, max_requests_per_batch 1024 by default
  const ScenarioConfig c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  const PoolRuntime p = build_pool(c.pools[0], catalog, c.source);
  EXPECT_EQ(p.mem.max_num_batched_tokens, 8192);
  EXPECT_EQ(p.mem.max_num_seqs, 1024);
  MemoryConfig m = p.mem;
  m.max_num_seqs = 1024;
  const double with_1024 = activation_peak_bytes(*p.model, *p.plan, m);
  m.max_num_seqs = 256;  // vLLM's default, what a hard-coded budget would have used
  const double with_256 = activation_peak_bytes(*p.model, *p.plan, m);
  EXPECT_DOUBLE_EQ(p.memory.activation_bytes, with_1024);
  EXPECT_NE(p.memory.activation_bytes, with_256);
  // 1024 sequences: sampling dominates, hidden states 8192 x 4096 x 2 B plus the default
  // 3.7 fp32 buffers x 1024 seqs x 128256 vocab x 4 B (docs/planner.md).
  EXPECT_DOUBLE_EQ(with_1024, 8192.0 * 4096.0 * 2.0 + kVllmSamplerBuffers * 1024.0 * 128256.0 * 4.0);
  // 256 sequences: the forward pass at 8192 tokens dominates (2 x 57,344 B a token).
  EXPECT_DOUBLE_EQ(with_256, 8192.0 * 114688.0);
}

// ---------------------------------------------------------------------------------------
// 3. Catalog

TEST(ClusterCatalog, SimulationsSharingACatalogLoadEachItemOnceAndMatchOwnCatalog) {
  const json s = disaggregated(1, 1, synthetic_workload(20, 10.0));
  const ScenarioConfig cfg = parse_scenario(s, "scenario.json");
  auto catalog = std::make_shared<Catalog>(SimOptions{}.data_dir);
  Simulation a(cfg, catalog);
  Simulation b(cfg, catalog);
  // Two pools x two simulations ask for one model, one device and one cost model.
  const Catalog::Loads l = catalog->loads();
  EXPECT_EQ(l.models, 1);
  EXPECT_EQ(l.devices, 1);
  EXPECT_EQ(l.cost_models, 1);
  EXPECT_EQ(l.topologies, 0);
  const SimResult ra = a.run();
  const SimResult rb = b.run();
  const SimResult own = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(requests_csv(ra), requests_csv(own));
  EXPECT_EQ(requests_csv(rb), requests_csv(own));
  EXPECT_EQ(ra.summary.dump(), own.summary.dump());
  EXPECT_EQ(catalog->loads().models, 1);  // running loads nothing more
}

// ---------------------------------------------------------------------------------------
// 4. Executor

TEST(ClusterExecutor, DecodeStepIsItsOperatorsCostsPlusTheCpuStep) {
  // One decode sequence (100-token context, one new token) of Llama-3.1-8B, tp 1, with the
  // roofline's kernel overhead off, 1 ms CPU per step and 10 us per sequence.
  json s = base(synthetic_workload(1, 1.0));
  s["cost"] = {{"impl", "roofline"}, {"kernel_overhead", "0s"}, {"cpu_step_overhead", "1ms"}, {"cpu_per_seq_overhead", "10us"}};
  const ScenarioConfig c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  const PoolRuntime p = build_pool(c.pools[0], catalog, c.source);
  const PlanLinks links{kNvlink, 0, kNvlink, 0};
  Executor exec(p.exec_context(links));

  const testing::OneDecodeStep d(p, links);
  const SimTime step = exec.cost_step(d.plan, KvLayout{true, 16});

  // The rule (executor.h's contract): the plan's operators, each priced by the cost model
  // (x its repeat), summed on the critical path, composed over pp = 1 stage (x1), plus the
  // CPU operator: roofline's 1 ms + 10 us x 1 sequence = 1,010,000 ns.
  SimTime device = 0;
  for (const Operator& op : d.ops) {
    ASSERT_FALSE(op.overlap) << op.name;  // a dense tp 1 plan has no side-stream work
    device += p.cost->predict(op)->ns * op.repeat;
  }
  EXPECT_EQ(step, device + 1'010'000);

  // By hand, the GEMMs of a one-token step are bound by reading their weights once (each
  // kernel's compute time at m = 1 is below its memory time: e.g. o_proj 5.7 us vs 12.5 us):
  // per layer qkv 4096x6144 + o 4096x4096 + gate_up 4096x28672 + down 14336x4096
  // = 4096 x 53248 = 218,103,808 weights, x 32 layers, + lm_head 4096 x 128256, all x 2 B
  // = 15,009,316,864 B, plus activations (m x (k + n) x 2 B: 139,264 B per layer x 32 +
  // 264,704 B for lm_head) = 15,014,038,016 B, at 3.35e12 x 0.8 = 2.68e12 B/s = 5.6023 ms.
  const double gemm_s = exec.breakdown().seconds_by_class[static_cast<std::size_t>(OpClass::kGemm)];
  EXPECT_NEAR(gemm_s, 15'014'038'016.0 / 2.68e12, 1e-4 * 5.6e-3);
}

// ---------------------------------------------------------------------------------------
// 5. KV transfer time

json one_request_1p1d(const std::string& mode) {
  json s = disaggregated(1, 1, trace_workload(write_trace("one", {{0, 1000, 2}})));
  s["kv_transfer"] = {{"mode", mode}};
  return s;
}

TEST(ClusterTransfer, WholeTransferWithinANodeTakesBytesOverNvlinkPlusLatency) {
  const SimResult r = Simulation(one_request_1p1d("whole"), SimOptions{}).run();
  ASSERT_EQ(r.records.size(), 1u);
  const RequestRecord& rec = r.records[0];
  // Prefill replica 0 on device 0, decode replica 1 on device 1: one node of 8, NVLink, 1 lane.
  // 1000 prompt tokens x 131072 B = 131,072,000 B; / 450e9 B/s = 291,271.1 ns -> 291,272 ns;
  // + 5,000 ns latency = 296,272 ns.
  EXPECT_EQ(rec.replica, 0);
  EXPECT_EQ(rec.decode_replica, 1);
  EXPECT_DOUBLE_EQ(rec.kv_transfer_bytes, 1000 * kKvBytesPerToken);
  EXPECT_EQ(rec.kv_transfer_ns, 296'272);
  EXPECT_EQ(rec.kv_transfer_ns, transfer_ns(1000 * kKvBytesPerToken, kNvlink, kNvlinkLatency));
}

TEST(ClusterTransfer, TtftIsThePrefillStepPlusTheTransfer) {
  // The prefill step on the prefill replica is the same step a mixed replica runs for this
  // request alone (same model, device, scheduler, cost model): its first token there marks
  // the prefill's end. Disaggregated, the first token waits for the transfer (296,272 ns).
  const SimResult d = Simulation(one_request_1p1d("whole"), SimOptions{}).run();
  const SimResult m = Simulation(base(trace_workload(write_trace("one_mixed", {{0, 1000, 2}}))), SimOptions{}).run();
  ASSERT_EQ(d.records.size(), 1u);
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_EQ(m.records[0].first_scheduled, 0);
  EXPECT_EQ(d.records[0].first_token, m.records[0].first_token + 296'272);
}

TEST(ClusterTransfer, WholeTransferAcrossNodesUsesTheNetwork) {
  // 131,072,000 B / 50e9 B/s = 2,621,440 ns, + 17,000 ns = 2,638,440 ns; the same with the
  // link forced or with one device per node (replicas on different nodes).
  json forced = one_request_1p1d("whole");
  forced["kv_transfer"]["link"] = "network";
  json split = one_request_1p1d("whole");
  split["kv_transfer"]["devices_per_node"] = 1;
  for (const json& s : {forced, split}) {
    const SimResult r = Simulation(s, SimOptions{}).run();
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].kv_transfer_ns, 2'638'440);
    EXPECT_EQ(r.records[0].kv_transfer_ns, transfer_ns(1000 * kKvBytesPerToken, kNetwork, kNetworkLatency));
  }
}

TEST(ClusterTransfer, TwoTransfersLeavingOneReplicaShareItsBandwidth) {
  // Two equal prompts prefilled in one step leave prefill replica 0 at the same instant for
  // decode replicas 1 and 2 (least_kv: the first placement makes replica 1 fuller). Each
  // gets 450e9 / max(2 leaving, 1 entering) = 225e9 B/s for its whole copy:
  // 131,072,000 / 225e9 = 582,542.2 -> 582,543 ns, + 5,000 = 587,543 ns (twice the time of
  // one transfer alone, 291,272 ns, up to rounding).
  json s = disaggregated(1, 2, trace_workload(write_trace("two", {{0, 1000, 2}, {0, 1000, 2}})));
  s["kv_transfer"] = {{"mode", "whole"}};
  const SimResult r = Simulation(s, SimOptions{}).run();
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_NE(r.records[0].decode_replica, r.records[1].decode_replica);
  for (const RequestRecord& rec : r.records) {
    EXPECT_EQ(rec.replica, 0);
    EXPECT_EQ(rec.kv_transfer_ns, 587'543);
    EXPECT_EQ(rec.kv_transfer_ns, transfer_ns(1000 * kKvBytesPerToken, kNvlink / 2, kNvlinkLatency));
  }
}

TEST(ClusterTransfer, LayerwiseTransferOverlapsAllButTheLastLayer) {
  // Layer-wise: 31 of 32 layers' KV may move during the last prefill step at the path's
  // share (450e9 B/s). That step is longer than 131,072,000 x 31/32 / 450e9 = 0.28 ms (its
  // CPU overhead alone is 1 ms), so only the last layer's 1/32 is left:
  // 4,096,000 B / 450e9 = 9,102.2 -> 9,103 ns, + 5,000 = 14,103 ns.
  const SimResult layer = Simulation(one_request_1p1d("layerwise"), SimOptions{}).run();
  const SimResult whole = Simulation(one_request_1p1d("whole"), SimOptions{}).run();
  EXPECT_EQ(layer.records[0].kv_transfer_ns, 14'103);
  EXPECT_LT(layer.records[0].kv_transfer_ns, whole.records[0].kv_transfer_ns);
  EXPECT_LT(layer.records[0].first_token, whole.records[0].first_token);
}

// ---------------------------------------------------------------------------------------
// 6. Back-pressure

TEST(ClusterTransfer, DecodeReplicaWithoutRoomLeavesTheKvOnThePrefillReplica) {
  // The decode pool holds 64 blocks x 16 = 1024 tokens. Each 600-token prompt needs
  // ceil(600 / 16) = 38 blocks there; two need 76 > 64, so the second waits for the first
  // to finish (620 tokens, 39 blocks) before its KV can be placed.
  json s = disaggregated(1, 1, trace_workload(write_trace("bp", {{0, 600, 20}, {0, 600, 20}})));
  s["pools"][1]["kv"] = {{"impl", "paged"}, {"num_gpu_blocks_override", 64}};
  s["kv_transfer"] = {{"mode", "whole"}};
  s["metrics"] = {{"sample_interval", "1ms"}};
  const SimResult r = Simulation(s, SimOptions{}).run();
  ASSERT_EQ(r.records.size(), 2u);
  const RequestRecord& a = r.records[0];
  const RequestRecord& b = r.records[1];
  ASSERT_FALSE(a.rejected);
  ASSERT_FALSE(b.rejected);
  // Both prompts were prefilled in the first step (they arrived together); it ended at
  // a.first_token - a.kv_transfer_ns.
  const SimTime prefill_end = a.first_token - a.kv_transfer_ns;
  EXPECT_EQ(b.first_token - b.kv_transfer_ns, prefill_end);
  // b's copy starts when a finishes (a's last step frees its blocks) and takes
  // 600 x 131072 = 78,643,200 B / 450e9 = 174,762.7 -> 174,763 ns, + 5,000 ns.
  EXPECT_GT(b.first_token, a.last_token);
  EXPECT_EQ(b.first_token, a.last_token + 179'763);
  EXPECT_EQ(b.first_token - a.last_token, transfer_ns(600 * kKvBytesPerToken, kNvlink, kNvlinkLatency));
  // Meanwhile the prefill replica (0) held b's 600 tokens of KV.
  int held = 0;
  for (const TimeSample& t : r.samples) {
    if (t.replica != 0 || t.time <= a.first_token || t.time >= a.last_token) continue;
    EXPECT_GE(t.kv_used_tokens, 600) << t.time;
    ++held;
  }
  EXPECT_GT(held, 0);
}

// ---------------------------------------------------------------------------------------
// 7. Live migration

json migration_scenario(bool fast_forward) {
  // Round robin: the long request (2000-token prompt) goes to replica 0, the short one to
  // replica 1, which is empty again within a few steps. Each replica holds 256 blocks x 16
  // = 4096 tokens, so at the balancer's look at 400 ms replica 0 is ~50% full and replica 1
  // empty: a difference over 0.2, and the long request moves to replica 1. It ends (70
  // tokens at ~7 ms a step) before the next look at 800 ms, so it does not move back.
  json s = base(trace_workload(write_trace("mig", {{0, 2000, 70}, {0, 10, 2}})));
  s["replicas"] = 2;
  s["kv"] = {{"impl", "paged"}, {"num_gpu_blocks_override", 256}};
  s["migration"] = {{"enabled", true}, {"interval", "400ms"}};
  s["engine"] = {{"fast_forward", fast_forward}};
  return s;
}

TEST(ClusterMigration, ImbalancedPoolMigratesTheRunningRequest) {
  const SimResult r = Simulation(migration_scenario(true), SimOptions{}).run();
  ASSERT_EQ(r.records.size(), 2u);
  const RequestRecord& moved = r.records[0];
  EXPECT_EQ(moved.replica, 0);
  EXPECT_EQ(moved.decode_replica, 1);
  EXPECT_EQ(moved.migrations, 1);
  EXPECT_EQ(r.records[1].migrations, 0);
  const json& m = r.summary["migration"];
  EXPECT_EQ(m["completed"], 1);
  EXPECT_EQ(m["aborted"], 0);
  // Downtime: the stop-the-world copy of the k < stop_tokens (64) tokens the live rounds
  // missed, over NVLink (one node): between the latency alone (k = 0) and
  // 63 x 131072 B / 450e9 B/s = 18,350 ns, + 5,000 ns latency = 23,350 ns.
  const double downtime = m["mean_downtime_s"].get<double>();
  EXPECT_GE(downtime, 5e-6);
  EXPECT_LE(downtime, to_seconds(transfer_ns(63 * kKvBytesPerToken, kNvlink, kNvlinkLatency)));
}

TEST(ClusterMigration, FastForwardDoesNotChangeMigrations) {
  const SimResult on = Simulation(migration_scenario(true), SimOptions{}).run();
  const SimResult off = Simulation(migration_scenario(false), SimOptions{}).run();
  EXPECT_EQ(requests_csv(on), requests_csv(off));
  EXPECT_EQ(on.summary["migration"].dump(), off.summary["migration"].dump());
  // Not the whole summary: the destination's kv.prefix_lookup_tokens counter reads the
  // request's num_tokens() when the first copy round places its KV, and during a merged
  // run that lags by the steps not yet applied (a counter only; no result depends on it).
}

// ---------------------------------------------------------------------------------------
// 8. Bug fixes

TEST(ClusterReplica, RequestsArrivingTogetherAtAnIdleReplicaShareItsFirstStep) {
  std::vector<std::tuple<int, int, int>> reqs(8, {0, 100, 4});
  const SimResult r = Simulation(base(trace_workload(write_trace("eight", reqs))), SimOptions{}).run();
  ASSERT_EQ(r.records.size(), 8u);
  // 8 x 100 prompt tokens fit one step's 8192-token budget and 256 sequences.
  for (const RequestRecord& rec : r.records) {
    EXPECT_EQ(rec.first_scheduled, 0) << rec.id;
    EXPECT_EQ(rec.first_token, r.records[0].first_token) << rec.id;
  }
}

TEST(ClusterReport, SummaryTableShowsTheKvManagersCapacity) {
  json s = base(synthetic_workload(3, 5.0));
  s["kv"] = {{"impl", "paged"}, {"block_size", 16}, {"num_gpu_blocks_override", 1000}};
  const SimResult r = Simulation(s, SimOptions{}).run();
  // 1000 blocks x 16 tokens, not the memory plan's ~400k tokens.
  const std::string table = summary_table(r.summary);
  EXPECT_NE(table.find("KV cache: 16000 tokens capacity"), std::string::npos) << table;
}

// ---------------------------------------------------------------------------------------
// 9, 10. Shortcuts and independence

TEST(ClusterFastForward, DisaggregatedUnderLoadIsByteIdentical) {
  json on = disaggregated(2, 2, synthetic_workload(120, 30.0));
  json off = on;
  off["engine"] = {{"fast_forward", false}};
  const SimResult a = Simulation(on, SimOptions{}).run();
  const SimResult b = Simulation(off, SimOptions{}).run();
  EXPECT_EQ(requests_csv(a), requests_csv(b));
  EXPECT_EQ(summary_without_events(a), summary_without_events(b));
  EXPECT_GT(a.summary["kv_transfer"]["requests"].get<std::int64_t>(), 0);
}

TEST(ClusterFastForward, HeterogeneousMixedPoolsAreByteIdentical) {
  json on = base(synthetic_workload(120, 20.0));
  on["router"] = {{"impl", "least_load"}};
  on["pools"] = json::array({{{"name", "a100"}, {"hardware", "a100_sxm4_80gb"}}, {{"name", "h100"}, {"hardware", "h100_sxm"}}});
  json off = on;
  off["engine"] = {{"fast_forward", false}};
  const SimResult a = Simulation(on, SimOptions{}).run();
  const SimResult b = Simulation(off, SimOptions{}).run();
  EXPECT_EQ(requests_csv(a), requests_csv(b));
  EXPECT_EQ(summary_without_events(a), summary_without_events(b));
  // Both pools served requests.
  EXPECT_GT(a.summary["pools"][0]["requests_entered"].get<std::int64_t>(), 0);
  EXPECT_GT(a.summary["pools"][1]["requests_entered"].get<std::int64_t>(), 0);
}

TEST(ClusterIndependence, TwoDisaggregatedSimulationsInOneProcessMatchEachAlone) {
  const json a_cfg = disaggregated(2, 2, synthetic_workload(60, 20.0));
  json b_cfg = a_cfg;
  b_cfg["seed"] = 99;
  const SimResult a_alone = Simulation(a_cfg, SimOptions{}).run();
  const SimResult b_alone = Simulation(b_cfg, SimOptions{}).run();
  Simulation a(a_cfg, SimOptions{});
  Simulation b(b_cfg, SimOptions{});
  const SimResult b_res = b.run();
  const SimResult a_res = a.run();
  EXPECT_EQ(requests_csv(a_res), requests_csv(a_alone));
  EXPECT_EQ(requests_csv(b_res), requests_csv(b_alone));
  EXPECT_EQ(a_res.summary.dump(), a_alone.summary.dump());
  EXPECT_NE(requests_csv(a_res), requests_csv(b_res));
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(ClusterOverflow, ArrivalsOverflowToTheMixedPoolWhenEveryPrefillQueueIsFull) {
  // Splitwise's mixed pool: 1 prefill, 1 decode, 1 mixed replica (ids 0, 1, 2), overflow at
  // 1 waiting request. Four requests arrive at t = 0; the prefill replica forms its step
  // only after every arrival of that instant (kStepStart), so once the first request waits
  // there, each later one finds every prefill queue at >= 1 and goes to the mixed replica,
  // which serves it whole (no hand-off). The first is prefilled on 0 and decoded on 1.
  json s = base(trace_workload(write_trace("overflow", {{0, 500, 4}, {0, 500, 4}, {0, 500, 4}, {0, 500, 4}})));
  s["pools"] = json::array({{{"name", "prefill"}, {"role", "prefill"}, {"replicas", 1}},
                            {{"name", "decode"}, {"role", "decode"}, {"replicas", 1}},
                            {{"name", "spare"}, {"role", "mixed"}, {"replicas", 1}}});
  s["disaggregation"] = {{"overflow_waiting", 1}};
  const SimResult r = Simulation(s, SimOptions{}).run();
  ASSERT_EQ(r.records.size(), 4u);
  EXPECT_EQ(r.records[0].replica, 0);
  EXPECT_EQ(r.records[0].decode_replica, 1);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(r.records[i].replica, 2) << i;
    EXPECT_EQ(r.records[i].decode_replica, -1) << i;
    EXPECT_EQ(r.records[i].kv_transfer_bytes, 0.0) << i;
  }
  // Without the threshold the mixed pool of a disaggregated cluster receives nothing.
  s["disaggregation"] = {{"overflow_waiting", 0}};
  const SimResult n = Simulation(s, SimOptions{}).run();
  for (const RequestRecord& rec : n.records) EXPECT_EQ(rec.replica, 0);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(ClusterFastForward, SixteenReplicasBehindRoutersThatReadThemAreByteIdentical) {
  // Per-replica horizons: a replica's merged run is brought up to every instant a router reads
  // it (KV use, prefix cache) and cut when a request is routed to it, so the whole output
  // must equal step-by-step execution, for a router reading KV use and one reading caches.
  for (const char* router : {"least_kv", "prefix_aware"}) {
    json s = base(synthetic_workload(3000, 80.0));
    s["replicas"] = 16;
    s["router"] = {{"impl", router}};
    s["metrics"] = {{"sample_interval", "250ms"}};
    const SimResult on = Simulation(s, SimOptions{}).run();
    s["engine"] = {{"fast_forward", false}};
    const SimResult off = Simulation(s, SimOptions{}).run();
    EXPECT_EQ(requests_csv(on), requests_csv(off)) << router;
    EXPECT_EQ(timeseries_csv(on), timeseries_csv(off)) << router;
    EXPECT_EQ(summary_without_events(on), summary_without_events(off)) << router;
    EXPECT_LT(on.events, off.events) << router;
  }
}

}  // namespace
}  // namespace servesim
