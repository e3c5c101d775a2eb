#pragma once
// One decode sequence (a 100-token context, one new token, its second sampled token) as the
// executor tests price it: the step plan the executor takes and the plan's operators for the
// same batch. Not copyable: the plan points at the request.
#include <span>
#include <vector>

#include "sim/serving/executor.h"
#include "sim/serving/simulation.h"  // PoolRuntime

namespace servesim::testing {

struct OneDecodeStep {
  Request req;
  StepPlan plan;
  SeqAttention seq{1, 100};
  StepBatch batch;
  std::vector<Operator> ops;

  OneDecodeStep(const PoolRuntime& p, const PlanLinks& links) {
    req.spec.prompt_tokens = 100;
    req.spec.output_tokens = 10;
    req.num_generated = 1;  // num_tokens() = 101: this step samples its second token
    req.num_computed = 100;
    req.state = RequestState::kRunning;
    plan.seqs.push_back(ScheduledSeq{&req, 1, 100});
    plan.num_tokens = 1;
    batch.seqs = std::span<const SeqAttention>(&seq, 1);
    batch.num_decode = 1;
    batch.num_tokens = 1;
    batch.num_logits = 1;
    p.plan->step_operators(*p.model, batch, links, ops);
  }
  OneDecodeStep(const OneDecodeStep&) = delete;
  OneDecodeStep& operator=(const OneDecodeStep&) = delete;
};

}  // namespace servesim::testing
