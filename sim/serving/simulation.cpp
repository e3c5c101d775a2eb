#include "sim/serving/simulation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/units.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/sched/i_scheduler.h"

namespace servesim {

namespace {
std::string data_relative(const std::string& path, const std::string& data_dir) {
  const std::filesystem::path rel = std::filesystem::path(path).lexically_relative(data_dir);
  return rel.empty() || rel.native().rfind("..", 0) == 0 ? path : rel.string();
}
}  // namespace

// ---------------------------------------------------------------------------------------
// Pools

ExecutorContext PoolRuntime::exec_context(PlanLinks links) const {
  return ExecutorContext{*model, *plan, *cost, links, mem.weight_dtype, mem.act_dtype, mem.kv_dtype};
}

PoolRuntime build_pool(const PoolConfig& c, Catalog& catalog, const std::string& source) {
  auto where = [&](const std::string& key) { return c.where.find(": ") == std::string::npos ? c.where + ": " + key : c.where + "." + key; };
  PoolRuntime p;
  p.config = &c;
  p.model = catalog.model(c.model, where("model"));
  p.device = catalog.device(c.hardware, where("hardware"));
  const ModelSpec& model = *p.model;
  const EngineConfig& e = c.engine;
  p.mem.gpu_memory_utilization = e.gpu_memory_utilization;
  p.mem.weight_dtype = e.dtype == "auto" ? model.checkpoint_weight_dtype() : parse_dtype(e.dtype, where("engine.dtype"));
  p.mem.act_dtype = p.mem.weight_dtype == DType::kFp8 || p.mem.weight_dtype == DType::kInt4 ? DType::kBf16 : p.mem.weight_dtype;
  p.mem.kv_dtype = e.kv_cache_dtype == "auto" ? p.mem.act_dtype : parse_dtype(e.kv_cache_dtype, where("engine.kv_cache_dtype"));
  p.mem.runtime_overhead_bytes = e.runtime_overhead_bytes;
  // The scheduler's own budgets size the activation peak (whatever its keys are called).
  const StepBudgets budgets = step_budgets(c.scheduler);
  p.mem.max_num_batched_tokens = budgets.max_tokens;
  p.mem.max_num_seqs = budgets.max_seqs;

  p.plan = ParallelPlanRegistry::get().make(c.parallel);
  p.plan->validate(model, where("parallel"));
  if (!c.topology.empty()) {
    p.topology = catalog.topology(c.topology, where("topology"));
    if (p.topology->device() != p.device->name) {
      bad_value(where("topology"), c.topology + " (" + p.topology->device() + " devices)",
                "a node or cluster of " + p.device->name + " devices (the pool's hardware)");
    }
  }
  p.memory = plan_memory(model, *p.device, *p.plan, p.mem);
  require_fit(p.memory, model, *p.device, where("model"));
  std::int64_t max_model_len = e.max_model_len;
  if (max_model_len == 0) max_model_len = model.max_position > 0 ? model.max_position : INT32_MAX;
  if (p.memory.kv_tokens < max_model_len && e.max_model_len_given) {
    bad_value(where("engine.max_model_len"), std::to_string(max_model_len),
              "at most the KV capacity of one replica (" + std::to_string(p.memory.kv_tokens) + " tokens)");
  }
  p.max_model_len = std::min<std::int64_t>(max_model_len, p.memory.kv_tokens);
  p.cost = catalog.cost_model(c.cost, p.device);
  (void)source;
  return p;
}

// ---------------------------------------------------------------------------------------
// KV transfers and migrations

struct Simulation::Transfer {
  enum class Kind : std::uint8_t { kHandOff, kMigrationRound, kMigrationFinal };
  Kind kind = Kind::kHandOff;
  Request* r = nullptr;
  std::int32_t src = -1, dst = -1;
  std::int32_t src_slot = -1, dst_slot = -1;
  double bytes = 0;      // bytes this transfer moves
  double remaining = 0;  // of which not yet sent
  double capacity = 0;   // path bandwidth, bytes/s
  SimTime latency = 0;   // added once, at the end
  double rate = 0;       // current share of the path, bytes/s
  SimTime started = 0;   // when the request left (hand-off) or stopped (final migration copy)
  SimTime finish = -1;   // scheduled completion
  EventId event = 0;
};

struct Simulation::Migration {
  Request* r = nullptr;
  std::int32_t pool = 0;
  std::int32_t src = -1, dst = -1;
  std::int32_t dst_slot = -1;
  std::int64_t copied = 0;    // tokens whose KV is (or is being) copied to dst
  bool awaiting_stop = false; // the next step end of src stops the request
  Transfer* transfer = nullptr;
};

// ---------------------------------------------------------------------------------------
// Building

Simulation::Simulation(const nlohmann::json& scenario, const SimOptions& options)
    : config_(parse_scenario(scenario, options.source)) {
  build(std::make_shared<Catalog>(options.data_dir));
}

Simulation::Simulation(const ScenarioConfig& config, std::shared_ptr<Catalog> catalog) : config_(config) {
  build(std::move(catalog));
}

Simulation::~Simulation() = default;

void Simulation::build(std::shared_ptr<Catalog> catalog) {
  catalog_ = std::move(catalog);
  const std::string& src = config_.source;
  pools_.reserve(config_.pools.size());
  for (const PoolConfig& pc : config_.pools) pools_.push_back(build_pool(pc, *catalog_, src));

  // Placement: pools on one topology fill it in order; without one, pools of one device
  // type fill nodes of kv_transfer.devices_per_node in order.
  std::map<std::string, std::int64_t> used;  // devices used so far per topology / device type
  std::map<std::string, std::int32_t> group_ids;
  resolved_ = config_.resolved();
  resolved_["pools"] = nlohmann::json::array();
  for (std::size_t pi = 0; pi < pools_.size(); ++pi) {
    PoolRuntime& p = pools_[pi];
    const PoolConfig& pc = config_.pools[pi];
    const std::int64_t per_replica = p.plan->degrees().devices_per_replica();
    const std::string group = p.topology ? "topology:" + pc.topology : "device:" + p.device->name;
    const std::int32_t gid = group_ids.emplace(group, static_cast<std::int32_t>(group_ids.size())).first->second;
    std::int64_t& offset = used[group];
    if (p.topology) {
      p.topology->require_devices(offset + per_replica * pc.replicas, "devices of the pools placed on it (tp x pp x replicas)",
                                  pc.where.find(": ") == std::string::npos ? pc.where + ": topology" : pc.where + ".topology");
    }
    for (std::int64_t i = 0; i < pc.replicas; ++i) {
      const auto id = static_cast<std::int32_t>(replicas_.size());
      KvDeps kd{*p.model, p.memory.kv_bytes, p.memory.kv_bytes_per_token, p.plan->layers_per_stage(*p.model),
                config_.seed + static_cast<std::uint64_t>(pi) * 7919u, p.device.get(), p.plan->degrees().tp};
      auto kv = KvManagerRegistry::get().make(pc.kv, kd);
      auto sched = SchedulerRegistry::get().make(pc.scheduler, SchedulerDeps{*kv, p.max_model_len});
      PlanLinks links;
      if (p.topology) {
        const std::int64_t first = offset + i * per_replica;
        const int index = first % per_replica == 0 ? static_cast<int>(first / per_replica) : static_cast<int>(i);
        const ReplicaLinks l = p.topology->replica_links(p.plan->degrees().tp, p.plan->degrees().pp, index);
        links = PlanLinks{l.tp_bandwidth, l.tp_latency_s, l.pp_bandwidth, l.pp_latency_s};
      } else {
        links.tp_bandwidth = p.device->intra_node_bandwidth;
        links.pp_bandwidth = p.device->intra_node_bandwidth;
      }
      ReplicaContext ctx{queue_, metrics_, *this, p.exec_context(links), static_cast<std::int32_t>(pi),
                         pc.role == PoolRole::kPrefill, pc.engine.fast_forward};
      replicas_.push_back(std::make_unique<Replica>(id, std::move(ctx), std::move(kv), std::move(sched)));
      placement_.push_back(Placement{gid, offset + i * per_replica, per_replica});
    }
    offset += per_replica * pc.replicas;

    nlohmann::json pj = config_.resolved()["pools"][pi];
    pj["engine"]["resolved_max_model_len"] = p.max_model_len;
    pj["model_source"] = data_relative(p.model->source, catalog_->data_dir());
    pj["hardware_source"] = data_relative(p.device->source, catalog_->data_dir());
    resolved_["pools"].push_back(std::move(pj));
  }

  // Routing groups.
  const bool disagg = config_.disaggregated();
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    const PoolRole role = config_.pools[static_cast<std::size_t>(replicas_[i]->pool())].role;
    const auto id = static_cast<std::int32_t>(i);
    if (!disagg || role == PoolRole::kPrefill) entry_.members.push_back(id);
    if (disagg && role == PoolRole::kDecode) decode_.members.push_back(id);
    if (disagg && role == PoolRole::kMixed) overflow_.members.push_back(id);
  }
  auto make_views = [&](Group& g) {
    for (std::int32_t id : g.members) {
      ReplicaView v;
      v.replica = id;
      Replica* rep = replicas_[static_cast<std::size_t>(id)].get();
      v.cached_prefix = [rep](const Request& r) { return rep->kv().cached_prefix(r); };
      g.views.push_back(std::move(v));
    }
  };
  make_views(entry_);
  make_views(decode_);
  make_views(overflow_);
  entry_.router = RouterRegistry::get().make(config_.router, RouterDeps{static_cast<std::int32_t>(entry_.members.size()), config_.seed});
  if (disagg) {
    decode_.router = RouterRegistry::get().make(config_.disaggregation.decode_router,
                                                RouterDeps{static_cast<std::int32_t>(decode_.members.size()), config_.seed + 1});
    if (!overflow_.members.empty()) {
      overflow_.router = RouterRegistry::get().make(RouterRegistry::get().parse({{"impl", "least_load"}}, src + ": disaggregation"),
                                                    RouterDeps{static_cast<std::int32_t>(overflow_.members.size()), config_.seed + 2});
    }
  }

  workload_ = WorkloadRegistry::get().make(config_.workload,
                                           WorkloadDeps{config_.seed, catalog_->data_dir(), config_.workload.where});
  pending_.resize(replicas_.size());
  inflight_.assign(replicas_.size(), 0);
  outgoing_.assign(replicas_.size(), 0);
  sending_.assign(replicas_.size(), 0);
  receiving_.assign(replicas_.size(), 0);
  sent_bytes_.assign(replicas_.size(), 0.0);
  received_bytes_.assign(replicas_.size(), 0.0);
  migrations_per_pool_.assign(pools_.size(), 0);
}

// ---------------------------------------------------------------------------------------
// Requests

Request* Simulation::acquire(RequestSpec&& spec) {
  Request* r;
  if (!free_requests_.empty()) {
    r = free_requests_.back();
    free_requests_.pop_back();
    *r = Request{};
  } else {
    r = &request_pool_.emplace_back();
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
  next_arrival_ = t;
  Request* r = acquire(std::move(*spec));
  queue_.schedule_at(t, EventPriority::kArrival, [this, r] { on_arrival(r); });
}

std::int32_t Simulation::route(Group& g, const Request& r) {
  if (g.members.size() == 1) return g.members.front();
  for (std::size_t i = 0; i < g.members.size(); ++i) {
    const Replica& rep = *replicas_[static_cast<std::size_t>(g.members[i])];
    ReplicaView& v = g.views[i];
    v.load = rep.load();
    const KvUsage u = rep.kv().usage();
    v.kv_capacity_tokens = u.capacity_tokens;
    v.kv_free_tokens = u.capacity_tokens - u.used_tokens;
  }
  const std::int32_t k = g.router->route(r, g.views);
  SERVESIM_ASSERT(k >= 0 && k < static_cast<std::int32_t>(g.members.size()));
  return g.members[static_cast<std::size_t>(k)];
}

void Simulation::on_arrival(Request* r) {
  Group* g = &entry_;
  if (config_.disaggregation.overflow_waiting > 0 && !overflow_.members.empty()) {
    bool all_busy = true;
    for (std::int32_t id : entry_.members) {
      all_busy &= static_cast<std::int64_t>(replicas_[static_cast<std::size_t>(id)]->scheduler().num_waiting()) >=
                  config_.disaggregation.overflow_waiting;
    }
    if (all_busy) g = &overflow_;
  }
  replicas_[static_cast<std::size_t>(route(*g, *r))]->on_arrival(r);
  pull_arrival();
}

void Simulation::on_released(Request* r) {
  auto it = migrations_.find(r->spec.id);
  if (it != migrations_.end()) {
    // The request finished (or was preempted away) while its KV was being copied: the copy
    // is dropped and its room at the destination given back.
    Migration& m = *it->second;
    if (m.transfer) {
      Transfer* t = m.transfer;
      queue_.cancel(t->event);
      --sending_[static_cast<std::size_t>(t->src)];
      --receiving_[static_cast<std::size_t>(t->dst)];
      transfers_.erase(std::find_if(transfers_.begin(), transfers_.end(), [t](const auto& p) { return p.get() == t; }));
      reschedule_transfers();
    }
    free_kv_at(r, m.dst, m.dst_slot);
    --migrations_per_pool_[static_cast<std::size_t>(m.pool)];
    ++migrations_aborted_;
    migrations_.erase(it);
  }
  release(r);
}

// ---------------------------------------------------------------------------------------
// KV placement and transfers

double Simulation::kv_bytes(std::int32_t replica, std::int64_t tokens) const {
  const PoolRuntime& p = pools_[static_cast<std::size_t>(replicas_[static_cast<std::size_t>(replica)]->pool())];
  return static_cast<double>(std::max<std::int64_t>(0, tokens)) * p.model->kv_bytes_per_token(p.mem.kv_dtype);
}

Simulation::Path Simulation::path(std::int32_t src, std::int32_t dst) const {
  const Placement& a = placement_[static_cast<std::size_t>(src)];
  const Placement& b = placement_[static_cast<std::size_t>(dst)];
  const PoolRuntime& pa = pools_[static_cast<std::size_t>(replicas_[static_cast<std::size_t>(src)]->pool())];
  const PoolRuntime& pb = pools_[static_cast<std::size_t>(replicas_[static_cast<std::size_t>(dst)]->pool())];
  const KvTransferConfig& k = config_.kv_transfer;
  // Every device of the smaller replica sends its shard of the KV over its own link.
  const std::int64_t lanes = std::min(a.devices, b.devices);
  Path p;
  std::string link = k.link;
  if (link == "auto" && a.node_group == b.node_group && pa.topology && pa.topology == pb.topology) {
    for (std::int64_t l = 0; l < lanes; ++l) {
      p.bandwidth += pa.topology->path_bandwidth(static_cast<int>(a.first_device + l), static_cast<int>(b.first_device + l));
    }
    p.latency_s = pa.topology->path_latency(static_cast<int>(a.first_device), static_cast<int>(b.first_device));
    p.kind = "topology";
  } else {
    if (link == "auto") {
      const bool same_node = a.node_group == b.node_group && !pa.topology &&
                             a.first_device / k.devices_per_node == b.first_device / k.devices_per_node &&
                             (a.first_device + a.devices - 1) / k.devices_per_node == a.first_device / k.devices_per_node &&
                             (b.first_device + b.devices - 1) / k.devices_per_node == b.first_device / k.devices_per_node;
      link = same_node ? "nvlink" : "network";
    }
    if (link == "nvlink") {
      p.bandwidth = static_cast<double>(lanes) * std::min(pa.device->intra_node_bandwidth, pb.device->intra_node_bandwidth);
      p.latency_s = k.nvlink_latency_s;
      p.kind = "nvlink";
    } else if (link == "pcie") {
      // Device -> host memory -> device, the two copies pipelined: the slower host link.
      p.bandwidth = static_cast<double>(lanes) * std::min(pa.device->host_link_bandwidth, pb.device->host_link_bandwidth);
      p.latency_s = 0;
      p.kind = "pcie";
    } else {
      p.bandwidth = static_cast<double>(lanes) * k.network_bandwidth;
      p.latency_s = k.network_latency_s;
      p.kind = "network";
    }
  }
  p.latency_s += k.setup_latency_s;
  SERVESIM_ASSERT(p.bandwidth > 0);
  return p;
}

bool Simulation::place_kv(Request* r, std::int32_t dst, std::int64_t tokens, std::int32_t* dst_slot, std::int64_t* hit) {
  IKvManager& kv = replicas_[static_cast<std::size_t>(dst)]->kv();
  const std::int32_t saved = r->kv_slot;
  r->kv_slot = *dst_slot;
  if (hit) *hit = *dst_slot < 0 ? std::min(kv.cached_prefix(*r), tokens) : 0;
  KvStepWork work;  // page maps for adopted KV overlap the copy (not costed)
  const bool ok = kv.allocate(*r, tokens, work);
  if (ok) *dst_slot = r->kv_slot;
  r->kv_slot = saved;
  return ok;
}

void Simulation::free_kv_at(Request* r, std::int32_t replica, std::int32_t slot) {
  if (slot < 0) return;
  const std::int32_t saved = r->kv_slot;
  r->kv_slot = slot;
  replicas_[static_cast<std::size_t>(replica)]->kv().free(*r);
  r->kv_slot = saved == slot ? -1 : saved;
}

void Simulation::on_prefilled(Replica& from, Request* r) {
  const std::int32_t dst = route(decode_, *r);
  const Replica& d = *replicas_[static_cast<std::size_t>(dst)];
  const PoolRuntime& dp = pools_[static_cast<std::size_t>(d.pool())];
  if (r->total_tokens() > d.kv().capacity_tokens() || r->total_tokens() > dp.max_model_len) {
    // It can never be decoded there: give up on it as the decode engine would.
    free_kv_at(r, from.id(), r->kv_slot);
    r->reject();
    metrics_.on_reject(*r);
    release(r);
    from.wake();
    return;
  }
  ++outgoing_[static_cast<std::size_t>(from.id())];
  pending_[static_cast<std::size_t>(dst)].push_back(PendingHandOff{r, from.id(), queue_.now(), from.last_step_duration()});
  try_place(dst);
}

void Simulation::try_place(std::int32_t dst) {
  auto& q = pending_[static_cast<std::size_t>(dst)];
  while (!q.empty()) {
    const PendingHandOff h = q.front();
    Request* r = h.r;
    std::int32_t slot = -1;
    std::int64_t hit = 0;
    // FIFO: the head waits for a running slot and for room (the prompt's KV plus its first
    // decode token, so its first step there needs no more).
    if (!replicas_[static_cast<std::size_t>(dst)]->scheduler().can_adopt(inflight_[static_cast<std::size_t>(dst)])) break;
    if (!place_kv(r, dst, r->num_computed + 1, &slot, &hit)) break;
    ++inflight_[static_cast<std::size_t>(dst)];
    q.pop_front();
    auto t = std::make_unique<Transfer>();
    t->kind = Transfer::Kind::kHandOff;
    t->r = r;
    t->src = h.src;
    t->dst = dst;
    t->src_slot = r->kv_slot;
    t->dst_slot = slot;
    t->bytes = kv_bytes(h.src, r->num_computed - hit);
    t->remaining = t->bytes;
    t->started = h.since;
    const Path p = path(h.src, dst);
    t->capacity = p.bandwidth;
    t->latency = from_seconds(p.latency_s);
    if (config_.kv_transfer.layerwise && h.since == queue_.now() && h.prefill_step > 0) {
      // Layer-wise streaming (Splitwise): layer i's KV leaves as soon as the last prefill
      // step has computed it, so all but the last layer's share could move during that
      // step, at the path's share the transfer gets now.
      const double layers = static_cast<double>(pools_[static_cast<std::size_t>(replicas_[static_cast<std::size_t>(h.src)]->pool())].model->layers);
      const double share = t->capacity / static_cast<double>(std::max(sending_[static_cast<std::size_t>(h.src)] + 1,
                                                                     receiving_[static_cast<std::size_t>(dst)] + 1));
      const double overlap_s = to_seconds(h.prefill_step) * (layers - 1) / layers;
      t->remaining = t->bytes - std::min(t->bytes * (layers - 1) / layers, share * overlap_s);
    }
    start_transfer(std::move(t));
  }
}

void Simulation::start_transfer(std::unique_ptr<Transfer> t) {
  ++sending_[static_cast<std::size_t>(t->src)];
  ++receiving_[static_cast<std::size_t>(t->dst)];
  transfers_.push_back(std::move(t));
  reschedule_transfers();  // the new one has rate 0 until now: no progress is counted for it
}

// Transfers from one replica, or into one, share its links equally: a transfer's rate is
// its path's bandwidth over the larger of the number of transfers leaving its source and
// entering its destination. Called whenever that changes (after the counts change); it
// first accounts every transfer's progress since the last call at the rates it had.
void Simulation::reschedule_transfers() {
  const SimTime now = queue_.now();
  const double dt = to_seconds(now - transfers_updated_);
  transfers_updated_ = now;
  for (auto& tp : transfers_) {
    Transfer& t = *tp;
    // Once its data has all arrived a transfer only waits out its latency: its end is fixed.
    if (t.finish >= 0 && t.finish - t.latency <= now) {
      t.remaining = 0;
      continue;
    }
    if (dt > 0 && t.rate > 0) t.remaining = std::max(0.0, t.remaining - t.rate * dt);
    const double rate = t.capacity / static_cast<double>(std::max(sending_[static_cast<std::size_t>(t.src)],
                                                                  receiving_[static_cast<std::size_t>(t.dst)]));
    const SimTime finish = now + static_cast<SimTime>(std::ceil(t.remaining / rate * 1e9)) + t.latency;
    t.rate = rate;
    if (finish == t.finish) continue;
    if (t.finish >= 0) queue_.cancel(t.event);
    t.finish = finish;
    Transfer* raw = &t;
    t.event = queue_.schedule_at(finish, EventPriority::kTransfer, [this, raw] { on_transfer_done(raw); });
  }
}

void Simulation::on_transfer_done(Transfer* t) {
  --sending_[static_cast<std::size_t>(t->src)];
  --receiving_[static_cast<std::size_t>(t->dst)];
  auto it = std::find_if(transfers_.begin(), transfers_.end(), [t](const auto& p) { return p.get() == t; });
  SERVESIM_ASSERT(it != transfers_.end());
  std::unique_ptr<Transfer> done = std::move(*it);
  transfers_.erase(it);
  sent_bytes_[static_cast<std::size_t>(done->src)] += done->bytes;
  received_bytes_[static_cast<std::size_t>(done->dst)] += done->bytes;
  switch (done->kind) {
    case Transfer::Kind::kHandOff: finish_hand_off(*done); break;
    case Transfer::Kind::kMigrationRound: migration_round_done(*done); break;
    case Transfer::Kind::kMigrationFinal: {
      Request* r = done->r;
      auto mit = migrations_.find(r->spec.id);
      SERVESIM_ASSERT(mit != migrations_.end());
      const Migration& m = *mit->second;
      free_kv_at(r, done->src, done->src_slot);
      --outgoing_[static_cast<std::size_t>(done->src)];
      r->kv_slot = m.dst_slot;
      r->adopt(done->dst, queue_.now(), done->started, done->bytes, false);
      ++r->migrations;
      migration_downtime_ += queue_.now() - done->started;
      ++migrations_done_;
      --migrations_per_pool_[static_cast<std::size_t>(m.pool)];
      migrations_.erase(mit);
      --inflight_[static_cast<std::size_t>(done->dst)];
      replicas_[static_cast<std::size_t>(done->dst)]->adopt(r);
      replicas_[static_cast<std::size_t>(done->src)]->wake();
      try_place(done->src);
      break;
    }
  }
  reschedule_transfers();
}

void Simulation::finish_hand_off(Transfer& t) {
  Request* r = t.r;
  free_kv_at(r, t.src, t.src_slot);
  --outgoing_[static_cast<std::size_t>(t.src)];
  r->kv_slot = t.dst_slot;
  r->adopt(t.dst, queue_.now(), t.started, t.bytes, true);
  --inflight_[static_cast<std::size_t>(t.dst)];
  replicas_[static_cast<std::size_t>(t.dst)]->adopt(r);
  replicas_[static_cast<std::size_t>(t.src)]->wake();  // its freed KV may admit waiting prompts
}

void Simulation::on_step_end(Replica& rep) {
  const std::int32_t id = rep.id();
  if (!pending_[static_cast<std::size_t>(id)].empty()) try_place(id);
  if (migrations_.empty()) return;
  // Live migrations whose copy rounds are done stop their request at this step boundary.
  std::vector<Migration*> stopping;
  for (auto& [rid, m] : migrations_) {
    if (m->awaiting_stop && m->src == id) stopping.push_back(m.get());
  }
  for (Migration* m : stopping) begin_stop_the_world(*m);
}

bool Simulation::may_merge_steps(const Replica& rep) const {
  if (!pending_[static_cast<std::size_t>(rep.id())].empty()) return false;
  for (const auto& [rid, m] : migrations_) {
    if (m->awaiting_stop && m->src == rep.id()) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Live migration (Llumnix): the balancer looks every `interval`; in each pool of mixed or
// decode replicas it compares the fullest and the emptiest replica by KV use and, when they
// differ by `imbalance` or more, moves the decoding request with the fewest tokens (the
// cheapest to copy; lowest id on ties) from the fullest to the emptiest. Its KV is copied
// in rounds while it keeps decoding (each round copies the tokens the last one missed);
// when fewer than `stop_tokens` are left, the request is stopped at the source's next step
// boundary, the rest copied (the downtime), and the destination adopts it.

std::int64_t Simulation::computed_now(const Request& r, bool steps_ending_now) const {
  const Replica& rep = *replicas_[static_cast<std::size_t>(r.current_replica())];
  return r.num_computed + rep.merged_steps_ended(r, queue_.now(), steps_ending_now);
}

void Simulation::balance() {
  const MigrationConfig& mc = config_.migration;
  for (std::size_t pi = 0; pi < pools_.size(); ++pi) {
    if (config_.pools[pi].role == PoolRole::kPrefill) continue;
    if (migrations_per_pool_[pi] >= mc.max_concurrent) continue;
    std::int32_t hi = -1, lo = -1;
    double hi_u = -1, lo_u = 2;
    for (const auto& rep : replicas_) {
      if (rep->pool() != static_cast<std::int32_t>(pi)) continue;
      const double u = rep->load().kv_used_fraction;
      if (u > hi_u) hi_u = u, hi = rep->id();
      if (u < lo_u) lo_u = u, lo = rep->id();
    }
    if (hi < 0 || hi == lo || hi_u - lo_u < mc.imbalance) continue;
    Replica& src = *replicas_[static_cast<std::size_t>(hi)];
    Request* victim = nullptr;
    for (Request* r : src.scheduler().running()) {
      if (r->state != RequestState::kRunning || r->num_generated < 1 || r->kv_slot < 0) continue;
      if (migrations_.count(r->spec.id)) continue;
      if (r->total_tokens() > replicas_[static_cast<std::size_t>(lo)]->kv().capacity_tokens()) continue;
      // Control events come after step ends of their instant: those steps count.
      if (!victim || computed_now(*r, true) < computed_now(*victim, true) ||
          (computed_now(*r, true) == computed_now(*victim, true) && r->spec.id < victim->spec.id)) {
        victim = r;
      }
    }
    if (!victim || !replicas_[static_cast<std::size_t>(lo)]->scheduler().can_adopt(inflight_[static_cast<std::size_t>(lo)])) continue;
    const std::int64_t computed = computed_now(*victim, true);
    auto m = std::make_unique<Migration>();
    m->r = victim;
    m->pool = static_cast<std::int32_t>(pi);
    m->src = hi;
    m->dst = lo;
    if (!place_kv(victim, lo, computed, &m->dst_slot, nullptr)) continue;
    m->copied = computed;
    auto t = std::make_unique<Transfer>();
    t->kind = Transfer::Kind::kMigrationRound;
    t->r = victim;
    t->src = hi;
    t->dst = lo;
    t->bytes = t->remaining = kv_bytes(hi, m->copied);
    const Path p = path(hi, lo);
    t->capacity = p.bandwidth;
    t->latency = from_seconds(p.latency_s);
    t->started = queue_.now();
    m->transfer = t.get();
    migration_bytes_ += t->bytes;
    ++migrations_per_pool_[pi];
    migrations_.emplace(victim->spec.id, std::move(m));
    start_transfer(std::move(t));
  }
  if (!arrivals_done_ || live_requests_ > 0) {
    queue_.schedule_in(mc.interval, EventPriority::kControl, [this] { balance(); });
  }
}

void Simulation::migration_round_done(Transfer& t) {
  Request* r = t.r;
  auto it = migrations_.find(r->spec.id);
  SERVESIM_ASSERT(it != migrations_.end());
  Migration& m = *it->second;
  m.transfer = nullptr;
  const auto abort = [&] {
    free_kv_at(r, m.dst, m.dst_slot);
    --migrations_per_pool_[static_cast<std::size_t>(m.pool)];
    ++migrations_aborted_;
    migrations_.erase(it);
  };
  if (r->state != RequestState::kRunning || r->kv_slot < 0) return abort();  // preempted meanwhile
  // Transfer events come before step ends of their instant: those steps do not count yet.
  const std::int64_t computed = computed_now(*r, false);
  const std::int64_t behind = computed - m.copied;
  if (behind < config_.migration.stop_tokens) {
    m.awaiting_stop = true;
    return;
  }
  if (!place_kv(r, m.dst, computed, &m.dst_slot, nullptr)) return abort();
  auto next = std::make_unique<Transfer>();
  next->kind = Transfer::Kind::kMigrationRound;
  next->r = r;
  next->src = m.src;
  next->dst = m.dst;
  next->bytes = next->remaining = kv_bytes(m.src, behind);
  next->capacity = t.capacity;
  next->latency = t.latency;
  next->started = queue_.now();
  m.copied = computed;
  m.transfer = next.get();
  migration_bytes_ += next->bytes;
  start_transfer(std::move(next));
}

void Simulation::begin_stop_the_world(Migration& m) {
  Request* r = m.r;
  auto it = migrations_.find(r->spec.id);
  const auto abort = [&] {
    free_kv_at(r, m.dst, m.dst_slot);
    --migrations_per_pool_[static_cast<std::size_t>(m.pool)];
    ++migrations_aborted_;
    migrations_.erase(it);
  };
  if (r->state != RequestState::kRunning || r->kv_slot < 0) return abort();
  if (!replicas_[static_cast<std::size_t>(m.dst)]->scheduler().can_adopt(inflight_[static_cast<std::size_t>(m.dst)])) return abort();
  if (!place_kv(r, m.dst, r->num_computed + 1, &m.dst_slot, nullptr)) return abort();
  ++inflight_[static_cast<std::size_t>(m.dst)];
  Replica& src = *replicas_[static_cast<std::size_t>(m.src)];
  src.scheduler().detach(r);
  r->hand_off();
  ++outgoing_[static_cast<std::size_t>(m.src)];
  m.awaiting_stop = false;
  auto t = std::make_unique<Transfer>();
  t->kind = Transfer::Kind::kMigrationFinal;
  t->r = r;
  t->src = m.src;
  t->dst = m.dst;
  t->src_slot = r->kv_slot;
  t->bytes = t->remaining = kv_bytes(m.src, r->num_computed - m.copied);
  const Path p = path(m.src, m.dst);
  t->capacity = p.bandwidth;
  t->latency = from_seconds(p.latency_s);
  t->started = queue_.now();
  m.copied = r->num_computed;
  m.transfer = t.get();
  migration_bytes_ += t->bytes;
  start_transfer(std::move(t));
}

// ---------------------------------------------------------------------------------------
// Sampling and results

void Simulation::sample() {
  if (metrics_.samples().size() + replicas_.size() > kMaxSampleRows) {
    bad_value(config_.source + ": metrics.sample_interval", units::format_duration(config_.metrics.sample_interval),
              fmt::format("an interval giving at most {} time-series rows (the run reached {:.6g} s of simulated time)",
                          kMaxSampleRows, to_seconds(queue_.now())));
  }
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
    // An idle cluster gives identical rows: after kMaxIdleSamples of them in a row, sampling
    // jumps to the last interval boundary before the next arrival, so a long gap in a trace
    // costs no memory (rows at the usual instants resume there).
    const SimTime interval = config_.metrics.sample_interval;
    // Idle: the only live request is the next arrival, not yet arrived.
    idle_samples_ = !arrivals_done_ && live_requests_ == 1 && next_arrival_ > queue_.now() ? idle_samples_ + 1 : 0;
    SimTime delay = interval;
    if (idle_samples_ >= kMaxIdleSamples && next_arrival_ > queue_.now() + interval) {
      delay = (next_arrival_ - queue_.now()) / interval * interval;
    }
    queue_.schedule_in(delay, EventPriority::kSample, [this] { sample(); });
  }
}

void Simulation::run_events(const RunControl& c) {
  if (!c.max_events && !c.max_sim_time && !c.cancelled && !c.progress) {
    queue_.run();
    return;
  }
  auto unfinished = [&] {
    return fmt::format("{} requests done, {} unfinished", metrics_.records().size(), live_requests_);
  };
  std::uint64_t since_poll = 0;
  for (SimTime next = queue_.next_time(); next != kTimeMax; next = queue_.next_time()) {
    if (c.max_sim_time > 0 && next > c.max_sim_time) {
      input_error("--max-sim-time", fmt::format("the run reached the limit of {:.6g} s of simulated time ({}); expected it to "
                                                "finish within the limit (raise --max-sim-time, or shorten the workload)",
                                                to_seconds(c.max_sim_time), unfinished()));
    }
    if (c.max_events > 0 && queue_.fired() >= c.max_events) {
      input_error("--max-events", fmt::format("the run reached the limit of {} events at simulated time {:.6g} s ({}); expected "
                                              "it to finish within the limit (raise --max-events, or shorten the workload)",
                                              c.max_events, to_seconds(queue_.now()), unfinished()));
    }
    queue_.step();
    if (++since_poll == RunControl::kPollEvents) {
      since_poll = 0;
      if (c.cancelled && c.cancelled()) throw Cancelled("stopped during the simulation; nothing was written");
      if (c.progress) {
        c.progress(RunProgress{queue_.now(), queue_.fired(), static_cast<std::int64_t>(metrics_.records().size())});
      }
    }
  }
}

SimResult Simulation::run(const RunControl& control) {
  pull_arrival();
  queue_.schedule_at(0, EventPriority::kSample, [this] { sample(); });
  if (config_.migration.enabled) queue_.schedule_at(0, EventPriority::kControl, [this] { balance(); });
  run_events(control);
  SERVESIM_ASSERT(transfers_.empty() && migrations_.empty());

  SimResult res;
  const Slo& slo = config_.metrics.slo;
  res.summary = metrics_.summary(slo);
  res.summary["scenario"] = config_.name;
  // Model and hardware of the cluster ("a+b" when pools differ); the memory plan of each
  // pool is in pools[] (and at the top for a one-pool scenario).
  auto joined = [&](auto field) {
    std::vector<std::string> names;
    for (const PoolRuntime& p : pools_) {
      const std::string n = field(p);
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : "+") + n;
    return s;
  };
  res.summary["model"] = joined([](const PoolRuntime& p) { return p.model->name; });
  res.summary["hardware"] = joined([](const PoolRuntime& p) { return p.device->name; });
  res.summary["replicas"] = replicas_.size();
  if (pools_.size() == 1) res.summary["memory"] = pools_.front().memory.to_json();
  const double sim_s = to_seconds(queue_.now());
  res.summary["simulated_time_s"] = sim_s;
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
    res.replica_pool.push_back(config_.pools[static_cast<std::size_t>(rep->pool())].name);
  }
  res.summary["kv"] = kv;
  res.summary["step_time_by_op_class_s"] = cost_by_class;
  res.summary["step_time_by_cost_model_s"] = cost_by_source;
  res.summary["kv_exposed_map_s"] = exposed;
  res.summary["kv_swap_s"] = swap;

  res.records = metrics_.records();
  std::sort(res.records.begin(), res.records.end(), [](const RequestRecord& a, const RequestRecord& b) { return a.id < b.id; });

  // Per pool: its replicas' work, and the requests that entered or were decoded there.
  nlohmann::json pools = nlohmann::json::array();
  for (std::size_t pi = 0; pi < pools_.size(); ++pi) {
    const PoolRuntime& p = pools_[pi];
    const PoolConfig& pc = config_.pools[pi];
    std::int64_t steps = 0, tokens = 0, seqs = 0, prefilled = 0, n = 0;
    SimTime busy = 0;
    double sent = 0, received = 0;
    std::int64_t capacity = 0;
    for (const auto& rep : replicas_) {
      if (rep->pool() != static_cast<std::int32_t>(pi)) continue;
      const ReplicaStats& s = rep->stats();
      steps += s.steps;
      tokens += s.tokens;
      seqs += s.seqs;
      prefilled += s.prefilled;
      busy += s.busy;
      sent += sent_bytes_[static_cast<std::size_t>(rep->id())];
      received += received_bytes_[static_cast<std::size_t>(rep->id())];
      capacity = rep->kv().capacity_tokens();
      ++n;
    }
    std::vector<double> ttft, tpot;
    std::int64_t entered = 0, finished_here = 0;
    for (const RequestRecord& r : res.records) {
      if (r.rejected) continue;
      const bool in = r.replica >= 0 && replicas_[static_cast<std::size_t>(r.replica)]->pool() == static_cast<std::int32_t>(pi);
      const std::int32_t last = r.decode_replica >= 0 ? r.decode_replica : r.replica;
      const bool out = last >= 0 && replicas_[static_cast<std::size_t>(last)]->pool() == static_cast<std::int32_t>(pi);
      if (in) {
        ++entered;
        ttft.push_back(to_seconds(r.ttft()));
      }
      if (out) {
        ++finished_here;
        if (r.has_tpot()) tpot.push_back(r.tpot_ns() * 1e-9);
      }
    }
    nlohmann::json pj = {
        {"name", pc.name},
        {"role", pool_role_name(pc.role)},
        {"model", p.model->name},
        {"hardware", p.device->name},
        {"replicas", n},
        {"tp", p.plan->degrees().tp},
        {"pp", p.plan->degrees().pp},
        {"kv_capacity_tokens", capacity},
        {"memory", p.memory.to_json()},
        {"steps", steps},
        {"busy_s", to_seconds(busy)},
        // Fraction of the time a replica is running a step (any step: a replica decoding one
        // request is busy); the batch sizes say how full the steps are.
        {"busy_fraction", n > 0 && sim_s > 0 ? to_seconds(busy) / (static_cast<double>(n) * sim_s) : 0.0},
        {"mean_batch_tokens", steps > 0 ? static_cast<double>(tokens) / static_cast<double>(steps) : 0.0},
        {"mean_batch_seqs", steps > 0 ? static_cast<double>(seqs) / static_cast<double>(steps) : 0.0},
        {"requests_entered", entered},
        {"requests_finished", finished_here},
        {"ttft_s_of_entered", to_json(summarize(ttft))},
        {"tpot_s_of_finished", to_json(summarize(tpot))},
        {"kv_sent_bytes", sent},
        {"kv_received_bytes", received},
    };
    if (pc.role == PoolRole::kPrefill) pj["prefilled"] = prefilled;
    pools.push_back(std::move(pj));
  }
  res.summary["pools"] = pools;
  if (config_.disaggregated()) {
    std::vector<double> xfer, bytes;
    for (const RequestRecord& r : res.records) {
      if (r.rejected || r.decode_replica < 0) continue;
      xfer.push_back(to_seconds(r.kv_transfer_ns));
      bytes.push_back(r.kv_transfer_bytes);
    }
    res.summary["kv_transfer"] = {{"requests", xfer.size()},
                                  {"time_s", to_json(summarize(xfer))},
                                  {"bytes", to_json(summarize(bytes))}};
  }
  if (config_.migration.enabled) {
    res.summary["migration"] = {
        {"completed", migrations_done_},
        {"aborted", migrations_aborted_},
        {"bytes", migration_bytes_},
        {"mean_downtime_s", migrations_done_ > 0 ? to_seconds(migration_downtime_) / static_cast<double>(migrations_done_) : 0.0}};
  }
  res.events = queue_.fired();
  res.summary["events"] = res.events;
  res.resolved_config = resolved_;
  res.samples = metrics_.samples();
  return res;
}

void apply_override(nlohmann::json& scenario, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) bad_value("--set", assignment, "key=value (e.g. scheduler.max_num_seqs=128)");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  nlohmann::json value = try_parse_json_text(text, "--set " + quoted_value(path)).value_or(nlohmann::json(text));  // else a bare string
  if (value.is_string()) {
    // A bare string must be valid UTF-8: every later error message and the resolved config
    // serialise it (found by fuzz_scenario: nlohmann's dump() throws on invalid UTF-8).
    try {
      (void)value.dump();
    } catch (const nlohmann::json::type_error&) {
      bad_value("--set " + path, text, "valid UTF-8 text");
    }
  }
  nlohmann::json* cur = &scenario;
  std::size_t start = 0;
  int depth = 0;
  for (;;) {
    const std::size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) bad_value("--set", assignment, "a dotted key path without empty parts");
    if (cur->is_array()) {
      // pools.1.replicas: an index into an array.
      char* end = nullptr;
      const long idx = std::strtol(key.c_str(), &end, 10);
      if (*end != '\0' || idx < 0 || static_cast<std::size_t>(idx) >= cur->size()) {
        bad_value("--set " + path, key, "an index of the array (0.." + std::to_string(cur->size()) + ")");
      }
      cur = &(*cur)[static_cast<std::size_t>(idx)];
      if (dot == std::string::npos) {
        *cur = value;
        return;
      }
      start = dot + 1;
      continue;
    }
    if (!cur->is_object()) bad_value("--set " + path, cur->dump(), "an object to set '" + key + "' in");
    if (dot == std::string::npos) {
      // Switching a component's implementation drops the old one's keys (they would be
      // unknown to the new one): `--set kv.impl=vtensor` gives {"impl": "vtensor"}; later
      // --set options set the new one's keys.
      if (key == "impl" && cur->contains("impl") && (*cur)["impl"] != value) *cur = nlohmann::json::object();
      (*cur)[key] = value;
      return;
    }
    if (++depth > kMaxJsonDepth) bad_value("--set", path, fmt::format("a key path of at most {} parts", kMaxJsonDepth));
    cur = &(*cur)[key];
    if (cur->is_null()) *cur = nlohmann::json::object();
    start = dot + 1;
  }
}

}  // namespace servesim
