// Host offload (engine.kv_offload, engine.expert_offload): hand-worked transfers and steps.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/serving/catalog.h"
#include "sim/serving/executor.h"
#include "sim/serving/host_offload.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "tests/serving/one_decode_step.h"

namespace servesim {
namespace {
using nlohmann::json;
using testing::DecodeAt;
using testing::roofline_pool;

TEST(HostOffload, StreamedLayersAreFirstTransferThenMaxOfComputeAndTransferThenLastCompute) {
  // 10 layers of compute 1000 (100 each). Transfer 150 a layer: 150 + 9 x max(100, 150) + 100
  // = 1600 (the link bounds the step). Transfer 40: 40 + 9 x 100 + 100 = 1040 (compute hides
  // every transfer but the first). No transfer: the compute alone.
  EXPECT_EQ(streamed_layers_ns(1000, 150, 10), 1600);
  EXPECT_EQ(streamed_layers_ns(1000, 40, 10), 1040);
  EXPECT_EQ(streamed_layers_ns(1000, 0, 10), 1000);
  // 1005 over 10 layers: 100 a layer, the last one 105: 40 + 900 + 105.
  EXPECT_EQ(streamed_layers_ns(1005, 40, 10), 1045);
}

TEST(HostOffload, KvBeyondTheDevicePoolIsWrittenOutNewTokensFirstAndTheRestReadBack) {
  // 10 B a token, a 1000 B device pool.
  HostOffload h;
  h.kv_stream = true;
  h.device_kv_bytes = 1000;
  h.kv_bytes_per_token = 10;
  // 80 context + 30 new = 1100 B: 100 B overflow, all of it new tokens -> out 100, in 0.
  KvStreamBytes b = kv_stream_bytes(h, 80, 30);
  EXPECT_DOUBLE_EQ(b.out, 100);
  EXPECT_DOUBLE_EQ(b.in, 0);
  // A decode step at 150 context: 1510 B, overflow 510: its new token out (10), 500 B of
  // context read back.
  b = kv_stream_bytes(h, 150, 1);
  EXPECT_DOUBLE_EQ(b.out, 10);
  EXPECT_DOUBLE_EQ(b.in, 500);
  // Within the pool nothing moves.
  b = kv_stream_bytes(h, 50, 1);
  EXPECT_DOUBLE_EQ(b.in + b.out, 0);
}

TEST(HostOffload, ResidentExpertsAreEachShardsMostPopular) {
  // 8 experts over ep = 2 (0-3, 4-7), one resident a shard: expert 0 (0.4) and expert 4
  // (0.1, tied with 5: the lower index).
  const std::vector<double> p = {0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05};
  EXPECT_EQ(resident_experts(p, 8, 2, 1), (std::vector<char>{1, 0, 0, 0, 1, 0, 0, 0}));
  // No popularity (balanced routing): the first ones.
  EXPECT_EQ(resident_experts({}, 8, 1, 2), (std::vector<char>{1, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(HostOffload, FetchedExpertsAreTheMostActiveNonResidentOnAnyShard) {
  HostOffload h;
  h.experts = true;
  h.device_experts = 8;
  h.resident_experts = 2;
  // Balanced, ep = 1: 4 copies over 4 experts, of which 6/8 not resident: 3 fetched; 20
  // copies: all 8 active, 6 fetched; 2 copies: 1.5, rounded to 2.
  EXPECT_EQ(fetched_experts(h, {}, {}, 1, 4), 3);
  EXPECT_EQ(fetched_experts(h, {}, {}, 1, 20), 6);
  EXPECT_EQ(fetched_experts(h, {}, {}, 1, 2), 2);
  // Drawn: copies on experts 0, 2, 5; resident 0 and 1: experts 2 and 5 fetched.
  const std::vector<std::int64_t> tokens = {3, 0, 1, 0, 0, 2, 0, 0};
  const std::vector<char> resident = {1, 1, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(fetched_experts(h, tokens, resident, 1, 6), 2);
  // ep = 2, resident 0 and 4: shard 0 fetches expert 2, shard 1 expert 5: one each.
  h.device_experts = 4;
  h.resident_experts = 1;
  EXPECT_EQ(fetched_experts(h, tokens, std::vector<char>{1, 0, 0, 0, 1, 0, 0, 0}, 2, 6), 1);
}

TEST(HostOffload, ComputeHidesEveryLayersTransferButTheFirst) {
  // Llama-3.1-8B: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 131072 B a token, 4096 B a
  // token a layer. A decode at context 100 (101 tokens) with a 51-token device pool: 50
  // tokens overflow, the new one written out, 49 read back: 49 x 4096 = 200704 B a layer.
  // Roofline copy: 200704 B / (64 GB/s x 0.8) + 5 us = 3920 + 5000 = 8920 ns (out: 4096 B,
  // 5080 ns, shorter). A decode layer of 8B on an H100 reads ~0.4 GB of weights (> 100 us),
  // so compute hides the other 31 transfers: the step grows by the first one, 8920 ns.
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  ExecutorContext ctx = p.exec_context(PlanLinks{});
  Executor plain(ctx);
  ctx.offload.kv_stream = true;
  ctx.offload.kv_bytes_per_token = 131072;
  ctx.offload.device_kv_bytes = 51 * 131072.0;
  ctx.offload.layers = 32;
  Executor streamed(ctx);
  DecodeAt a(100), b(100);
  const SimTime without = plain.cost_step(a.plan, KvLayout{true, 16});
  const SimTime with = streamed.cost_step(b.plan, KvLayout{true, 16});
  EXPECT_NEAR(static_cast<double>(with - without), 8920.0, 2.0);
  EXPECT_DOUBLE_EQ(streamed.kv_stream_in_bytes(), 49 * 131072.0);
  EXPECT_DOUBLE_EQ(streamed.kv_stream_out_bytes(), 131072.0);
}

TEST(HostOffload, ALongContextDecodeIsBoundByTheHostLink) {
  // Nothing resident, a decode at context 100000: 100000 x 4096 B = 409.6 MB a layer,
  // 409.6e6 / 51.2e9 s + 5 us = 8.005 ms a layer, far above the layer's compute (weights
  // and 409.6 MB of attention reads from HBM: < 0.5 ms). So the step is at least 32
  // transfers (256.16 ms) and at most those plus the step without offload.
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  ExecutorContext ctx = p.exec_context(PlanLinks{});
  Executor plain(ctx);
  ctx.offload.kv_stream = true;
  ctx.offload.kv_bytes_per_token = 131072;
  ctx.offload.device_kv_bytes = 0;
  ctx.offload.layers = 32;
  Executor streamed(ctx);
  DecodeAt a(100000), b(100000);
  const SimTime without = plain.cost_step(a.plan, KvLayout{true, 16});
  const SimTime with = streamed.cost_step(b.plan, KvLayout{true, 16});
  const SimTime transfers = 32 * 8'005'000;
  EXPECT_GE(with, transfers - 32);
  EXPECT_LE(with, without + transfers + 32);
}

TEST(HostOffload, HostAttentionReplacesTheDevicesAttentionOverHostKvAndWritesTheNewTokenOut) {
  // Nothing resident, a decode at context 100000: the host reads 100000 x 131072 B at
  // 400 GB/s = 32.768 ms (all layers) in place of the device's attention over that context
  // (all of it: the step's decode-attention time). The new token's KV goes out a layer
  // ahead: 4096 B / 51.2e9 B/s + 5 us = 5080 ns, exposed once (the layers' work is far
  // longer). So the step changes by 5080 + 32768000 - the device's attention.
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  ExecutorContext ctx = p.exec_context(PlanLinks{});
  Executor plain(ctx);
  ctx.offload.kv_stream = true;
  ctx.offload.host_attention = true;
  ctx.offload.host_bandwidth = 400e9;
  ctx.offload.kv_bytes_per_token = 131072;
  ctx.offload.device_kv_bytes = 0;
  ctx.offload.layers = 32;
  Executor host(ctx);
  DecodeAt a(100000), b(100000);
  const SimTime without = plain.cost_step(a.plan, KvLayout{true, 16});
  const SimTime with = host.cost_step(b.plan, KvLayout{true, 16});
  const SimTime attention = plain.ns_by_class()[static_cast<std::size_t>(OpClass::kAttentionDecode)];
  ASSERT_GT(attention, 0);
  EXPECT_NEAR(static_cast<double>(with - without), 5080.0 + 32768000.0 - static_cast<double>(attention), 4.0);
  EXPECT_DOUBLE_EQ(host.host_attention_bytes(), 100000 * 131072.0);
}

TEST(SwapOverlap, AnOverlappedSwapAddsOnlyTheFirstLayersTransferWhenComputeIsLonger) {
  // Llama-3.1-8B (32 layers) on the H100, roofline. A decode step at context 100 that also
  // swaps 32 x 4,096,000 B out (a preemption) and 32 x 2,048,000 B in (a resumption), each
  // one copy per buffer (coalesced: 64 copies, 2 a layer). Roofline copies run at 64 GB/s x
  // 0.8 = 51.2 GB/s plus 5 us a copy call.
  //  - Before the compute (no overlap): out 131,072,000 / 51.2e9 s = 2,560,000 ns + 64 x
  //    5 us = 2,880,000 ns; in 1,280,000 + 320,000 = 1,600,000 ns: +4,480,000 ns.
  //  - Overlapped: one layer's transfer is the longer direction, out: 4,096,000 / 51.2e9 s
  //    = 80,000 ns + 2 x 5 us = 90,000 ns (in: 40,000 + 10,000). A decode layer of 8B reads
  //    ~0.5 GB of weights (> 100 us), so compute hides every layer's transfer but the first:
  //    x + 31 max(c, x) + c = 32 c + x: +90,000 ns.
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  ExecutorContext ctx = p.exec_context(PlanLinks{});
  Executor plain(ctx), serial(ctx);
  ctx.swap_overlap = true;
  Executor overlapped(ctx);
  DecodeAt a(100), b(100), d(100);
  for (StepPlan* plan : {&b.plan, &d.plan}) {
    plan->kv_work.swap_out_bytes = 32 * 4096000.0;
    plan->kv_work.swap_out_chunks = 64;
    plan->kv_work.swap_in_bytes = 32 * 2048000.0;
    plan->kv_work.swap_in_chunks = 64;
  }
  const SimTime none = plain.cost_step(a.plan, KvLayout{true, 16});
  const SimTime before = serial.cost_step(b.plan, KvLayout{true, 16});
  const SimTime beside = overlapped.cost_step(d.plan, KvLayout{true, 16});
  EXPECT_NEAR(static_cast<double>(before - none), 4480000.0, 4.0);
  EXPECT_NEAR(static_cast<double>(beside - none), 90000.0, 2.0);
  EXPECT_NEAR(overlapped.breakdown().swap_seconds, 90e-6, 2e-9);  // only the exposed part
}

TEST(HostOffload, ActivatedNonResidentExpertsAreCopiedBeforeEachMoeLayer) {
  // Mixtral-8x7B (BF16, 32 MoE layers): one expert of one layer is 3 x 4096 x 14336 x 2 B =
  // 352321536 B. 4 decode tokens x top-2 = 8 copies over 8 experts (balanced), 2 resident: 6
  // fetched a layer, 2113929216 B / 51.2e9 B/s + 6 x 5 us = 41287680 + 30000 ns, x 32 layers
  // = 1322165760 ns added to the step. (balanced routing: all 8 experts active, 6/8 of them
  // not resident.)
  ScenarioConfig c;
  json s = json::parse(default_scenario_text());
  s["model"] = "Mixtral-8x7B-v0.1";
  s["hardware"] = "h200_sxm";
  s["cost"] = {{"impl", "roofline"}};
  s["engine"]["expert_offload"] = "host";
  s["engine"]["resident_experts"] = 2;
  c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  const PoolRuntime p = build_pool(c.pools[0], catalog, c.source);
  EXPECT_DOUBLE_EQ(p.offload.expert_bytes, 352321536.0);
  EXPECT_EQ(p.offload.moe_layers, 32);
  ExecutorContext ctx = p.exec_context(PlanLinks{});
  Executor fetching(ctx);
  ctx.offload = HostOffload{};
  Executor plain(ctx);
  DecodeAt a(100, 4), b(100, 4);  // one sequence of 4 new tokens: 8 copies
  const SimTime without = plain.cost_step(a.plan, KvLayout{true, 16});
  const SimTime with = fetching.cost_step(b.plan, KvLayout{true, 16});
  EXPECT_NEAR(static_cast<double>(with - without), 1322165760.0, 64.0);
  EXPECT_DOUBLE_EQ(fetching.expert_fetch_bytes(), 32 * 6 * 352321536.0);
}

TEST(HostOffload, OffloadedExpertsLeaveHbmForKv) {
  // Mixtral-8x7B on an H100 (80 GB): 93 GB of BF16 weights do not fit; with 2 of 8 experts a
  // layer resident, 6/8 of the routed experts' 32 x 8 x 352321536 B = 67.6 GB move to host.
  json s = json::parse(default_scenario_text());
  s["model"] = "Mixtral-8x7B-v0.1";
  ScenarioConfig c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  EXPECT_THROW(build_pool(c.pools[0], catalog, c.source), InputError);
  s["engine"]["expert_offload"] = "host";
  s["engine"]["resident_experts"] = 2;
  c = parse_scenario(s, "scenario.json");
  const PoolRuntime p = build_pool(c.pools[0], catalog, c.source);
  s["engine"]["expert_offload"] = "none";
  s["hardware"] = "h200_sxm";  // the same plan where everything fits, for the weights before
  c = parse_scenario(s, "scenario.json");
  const PoolRuntime all = build_pool(c.pools[0], catalog, c.source);
  EXPECT_NEAR(all.memory.weight_bytes - p.memory.weight_bytes, 0.75 * 32 * 8 * 352321536.0, 1.0);
}

TEST(HostOffload, EveryTokenBeyondTheDevicePoolIsWrittenOutOnce) {
  // One 100000-token prompt (4 output tokens) of Llama-3.1-8B on an H100 with 30 % of its
  // memory: the device pool holds fewer tokens, so without offload the request is refused,
  // with 16 GiB of host KV it runs. Its KV ends at 100003 tokens (the last sampled token's
  // KV is never computed): (100003 x 131072 B - device pool) leave the device once.
  json s = json::parse(default_scenario_text());
  s["engine"]["gpu_memory_utilization"] = 0.3;
  s["engine"]["max_model_len"] = 100004;
  s["engine"]["kv_offload"] = "stream";
  s["engine"]["kv_offload_capacity"] = "16GiB";
  s["workload"] = {{"impl", "synthetic"}, {"rate", 1.0}, {"num_requests", 1},
                   {"prompt", {{"dist", "fixed"}, {"value", 100000}}}, {"output", {{"dist", "fixed"}, {"value", 4}}}};
  const SimResult r = Simulation(s, SimOptions{}).run();
  const json& pool = r.summary["pools"][0];
  ASSERT_EQ(pool["requests_finished"].get<std::int64_t>(), 1);
  const double device = pool["memory"]["kv_bytes"].get<double>();
  ASSERT_LT(device, 100003 * 131072.0);
  EXPECT_NEAR(pool["host_offload"]["kv"]["streamed_out_bytes"].get<double>(), 100003 * 131072.0 - device, 1.0);
  EXPECT_GT(pool["host_offload"]["kv"]["streamed_in_bytes"].get<double>(), 0.0);
  s["engine"].erase("kv_offload");
  s["engine"].erase("kv_offload_capacity");
  EXPECT_THROW(Simulation(s, SimOptions{}), InputError);  // max_model_len beyond the device pool
}

}  // namespace
}  // namespace servesim
