#pragma once
// Host offload of KV and of MoE experts (engine.kv_offload, engine.expert_offload;
// docs/parallelism.md). Contract:
// - KV streaming (kv_offload = "stream", as InstInfer and FlexGen move KV): a replica's KV
//   cache is the device's KV pool plus kv_offload_capacity bytes of host memory per device.
//   The KV of a step's sequences (their context and new tokens) beyond the device pool lives
//   in host memory: per layer, the part of it that is context is copied host -> device
//   before the layer's attention, and the new tokens' part device -> host after it. The
//   link is full duplex, so a layer's transfer x is the longer of the two directions, each
//   one copy of a layer's bytes priced by the cost model (the device's host link: PCIe or
//   NVLink-C2C). Transfers run on a copy stream one layer ahead of compute (two staging
//   buffers): with per-layer compute c, the stage's L layers take
//     x + (L - 1) max(c, x) + c
//   (the first transfer is exposed; then each layer's compute and the next layer's transfer
//   overlap; the last compute follows the last transfer). With no KV beyond the pool the
//   step is unchanged.
// - Host attention (kv_offload = "host_attention", as InstInfer and NEO move decode
//   attention next to the KV): in a step of decode sequences only, the host-resident
//   context is not copied; the host attends to it, reading it at host_memory_bandwidth,
//   while the device attends to its resident part. A layer's attention output is needed
//   before the layer's output projection, so per layer the device's compute c' (c less the
//   share of its attention time the host part took: attention x in / context bytes) and
//   the host's a = in / L / host bandwidth run in sequence; the new tokens' KV is still
//   written out, one layer ahead: x + (L - 1) max(c' + a, x) + c' + a with x that write.
//   A step with a prefill chunk streams (a chunk's attention is compute-bound; a host
//   cannot serve it).
// - Expert offload (expert_offload = "host", as MoE-Lens and Fiddler serve MoE models on
//   too little HBM): of each MoE layer's routed experts on a device only resident_experts
//   stay in HBM (the most popular ones under a drawn parallel.routing; under balanced
//   routing the resident ones are taken to receive copies first); the others live in host
//   memory, their bytes freed for KV. Per step and MoE layer, the activated non-resident
//   experts of the most loaded device are copied to it before the layer's expert GEMM, one
//   copy each; routing is known only after the layer's gate, so the copies are on the
//   critical path: the stage's MoE layers x fetched experts x one expert's copy time.
// - Both are off by default; nothing here changes a step when they are.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/time.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/model_spec.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/serving/memory_plan.h"

namespace servesim {

struct EngineConfig;

struct HostOffload {
  bool kv_stream = false;          // stream or host_attention
  bool host_attention = false;
  double host_bandwidth = 0;       // host_attention: host memory bytes/s
  double device_kv_bytes = 0;     // the device's KV pool (what stays resident), per device
  double host_kv_bytes = 0;       // host memory for KV, per device
  double kv_bytes_per_token = 0;  // per device, all its layers
  std::int64_t layers = 1;        // layers of the most loaded stage
  bool experts = false;
  std::int64_t resident_experts = 0;  // routed experts per MoE layer kept in HBM, per device
  std::int64_t device_experts = 0;    // routed experts per MoE layer on a device (experts / ep)
  double expert_bytes = 0;            // one routed expert of one layer: this device's share
  std::int64_t moe_layers = 0;        // MoE layers of the most loaded stage
  bool enabled() const { return kv_stream || experts; }
  // Tokens of KV the host part holds.
  std::int64_t host_kv_tokens() const;
};

// Bytes of a step's KV that cross the host link (all layers of the stage): `in` context KV
// read back host -> device, `out` new tokens' KV written device -> host.
struct KvStreamBytes {
  double in = 0, out = 0;
};
// context_tokens / new_tokens: sums over the step's sequences. The KV beyond the device pool
// (overflow = (context + new) x bytes per token - device pool, the latest tokens) is in
// host memory: the new tokens' part of it is written out, out = min(overflow, new bytes),
// and the rest is context read back, in = overflow - out.
KvStreamBytes kv_stream_bytes(const HostOffload& h, std::int64_t context_tokens, std::int64_t new_tokens);

// The stage's layer time with each layer's transfer overlapped with the previous layer's
// compute: x + (L - 1) max(c, x) + c with c = compute / L (the last layer takes the
// remainder of the integer division) and x the per-layer transfer. Equals `compute` when
// x = 0.
SimTime streamed_layers_ns(SimTime compute, SimTime layer_transfer, std::int64_t layers);

// Which routed experts stay in HBM: for each EP shard (experts / ep contiguous experts) its
// `resident` most popular (by `popularity`, the lower index on a tie; no popularity: the
// first ones). One flag per routed expert.
std::vector<char> resident_experts(std::span<const double> popularity, std::int64_t num_experts, std::int32_t ep,
                                   std::int64_t resident);
// The most activated non-resident experts on any shard in one MoE layer of a step: with a
// drawn routing (expert_tokens not empty) the experts with a copy that are not resident;
// balanced (empty): min(shard experts, ceil(copies / ep)) active, of which the non-resident
// share (shard experts - resident) / shard experts, rounded to the nearest (half up).
std::int64_t fetched_experts(const HostOffload& h, std::span<const std::int64_t> expert_tokens,
                             std::span<const char> resident, std::int32_t ep, std::int64_t copies);

// From the engine's keys: validates them (bad_value naming `where(key)`), moves offloaded
// experts' bytes out of `memory`'s weights into its KV pool, and says what is offloaded.
HostOffload plan_host_offload(const EngineConfig& e, const ModelSpec& m, const DeviceSpec& d, const IParallelPlan& plan,
                              MemoryPlan& memory, const std::function<std::string(const std::string&)>& where);

// summary.json's pools[].host_offload: the configuration and what moved over the run.
struct HostOffloadTotals {
  double kv_in_bytes = 0, kv_out_bytes = 0, host_attention_bytes = 0, expert_bytes = 0;
  SimTime kv_added = 0, expert_time = 0;
};
nlohmann::json host_offload_json(const HostOffload& h, const HostOffloadTotals& t);

}  // namespace servesim
