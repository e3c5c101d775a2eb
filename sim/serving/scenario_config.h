#pragma once
// The scenario, parsed once into typed configs. Contract:
// - parse_scenario() is the only code that reads a scenario's JSON. Every default is
//   written once, in the parse functions of scenario_config.cpp (and, for components, in
//   their own Config::parse); every key is declared with type, default and help, so
//   `servesim list --params` documents them (scenario_param_docs()) and unknown keys are
//   errors naming the file and the field.
// - Components (parallel plan, scheduler, KV manager, cost model, router, workload) are
//   parsed and validated here into ComponentConfigs; they are built later, from these,
//   as many times as needed (replicas, sweeps), without re-reading JSON.
// - A scenario is a cluster of pools. The top-level form {model, hardware, replicas,
//   engine, parallel, scheduler, kv, cost} is the one-pool case (pool "default", role
//   mixed). With "pools": [...], each pool may set any of model, hardware, topology,
//   engine, parallel, scheduler, kv, cost, and inherits the top-level value of those it
//   does not set (whole values: a pool's "scheduler" object replaces the top-level one).
// - resolved() is the fully resolved scenario: every pool and every nested component with
//   its defaults filled in; it is written beside every result.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/params.h"
#include "sim/core/registry.h"
#include "sim/serving/autoscale.h"
#include "sim/serving/launch.h"
#include "sim/serving/power_cap.h"
#include "sim/serving/speculative.h"
#include "sim/metrics/metrics.h"

namespace servesim {

enum class PoolRole : std::uint8_t { kMixed, kPrefill, kDecode };
const char* pool_role_name(PoolRole r);

struct EngineConfig {
  double gpu_memory_utilization = 0;
  std::string dtype;           // "auto" or a dtype name
  std::string kv_cache_dtype;  // "auto" or a dtype name
  std::int64_t max_model_len = 0;  // 0: the model's max_position_embeddings
  bool max_model_len_given = false;
  double runtime_overhead_bytes = 0;
  bool fast_forward = true;
  double power_limit_w = 0;  // 0: the device's TDP
  std::string overlap = "none";  // compute/communication overlap: none, tokenweave, nanoflow
  double overlap_sm_share = 0;
  double overlap_contention = 0;
  SpeculativeConfig speculative;  // engine.speculative (absent: off, and not in the resolved config)
  std::string kv_offload = "none";      // none | stream | host_attention (host_offload.h)
  double kv_offload_capacity = 0;       // bytes of host memory per device (0: the device profile's)
  double host_memory_bandwidth = 0;     // host_attention: bytes/s (0: the device profile's)
  std::string expert_offload = "none";  // none | host
  std::int64_t resident_experts = 0;    // routed experts per MoE layer kept in HBM, per device
  bool swap_overlap = false;            // KV swaps on a copy stream beside compute (executor.h)
  LaunchConfig launch;                  // kernel launches vs CUDA-graph replay (launch.h; absent: off)
  nlohmann::json resolved;
};

struct PoolConfig {
  std::string name;
  PoolRole role = PoolRole::kMixed;
  std::string model;
  std::string hardware;
  std::string topology;  // node or cluster profile; empty: one node of `hardware`
  std::int64_t replicas = 1;  // with autoscale: the replicas serving at time 0
  AutoscaleConfig autoscale;   // enabled: the replica count changes over time (autoscale.h)
  EngineConfig engine;
  ComponentConfig parallel, scheduler, kv, cost;
  std::string where;  // "scenario.json: pools[1]" (or the file alone for the one-pool form)
};

// How KV moves between replicas (disaggregated hand-off, live migration).
struct KvTransferConfig {
  bool layerwise = true;       // stream each layer's KV as the last prefill step computes it (Splitwise)
  std::string link = "auto";   // auto | nvlink | network | pcie
  double network_bandwidth = 0;  // bytes/s per GPU per direction between nodes
  double network_latency_s = 0;
  double nvlink_latency_s = 0;
  double setup_latency_s = 0;  // per transfer: handshake, block-table exchange
  std::int64_t devices_per_node = 0;
  nlohmann::json resolved;
};

struct DisaggregationConfig {
  ComponentConfig decode_router;  // picks the decode replica of a prefilled request
  // Splitwise's mixed pool: when every prefill replica has at least `overflow_waiting`
  // requests waiting, an arrival goes to a mixed pool (served whole there). 0: never.
  std::int64_t overflow_waiting = 0;
  nlohmann::json resolved;
};

struct MigrationConfig {
  bool enabled = false;
  SimTime interval = 0;            // how often the load balancer looks
  double imbalance = 0;            // KV-use fraction difference that triggers a migration
  std::int64_t max_concurrent = 1; // migrations in flight at once
  std::int64_t stop_tokens = 0;    // live copy rounds end when fewer new tokens than this remain to copy
  nlohmann::json resolved;
};

struct MetricsConfig {
  SimTime sample_interval = 0;
  Slo slo;
  nlohmann::json resolved;
};

struct ScenarioConfig {
  std::string source;  // file name, for messages
  std::string name;
  std::uint64_t seed = 0;
  std::vector<PoolConfig> pools;
  ComponentConfig router;
  ComponentConfig workload;
  KvTransferConfig kv_transfer;
  DisaggregationConfig disaggregation;
  MigrationConfig migration;
  MetricsConfig metrics;
  PowerCapConfig power_cap;
  bool pools_form = false;  // written with "pools" (else the one-pool top-level form)

  bool disaggregated() const;
  nlohmann::json resolved() const;
};

// Parses and validates a whole scenario (no file other than the JSON is read). Throws
// InputError naming `source` and the field.
ScenarioConfig parse_scenario(const nlohmann::json& scenario, const std::string& source);

// Every scenario-level key (top level, pools[].*, autoscale.*, engine.*, metrics.*, kv_transfer.*,
// disaggregation.*, migration.*), for `servesim list --params`.
std::vector<ParamDoc> scenario_param_docs();

}  // namespace servesim
