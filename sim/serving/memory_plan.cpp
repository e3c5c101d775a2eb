#include "sim/serving/memory_plan.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"

namespace servesim {

namespace {
std::int64_t cdiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
double gib(double b) { return b / (1024.0 * 1024.0 * 1024.0); }
}  // namespace

double activation_peak_bytes(const ModelSpec& m, const IParallelPlan& plan, const MemoryConfig& c) {
  const double tp = plan.degrees().tp;
  // Context parallelism and attention DP give each device 1 / kv_shards of the step's tokens;
  // attention DP keeps attention and dense MLPs whole on every device.
  const std::int64_t shards = plan.degrees().kv_shards();
  const double T = static_cast<double>((c.max_num_batched_tokens + shards - 1) / shards);
  const double attn_tp = plan.degrees().attention_dp ? 1.0 : tp;
  const double a = dtype_bytes(c.act_dtype);
  const double h = static_cast<double>(m.hidden);
  const double qkv = static_cast<double>(m.heads + 2 * m.kv_heads) * static_cast<double>(m.head_dim) / attn_tp;
  // gate_up output (2I) + activation (I); without a gate (OPT) fc1's output (I) + activation (I)
  double mlp = (m.gated_mlp ? 3.0 : 2.0) * static_cast<double>(m.intermediate) / attn_tp;
  if (m.is_moe()) {
    // Fused MoE, per routed copy of a token: the gate_up output and the product of this
    // device's share of the expert, and the expert's output row (hidden wide).
    const double k = static_cast<double>(m.moe.experts_per_token);
    mlp = std::max(mlp, k * (3.0 * static_cast<double>(m.moe.expert_intermediate) / tp + h));
  }
  // Residual stream, normed input, QKV output, and the MLP intermediates live together.
  const double forward = T * a * (2.0 * h + qkv + mlp);
  // Then the profiling run samples min(max_num_seqs, T) sequences over the whole vocabulary
  // (logits are gathered on every TP rank, so this term does not shrink with TP) while the
  // last hidden states are alive; the forward pass's intermediates are freed by then.
  const double seqs = static_cast<double>(std::min(c.max_num_seqs, c.max_num_batched_tokens));
  const double sampling = T * a * h + c.sampler_buffers * seqs * static_cast<double>(m.vocab) * 4.0;
  return std::max(forward, sampling);
}

MemoryPlan plan_memory(const ModelSpec& m, const DeviceSpec& d, const IParallelPlan& plan, const MemoryConfig& c) {
  MemoryPlan p;
  p.degrees = plan.degrees();
  p.weight_dtype = c.weight_dtype;
  p.device_bytes = d.hbm_runtime_capacity;
  p.usable_bytes = c.gpu_memory_utilization * p.device_bytes;
  p.weight_bytes = plan.weight_bytes_per_device(m, c.weight_dtype);
  p.activation_bytes = activation_peak_bytes(m, plan, c);
  p.runtime_bytes = c.runtime_overhead_bytes;
  p.kv_bytes = p.usable_bytes - p.weight_bytes - p.activation_bytes - p.runtime_bytes;
  // Per token of the replica: a device holds 1 / kv_shards of the tokens (context parallel:
  // every sequence's; attention DP: its own requests').
  p.kv_bytes_per_token = static_cast<double>(plan.layers_per_stage(m)) *
                         m.kv_bytes_per_token_layer(c.kv_dtype, plan.kv_heads_per_device(m)) /
                         static_cast<double>(plan.degrees().kv_shards());
  p.kv_tokens = p.kv_bytes > 0 ? static_cast<std::int64_t>(p.kv_bytes / p.kv_bytes_per_token) : 0;
  return p;
}

KvCapacity kv_capacity(const MemoryPlan& p, const ModelSpec& m, const IParallelPlan& plan, const MemoryConfig& c,
                       std::int64_t block_size, std::int64_t context) {
  SERVESIM_ASSERT(block_size > 0 && context > 0);
  KvCapacity k;
  k.block_size = block_size;
  k.context = context;
  k.block_bytes = p.kv_bytes_per_token * static_cast<double>(block_size);
  k.blocks = p.kv_bytes > 0 ? static_cast<std::int64_t>(std::floor(p.kv_bytes / k.block_bytes)) : 0;
  k.block_tokens = k.blocks * block_size;
  // One sequence on the most loaded stage: its layers, full ones at every token, windowed
  // ones at their window.
  // One sequence's blocks on a device: 1/cp of them with context parallelism; all of them on
  // its own rank with attention DP (whose ranks hold dp sequences to a TP group's one).
  const ParallelDegrees& deg = plan.degrees();
  const std::int64_t dp = deg.kv_shards() / deg.cp;
  const double layer_block = m.kv_bytes_per_token_layer(c.kv_dtype, plan.kv_heads_per_device(m)) *
                             static_cast<double>(block_size) / static_cast<double>(deg.cp);
  const std::int64_t per_stage = plan.layers_per_stage(m);
  const std::int64_t full_blocks = cdiv(context, block_size);
  const std::int64_t window_blocks =
      m.sliding_window > 0 ? std::min(full_blocks, cdiv(m.sliding_window - 1, block_size) + 1) : full_blocks;
  for (std::int64_t first = 0; first < m.layers; first += per_stage) {
    std::int64_t blocks = 0;
    for (std::int64_t l = first; l < std::min(m.layers, first + per_stage); ++l) {
      blocks += m.is_sliding_layer(l) ? window_blocks : full_blocks;
    }
    k.seq_bytes = std::max(k.seq_bytes, static_cast<double>(blocks) * layer_block);
  }
  k.max_batch_kv = p.kv_bytes > 0 ? static_cast<std::int64_t>(std::floor(p.kv_bytes / k.seq_bytes)) * dp : 0;
  // Without windows this is floor(blocks / cdiv(context, block_size)), vLLM's concurrency.
  if (m.num_sliding_layers() == 0) k.max_batch_kv = k.blocks / full_blocks;
  k.max_batch = std::min(k.max_batch_kv, c.max_num_seqs);
  return k;
}

void require_fit(const MemoryPlan& p, const ModelSpec& m, const DeviceSpec& d, const std::string& where) {
  if (p.fits()) return;
  const double need = p.weight_bytes + p.activation_bytes + p.runtime_bytes;
  input_error(where, fmt::format("{} does not fit on {} with tp={} pp={} ep={} and {} weights: it needs {:.2f} GiB per GPU "
                                 "before any KV cache (weights {:.2f} + activations {:.2f} + runtime {:.2f}) but "
                                 "{:.2f} GiB is usable ({:.2f} of {:.2f} GiB); expected more tensor/pipeline "
                                 "parallelism, a smaller weight dtype or a larger device",
                                 m.name, d.name, p.degrees.tp, p.degrees.pp, p.degrees.ep, dtype_name(p.weight_dtype),
                                 gib(need), gib(p.weight_bytes), gib(p.activation_bytes), gib(p.runtime_bytes),
                                 gib(p.usable_bytes), p.usable_bytes / p.device_bytes, gib(p.device_bytes)));
}

void require_context_fit(const KvCapacity& cap, const MemoryPlan& p, const ModelSpec& m, const DeviceSpec& d,
                         const std::string& where) {
  if (cap.max_batch_kv > 0) return;
  input_error(where, fmt::format("one sequence of {} tokens of {} does not fit in the KV cache on {} with tp={} pp={}: "
                                 "it needs {:.2f} GiB per GPU but {:.2f} GiB is left for KV ({} tokens); expected a "
                                 "shorter context, a smaller KV dtype or more parallelism",
                                 cap.context, m.name, d.name, p.degrees.tp, p.degrees.pp, gib(cap.seq_bytes),
                                 gib(std::max(0.0, p.kv_bytes)), cap.block_tokens));
}

nlohmann::json MemoryPlan::to_json() const {
  return {{"device_bytes", device_bytes},
          {"usable_bytes", usable_bytes},
          {"weight_bytes", weight_bytes},
          {"activation_bytes", activation_bytes},
          {"runtime_bytes", runtime_bytes},
          {"kv_bytes", kv_bytes},
          {"kv_bytes_per_token", kv_bytes_per_token},
          {"kv_tokens", kv_tokens}};
}

nlohmann::json KvCapacity::to_json() const {
  return {{"block_size", block_size}, {"block_bytes", block_bytes},   {"blocks", blocks},
          {"block_tokens", block_tokens}, {"context", context},       {"seq_bytes", seq_bytes},
          {"max_batch_kv", max_batch_kv}, {"max_batch", max_batch}};
}

}  // namespace servesim
