#include "sim/serving/simulation.h"

#include <algorithm>
#include <filesystem>

#include "sim/core/error.h"
#include "sim/hardware/topology.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/sched/i_scheduler.h"

namespace servesim {

namespace {
std::string where_of(const std::string& source, const std::string& key) { return source + ": " + key; }

std::string data_relative(const std::string& path, const std::string& data_dir) {
  const std::filesystem::path rel = std::filesystem::path(path).lexically_relative(data_dir);
  return rel.empty() || rel.native().rfind("..", 0) == 0 ? path : rel.string();
}
}  // namespace

Simulation::Simulation(const nlohmann::json& scenario, const SimOptions& options) : source_(options.source) {
  Params top(scenario, source_);
  name_ = top.string("name", "scenario", "name of the scenario, used in reports");
  seed_ = static_cast<std::uint64_t>(top.integer("seed", 1, "seed of every random stream (each component derives its own)", 0));
  const std::string model_name = top.string("model", std::nullopt, "model name in models/ or a path to a config.json");
  const std::string hw_name = top.string("hardware", std::nullopt, "device profile name in hardware_profiles/devices/");
  const std::int64_t num_replicas = top.integer("replicas", 1, "data-parallel replicas behind the router", 1, 4096);
  const std::string topo_name = top.string("topology", "", "node or cluster (hardware_profiles/nodes|clusters/) whose links the "
                                           "collectives use; empty: one node of `hardware` over its intra_node link");

  nlohmann::json engine_j = top.object("engine", "engine-wide settings: memory utilisation, dtypes, context length");
  nlohmann::json parallel_j = top.object("parallel", "parallel plan {impl, tp, pp, ep}");
  nlohmann::json sched_j = top.object("scheduler", "replica scheduler {impl, ...}");
  nlohmann::json kv_j = top.object("kv", "KV-cache manager {impl, ...}");
  nlohmann::json cost_j = top.object("cost", "cost model {impl, ...}");
  nlohmann::json router_j = top.object("router", "global router {impl, ...}");
  nlohmann::json workload_j = top.object("workload", "trace reader or generator {impl, ...}", false);
  nlohmann::json metrics_j = top.object("metrics", "metrics settings: SLOs, sampling interval");
  top.finish();

  model_ = load_model(model_name, options.data_dir, where_of(source_, "model"));
  device_ = load_device(hw_name, options.data_dir, where_of(source_, "hardware"));

  // Engine settings.
  Params eng(engine_j, where_of(source_, "engine"));
  MemoryConfig mem;
  mem.gpu_memory_utilization = eng.real("gpu_memory_utilization", 0.9, "fraction of device memory the engine may use", 0.01, 1.0);
  const std::string wd = eng.string("dtype", "auto", "weight and activation dtype (auto: the checkpoint's quantization_config, else torch_dtype)");
  mem.weight_dtype = wd == "auto" ? model_.checkpoint_weight_dtype() : parse_dtype(wd, eng.where("dtype"));
  mem.act_dtype = mem.weight_dtype == DType::kFp8 || mem.weight_dtype == DType::kInt4 ? DType::kBf16 : mem.weight_dtype;
  const std::string kd = eng.string("kv_cache_dtype", "auto", "KV-cache dtype (auto: the activation dtype)");
  mem.kv_dtype = kd == "auto" ? mem.act_dtype : parse_dtype(kd, eng.where("kv_cache_dtype"));
  std::int64_t max_model_len = eng.integer("max_model_len", 0, "longest request (prompt + output) accepted (0: the model's max_position_embeddings)", 0);
  mem.runtime_overhead_bytes = eng.bytes("runtime_overhead", "1.5GiB", "memory the runtime keeps (CUDA context, workspaces, graphs)");
  const bool fast_forward = eng.boolean("fast_forward", true,
                                        "merge runs of identical decode steps into one event (same results, fewer events)");
  eng.finish();
  if (max_model_len == 0) max_model_len = model_.max_position > 0 ? model_.max_position : INT32_MAX;

  if (parallel_j.empty()) parallel_j = {{"impl", "megatron"}};
  if (!parallel_j.contains("impl")) parallel_j["impl"] = "megatron";
  nlohmann::json r_parallel;
  plan_ = ParallelPlanRegistry::get().build(parallel_j, where_of(source_, "parallel"), &r_parallel);
  plan_->validate(model_, where_of(source_, "parallel"));
  std::optional<Topology> topo;
  if (!topo_name.empty()) {
    topo = Topology::load(topo_name, options.data_dir, where_of(source_, "topology"));
    if (topo->device() != device_.name) {
      bad_value(where_of(source_, "topology"), topo_name + " (" + topo->device() + " devices)",
                "a node or cluster of " + device_.name + " devices (the scenario's hardware)");
    }
    topo->require_devices(plan_->degrees().devices_per_replica() * num_replicas, "tp x pp x replicas", where_of(source_, "topology"));
  }

  // The scheduler's budgets size the activation peak, so read them first.
  if (!sched_j.contains("impl")) sched_j["impl"] = "vllm_v1";
  mem.max_num_batched_tokens = sched_j.value("max_num_batched_tokens", std::int64_t{8192});
  mem.max_num_seqs = sched_j.value("max_num_seqs", std::int64_t{256});
  memory_ = plan_memory(model_, device_, *plan_, mem);
  require_fit(memory_, model_, device_, where_of(source_, "model"));
  if (memory_.kv_tokens < max_model_len && eng.has("max_model_len")) {
    bad_value(where_of(source_, "engine.max_model_len"), std::to_string(max_model_len),
              "at most the KV capacity of one replica (" + std::to_string(memory_.kv_tokens) + " tokens)");
  }
  max_model_len = std::min<std::int64_t>(max_model_len, memory_.kv_tokens);

  if (!cost_j.contains("impl")) cost_j["impl"] = "roofline";
  nlohmann::json r_cost;
  cost_ = CostModelRegistry::get().build(cost_j, where_of(source_, "cost"), &r_cost, CostDeps{device_, options.data_dir});

  if (!router_j.contains("impl")) router_j["impl"] = "round_robin";
  nlohmann::json r_router;
  router_ = RouterRegistry::get().build(router_j, where_of(source_, "router"), &r_router,
                                        RouterDeps{static_cast<std::int32_t>(num_replicas)});

  nlohmann::json r_workload;
  workload_ = WorkloadRegistry::get().build(workload_j, where_of(source_, "workload"), &r_workload,
                                            WorkloadDeps{seed_, options.data_dir, where_of(source_, "workload")});

  Params met(metrics_j, where_of(source_, "metrics"));
  sample_interval_ = met.duration("sample_interval", "1s", "interval of the time series (KV use, queue lengths)", 1);
  nlohmann::json slo_j = met.object("slo", "SLOs for goodput: {ttft, tpot, e2e} durations");
  met.finish();
  Params slo_p(slo_j, met.where("slo"));
  slo_.ttft = slo_p.duration("ttft", "0s", "time-to-first-token SLO (0: none)");
  slo_.tpot = slo_p.duration("tpot", "0s", "time-per-output-token SLO (0: none)");
  slo_.e2e = slo_p.duration("e2e", "0s", "end-to-end latency SLO (0: none)");
  slo_p.finish();
  nlohmann::json r_met = met.resolved();
  r_met["slo"] = slo_p.resolved();

  if (!kv_j.contains("impl")) kv_j["impl"] = "paged";
  nlohmann::json r_kv, r_sched;
  for (std::int64_t i = 0; i < num_replicas; ++i) {
    KvDeps kd{model_, memory_.kv_bytes, memory_.kv_bytes_per_token, plan_->layers_per_stage(model_), seed_, &device_,
              plan_->degrees().tp};
    auto kv = KvManagerRegistry::get().build(kv_j, where_of(source_, "kv"), &r_kv, kd);
    auto sched = SchedulerRegistry::get().build(sched_j, where_of(source_, "scheduler"), &r_sched, SchedulerDeps{*kv, max_model_len});
    ReplicaContext ctx{queue_, model_, *plan_, *cost_, metrics_, PlanLinks{}, mem.weight_dtype, mem.act_dtype, mem.kv_dtype,
                       [this](Request* r) { release(r); }, fast_forward};
    if (topo) {
      const ReplicaLinks l = topo->replica_links(plan_->degrees().tp, plan_->degrees().pp, static_cast<int>(i));
      ctx.links = PlanLinks{l.tp_bandwidth, l.tp_latency_s, l.pp_bandwidth, l.pp_latency_s};
    } else {
      ctx.links.tp_bandwidth = device_.intra_node_bandwidth;
      ctx.links.pp_bandwidth = device_.intra_node_bandwidth;
    }
    replicas_.push_back(std::make_unique<Replica>(static_cast<std::int32_t>(i), std::move(ctx), std::move(kv), std::move(sched)));
  }
  loads_.resize(replicas_.size());

  resolved_ = top.resolved();
  resolved_["engine"] = eng.resolved();
  resolved_["engine"]["resolved_max_model_len"] = max_model_len;
  resolved_["parallel"] = r_parallel;
  resolved_["scheduler"] = r_sched;
  resolved_["kv"] = r_kv;
  resolved_["cost"] = r_cost;
  resolved_["router"] = r_router;
  resolved_["workload"] = r_workload;
  resolved_["metrics"] = r_met;
  // Sources relative to the data directory, so outputs do not depend on where the checkout is.
  resolved_["model_source"] = data_relative(model_.source, options.data_dir);
  resolved_["hardware_source"] = data_relative(device_.source, options.data_dir);
}

Simulation::~Simulation() = default;

Request* Simulation::acquire(RequestSpec&& spec) {
  Request* r;
  if (!free_requests_.empty()) {
    r = free_requests_.back();
    free_requests_.pop_back();
    *r = Request{};
  } else {
    r = &pool_.emplace_back();
  }
  r->spec = std::move(spec);
  ++live_requests_;
  return r;
}

void Simulation::release(Request* r) {
  free_requests_.push_back(r);
  --live_requests_;
}

void Simulation::pull_arrival() {
  std::optional<RequestSpec> spec = workload_->next();
  if (!spec) {
    arrivals_done_ = true;
    return;
  }
  const SimTime t = std::max(spec->arrival, queue_.now());
  Request* r = acquire(std::move(*spec));
  queue_.schedule_at(t, EventPriority::kArrival, [this, r] { on_arrival(r); });
}

void Simulation::on_arrival(Request* r) {
  for (std::size_t i = 0; i < replicas_.size(); ++i) loads_[i].load = replicas_[i]->load();
  const std::int32_t target = replicas_.size() == 1 ? 0 : router_->route(*r, loads_);
  SERVESIM_ASSERT(target >= 0 && target < static_cast<std::int32_t>(replicas_.size()));
  replicas_[static_cast<std::size_t>(target)]->on_arrival(r);
  pull_arrival();
}

void Simulation::sample() {
  for (const auto& rep : replicas_) {
    const KvUsage u = rep->kv().usage();
    const ReplicaLoad l = rep->load();
    TimeSample t{queue_.now(), rep->id(), l.waiting, l.running, u.used_tokens, u.capacity_tokens};
    const KvCounters& c = rep->kv().counters();
    t.kv_allocated_bytes = u.allocated_bytes;
    t.kv_used_bytes = u.used_bytes;
    t.kv_cached_bytes = u.cached_bytes;
    t.kv_prefix_lookup_tokens = c.prefix_lookup_tokens;
    t.kv_prefix_hit_tokens = c.prefix_hit_tokens;
    t.kv_pages_mapped = c.pages_mapped;
    t.kv_exposed_map_s = rep->breakdown().exposed_map_seconds;
    t.kv_swap_bytes = c.swap_out_bytes + c.swap_in_bytes;
    t.kv_offload_bytes = c.spill_bytes + c.load_bytes;
    t.kv_preemptions = c.preemptions_recompute + c.preemptions_swap;
    metrics_.add_sample(t);
  }
  if (!arrivals_done_ || live_requests_ > 0) {
    queue_.schedule_in(sample_interval_, EventPriority::kSample, [this] { sample(); });
  }
}

SimResult Simulation::run() {
  pull_arrival();
  queue_.schedule_at(0, EventPriority::kSample, [this] { sample(); });
  queue_.run();

  SimResult res;
  res.summary = metrics_.summary(slo_);
  res.summary["scenario"] = name_;
  res.summary["model"] = model_.name;
  res.summary["hardware"] = device_.name;
  res.summary["replicas"] = replicas_.size();
  res.summary["memory"] = memory_.to_json();
  res.summary["simulated_time_s"] = to_seconds(queue_.now());
  nlohmann::json kv = nlohmann::json::array();
  nlohmann::json cost_by_class = nlohmann::json::object();
  nlohmann::json cost_by_source = nlohmann::json::object();
  double exposed = 0, swap = 0;
  for (const auto& rep : replicas_) {
    kv.push_back(rep->kv().summary());
    const CostBreakdown& b = rep->breakdown();
    for (std::size_t c = 0; c < b.seconds_by_class.size(); ++c) {
      const char* name = op_class_name(static_cast<OpClass>(c));
      cost_by_class[name] = cost_by_class.value(name, 0.0) + b.seconds_by_class[c];
    }
    for (const auto& [src, s] : b.seconds_by_source) cost_by_source[src] = cost_by_source.value(src, 0.0) + s;
    exposed += b.exposed_map_seconds;
    swap += b.swap_seconds;
  }
  res.summary["kv"] = kv;
  res.summary["step_time_by_op_class_s"] = cost_by_class;
  res.summary["step_time_by_cost_model_s"] = cost_by_source;
  res.summary["kv_exposed_map_s"] = exposed;
  res.summary["kv_swap_s"] = swap;
  res.events = queue_.fired();
  res.summary["events"] = res.events;
  res.resolved_config = resolved_;
  res.records = metrics_.records();
  std::sort(res.records.begin(), res.records.end(), [](const RequestRecord& a, const RequestRecord& b) { return a.id < b.id; });
  res.samples = metrics_.samples();
  return res;
}

void apply_override(nlohmann::json& scenario, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) bad_value("--set", assignment, "key=value (e.g. scheduler.max_num_seqs=128)");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error&) {
    value = text;  // a bare string
  }
  nlohmann::json* cur = &scenario;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) bad_value("--set", assignment, "a dotted key path without empty parts");
    if (!cur->is_object()) bad_value("--set " + path, cur->dump().substr(0, 40), "an object to set '" + key + "' in");
    if (dot == std::string::npos) {
      (*cur)[key] = value;
      return;
    }
    cur = &(*cur)[key];
    if (cur->is_null()) *cur = nlohmann::json::object();
    start = dot + 1;
  }
}

}  // namespace servesim
