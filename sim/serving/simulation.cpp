#include "sim/serving/simulation.h"

#include "sim/serving/kv_moves.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/units.h"
#include "sim/cost/derived_note.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/sched/i_scheduler.h"
#include "sim/metrics/energy.h"

namespace servesim {

namespace {
std::string data_relative(const std::string& path, const std::string& data_dir) {
  const std::filesystem::path rel = std::filesystem::path(path).lexically_relative(data_dir);
  return rel.empty() || rel.native().rfind("..", 0) == 0 ? path : rel.string();
}
}  // namespace

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
  const double cap_w = config_.power_cap.enabled() ? config_.power_cap.cap_w : 0.0;
  for (const PoolConfig& pc : config_.pools) pools_.push_back(build_pool(pc, *catalog_, src, cap_w));
  power_cap_ = PowerCapController(config_.power_cap);

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
    // Live migration stops a request at its replica's step boundary; with several pipeline
    // micro-batches in flight that boundary may fall while the request is still in one.
    if (config_.migration.enabled && pc.role != PoolRole::kPrefill && p.plan->degrees().micro_batches > 1) {
      bad_value(pc.where.find(": ") == std::string::npos ? pc.where + ": parallel.micro_batches" : pc.where + ".parallel.micro_batches",
                std::to_string(p.plan->degrees().micro_batches), "1 while migration.enabled is true (pipeline micro-batches and live migration do not combine yet)");
    }
    const std::string group = p.topology ? "topology:" + pc.topology : "device:" + p.device->name;
    const std::int32_t gid = group_ids.emplace(group, static_cast<std::int32_t>(group_ids.size())).first->second;
    std::int64_t& offset = used[group];
    // An autoscaled pool is built at its largest; the replicas not serving hold no GPUs.
    const std::int64_t built = pc.autoscale.enabled ? pc.autoscale.max_replicas : pc.replicas;
    if (p.topology) {
      p.topology->require_devices(offset + per_replica * built, "devices of the pools placed on it (tp x pp x replicas)",
                                  pc.where.find(": ") == std::string::npos ? pc.where + ": topology" : pc.where + ".topology");
    }
    for (std::int64_t i = 0; i < built; ++i) {
      const auto id = static_cast<std::int32_t>(replicas_.size());
      KvDeps kd{*p.model, p.memory.kv_bytes + p.offload.host_kv_bytes, p.memory.kv_bytes_per_token, p.plan->layers_per_stage(*p.model),
                config_.seed + static_cast<std::uint64_t>(pi) * 7919u, p.device.get(), p.plan->degrees().tp};
      auto kv = KvManagerRegistry::get().make(pc.kv, kd);
      const SpeculativeConfig& spec = pc.engine.speculative;
      auto sched = SchedulerRegistry::get().make(pc.scheduler, SchedulerDeps{*kv, p.max_model_len, spec.enabled() ? spec.k : 0});
      if (spec.enabled() && !sched->speculates()) {
        bad_value(pc.where.find(": ") == std::string::npos ? pc.where + ": scheduler.impl" : pc.where + ".scheduler.impl",
                  pc.scheduler.impl, "a scheduler that runs speculative decoding (vllm_v1, priority) with engine.speculative");
      }
      if (spec.enabled() && kv->token_drop()) {  // a verify step's 1 + k tokens would be held whole
        bad_value(pc.where.find(": ") == std::string::npos ? pc.where + ": kv.token_drop" : pc.where + ".kv.token_drop",
                  "{...}", "no kv.token_drop with engine.speculative (not modelled together)");
      }
      PlanLinks links;
      if (p.topology) {
        const std::int64_t first = offset + i * per_replica;
        const int index = first % per_replica == 0 ? static_cast<int>(first / per_replica) : static_cast<int>(i);
        const ReplicaLinks l = p.topology->replica_links(p.plan->degrees().tp, p.plan->degrees().pp, index, p.plan->degrees().cp);
        links = PlanLinks{l.tp_bandwidth, l.tp_latency_s, l.pp_bandwidth, l.pp_latency_s, l.cp_bandwidth, l.cp_latency_s};
      } else {
        links.tp_bandwidth = p.device->intra_node_bandwidth;
        links.pp_bandwidth = p.device->intra_node_bandwidth;
        links.cp_bandwidth = p.device->intra_node_bandwidth;
      }
      ReplicaContext ctx{queue_, metrics_, *this, p.exec_context(links), static_cast<std::int32_t>(pi),
                         pc.role == PoolRole::kPrefill, pc.engine.fast_forward};
      if (spec.enabled()) ctx.speculative = &spec;
      ctx.exec.seed = config_.seed;
      ctx.exec.replica = id;
      ctx.exec.overlap = OverlapConfig{pc.engine.overlap == "tokenweave" ? OverlapMode::kTokenWeave
                                       : pc.engine.overlap == "nanoflow" ? OverlapMode::kNanoFlow
                                                                         : OverlapMode::kNone,
                                       pc.engine.overlap_sm_share, pc.engine.overlap_contention};
      replicas_.push_back(std::make_unique<Replica>(id, std::move(ctx), std::move(kv), std::move(sched)));
      placement_.push_back(Placement{gid, offset + i * per_replica, per_replica});
    }
    offset += per_replica * built;

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
    if (!disagg || role == PoolRole::kPrefill) entry_.all.push_back(id);
    if (disagg && role == PoolRole::kDecode) decode_.all.push_back(id);
    if (disagg && role == PoolRole::kMixed) overflow_.all.push_back(id);
  }
  entry_.router_config = config_.router;
  entry_.seed = config_.seed;
  if (disagg) {
    decode_.router_config = config_.disaggregation.decode_router;
    decode_.seed = config_.seed + 1;
    if (!overflow_.all.empty()) {
      overflow_.router_config = RouterRegistry::get().parse({{"impl", "least_load"}}, src + ": disaggregation");
      overflow_.seed = config_.seed + 2;
    }
  }
  build_autoscale();
  rebuild_groups();

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
  queue_.schedule_at(t, EventPriority::kArrival, [this, r] { on_arrival(r, true); });
}

std::int32_t Simulation::route(Group& g, const Request& r) {
  if (g.members.size() == 1) return g.members.front();
  for (std::size_t i = 0; i < g.members.size(); ++i) {
    Replica& rep = *replicas_[static_cast<std::size_t>(g.members[i])];
    rep.sync();
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

void Simulation::on_arrival(Request* r, bool streamed) {
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
  if (streamed) pull_arrival();
}

void Simulation::on_released(Request* r) {
  // Closed-loop workloads answer a request's end with their next requests (an agent's next
  // call after its tool runs); they arrive as scheduled events, outside the open-loop stream.
  workload_->on_request_done(r->spec, r->state == RequestState::kFinished, queue_.now(), follow_ups_);
  for (RequestSpec& spec : follow_ups_) {
    const SimTime t = std::max(spec.arrival, queue_.now());
    Request* f = acquire(std::move(spec));
    queue_.schedule_at(t, EventPriority::kArrival, [this, f] { on_arrival(f, false); });
  }
  follow_ups_.clear();
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
// Sampling and results

void Simulation::sample() {
  if (metrics_.num_samples() + replicas_.size() > kMaxSampleRows) {
    bad_value(config_.source + ": metrics.sample_interval", units::format_duration(config_.metrics.sample_interval),
              fmt::format("an interval giving at most {} time-series rows (the run reached {:.6g} s of simulated time)",
                          kMaxSampleRows, to_seconds(queue_.now())));
  }
  std::vector<double> energies;
  for (const auto& rep : replicas_) {
    rep->sync();
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
    const PoolRuntime& pool = pools_[static_cast<std::size_t>(rep->pool())];
    t.energy_j = replica_energy_j(pool.power->coefficients(), pool.plan->degrees().devices_per_replica(),
                                  rep->ended_energy_nj(), held(rep->id()));
    metrics_.add_sample(t);
    if (config_.power_cap.enabled()) energies.push_back(t.energy_j);
  }
  if (power_cap_.on_sample(queue_.now(), energies)) {
    for (const auto& rep : replicas_) {  // a cap set or lifted: from each replica's next step
      rep->interrupt();
      const PoolRuntime& pool = pools_[static_cast<std::size_t>(rep->pool())];
      rep->executor().set_power(power_cap_.caps(pool.config->name) ? pool.power_capped.get() : pool.power.get());
    }
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
    return fmt::format("{} requests done, {} unfinished", metrics_.num_records(), live_requests_);
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
        c.progress(RunProgress{queue_.now(), queue_.fired(), static_cast<std::int64_t>(metrics_.num_records())});
      }
    }
  }
}

SimResult Simulation::run(const RunControl& control) {
  trace_ = control.trace;
  for (auto& rep : replicas_) rep->set_trace(trace_);
  pull_arrival();
  queue_.schedule_at(0, EventPriority::kSample, [this] { sample(); });
  if (config_.migration.enabled) queue_.schedule_at(0, EventPriority::kControl, [this] { balance(); });
  for (std::size_t k = 0; k < scalers_.size(); ++k) {
    const SimTime interval = config_.pools[static_cast<std::size_t>(replicas_[static_cast<std::size_t>(scalers_[k].replicas().front())]->pool())].autoscale.interval;
    queue_.schedule_at(interval, EventPriority::kControl, [this, k] { autoscale_tick(k); });
  }
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
  if (nlohmann::json d = derived_profiles_used(cost_by_source, catalog_->data_dir()); !d.empty()) res.summary["derived_profiles"] = d;
  if (nlohmann::json b = borrowed_moe_used(cost_by_source, catalog_->data_dir()); !b.empty()) res.summary["borrowed_moe"] = b;
  res.summary["kv_exposed_map_s"] = exposed;
  res.summary["kv_swap_s"] = swap;

  res.records = metrics_.take_records();  // the summary above was computed from them
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
    std::vector<SimTime> stage_busy(static_cast<std::size_t>(p.plan->degrees().pp), 0);
    double imbalance = 0;
    std::int64_t routed = 0;
    std::int64_t colocated = 0;  // the nexus scheduler's co-located steps
    double decode_share = 0;
    SimTime held_total = 0;  // autoscaled pools: the replicas' time held, the busy fraction's base
    HostOffloadTotals offload;
    for (const auto& rep : replicas_) {
      if (rep->pool() != static_cast<std::int32_t>(pi)) continue;
      held_total += held(rep->id());
      const ReplicaStats& s = rep->stats();
      imbalance += rep->executor().imbalance_sum();
      routed += rep->executor().routed_steps();
      colocated += rep->executor().colocated_steps();
      decode_share += rep->executor().decode_share_sum();
      const Executor& x = rep->executor();
      offload.kv_in_bytes += x.kv_stream_in_bytes();
      offload.kv_out_bytes += x.kv_stream_out_bytes();
      offload.host_attention_bytes += x.host_attention_bytes();
      offload.kv_added += x.kv_stream_exposed_ns();
      offload.expert_bytes += x.expert_fetch_bytes();
      offload.expert_time += x.expert_fetch_ns();
      if (const PipelineTimeline* pipe = rep->pipeline()) {
        for (std::size_t k = 0; k < stage_busy.size(); ++k) stage_busy[k] += pipe->busy()[k];
      }
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
        {"busy_fraction", pc.autoscale.enabled ? (held_total > 0 ? to_seconds(busy) / to_seconds(held_total) : 0.0)
                          : n > 0 && sim_s > 0 ? to_seconds(busy) / (static_cast<double>(n) * sim_s) : 0.0},
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
    // Expert routing drawn per step: the slowest EP shard's copies over the mean shard's.
    if (colocated > 0) pj["colocation"] = {{"steps", colocated}, {"mean_decode_sm_share", decode_share / static_cast<double>(colocated)}};
    if (routed > 0) pj["expert_routing"] = {{"steps", routed}, {"mean_slowest_shard_load_over_mean", imbalance / static_cast<double>(routed)}};
    if (p.offload.enabled()) pj["host_offload"] = host_offload_json(p.offload, offload);
    if (stage_busy.size() > 1) pj["pipeline"] = pipeline_json(p.plan->degrees(), stage_busy, busy);
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
  if (!scalers_.empty()) res.summary["autoscale"] = autoscale_summary();
  res.events = queue_.fired();
  res.summary["events"] = res.events;
  res.resolved_config = resolved_;
  res.samples = metrics_.take_samples();
  {
    std::vector<EnergyPool> ep;
    for (std::size_t pi = 0; pi < pools_.size(); ++pi) ep.push_back({config_.pools[pi].name, pools_[pi].power.get()});
    std::vector<ReplicaEnergyInput> re;
    for (const auto& rep : replicas_) {
      re.push_back({rep->pool(), pools_[static_cast<std::size_t>(rep->pool())].plan->degrees().devices_per_replica(),
                    rep->executor().dynamic_energy_nj(), scaler_of_[static_cast<std::size_t>(rep->id())] >= 0 ? held(rep->id()) : -1});
    }
    std::int64_t tokens = 0, completed = 0;
    for (const RequestRecord& r : res.records) {
      if (r.rejected || r.last_token < 0) continue;
      tokens += r.output_tokens;
      ++completed;
    }
    res.summary["energy"] = energy_summary(ep, re, queue_.now(), tokens, completed, peak_interval_power_w(res.samples));
    std::vector<CostPool> cp;
    for (std::size_t pi = 0; pi < pools_.size(); ++pi) {
      const std::int64_t per_replica = pools_[pi].plan->degrees().devices_per_replica();
      cp.push_back({pools_[pi].device->name, per_replica * config_.pools[pi].replicas, std::nullopt});
      if (config_.pools[pi].autoscale.enabled) {  // GPU time held, not a fixed count; gpus: the most it may hold
        cp.back().gpus = per_replica * config_.pools[pi].autoscale.max_replicas;
        SimTime t = 0;
        for (const auto& rep : replicas_) t += rep->pool() == static_cast<std::int32_t>(pi) ? held(rep->id()) : 0;
        cp.back().gpu_seconds = to_seconds(t) * static_cast<double>(per_replica);
      }
    }
    res.summary["cost"] = cost_summary(catalog_->prices(), cp, queue_.now(), tokens, completed);
    if (config_.power_cap.enabled()) {
      double tdp = 0;  // the GPUs' TDP together: what the budget would hold without capping
      for (std::size_t pi = 0; pi < pools_.size(); ++pi) tdp += pools_[pi].device->tdp_w * static_cast<double>(cp[pi].gpus);
      res.summary["power_cap"] = power_cap_.summary(queue_.now());
      res.summary["power_cap"]["gpus_tdp_w"] = tdp;
      res.summary["power_cap"]["oversubscription"] = tdp / config_.power_cap.budget_w - 1.0;
    }
  }
  return res;
}

}  // namespace servesim
