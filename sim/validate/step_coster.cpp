#include "sim/validate/step_coster.h"

#include <algorithm>

#include "sim/core/error.h"

namespace servesim::validate {

double StepCost::device_seconds() const {
  double s = 0;
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    if (c != static_cast<std::size_t>(OpClass::kCpu)) s += by_class[c];
  }
  return s;
}

StepCoster::StepCoster(const nlohmann::json& scenario, const SimOptions& options)
    : config_(parse_scenario(scenario, options.source)), catalog_(std::make_shared<Catalog>(options.data_dir)) {
  const PoolConfig& pc = config_.pools.front();
  pool_ = build_pool(pc, *catalog_, options.source);
  // The KV manager only tells the attention kernels' layout.
  KvDeps kd{*pool_.model, pool_.memory.kv_bytes, pool_.memory.kv_bytes_per_token, pool_.plan->layers_per_stage(*pool_.model),
            config_.seed, pool_.device.get(), pool_.plan->degrees().tp};
  const auto kv = KvManagerRegistry::get().make(pc.kv, kd);
  layout_ = KvLayout{kv->paged_layout(), kv->kernel_block_size()};
  PlanLinks links;
  links.tp_bandwidth = pool_.device->intra_node_bandwidth;
  links.pp_bandwidth = pool_.device->intra_node_bandwidth;
  links.cp_bandwidth = pool_.device->intra_node_bandwidth;
  if (pool_.topology) {
    const ReplicaLinks l = pool_.topology->replica_links(pool_.plan->degrees().tp, pool_.plan->degrees().pp, 0, pool_.plan->degrees().cp);
    links = PlanLinks{l.tp_bandwidth, l.tp_latency_s, l.pp_bandwidth, l.pp_latency_s, l.cp_bandwidth, l.cp_latency_s};
  }
  exec_ = std::make_unique<Executor>(pool_.exec_context(links));
  resolved_ = config_.resolved();
}

StepCost StepCoster::cost(std::span<const StepSeq> seqs) {
  SERVESIM_ASSERT(!seqs.empty());
  requests_.assign(seqs.size(), Request{});
  StepPlan plan;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const StepSeq& s = seqs[i];
    Request& r = requests_[i];
    r.spec.id = static_cast<RequestId>(i);
    r.spec.prompt_tokens = s.prompt_tokens;
    // Tokens generated so far: whatever the request holds beyond its prompt after this step.
    const std::int64_t after = s.context + s.q;
    r.num_generated = static_cast<std::int32_t>(std::max<std::int64_t>(0, after - s.prompt_tokens));
    r.spec.output_tokens = r.num_generated + 1;
    r.num_computed = s.context;
    plan.seqs.push_back(ScheduledSeq{&r, s.q, s.context});
    plan.num_tokens += s.q;
  }
  const std::array<double, 8> before = exec_->breakdown().seconds_by_class;
  StepCost out;
  out.seconds = to_seconds(exec_->cost_step(plan, layout_));
  const std::array<double, 8>& after = exec_->breakdown().seconds_by_class;
  for (std::size_t c = 0; c < out.by_class.size(); ++c) out.by_class[c] = after[c] - before[c];
  return out;
}

std::vector<std::string> StepCoster::sources() {
  std::vector<std::string> out;
  for (const auto& [name, seconds] : exec_->breakdown().seconds_by_source) out.push_back(name);
  return out;
}

}  // namespace servesim::validate
