#pragma once
// One decode sequence (a 100-token context, one new token, its second sampled token) as the
// executor tests price it: the step plan the executor takes and the plan's operators for the
// same batch. Not copyable: the plan points at the request.
#include <span>
#include <vector>

#include "sim/serving/executor.h"
#include <nlohmann/json.hpp>
#include <string>

#include "sim/serving/catalog.h"
#include "sim/serving/scenario_config.h"
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

// Executor tests: a pool of `model` on the default scenario's H100 under roofline costs.
inline PoolRuntime roofline_pool(const std::string& model, ScenarioConfig& c) {
  nlohmann::json s = nlohmann::json::parse(default_scenario_text());
  s["model"] = model;
  s["cost"] = {{"impl", "roofline"}};
  c = parse_scenario(s, "scenario.json");
  Catalog catalog(SimOptions{}.data_dir);
  return build_pool(c.pools[0], catalog, c.source);
}

// One decode sequence at `context` (a request whose prompt is `context` tokens).
struct DecodeAt {
  Request req;
  StepPlan plan;
  DecodeAt(std::int64_t context, std::int64_t seqs_tokens = 1) {
    req.spec.prompt_tokens = static_cast<std::int32_t>(context);
    req.spec.output_tokens = 10;
    req.num_generated = 1;
    req.num_computed = context;
    req.state = RequestState::kRunning;
    plan.seqs.push_back(ScheduledSeq{&req, static_cast<std::int32_t>(seqs_tokens), context});
    plan.num_tokens = seqs_tokens;
  }
};

}  // namespace servesim::testing
