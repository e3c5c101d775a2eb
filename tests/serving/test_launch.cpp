// Kernel launches against CUDA-graph replay (engine.launch, sim/serving/launch.h): hand-worked
// steps on the default scenario's H100 under roofline costs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/serving/executor.h"
#include "sim/serving/launch.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "tests/serving/one_decode_step.h"

namespace servesim {
namespace {
using nlohmann::json;
using testing::DecodeAt;
using testing::OneDecodeStep;
using testing::roofline_pool;

TEST(Launch, TheHostLaunchesWhileTheDeviceRunsSoOnlyALongerLaunchAddsTime) {
  LaunchConfig l;
  l.on = true;
  l.per_kernel_s = 10e-6;
  l.graph_replay_s = 20e-6;
  // Eager: 300 kernels x 10 us = 3 ms against 2 ms of device work: 1 ms exposed; against 5 ms:
  // hidden.
  l.decode_graphs = false;
  EXPECT_DOUBLE_EQ(l.exposed_seconds(300, true, 8, 2e-3), 1e-3);
  EXPECT_DOUBLE_EQ(l.exposed_seconds(300, true, 8, 5e-3), 0.0);
  // Graphs for decode: a decode-only batch of at most graph_max_batch replays one graph (20 us,
  // hidden behind 2 ms); a step with a prompt, or a larger batch, launches eagerly.
  l.decode_graphs = true;
  l.graph_max_batch = 8;
  EXPECT_DOUBLE_EQ(l.exposed_seconds(300, true, 8, 2e-3), 0.0);
  EXPECT_DOUBLE_EQ(l.exposed_seconds(300, true, 8, 10e-6), 10e-6);
  EXPECT_DOUBLE_EQ(l.exposed_seconds(300, false, 8, 2e-3), 1e-3);
  EXPECT_DOUBLE_EQ(l.exposed_seconds(300, true, 9, 2e-3), 1e-3);
  l.on = false;  // absent: not modelled
  EXPECT_DOUBLE_EQ(l.exposed_seconds(300, false, 8, 0), 0.0);
}

TEST(Launch, AnEagerDecodeStepOfAnEightBModelIsLaunchBoundAtOneMillisecondAKernel) {
  // Llama-3.1-8B decode at context 100 on the H100 (roofline). The step launches one kernel per
  // operator instance of its plan: K = the sum of the plan's repeat counts (OneDecodeStep's
  // operators, the same batch). At 1 ms a kernel the launches take K ms, far beyond the device
  // time D of the step without launches (its time T minus the roofline's CPU answer, 1 ms + 10
  // us for one sequence): the step takes T - D + K ms. With graphs (a decode-only batch of one)
  // the 1 ms replay hides behind D (a decode step of 8B reads ~16 GB: D > 4 ms).
  ScenarioConfig c;
  const PoolRuntime p = roofline_pool("Llama-3.1-8B", c);
  ExecutorContext ctx = p.exec_context(PlanLinks{});
  Executor plain(ctx);
  ctx.launch.on = true;
  ctx.launch.per_kernel_s = 1e-3;
  ctx.launch.graph_replay_s = 1e-3;
  ctx.launch.decode_graphs = false;
  Executor eager(ctx);
  ctx.launch.decode_graphs = true;
  Executor graphs(ctx);
  OneDecodeStep one(p, PlanLinks{});
  std::int64_t kernels = 0;
  for (const Operator& op : one.ops) kernels += op.cls == OpClass::kPageMap || op.cls == OpClass::kCpu ? 0 : op.repeat;
  ASSERT_GT(kernels, 32 * 5);  // at least a handful a layer
  DecodeAt a(100), b(100), d(100);
  const SimTime t = plain.cost_step(a.plan, KvLayout{true, 16});
  const SimTime cpu = plain.ns_by_class()[static_cast<std::size_t>(OpClass::kCpu)];
  EXPECT_EQ(cpu, 1'010'000);  // the roofline's 1 ms a step + 10 us a sequence
  const SimTime device = t - cpu;
  ASSERT_GT(device, 4'000'000);
  EXPECT_EQ(eager.cost_step(b.plan, KvLayout{true, 16}), t - device + kernels * 1'000'000);
  EXPECT_EQ(graphs.cost_step(d.plan, KvLayout{true, 16}), t);
}

TEST(Launch, AbsentItIsNotModelledAndNotInTheResolvedConfig) {
  json s = json::parse(default_scenario_text());
  ScenarioConfig off = parse_scenario(s, "scenario.json");
  EXPECT_FALSE(off.pools[0].engine.launch.on);
  EXPECT_FALSE(off.pools[0].engine.resolved.contains("launch"));
  s["engine"]["launch"] = {{"cuda_graphs", "off"}};
  ScenarioConfig on = parse_scenario(s, "scenario.json");
  const LaunchConfig& l = on.pools[0].engine.launch;
  EXPECT_TRUE(l.on);
  EXPECT_FALSE(l.decode_graphs);
  EXPECT_DOUBLE_EQ(l.per_kernel_s, 10e-6);  // the default, docs/engine_host.md
  EXPECT_DOUBLE_EQ(l.graph_replay_s, 10e-6);  // assumed: one launch (docs/engine_host.md)
  EXPECT_EQ(on.pools[0].engine.resolved["launch"]["cuda_graphs"], "off");
  s["engine"]["launch"] = {{"cuda_graphs", "always"}};
  try {
    parse_scenario(s, "scenario.json");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("engine.launch.cuda_graphs"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("always"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace servesim
