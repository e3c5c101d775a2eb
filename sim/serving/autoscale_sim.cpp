// The cluster's side of autoscaling (sim/serving/autoscale.h): routing groups over the
// serving replicas, the control events, cold starts and drains.
#include "sim/serving/simulation.h"

#include <algorithm>

namespace servesim {

bool Simulation::serving(std::int32_t replica) const {
  const std::int32_t k = scaler_of_[static_cast<std::size_t>(replica)];
  return k < 0 || scalers_[static_cast<std::size_t>(k)].phase(replica) == ReplicaPhase::kServing;
}

SimTime Simulation::held(std::int32_t replica) const {
  const std::int32_t k = scaler_of_[static_cast<std::size_t>(replica)];
  return k < 0 ? queue_.now() : scalers_[static_cast<std::size_t>(k)].held(replica, queue_.now());
}

void Simulation::rebuild_group(Group& g) {
  std::vector<std::int32_t> members;
  for (std::int32_t id : g.all) {
    if (serving(id)) members.push_back(id);
  }
  if (g.router && members == g.members) return;
  g.members = std::move(members);
  // The group's pools by name, in the order their first replica appears (serving or not).
  std::vector<std::string> pools;
  std::vector<std::int32_t> pool_index(pools_.size(), -1);
  for (std::int32_t id : g.all) {
    const auto pi = static_cast<std::size_t>(replicas_[static_cast<std::size_t>(id)]->pool());
    if (pool_index[pi] >= 0) continue;
    pool_index[pi] = static_cast<std::int32_t>(pools.size());
    pools.push_back(config_.pools[pi].name);
  }
  g.views.clear();
  for (std::int32_t id : g.members) {
    ReplicaView v;
    v.replica = id;
    v.pool = pool_index[static_cast<std::size_t>(replicas_[static_cast<std::size_t>(id)]->pool())];
    Replica* rep = replicas_[static_cast<std::size_t>(id)].get();
    v.cached_prefix = [rep](const Request& r) { return rep->kv().cached_prefix(r); };
    g.views.push_back(std::move(v));
  }
  g.router = RouterRegistry::get().make(g.router_config, RouterDeps{static_cast<std::int32_t>(g.members.size()), g.seed, std::move(pools)});
}

void Simulation::rebuild_groups() {
  for (Group* g : {&entry_, &decode_, &overflow_}) {
    if (!g->all.empty()) rebuild_group(*g);
  }
}

void Simulation::build_autoscale() {
  scaler_of_.assign(replicas_.size(), -1);
  ready_event_.assign(replicas_.size(), 0);
  for (std::size_t pi = 0; pi < pools_.size(); ++pi) {
    const PoolConfig& pc = config_.pools[pi];
    if (!pc.autoscale.enabled) continue;
    const PoolRuntime& p = pools_[pi];
    std::vector<std::int32_t> ids;
    for (const auto& rep : replicas_) {
      if (rep->pool() == static_cast<std::int32_t>(pi)) ids.push_back(rep->id());
    }
    // Cold start: the weights of one replica loaded, then the engine's start-up.
    const AutoscaleConfig& a = pc.autoscale;
    const double devices = static_cast<double>(p.plan->degrees().devices_per_replica());
    const double load_s = a.load_from_host ? p.memory.weight_bytes / p.device->host_link_bandwidth
                                           : p.memory.weight_bytes * devices / a.storage_bandwidth;
    const SimTime cold = from_seconds(load_s) + a.engine_startup;
    for (std::int32_t id : ids) scaler_of_[static_cast<std::size_t>(id)] = static_cast<std::int32_t>(scalers_.size());
    scalers_.emplace_back(a, pc.name, std::move(ids), pc.replicas, cold, load_s);
  }
}

void Simulation::check_drained(std::int32_t replica, bool at_step_end) {
  const std::int32_t k = scaler_of_[static_cast<std::size_t>(replica)];
  if (k < 0) return;
  PoolScaler& s = scalers_[static_cast<std::size_t>(k)];
  if (s.phase(replica) != ReplicaPhase::kDraining) return;
  Replica& rep = *replicas_[static_cast<std::size_t>(replica)];
  if (!at_step_end) rep.sync();  // at its step end the replica is current (and still in the step)
  const ReplicaLoad l = rep.load();
  if (l.waiting > 0 || l.running > 0 || (!at_step_end && rep.in_step()) || !pending_[static_cast<std::size_t>(replica)].empty() || holds_moving_kv(rep)) {
    return;
  }
  s.drained(replica, queue_.now());
}

void Simulation::autoscale_tick(std::size_t k) {
  PoolScaler& s = scalers_[k];
  PoolLoad load;
  load.now = queue_.now();
  for (std::int32_t id : s.replicas()) {
    const ReplicaPhase ph = s.phase(id);
    if (ph == ReplicaPhase::kStarting) ++load.provisioned;
    if (ph != ReplicaPhase::kServing) continue;
    Replica& rep = *replicas_[static_cast<std::size_t>(id)];
    rep.sync();
    const ReplicaLoad l = rep.load();
    ++load.serving;
    ++load.provisioned;
    load.waiting += l.waiting;
    load.running += l.running;
    load.kv_used_sum += l.kv_used_fraction;
  }
  const bool more = !arrivals_done_ || live_requests_ > 0;
  std::vector<PoolScaler::Change> changes = more ? s.decide(load) : std::vector<PoolScaler::Change>{};
  bool regroup = false;
  for (const PoolScaler::Change& c : changes) {
    const auto i = static_cast<std::size_t>(c.replica);
    if (c.to == ReplicaPhase::kStarting) {
      const std::int32_t id = c.replica;
      ready_event_[i] = queue_.schedule_in(s.cold_start(), EventPriority::kControl, [this, k, id] {
        ready_event_[static_cast<std::size_t>(id)] = 0;
        scalers_[k].ready(id, queue_.now());
        rebuild_groups();
      });
    } else if (c.to == ReplicaPhase::kStopped) {  // a cold start cancelled
      queue_.cancel(ready_event_[i]);
      ready_event_[i] = 0;
    } else {
      regroup = true;  // serving again, or draining
    }
  }
  if (regroup) rebuild_groups();
  for (std::int32_t id : s.replicas()) check_drained(id, false);
  if (more) {
    const SimTime interval = config_.pools[static_cast<std::size_t>(replicas_[static_cast<std::size_t>(s.replicas().front())]->pool())].autoscale.interval;
    queue_.schedule_in(interval, EventPriority::kControl, [this, k] { autoscale_tick(k); });
  } else {
    // The run is over: cold starts still under way are cancelled (nothing is left to serve).
    for (std::int32_t id : s.replicas()) {
      const auto i = static_cast<std::size_t>(id);
      if (ready_event_[i] == 0) continue;
      queue_.cancel(ready_event_[i]);
      ready_event_[i] = 0;
      s.cancel(id, queue_.now());
    }
  }
}

nlohmann::json Simulation::autoscale_summary() const {
  nlohmann::json pools = nlohmann::json::array();
  for (const PoolScaler& s : scalers_) {
    const std::int32_t pool = replicas_[static_cast<std::size_t>(s.replicas().front())]->pool();
    pools.push_back(s.summary(queue_.now(), pools_[static_cast<std::size_t>(pool)].plan->degrees().devices_per_replica()));
  }
  return {{"pools", pools}};
}

}  // namespace servesim
