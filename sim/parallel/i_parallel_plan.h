#pragma once
// Parallel plans: how one replica's model is spread over devices. Contract:
// - degrees() are fixed at construction and validated against the model (heads divisible
//   by TP, layers by PP, experts by EP); an impossible plan is an InputError naming it.
// - step_operators() appends, for one step of one replica, the operators that run on the
//   devices of the critical path, with shapes already sharded and the collectives the plan
//   needs (TP all-reduces, EP all-to-alls, PP sends), each repeated per layer of the most
//   loaded stage, and each tagged with the stages that run it (Operator::stage).
//   Without context parallelism or attention DP, the operators other than attention (the
//   kinds, shapes and order the plan emits) depend on the batch only through num_tokens,
//   num_logits, expert_tokens and the dtypes: the executor reuses their prices for steps of
//   the same (num_tokens, num_logits) when no routing is drawn (StepShapeMemo).
// - stage_layers(m, s) is the number of layers stage s holds (they sum to the model's
//   layers; none exceeds layers_per_stage()). The executor scales a stage's per-layer work
//   by it, so stages with the embedding or the LM head and fewer or more layers differ.
// - expert_popularity(m, seed) is the probability that a routed token copy picks each
//   expert (seeded where the plan draws an expert order), or empty for balanced routing
//   (token copies spread evenly, no draw). Given StepBatch::expert_tokens (one step's
//   draw), step_operators() sizes the MoE layer by the EP shard that received the most.
// - degrees().micro_batches is how many micro-batches (disjoint sets of requests) a replica
//   keeps in flight through its stages (1 when pp == 1).
// - Context parallelism (degrees().cp > 1, docs/parallelism.md): the executor hands the plan
//   one CP rank's attention shapes (StepBatch::seqs, from shard_context in
//   sim/serving/context_parallel.h) with the replica's num_tokens and num_logits; the plan
//   shares the tokens over the cp ranks (ceil(T / cp) each) and emits ring attention as
//   prefill attention operators repeated cp times a layer (one round each) beside the ring's
//   KV sends ("cp_ring_kv", cp - 1 a layer), which the executor overlaps (round time =
//   max(compute, transfer)).
// - Attention data parallelism (degrees().attention_dp): the executor hands the plan one
//   rank's own requests (StepBatch::seqs, num_tokens, num_logits) and the whole group's
//   tokens (StepBatch::group_tokens, which size the expert-parallel MoE layers); the plan
//   emits that rank's operators.
// - Implementations hold no per-step state: one plan object may serve many replicas.
#include <cstdint>
#include <vector>

#include "sim/core/registry.h"
#include "sim/core/time.h"
#include "sim/model/model_spec.h"
#include "sim/model/operator.h"

namespace servesim {

struct ParallelDegrees {
  std::int32_t tp = 1;  // tensor parallel
  std::int32_t pp = 1;  // pipeline stages
  std::int32_t ep = 1;  // expert parallel (within the TP x DP group, as vLLM's EP)
  std::int32_t micro_batches = 1;  // micro-batches in flight through the pipeline (<= pp)
  std::int32_t cp = 1;  // context parallel: ranks sharing each sequence's tokens and KV (ring attention)
  // Attention data parallel (MoE): the tp devices of a stage attend their own requests with
  // full attention weights and KV; experts are expert-parallel over ep == tp of them.
  bool attention_dp = false;
  std::int32_t devices_per_replica() const { return tp * pp * cp; }
  // Devices over which the replica's KV tokens are spread (each holds 1 / kv_shards of them).
  std::int32_t kv_shards() const { return cp * (attention_dp ? tp : 1); }
};

// The name of a context-parallel ring's KV-block send (the executor overlaps these with the
// ring's attention rounds).
inline constexpr const char* kRingKvSend = "cp_ring_kv";

// One step's batch as the model sees it.
struct StepBatch {
  // Every scheduled sequence: (new tokens, cached context), decode sequences (q == 1) first.
  std::span<const SeqAttention> seqs;
  std::int64_t num_decode = 0;         // the first num_decode entries of seqs have q == 1
  std::int64_t num_tokens = 0;         // sum of q
  std::int64_t num_logits = 0;         // sequences that sample a token this step
  DType weight_dtype = DType::kBf16;
  DType act_dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  bool paged_kv = true;
  std::int32_t block_size = 16;
  // Token copies routed to each expert this step (empty: spread evenly over the experts).
  std::span<const std::int64_t> expert_tokens;
  // Attention data parallel: the tokens of the step on every rank of the group (the MoE
  // layers' load); 0: num_tokens.
  std::int64_t group_tokens = 0;
};

// Links the plan's collectives run over (from the hardware topology).
struct PlanLinks {
  double tp_bandwidth = 0;  // bytes/s per direction, bottleneck of the TP group
  double tp_latency_s = 0;
  double pp_bandwidth = 0;
  double pp_latency_s = 0;
  double cp_bandwidth = 0;  // the slowest hop of the context-parallel ring
  double cp_latency_s = 0;
};

class IParallelPlan {
 public:
  virtual ~IParallelPlan() = default;
  virtual const ParallelDegrees& degrees() const = 0;
  virtual void validate(const ModelSpec& model, const std::string& where) const = 0;
  // Weight bytes held by the most loaded device.
  virtual double weight_bytes_per_device(const ModelSpec& model, DType weight_dtype) const = 0;
  virtual std::int64_t kv_heads_per_device(const ModelSpec& model) const = 0;
  // Layers held by the most loaded pipeline stage.
  virtual std::int64_t layers_per_stage(const ModelSpec& model) const = 0;
  virtual void step_operators(const ModelSpec& model, const StepBatch& batch, const PlanLinks& links,
                              std::vector<Operator>& out) const = 0;
  virtual std::int64_t stage_layers(const ModelSpec& model, std::int32_t stage) const = 0;
  virtual std::vector<double> expert_popularity(const ModelSpec& model, std::uint64_t seed) const = 0;
};

template <>
struct InterfaceName<IParallelPlan> {
  static constexpr const char* value = "parallel_plan";
};
using ParallelPlanRegistry = Registry<IParallelPlan>;

}  // namespace servesim
