// Pipeline micro-batches through stages (PipelineTimeline), worked by hand.
#include <array>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/serving/pipeline.h"

namespace servesim {
namespace {

TEST(Pipeline, TwoStagesOverlapTwoMicroBatches) {
  // Stage times 10 and 10 ns, hand-off 1 ns. Micro-batch 0 enters at 0: stage 0 [0,10],
  // stage 1 [11,21]. Micro-batch 1 enters at 10 (stage 0 free): stage 0 [10,20], its input
  // reaches stage 1 at 21, when stage 1 frees: [21,31].
  PipelineTimeline p(2);
  const std::array<SimTime, 2> t{10, 10};
  const auto m0 = p.enter(0, t, 1);
  EXPECT_EQ(m0.first_stage_free, 10);
  EXPECT_EQ(m0.done, 21);
  const auto m1 = p.enter(m0.first_stage_free, t, 1);
  EXPECT_EQ(m1.first_stage_free, 20);
  EXPECT_EQ(m1.done, 31);
  // Busy 0..31 = 31 ns; stages held 20 each: bubble = 1 - 40 / (2 x 31) = 22/62.
  ParallelDegrees d;
  d.pp = 2;
  d.micro_batches = 2;
  const nlohmann::json j = pipeline_json(d, p.busy(), 31);
  EXPECT_DOUBLE_EQ(j["bubble_fraction"].get<double>(), 22.0 / 62.0);
  EXPECT_DOUBLE_EQ(j["stage_utilisation"][1].get<double>(), 20.0 / 31.0);
}

TEST(Pipeline, OneMicroBatchTraversesStagesInTurn) {
  // Without a second micro-batch a step is the sum of its stages and hand-offs: 10 + 1 + 10.
  // Bubble = 1 - 20 / (2 x 21) = 22/42, above 1 - 1/pp.
  PipelineTimeline p(2);
  const std::array<SimTime, 2> t{10, 10};
  const auto m0 = p.enter(0, t, 1);
  EXPECT_EQ(m0.done, 21);
  ParallelDegrees d;
  d.pp = 2;
  const nlohmann::json j = pipeline_json(d, p.busy(), m0.done);
  EXPECT_DOUBLE_EQ(j["bubble_fraction"].get<double>(), 22.0 / 42.0);
}

TEST(Pipeline, FourImbalancedStagesAreBoundByTheSlowest) {
  // Stage times 12 (embedding), 10, 10, 14 (LM head); hand-off 2; four micro-batches, each
  // entering when stage 0 frees (0, 12, 24, 36). Worked stage by stage, start = max(input
  // arrival, stage free):
  //   mb0: [0,12] [14,24] [26,36] [38,52]
  //   mb1: [12,24] [26,36] [38,48] [52,66]   (stage 3 busy until 52)
  //   mb2: [24,36] [38,48] [50,60] [66,80]
  //   mb3: [36,48] [50,60] [62,72] [80,94]
  // After the fill, one micro-batch leaves every 14 ns (the slowest stage). Busy 0..94;
  // held 48 + 40 + 40 + 56 = 184; bubble = 1 - 184 / (4 x 94) = 192/376.
  PipelineTimeline p(4);
  const std::array<SimTime, 4> t{12, 10, 10, 14};
  const std::array<SimTime, 4> done{52, 66, 80, 94};
  SimTime entry = 0;
  for (const SimTime want : done) {
    const auto m = p.enter(entry, t, 2);
    EXPECT_EQ(m.done, want);
    entry = m.first_stage_free;
  }
  EXPECT_EQ(entry, 48);
  EXPECT_EQ(p.busy(), (std::vector<SimTime>{48, 40, 40, 56}));
  ParallelDegrees d;
  d.pp = 4;
  d.micro_batches = 4;
  EXPECT_DOUBLE_EQ(pipeline_json(d, p.busy(), 94)["bubble_fraction"].get<double>(), 192.0 / 376.0);
}

}  // namespace
}  // namespace servesim
