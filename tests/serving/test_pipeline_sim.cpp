// Pipeline parallelism end to end: stage layers, micro-batches in flight, their bubble.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/report/output.h"
#include "sim/serving/catalog.h"
#include "sim/serving/executor.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "tests/serving/one_decode_step.h"

namespace servesim {
namespace {
using nlohmann::json;

json pp_scenario(std::int32_t pp, std::int32_t micro_batches, double rate, std::int64_t requests = 150) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = requests;
  s["workload"]["rate"] = rate;
  s["parallel"]["pp"] = pp;
  s["parallel"]["micro_batches"] = micro_batches;
  return s;
}

const json& pipeline_of(const SimResult& r) { return r.summary["pools"][0]["pipeline"]; }

TEST(PipelineStages, LayersSplitAsVllmWithTheRemainderBeforeTheLastStage) {
  ModelSpec m;
  m.layers = 10;
  auto pp4 = ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"pp", 4}}, "test", nullptr);
  // 10 = 4 x 2 + 2: stages 1 and 2 (before the last, from the second-last back) take one more.
  EXPECT_EQ(pp4->stage_layers(m, 0), 2);
  EXPECT_EQ(pp4->stage_layers(m, 1), 3);
  EXPECT_EQ(pp4->stage_layers(m, 2), 3);
  EXPECT_EQ(pp4->stage_layers(m, 3), 2);
  EXPECT_EQ(pp4->layers_per_stage(m), 3);
  EXPECT_EQ(pp4->degrees().micro_batches, 4);  // 0 (the default): one per stage
}

TEST(PipelineStages, StageTimesPutTheEmbeddingFirstAndTheLmHeadLast) {
  // Llama-3.1-8B (32 layers) over pp = 2, one decode sequence, roofline with the kernel
  // overhead off and a 1 ms CPU step. By the executor's contract: stage 0 = 16 layers'
  // operators + the embedding + the 1 ms exposed CPU; stage 1 = 16 layers + final norm, LM
  // head and sampling; the step = both stages + one hand-off (pp_send).
  json s = json::parse(default_scenario_text());
  s["parallel"]["pp"] = 2;
  s["cost"] = {{"impl", "roofline"}, {"kernel_overhead", "0s"}, {"cpu_step_overhead", "1ms"}, {"cpu_per_seq_overhead", "0s"}};
  const ScenarioConfig c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  const PoolRuntime p = build_pool(c.pools[0], catalog, c.source);
  const PlanLinks links{450e9, 0, 450e9, 0};
  Executor exec(p.exec_context(links));
  const testing::OneDecodeStep d(p, links);
  const SimTime step = exec.cost_step(d.plan, KvLayout{true, 16});
  SimTime layers = 0, first = 0, last = 0, handoff = 0;
  for (const Operator& op : d.ops) {
    const SimTime t = p.cost->predict(op)->ns * op.repeat;
    switch (op.stage) {
      case StagePart::kLayers: layers += t; break;
      case StagePart::kFirst: first += t; break;
      case StagePart::kLast: last += t; break;
      case StagePart::kHandoff: handoff += t; break;
    }
  }
  ASSERT_GT(first, 0);
  ASSERT_GT(last, 0);
  ASSERT_GT(handoff, 0);
  ASSERT_EQ(exec.stage_ns().size(), 2u);
  // 32 layers / 2 = 16 on each stage = layers_per_stage: each stage runs the layer operators once.
  EXPECT_EQ(exec.stage_ns()[0], layers + first + 1'000'000);
  EXPECT_EQ(exec.stage_ns()[1], layers + last);
  EXPECT_EQ(exec.handoff_ns(), handoff);
  EXPECT_EQ(step, exec.stage_ns()[0] + exec.stage_ns()[1] + handoff);
}

TEST(PipelineSim, OneMicroBatchLeavesAtLeastOneMinusOneOverPpIdle) {
  // One micro-batch holds one stage at a time, so held / (pp x busy) <= 1 / pp.
  const SimResult r = Simulation(pp_scenario(2, 1, 20.0), SimOptions{}).run();
  const json& p = pipeline_of(r);
  EXPECT_EQ(p["micro_batches"].get<int>(), 1);
  EXPECT_GE(p["bubble_fraction"].get<double>(), 0.5);
  EXPECT_EQ(r.summary["requests"]["completed"].get<int>(), 150);
}

TEST(PipelineSim, MicroBatchesInFlightFillTheBubbleUnderLoad) {
  // At a rate that keeps the replica busy, a second micro-batch uses stage time the first
  // leaves idle: the bubble shrinks and the same work finishes sooner.
  const SimResult one = Simulation(pp_scenario(2, 1, 40.0), SimOptions{}).run();
  const SimResult two = Simulation(pp_scenario(2, 2, 40.0), SimOptions{}).run();
  EXPECT_LT(pipeline_of(two)["bubble_fraction"].get<double>(), pipeline_of(one)["bubble_fraction"].get<double>());
  EXPECT_LT(two.summary["e2e_s"]["p50"].get<double>(), one.summary["e2e_s"]["p50"].get<double>());
  EXPECT_EQ(two.summary["requests"]["completed"].get<int>(), 150);
}

TEST(PipelineSim, SameSeedGivesByteIdenticalOutputs) {
  const json s = pp_scenario(4, 4, 30.0);
  const SimResult a = Simulation(s, SimOptions{}).run();
  const SimResult b = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(requests_csv(a), requests_csv(b));
  EXPECT_EQ(a.summary.dump(), b.summary.dump());
}

TEST(PipelineSim, FastForwardSwitchIsInvisibleWithStages) {
  // The multi-step advance is off for pp > 1; the switch must change nothing.
  json s = pp_scenario(2, 2, 20.0);
  s["engine"]["fast_forward"] = true;
  const SimResult on = Simulation(s, SimOptions{}).run();
  s["engine"]["fast_forward"] = false;
  const SimResult off = Simulation(s, SimOptions{}).run();
  EXPECT_EQ(requests_csv(on), requests_csv(off));
  EXPECT_EQ(on.summary.dump(), off.summary.dump());
}

}  // namespace
}  // namespace servesim
