#include "sim/serving/scenario_config.h"

#include <algorithm>

#include "sim/core/dtype.h"
#include "sim/core/error.h"
#include "sim/cost/i_cost_model.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/sched/i_router.h"
#include "sim/sched/i_scheduler.h"
#include "sim/workload/i_workload.h"

namespace servesim {

const char* pool_role_name(PoolRole r) {
  switch (r) {
    case PoolRole::kMixed: return "mixed";
    case PoolRole::kPrefill: return "prefill";
    case PoolRole::kDecode: return "decode";
  }
  return "?";
}

bool ScenarioConfig::disaggregated() const {
  for (const PoolConfig& p : pools) {
    if (p.role != PoolRole::kMixed) return true;
  }
  return false;
}

namespace {

// Every default of the scenario level, once.
constexpr const char* kDefaultParallel = "megatron";
constexpr const char* kDefaultScheduler = "vllm_v1";
constexpr const char* kDefaultKv = "paged";
constexpr const char* kDefaultCost = "roofline";
constexpr const char* kDefaultRouter = "round_robin";
constexpr const char* kDefaultDecodeRouter = "least_kv";

EngineConfig parse_engine(Params& p) {
  EngineConfig e;
  e.gpu_memory_utilization = p.real("gpu_memory_utilization", 0.9, "fraction of device memory the engine may use", 0.01, 1.0);
  e.dtype = p.string("dtype", "auto", "weight and activation dtype (auto: the checkpoint's quantization_config, else torch_dtype)");
  e.kv_cache_dtype = p.string("kv_cache_dtype", "auto", "KV-cache dtype (auto: the activation dtype)");
  if (!p.doc_mode()) {
    if (e.dtype != "auto") (void)parse_dtype(e.dtype, p.where("dtype"));
    if (e.kv_cache_dtype != "auto") (void)parse_kv_dtype(e.kv_cache_dtype, p.where("kv_cache_dtype"));
  }
  e.max_model_len_given = p.has("max_model_len");
  e.max_model_len = p.integer("max_model_len", 0, "longest request (prompt + output) accepted (0: the model's max_position_embeddings)", 0);
  e.runtime_overhead_bytes = p.bytes("runtime_overhead", "1.5GiB", "memory the runtime keeps (CUDA context, workspaces, graphs)");
  e.power_limit_w = p.power("power_limit", "0W",
                            "GPU power limit of the pool's devices, as nvidia-smi -pl sets it (0W: the device's TDP); a "
                            "lower limit slows power-limited kernels (docs/power.md)");
  e.overlap = p.choice("overlap", "none", {"none", "tokenweave", "nanoflow"},
                       "compute/communication overlap in a step: tokenweave (the batch split in two halves, one half's "
                       "all-reduce beside the other's compute) or nanoflow (two nano-batches overlapping compute-, memory- "
                       "and network-bound operators); docs/parallelism.md");
  e.overlap_sm_share = p.real("overlap_sm_share", 0.06,
                              "tokenweave: share of the SMs a collective takes from the compute beside it (assumed: 8 of "
                              "an H100's 132)",
                              0.0, 0.9);
  e.overlap_contention = p.real("overlap_contention", 0.2,
                                "nanoflow: share of the overlapped (non-longest) work that still adds time, as operators "
                                "share SMs and HBM bandwidth (assumed; 0: perfect overlap, 1: none)",
                                0.0, 1.0);
  e.kv_offload = p.choice("kv_offload", "none", {"none", "stream", "host_attention"},
                          "long-context KV offload: KV beyond the device's KV pool lives in host memory; stream: copied "
                          "back layer by layer for attention, overlapped with the previous layer's compute; "
                          "host_attention: decode steps attend to it on the host; docs/parallelism.md");
  e.host_memory_bandwidth = p.bandwidth("host_memory_bandwidth", "0B/s",
                                        "kv_offload=host_attention: host memory bandwidth the host's attention reaches "
                                        "(0B/s: the device profile's host memory bandwidth)");
  e.kv_offload_capacity = p.bytes("kv_offload_capacity", "0B",
                                  "kv_offload=stream: host memory per device for KV (0B: the device profile's host memory)");
  e.expert_offload = p.choice("expert_offload", "none", {"none", "host"},
                              "MoE expert offload: host (routed experts beyond resident_experts live in host memory and "
                              "are copied to the device when a step activates them); docs/parallelism.md");
  e.resident_experts = p.integer("resident_experts", 0,
                                 "expert_offload=host: routed experts per MoE layer kept in HBM on each device (the most "
                                 "popular under a drawn parallel.routing)",
                                 0);
  e.swap_overlap = (p.has("swap_overlap") || p.doc_mode()) &&  // absent: off, and not in the resolved config
                   p.boolean("swap_overlap", false,
                             "FastSwitch: KV swap-outs and swap-ins run on a copy stream beside the step's compute, layer "
                             "by layer (x + (L - 1) max(c, x) + c); docs/schedulers.md");
  e.fast_forward = p.boolean("fast_forward", true, "merge runs of identical decode steps into one event (same results, fewer events)");
  const nlohmann::json launch_j = p.object("launch", "kernel launches vs CUDA-graph replay {per_kernel, cuda_graphs, graph_max_batch, "
                                                     "graph_replay} (sim/serving/launch.h, docs/engine_host.md; absent: not modelled)");
  if (!p.doc_mode() && p.has("launch")) {
    Params lp(launch_j, p.where("launch"));
    LaunchConfig& l = e.launch;
    l.on = true;
    l.per_kernel_s = to_seconds(lp.duration("per_kernel", "10us",
                                            "host time to launch one kernel eagerly (PyTorch dispatch + launch; measured "
                                            "9.6-11.5 us on the H100 and H200 hosts: docs/engine_host.md)"));
    l.decode_graphs = "decode" == lp.choice("cuda_graphs", "decode", {"off", "decode"},
                              "decode: decode-only steps of at most graph_max_batch sequences replay a captured graph "
                              "(vLLM's default); off: every step launches its kernels (vLLM --enforce-eager, HF eager)");
    l.graph_max_batch = lp.integer("graph_max_batch", 512, "the largest decode batch with a captured graph (vLLM: 512)", 1);
    l.graph_replay_s = to_seconds(lp.duration("graph_replay", "10us",
                                              "host time of one graph replay (assumed: one launch call; not yet measured, "
                                              "docs/engine_host.md)"));
    lp.finish();
    p.set_resolved("launch", lp.resolved());
  }
  const nlohmann::json spec_j = p.object("speculative", "speculative decoding {method, k, acceptance, draft_model} "
                                                        "(docs/schedulers.md; absent: off)");
  if (!p.doc_mode() && p.has("speculative")) {
    Params sp(spec_j, p.where("speculative"));
    e.speculative = SpeculativeConfig::parse(sp);
    sp.finish();
    p.set_resolved("speculative", sp.resolved());
  }
  return e;
}

// A component object with "impl" defaulted, parsed by its registry.
template <class Reg>
ComponentConfig parse_component(nlohmann::json j, const char* default_impl, const std::string& where) {
  if (!j.is_object()) bad_value(where, j.dump().substr(0, 60), "an object {impl, ...}");
  if (!j.contains("impl")) j["impl"] = default_impl;
  return Reg::get().parse(j, where);
}

KvTransferConfig parse_kv_transfer(Params& p) {
  KvTransferConfig t;
  t.layerwise = p.choice("mode", "layerwise", {"layerwise", "whole"},
                         "layerwise: each layer's KV streams to the decode replica as the last prefill step computes it "
                         "(Splitwise), overlapping that step; whole: the KV moves after the prefill ends") == "layerwise";
  t.link = p.choice("link", "auto", {"auto", "nvlink", "network", "pcie"},
                    "path of a transfer: auto (scale-up link within a node, the network between nodes, the topology's "
                    "route when one is given), or force one");
  t.network_bandwidth = p.bandwidth("network_bandwidth", "400Gb/s",
                                    "per GPU per direction between nodes (ConnectX-7 NDR, one 400 Gb/s port per GPU: "
                                    "hardware_profiles/clusters/h100_ib_2x8.json)");
  t.network_latency_s = to_seconds(p.duration("network_latency", "17us",
                                              "latency of a transfer between nodes (NCCL send/recv of 2 KiB across two "
                                              "H100 nodes, Vidur's profile, as in h100_ib_2x8.json)"));
  t.nvlink_latency_s = to_seconds(p.duration("nvlink_latency", "5us",
                                             "latency of a transfer within a node (small NCCL message on H100 NVLink, "
                                             "hardware_profiles/nodes/hgx_h100_8.json)"));
  t.setup_latency_s = to_seconds(p.duration("setup_latency", "0s", "fixed cost per transfer (handshake, block tables)"));
  t.devices_per_node = p.integer("devices_per_node", 8,
                                 "GPUs per node when no topology is given: pools of one device type fill nodes in "
                                 "order, a pool of another device type starts a new node",
                                 1, 1024);
  return t;
}

DisaggregationConfig parse_disaggregation(Params& p, const std::string& src) {
  DisaggregationConfig d;
  const nlohmann::json router = p.object("decode_router", "router that picks the decode replica of a prefilled request "
                                                          "({impl, ...}; default least_kv)");
  d.overflow_waiting = p.integer("overflow_waiting", 0,
                                 "Splitwise mixed pool: when every prefill replica has at least this many requests "
                                 "waiting, an arrival is served whole by a mixed pool (0: never)",
                                 0);
  if (!p.doc_mode()) {
    d.decode_router = parse_component<RouterRegistry>(router, kDefaultDecodeRouter, src + ": disaggregation.decode_router");
    p.set_resolved("decode_router", d.decode_router.resolved);
  }
  return d;
}

MigrationConfig parse_migration(Params& p) {
  MigrationConfig m;
  m.enabled = p.boolean("enabled", false,
                        "Llumnix-style live migration of running requests between replicas of a pool when their KV use "
                        "is imbalanced");
  m.interval = p.duration("interval", "100ms", "how often the balancer compares replicas", 1);
  m.imbalance = p.real("imbalance", 0.2, "KV-use fraction difference between the fullest and emptiest replica that "
                                         "triggers a migration", 0.0, 1.0);
  m.max_concurrent = p.integer("max_concurrent", 1, "migrations in flight at once per pool", 1, 1024);
  m.stop_tokens = p.integer("stop_tokens", 64,
                            "live copy rounds (the request keeps decoding) end when fewer new tokens than this are "
                            "left to copy; the rest is copied with the request stopped",
                            1);
  return m;
}

Slo parse_slo(Params& s) {
  Slo slo;
  slo.ttft = s.duration("ttft", "0s", "time-to-first-token SLO (0: none)");
  slo.tpot = s.duration("tpot", "0s", "time-per-output-token SLO (0: none)");
  slo.e2e = s.duration("e2e", "0s", "end-to-end latency SLO (0: none)");
  return slo;
}

PowerCapConfig parse_power_cap(Params& p) {
  PowerCapConfig c;
  c.budget_w = p.power("budget", "0W",
                       "POLCA-style capping: the cluster's GPU power budget (0W: off); while the power of the last "
                       "sampling interval nears it, every GPU is capped (docs/power.md)");
  c.cap_w = p.power("cap", "0W", "the per-GPU power limit applied while capping (needed with a budget)");
  c.high = p.real("high", 0.95, "cap when the last interval's power exceeds this fraction of the budget", 0.0, 10.0);
  c.low = p.real("low", 0.85, "lift the cap when it falls below this fraction of the budget", 0.0, 10.0);
  const nlohmann::json first = p.value("first", nlohmann::json::array(),
                                       "pools capped first, before the others (POLCA's lower-priority work; empty: every "
                                       "pool at once)");
  if (!first.is_array()) bad_value(p.where("first"), first.dump(), "an array of pool names");
  for (const auto& f : first) {
    if (!f.is_string()) bad_value(p.where("first"), f.dump(), "a pool name (string)");
    c.first.push_back(f.get<std::string>());
  }
  if (c.budget_w > 0 && c.cap_w <= 0) bad_value(p.where("cap"), "0W", "a per-GPU power limit with power_cap.budget set");
  if (c.low > c.high) bad_value(p.where("low"), std::to_string(c.low), "at most power_cap.high (" + std::to_string(c.high) + ")");
  return c;
}

MetricsConfig parse_metrics(Params& p) {
  MetricsConfig m;
  m.sample_interval = p.duration("sample_interval", "1s", "interval of the time series (KV use, queue lengths)", 1);
  nlohmann::json slo_j = p.object("slo", "SLOs for goodput: {ttft, tpot, e2e} durations");
  Params s = p.doc_mode() ? Params::describe() : Params(slo_j, p.where("slo"));
  m.slo = parse_slo(s);
  s.finish();
  p.set_resolved("slo", s.resolved());
  return m;
}

// The keys a pool may set, and the top level's defaults for them.
struct PoolDefaults {
  std::optional<std::string> model, hardware;
  std::string topology;
  nlohmann::json engine, parallel, scheduler, kv, cost;
};

PoolConfig parse_pool(Params& p, const PoolDefaults& d, const std::string& source, bool named) {
  PoolConfig pool;
  pool.where = p.where();
  if (named) {
    pool.name = p.string("name", std::nullopt, "name of the pool (unique), used in outputs");
    pool.role = [&] {
      const std::string r = p.choice("role", "mixed", {"mixed", "prefill", "decode"},
                                     "mixed: prefill and decode; prefill / decode: one phase of disaggregated serving");
      return r == "prefill" ? PoolRole::kPrefill : r == "decode" ? PoolRole::kDecode : PoolRole::kMixed;
    }();
    pool.replicas = p.integer("replicas", 1, "replicas in the pool", 1, 4096);
  } else {
    pool.name = "default";
  }
  pool.model = p.string("model", d.model, "model name in models/ or a path to a config.json");
  pool.hardware = p.string("hardware", d.hardware, "device profile name in hardware_profiles/devices/");
  if (!named) pool.replicas = p.integer("replicas", 1, "data-parallel replicas behind the router", 1, 4096);
  pool.topology = p.string("topology", d.topology,
                           "node or cluster (hardware_profiles/nodes|clusters/) whose links the collectives and KV "
                           "transfers use; empty: one node of `hardware` over its intra_node link");
  // In a pool, an absent component takes the top level's value (whole).
  auto obj = [&](const char* key, const std::string& help, const nlohmann::json& inherited) {
    const bool given = p.has(key);
    nlohmann::json v = p.object(key, named ? help + " (absent: the top-level `" + key + "`)" : help);
    return named && !given ? inherited : v;
  };
  const nlohmann::json engine_j = obj("engine", "engine-wide settings: memory utilisation, dtypes, context length", d.engine);
  const nlohmann::json parallel_j = obj("parallel", "parallel plan {impl, tp, pp, ep}", d.parallel);
  const nlohmann::json sched_j = obj("scheduler", "replica scheduler {impl, ...}", d.scheduler);
  const nlohmann::json kv_j = obj("kv", "KV-cache manager {impl, ...}", d.kv);
  const nlohmann::json cost_j = obj("cost", "cost model {impl, ...}", d.cost);
  const nlohmann::json autoscale_j =
      p.object("autoscale", "autoscaling of this pool's replica count over time {policy, min_replicas, max_replicas, ...} "
                            "(absent: a fixed count; docs/autoscaling.md)");
  if (p.doc_mode()) return pool;
  if (!autoscale_j.empty()) {
    Params as(autoscale_j, p.where("autoscale"));
    pool.autoscale = parse_autoscale(as);
    as.finish();
    pool.autoscale.resolved = as.resolved();
    if (pool.replicas < pool.autoscale.min_replicas || pool.replicas > pool.autoscale.max_replicas) {
      bad_value(p.where("replicas"), std::to_string(pool.replicas),
                "a count within autoscale.min_replicas .. autoscale.max_replicas (" + std::to_string(pool.autoscale.min_replicas) +
                    " .. " + std::to_string(pool.autoscale.max_replicas) + "): the replicas serving at time 0");
    }
  }
  Params eng(engine_j, p.where("engine"));
  pool.engine = parse_engine(eng);
  eng.finish();
  pool.engine.resolved = eng.resolved();
  pool.parallel = parse_component<ParallelPlanRegistry>(parallel_j, kDefaultParallel, p.where("parallel"));
  pool.scheduler = parse_component<SchedulerRegistry>(sched_j, kDefaultScheduler, p.where("scheduler"));
  pool.kv = parse_component<KvManagerRegistry>(kv_j, kDefaultKv, p.where("kv"));
  pool.cost = parse_component<CostModelRegistry>(cost_j, kDefaultCost, p.where("cost"));
  (void)source;
  return pool;
}

// The top-level keys; `pools` and the pool keys are read by the callers.
struct TopLevel {
  std::string name;
  std::uint64_t seed = 0;
  nlohmann::json router, workload, metrics, kv_transfer, disaggregation, migration, power_cap, pools;
};

TopLevel parse_top(Params& top) {
  TopLevel t;
  t.name = top.string("name", "scenario", "name of the scenario, used in reports");
  t.seed = static_cast<std::uint64_t>(top.integer("seed", 1, "seed of every random stream (each component derives its own)", 0));
  t.router = top.object("router", "global router over the replicas requests enter ({impl, ...}; default round_robin)");
  t.workload = top.object("workload", "trace reader or generator {impl, ...}", false);
  t.metrics = top.object("metrics", "metrics settings: SLOs, sampling interval");
  t.kv_transfer = top.object("kv_transfer", "how KV moves between replicas (disaggregation, migration)");
  t.disaggregation = top.object("disaggregation", "prefill/decode disaggregation settings (pools with role prefill and decode)");
  t.migration = top.object("migration", "live migration of running requests between replicas (Llumnix)");
  t.power_cap = top.object("power_cap", "POLCA-style power capping of the cluster under a power budget");
  t.pools = top.value("pools", nlohmann::json(), "cluster of pools [{name, role, replicas, model, hardware, topology, engine, "
                                                 "parallel, scheduler, kv, cost}] (absent: one pool from the top-level keys)");
  return t;
}

void check_pools(const ScenarioConfig& c) {
  bool prefill = false, decode = false;
  for (std::size_t i = 0; i < c.pools.size(); ++i) {
    const PoolConfig& p = c.pools[i];
    prefill |= p.role == PoolRole::kPrefill;
    decode |= p.role == PoolRole::kDecode;
    for (std::size_t j = 0; j < i; ++j) {
      if (c.pools[j].name == p.name) bad_value(p.where + ".name", p.name, "a pool name used once");
    }
  }
  if (prefill != decode) {
    bad_value(c.source + ": pools", prefill ? "a prefill pool without a decode pool" : "a decode pool without a prefill pool",
              "both prefill and decode pools (disaggregated) or neither");
  }
}

}  // namespace

ScenarioConfig parse_scenario(const nlohmann::json& scenario, const std::string& source) {
  ScenarioConfig c;
  c.source = source;
  Params top(scenario, source);
  const TopLevel t = parse_top(top);
  c.name = t.name;
  c.seed = t.seed;
  c.pools_form = !t.pools.is_null();
  if (!c.pools_form) {
    c.pools.push_back(parse_pool(top, PoolDefaults{}, source, false));
    top.finish();
  } else {
    PoolDefaults d;
    d.model = top.has("model") ? std::optional<std::string>(top.string("model", "", "default model of the pools")) : std::nullopt;
    d.hardware =
        top.has("hardware") ? std::optional<std::string>(top.string("hardware", "", "default device of the pools")) : std::nullopt;
    d.topology = top.string("topology", "", "default topology of the pools");
    d.engine = top.object("engine", "default engine settings of the pools");
    d.parallel = top.object("parallel", "default parallel plan of the pools");
    d.scheduler = top.object("scheduler", "default scheduler of the pools");
    d.kv = top.object("kv", "default KV manager of the pools");
    d.cost = top.object("cost", "default cost model of the pools");
    if (top.has("replicas")) bad_value(top.where("replicas"), scenario["replicas"].dump(), "no top-level replicas with pools (set pools[i].replicas)");
    top.finish();
    if (!t.pools.is_array() || t.pools.empty()) bad_value(top.where("pools"), t.pools.dump().substr(0, 60), "a non-empty array of pool objects");
    for (std::size_t i = 0; i < t.pools.size(); ++i) {
      const std::string where = source + ": pools[" + std::to_string(i) + "]";
      if (!t.pools[i].is_object()) bad_value(where, t.pools[i].dump().substr(0, 60), "a pool object {name, role, replicas, ...}");
      Params pp(t.pools[i], where);
      c.pools.push_back(parse_pool(pp, d, source, true));
      pp.finish();
    }
  }
  check_pools(c);

  c.router = parse_component<RouterRegistry>(t.router, kDefaultRouter, top.where("router"));
  c.workload = WorkloadRegistry::get().parse(t.workload, top.where("workload"));

  // A section: its keys parsed, unknown ones rejected, its resolved form kept.
  auto section = [&](const nlohmann::json& j, const char* key, auto parse) {
    Params p(j, top.where(key));
    auto cfg = parse(p);
    p.finish();
    cfg.resolved = p.resolved();
    return cfg;
  };
  c.kv_transfer = section(t.kv_transfer, "kv_transfer", parse_kv_transfer);
  c.disaggregation = section(t.disaggregation, "disaggregation", [&](Params& p) { return parse_disaggregation(p, source); });
  c.migration = section(t.migration, "migration", parse_migration);
  c.metrics = section(t.metrics, "metrics", parse_metrics);
  c.power_cap = section(t.power_cap, "power_cap", parse_power_cap);
  for (const PoolConfig& pc : c.pools) {
    if (pc.autoscale.enabled && c.migration.enabled) {
      bad_value(pc.where.find(": ") == std::string::npos ? pc.where + ": autoscale" : pc.where + ".autoscale", "an autoscale section",
                "no autoscaling while migration.enabled is true (live migration and autoscaling do not combine yet)");
    }
  }
  for (const std::string& f : c.power_cap.first) {
    if (std::none_of(c.pools.begin(), c.pools.end(), [&](const PoolConfig& pc) { return pc.name == f; })) {
      bad_value(source + ": power_cap.first", f, "the name of one of the scenario's pools");
    }
  }
  return c;
}

nlohmann::json ScenarioConfig::resolved() const {
  nlohmann::json j = nlohmann::json::object();
  j["name"] = name;
  j["seed"] = seed;
  nlohmann::json pools_j = nlohmann::json::array();
  for (const PoolConfig& p : pools) {
    nlohmann::json pj = {{"name", p.name},         {"role", pool_role_name(p.role)}, {"replicas", p.replicas},
                         {"model", p.model},       {"hardware", p.hardware},         {"topology", p.topology},
                         {"engine", p.engine.resolved}, {"parallel", p.parallel.resolved}, {"scheduler", p.scheduler.resolved},
                         {"kv", p.kv.resolved},    {"cost", p.cost.resolved}};
    if (p.autoscale.enabled) pj["autoscale"] = p.autoscale.resolved;
    pools_j.push_back(std::move(pj));
  }
  j["pools"] = std::move(pools_j);
  j["router"] = router.resolved;
  j["workload"] = workload.resolved;
  j["kv_transfer"] = kv_transfer.resolved;
  j["disaggregation"] = disaggregation.resolved;
  j["migration"] = migration.resolved;
  j["metrics"] = metrics.resolved;
  j["power_cap"] = power_cap.resolved;
  return j;
}

std::vector<ParamDoc> scenario_param_docs() {
  std::vector<ParamDoc> out;
  auto add = [&](const std::string& prefix, const Params& p) {
    for (ParamDoc d : p.docs()) {
      d.key = prefix + d.key;
      out.push_back(std::move(d));
    }
  };
  Params top = Params::describe();
  (void)parse_top(top);
  (void)parse_pool(top, PoolDefaults{}, "", false);
  add("", top);
  Params pool = Params::describe();
  (void)parse_pool(pool, PoolDefaults{}, "", true);
  add("pools[].", pool);
  auto doc = [&](const std::string& prefix, auto parse) {
    Params p = Params::describe();
    (void)parse(p);
    add(prefix, p);
  };
  doc("engine.", parse_engine);
  doc("engine.speculative.", SpeculativeConfig::parse);
  doc("kv.token_drop.", TokenDropConfig::parse);  // paged only
  doc("kv_transfer.", parse_kv_transfer);
  doc("disaggregation.", [](Params& p) { return parse_disaggregation(p, ""); });
  doc("migration.", parse_migration);
  doc("metrics.", parse_metrics);
  doc("power_cap.", parse_power_cap);
  doc("autoscale.", parse_autoscale);
  doc("metrics.slo.", parse_slo);
  return out;
}

}  // namespace servesim
