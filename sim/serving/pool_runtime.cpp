// A pool's runtime (PoolRuntime): its model, device, plan, cost and power models, memory
// plan and the optional drafter and host offload, built once per pool from its config.
#include <algorithm>
#include <cmath>

#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/serving/executor_memo.h"
#include "sim/serving/simulation.h"

namespace servesim {

// ---------------------------------------------------------------------------------------
// Pools

ExecutorContext PoolRuntime::exec_context(PlanLinks links) const {
  // The seed, replica and overlap are the replica's: its owner sets them.
  return ExecutorContext{*model, *plan, *cost, links, mem.weight_dtype, mem.act_dtype, mem.kv_dtype, power.get(), 0, 0, OverlapConfig{},
                         draft.get(), offload, config->engine.swap_overlap, device.get(), config->engine.launch, memos.get()};
}

namespace {
// engine.speculative (speculative.h): the drafter's spec, and its weights and per-token KV
// taken from the pool's KV memory.
template <class Where>
void add_drafter(PoolRuntime& p, Catalog& catalog, const Where& where) {
  const EngineConfig& e = p.config->engine;
  const SpeculativeConfig& s = e.speculative;
  if (p.plan->degrees().pp > 1) {
    bad_value(where("parallel.pp"), std::to_string(p.plan->degrees().pp), "1 with engine.speculative (not modelled with pipelines)");
  }
  if (e.overlap != "none") bad_value(where("engine.overlap"), e.overlap, "none with engine.speculative");
  const bool head = s.method != SpecMethod::kDraftModel;
  p.draft = head ? std::make_shared<const ModelSpec>(draft_head_spec(*p.model))
                 : catalog.model(s.draft_model, where("engine.speculative.draft_model"));
  p.plan->validate(*p.draft, where("engine.speculative"));
  const MemoryPlan dm = plan_memory(*p.draft, *p.device, *p.plan, p.mem);
  double weights = dm.weight_bytes;
  if (head) {
    // The head shares the target's embedding and LM head (vocab-parallel over TP).
    const WeightBytes wb = p.draft->weight_bytes(p.mem.weight_dtype);
    weights = std::max(0.0, weights - (wb.embedding + wb.lm_head) / p.plan->degrees().tp);
  }
  p.memory.weight_bytes += weights;
  p.memory.kv_bytes -= weights;
  p.memory.kv_bytes_per_token += dm.kv_bytes_per_token;
  p.memory.kv_tokens = p.memory.kv_bytes > 0 ? static_cast<std::int64_t>(p.memory.kv_bytes / p.memory.kv_bytes_per_token) : 0;
}
}  // namespace

PoolRuntime build_pool(const PoolConfig& c, Catalog& catalog, const std::string& source, double cap_w) {
  auto where = [&](const std::string& key) { return c.where.find(": ") == std::string::npos ? c.where + ": " + key : c.where + "." + key; };
  PoolRuntime p;
  p.config = &c;
  p.memos = std::make_shared<OperatorMemos>();
  p.model = catalog.model(c.model, where("model"));
  p.device = catalog.device(c.hardware, where("hardware"));
  const ModelSpec& model = *p.model;
  const EngineConfig& e = c.engine;
  p.mem.gpu_memory_utilization = e.gpu_memory_utilization;
  p.mem.weight_dtype = e.dtype == "auto" ? model.checkpoint_weight_dtype() : parse_dtype(e.dtype, where("engine.dtype"));
  p.mem.act_dtype = p.mem.weight_dtype == DType::kFp8 || p.mem.weight_dtype == DType::kFp8Block || p.mem.weight_dtype == DType::kInt4 ? DType::kBf16 : p.mem.weight_dtype;
  p.mem.kv_dtype = e.kv_cache_dtype == "auto" ? p.mem.act_dtype : parse_kv_dtype(e.kv_cache_dtype, where("engine.kv_cache_dtype"));
  p.mem.runtime_overhead_bytes = e.runtime_overhead_bytes;
  // The scheduler's own budgets size the activation peak (whatever its keys are called).
  const StepBudgets budgets = step_budgets(c.scheduler);
  p.mem.max_num_batched_tokens = budgets.max_tokens;
  p.mem.max_num_seqs = budgets.max_seqs;

  p.plan = ParallelPlanRegistry::get().make(c.parallel);
  p.plan->validate(model, where("parallel"));
  if (p.plan->degrees().cp > 1 || p.plan->degrees().attention_dp) {
    // Context parallelism and attention DP shape each rank's batch apart: the engine
    // features that re-price or split a step's batch are not modelled with them.
    const std::string with = p.plan->degrees().cp > 1 ? "none with parallel.cp > 1" : "none with parallel.attention=dp";
    if (e.overlap != "none") bad_value(where("engine.overlap"), e.overlap, with);
    if (e.kv_offload != "none") bad_value(where("engine.kv_offload"), e.kv_offload, with);
    if (e.speculative.enabled()) bad_value(where("engine.speculative"), "enabled", with);
  }
  if (!c.topology.empty()) {
    p.topology = catalog.topology(c.topology, where("topology"));
    if (p.topology->device() != p.device->name) {
      bad_value(where("topology"), c.topology + " (" + p.topology->device() + " devices)",
                "a node or cluster of " + p.device->name + " devices (the pool's hardware)");
    }
  }
  p.memory = plan_memory(model, *p.device, *p.plan, p.mem);
  if (e.speculative.enabled()) add_drafter(p, catalog, where);
  p.offload = plan_host_offload(e, model, *p.device, *p.plan, p.memory, where);
  require_fit(p.memory, model, *p.device, where("model"));
  // With host-resident KV; with attention DP a sequence's KV is on one rank (1/tp of the replica's).
  const std::int64_t kv_tokens =
      p.memory.kv_tokens / (p.plan->degrees().attention_dp ? p.plan->degrees().tp : 1) + p.offload.host_kv_tokens();
  std::int64_t max_model_len = e.max_model_len;
  if (max_model_len == 0) max_model_len = model.max_position > 0 ? model.max_position : INT32_MAX;
  if (kv_tokens < max_model_len && e.max_model_len_given) {
    bad_value(where("engine.max_model_len"), std::to_string(max_model_len),
              "at most the KV capacity of one replica (" + std::to_string(kv_tokens) + " tokens)");
  }
  p.max_model_len = std::min<std::int64_t>(max_model_len, kv_tokens);
  p.cost = catalog.cost_model(c.cost, p.device);
  p.power = std::make_unique<PowerModel>(*p.device, power_coefficients(*p.device, e.power_limit_w, where("engine.power_limit")));
  if (cap_w > 0) p.power_capped = std::make_unique<PowerModel>(*p.device, power_coefficients(*p.device, cap_w, source + ": power_cap.cap"));
  (void)source;
  return p;
}

// ---------------------------------------------------------------------------------------
// Building

}  // namespace servesim
