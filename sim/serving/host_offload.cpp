#include "sim/serving/host_offload.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/serving/scenario_config.h"

namespace servesim {

std::int64_t HostOffload::host_kv_tokens() const {
  if (!kv_stream || kv_bytes_per_token <= 0) return 0;
  return static_cast<std::int64_t>(host_kv_bytes / kv_bytes_per_token);
}

KvStreamBytes kv_stream_bytes(const HostOffload& h, std::int64_t context_tokens, std::int64_t new_tokens) {
  KvStreamBytes b;
  if (!h.kv_stream) return b;
  const double context = static_cast<double>(context_tokens) * h.kv_bytes_per_token;
  const double fresh = static_cast<double>(new_tokens) * h.kv_bytes_per_token;
  const double overflow = std::max(0.0, context + fresh - std::max(0.0, h.device_kv_bytes));
  b.out = std::min(overflow, fresh);
  b.in = overflow - b.out;
  return b;
}

SimTime streamed_layers_ns(SimTime compute, SimTime layer_transfer, std::int64_t layers) {
  if (layer_transfer <= 0 || layers <= 0) return compute;
  const SimTime c = compute / layers;
  const SimTime last = compute - c * (layers - 1);  // the last layer's compute, with the remainder
  return layer_transfer + (layers - 1) * std::max(c, layer_transfer) + last;
}

std::vector<char> resident_experts(std::span<const double> popularity, std::int64_t num_experts, std::int32_t ep,
                                   std::int64_t resident) {
  std::vector<char> flag(static_cast<std::size_t>(num_experts), 0);
  const std::int64_t per = num_experts / std::max(1, ep);
  for (std::int64_t s = 0; s < ep; ++s) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(per));
    std::iota(order.begin(), order.end(), s * per);
    if (!popularity.empty()) {
      std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        return popularity[static_cast<std::size_t>(a)] > popularity[static_cast<std::size_t>(b)];
      });
    }
    for (std::int64_t i = 0; i < std::min(resident, per); ++i) flag[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
  }
  return flag;
}

std::int64_t fetched_experts(const HostOffload& h, std::span<const std::int64_t> expert_tokens,
                             std::span<const char> resident, std::int32_t ep, std::int64_t copies) {
  if (!h.experts || copies <= 0) return 0;
  const std::int64_t per = h.device_experts;
  if (expert_tokens.empty()) {
    // Which experts the copies land on is not drawn: the non-resident share of the active ones.
    const std::int64_t active = std::min(per, (copies + ep - 1) / ep);
    return std::llround(static_cast<double>(active * (per - h.resident_experts)) / static_cast<double>(per));
  }
  std::int64_t most = 0;
  for (std::int64_t s = 0; s < ep; ++s) {
    std::int64_t n = 0;
    for (std::int64_t i = s * per; i < (s + 1) * per; ++i) {
      n += expert_tokens[static_cast<std::size_t>(i)] > 0 && resident[static_cast<std::size_t>(i)] == 0 ? 1 : 0;
    }
    most = std::max(most, n);
  }
  return most;
}

HostOffload plan_host_offload(const EngineConfig& e, const ModelSpec& m, const DeviceSpec& d, const IParallelPlan& plan,
                              MemoryPlan& memory, const std::function<std::string(const std::string&)>& where) {
  HostOffload h;
  h.layers = plan.layers_per_stage(m);
  h.kv_bytes_per_token = memory.kv_bytes_per_token;
  if (e.expert_offload == "host") {
    if (!m.is_moe()) {
      bad_value(where("engine.expert_offload"), e.expert_offload, "none for a dense model (" + m.name + " has no routed experts)");
    }
    const ParallelDegrees g = plan.degrees();
    h.experts = true;
    h.device_experts = m.moe.num_experts / std::max(1, g.ep);
    if (e.resident_experts >= h.device_experts) {
      bad_value(where("engine.resident_experts"), std::to_string(e.resident_experts),
                fmt::format("fewer than the routed experts of a MoE layer on one device ({} of {} over ep = {})", h.device_experts,
                            m.moe.num_experts, g.ep));
    }
    h.resident_experts = e.resident_experts;
    // As the plan's weight_bytes_per_device: routed experts spread over the tp devices of a
    // replica's stage (ep ranks, each expert split tp / ep ways).
    const double layer_share = static_cast<double>(h.layers) / static_cast<double>(m.layers);
    const double moe_layers = static_cast<double>(m.num_moe_layers());
    const double device_expert_bytes = m.weight_bytes(memory.weight_dtype).routed_experts * layer_share / g.tp;
    h.expert_bytes = device_expert_bytes / (moe_layers * layer_share) / static_cast<double>(h.device_experts);
    h.moe_layers = std::max<std::int64_t>(1, static_cast<std::int64_t>(moe_layers * layer_share + 0.5));
    const double moved = device_expert_bytes * static_cast<double>(h.device_experts - h.resident_experts) /
                         static_cast<double>(h.device_experts);
    memory.weight_bytes -= moved;
    memory.kv_bytes += moved;
    memory.kv_tokens = memory.kv_bytes > 0 ? static_cast<std::int64_t>(memory.kv_bytes / memory.kv_bytes_per_token) : 0;
  }
  if (e.kv_offload != "none") {
    h.kv_stream = true;
    h.host_attention = e.kv_offload == "host_attention";
    h.host_bandwidth = e.host_memory_bandwidth > 0 ? e.host_memory_bandwidth : d.host_memory_bandwidth;
    if (h.host_attention && h.host_bandwidth <= 0) {
      bad_value(where("engine.host_memory_bandwidth"), "0B/s",
                "a positive bandwidth: the device profile " + d.name + " gives no host memory bandwidth");
    }
    h.host_kv_bytes = e.kv_offload_capacity > 0 ? e.kv_offload_capacity : d.host_memory_capacity;
    if (h.host_kv_bytes <= 0) {
      bad_value(where("engine.kv_offload_capacity"), "0B",
                "a positive size: the device profile " + d.name + " gives no host memory capacity");
    }
    h.device_kv_bytes = std::max(0.0, memory.kv_bytes);
  }
  return h;
}

nlohmann::json host_offload_json(const HostOffload& h, const HostOffloadTotals& t) {
  nlohmann::json j = nlohmann::json::object();
  if (h.kv_stream) {
    j["kv"] = {{"mode", h.host_attention ? "host_attention" : "stream"},
               {"host_bytes", h.host_kv_bytes},
               {"host_tokens", h.host_kv_tokens()},
               {"device_bytes", h.device_kv_bytes},
               {"streamed_in_bytes", t.kv_in_bytes},
               {"streamed_out_bytes", t.kv_out_bytes},
               {"host_attention_bytes", t.host_attention_bytes},
               {"added_s", to_seconds(t.kv_added)}};
  }
  if (h.experts) {
    j["experts"] = {{"resident_per_layer", h.resident_experts},
                    {"per_layer_on_device", h.device_experts},
                    {"expert_bytes", h.expert_bytes},
                    {"fetched_bytes", t.expert_bytes},
                    {"fetch_s", to_seconds(t.expert_time)}};
  }
  return j;
}

}  // namespace servesim
