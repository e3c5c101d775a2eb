#pragma once
// Device memory accounting, as vLLM does it: the engine may use
// gpu_memory_utilization x (device memory as the runtime reports it); out of that come
// the weights held by the device, the activation peak of a forward pass at the token
// budget, and the runtime's own memory (CUDA context, library workspaces, graphs); what
// is left holds the KV cache, in blocks of block_size tokens. docs/planner.md derives
// every term.
// Contract: pure functions of (model, device, plan, config); nothing here changes them.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/dtype.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/model_spec.h"
#include "sim/parallel/i_parallel_plan.h"

namespace servesim {

// Full-vocabulary fp32 arrays per sequence that vLLM's profiling run holds at its peak while
// sampling (logits, softmax, top-k/top-p sort values and int64 indices, ...). Measured from
// vLLM's own start-up logs (calibration/data/kv_capacity, docs/planner.md): activation peak
// minus the live hidden states, over max_num_seqs x vocab x 4 B, is 3.72-3.73 for
// Llama-3.1-8B and Qwen2.5-7B on vLLM 0.19.0 (the same at TP 1, 2 and 4); vLLM 0.6.5 and
// 0.11.0 give 9.6-9.8.
inline constexpr double kVllmSamplerBuffers = 3.7;

struct MemoryConfig {
  double gpu_memory_utilization = 0.9;
  DType weight_dtype = DType::kBf16;
  DType act_dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  std::int64_t max_num_batched_tokens = 8192;
  std::int64_t max_num_seqs = 256;
  double runtime_overhead_bytes = 0;
  double sampler_buffers = kVllmSamplerBuffers;
};

struct MemoryPlan {
  double device_bytes = 0;      // runtime-reported capacity of one device
  double usable_bytes = 0;      // x gpu_memory_utilization
  double weight_bytes = 0;      // on the most loaded device
  double activation_bytes = 0;  // profiling-run peak: forward pass at the token budget, or sampling
  double runtime_bytes = 0;
  double kv_bytes = 0;          // left for the KV cache (may be <= 0: does not fit)
  double kv_bytes_per_token = 0;  // per device, all its layers
  std::int64_t kv_tokens = 0;
  ParallelDegrees degrees;      // the plan this was computed for (for messages)
  DType weight_dtype = DType::kBf16;
  bool fits() const { return kv_bytes > 0 && kv_tokens > 0; }
  nlohmann::json to_json() const;
};

// The KV cache in blocks, and how many sequences of one context length it holds.
struct KvCapacity {
  std::int64_t block_size = 16;
  double block_bytes = 0;             // one block across the device's layers
  std::int64_t blocks = 0;            // floor(kv_bytes / block_bytes)
  std::int64_t block_tokens = 0;      // blocks x block_size (vLLM's "KV cache size" in tokens)
  std::int64_t context = 0;           // tokens per sequence (prompt + output)
  double seq_bytes = 0;               // KV bytes one sequence of `context` tokens holds on the device
  std::int64_t max_batch_kv = 0;      // sequences of `context` tokens the KV cache holds at once
  std::int64_t max_batch = 0;         // min(max_batch_kv, max_num_seqs)
  nlohmann::json to_json() const;
};

// The larger of the forward pass's intermediates at max_num_batched_tokens and the
// sampler's peak (sampler_buffers x min(max_num_seqs, tokens) x vocab x 4 B, with the last
// hidden states still alive); docs/planner.md derives both.
double activation_peak_bytes(const ModelSpec& m, const IParallelPlan& plan, const MemoryConfig& c);
MemoryPlan plan_memory(const ModelSpec& m, const DeviceSpec& d, const IParallelPlan& plan, const MemoryConfig& c);

// Blocks of `block_size` tokens, and the sequences of `context` tokens that fit. Full
// attention layers keep every token (cdiv(context, block_size) blocks); a sliding-window
// layer keeps at most cdiv(window - 1, block_size) + 1 blocks (the window may straddle a
// block boundary), as vLLM's sliding-window manager frees the blocks behind the window.
KvCapacity kv_capacity(const MemoryPlan& p, const ModelSpec& m, const IParallelPlan& plan, const MemoryConfig& c,
                       std::int64_t block_size, std::int64_t context);

// Throws InputError ("... does not fit ...") naming what, how much and how much is available.
void require_fit(const MemoryPlan& p, const ModelSpec& m, const DeviceSpec& d, const std::string& where);
// Throws InputError unless one sequence of cap.context tokens fits in the KV cache.
void require_context_fit(const KvCapacity& cap, const MemoryPlan& p, const ModelSpec& m, const DeviceSpec& d,
                         const std::string& where);

}  // namespace servesim
