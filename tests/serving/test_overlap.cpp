// Compute/communication overlap (engine.overlap): hand-costed layers and what a step gains.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/serving/catalog.h"
#include "sim/serving/executor.h"
#include "sim/serving/overlap.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

TEST(Overlap, TokenWeaveHidesEachHalfsAllReduceBehindTheOtherHalfsSlowedCompute) {
  // Halves of compute 100 and all-reduce 60 over 10 layers, collectives taking 20 % of the
  // SMs: compute beside them runs 1 / 0.8 = 1.25 x as long. max(125, 60) + max(125, 60) +
  // (100 + 60) / 10 = 266, against 2 x (100 + 60) = 320 in sequence.
  const OverlapConfig c{OverlapMode::kTokenWeave, 0.2, 0};
  EXPECT_EQ(overlapped_layers_ns(c, HalfCost{100, 0, 60}, HalfCost{100, 0, 60}, 10), 266);
  // Communication-bound halves: the all-reduces set the time, max(50, 200) x 2 + (40 + 200) / 10.
  EXPECT_EQ(overlapped_layers_ns(c, HalfCost{40, 0, 200}, HalfCost{40, 0, 200}, 10), 424);
}

TEST(Overlap, NanoFlowIsTheLongestResourcePlusTheContentionShareOfTheRest) {
  // C = 100 + 60, M = 20 + 20, R = 60 + 60 over both nano-batches; contention 0.25:
  // max(160, 40, 120) + 0.25 x (160 + 40 + 120 - 160) = 160 + 40 = 200, against 320 in sequence.
  const OverlapConfig c{OverlapMode::kNanoFlow, 0, 0.25};
  EXPECT_EQ(overlapped_layers_ns(c, HalfCost{100, 20, 60}, HalfCost{60, 20, 60}, 10), 200);
  // Contention 1: nothing hidden, the sum.
  EXPECT_EQ(overlapped_layers_ns(OverlapConfig{OverlapMode::kNanoFlow, 0, 1.0}, HalfCost{100, 20, 60},
                                 HalfCost{60, 20, 60}, 10),
            320);
}

// One step of Llama-3.1-70B over TP 8 (NVLink) priced with engine.overlap as given.
SimTime step_ns(const std::string& overlap, std::int32_t prompts, std::int32_t tokens_each) {
  json s = json::parse(default_scenario_text());
  s["model"] = "Llama-3.1-70B";
  s["topology"] = "hgx_h100_8";
  s["parallel"]["tp"] = 8;
  s["engine"]["overlap"] = overlap;
  const ScenarioConfig c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  const PoolRuntime p = build_pool(c.pools[0], catalog, c.source);
  ExecutorContext ctx = p.exec_context(PlanLinks{450e9, 5e-6, 450e9, 5e-6});
  ctx.overlap = OverlapConfig{overlap == "tokenweave" ? OverlapMode::kTokenWeave : OverlapMode::kNone,
                              c.pools[0].engine.overlap_sm_share, 0};
  Executor exec(ctx);
  std::vector<Request> reqs(static_cast<std::size_t>(prompts));
  StepPlan plan;
  for (Request& r : reqs) {
    r.spec.prompt_tokens = tokens_each;
    r.spec.output_tokens = 10;
    r.state = RequestState::kRunning;
    plan.seqs.push_back(ScheduledSeq{&r, tokens_each, 0});
    plan.num_tokens += tokens_each;
  }
  return exec.cost_step(plan, KvLayout{true, 16});
}

TEST(Overlap, TokenWeaveShortensALargePrefillStepAndNeverLengthensOne) {
  // Two 4096-token prompts: each half's GEMMs are compute-bound, so splitting costs little
  // and the all-reduces hide behind compute. Two 1-token prompts: halves would read every
  // weight twice; the engine keeps the whole batch (the step is unchanged).
  EXPECT_LT(step_ns("tokenweave", 2, 4096), step_ns("none", 2, 4096));
  EXPECT_EQ(step_ns("tokenweave", 2, 1), step_ns("none", 2, 1));
}

}  // namespace
}  // namespace servesim
