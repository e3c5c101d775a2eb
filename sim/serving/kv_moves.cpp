// KV that moves between replicas: placement on the destination (FIFO, back-pressure), the
// transfers and their shared bandwidth, disaggregated hand-offs, and live migration.
#include <algorithm>
#include <cmath>

#include "sim/core/error.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/sched/i_scheduler.h"
#include "sim/serving/kv_moves.h"

namespace servesim {

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
  Replica& rep = *replicas_[static_cast<std::size_t>(dst)];
  rep.interrupt();  // KV taken now is seen by its next step, as step by step
  IKvManager& kv = rep.kv();
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
  Replica& rep = *replicas_[static_cast<std::size_t>(replica)];
  rep.sync();  // the steps that started before now took their blocks first
  const std::int32_t saved = r->kv_slot;
  r->kv_slot = slot;
  rep.kv().free(*r);
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
  t->copy_start = queue_.now();
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
  if (trace_) {
    trace_->on_kv_transfer(KvTransferTrace{static_cast<KvTransferTrace::Kind>(done->kind), done->r->spec.id, done->src, done->dst,
                                           done->bytes, done->copy_start, queue_.now()});
  }
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
  if (scaler_of_[static_cast<std::size_t>(id)] >= 0) check_drained(id, true);
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


void Simulation::balance() {
  const MigrationConfig& mc = config_.migration;
  for (std::size_t pi = 0; pi < pools_.size(); ++pi) {
    if (config_.pools[pi].role == PoolRole::kPrefill) continue;
    if (migrations_per_pool_[pi] >= mc.max_concurrent) continue;
    std::int32_t hi = -1, lo = -1;
    double hi_u = -1, lo_u = 2;
    for (const auto& rep : replicas_) {
      if (rep->pool() != static_cast<std::int32_t>(pi)) continue;
      rep->sync();
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
      if (!victim || r->num_computed < victim->num_computed ||
          (r->num_computed == victim->num_computed && r->spec.id < victim->spec.id)) {
        victim = r;
      }
    }
    if (!victim || !replicas_[static_cast<std::size_t>(lo)]->scheduler().can_adopt(inflight_[static_cast<std::size_t>(lo)])) continue;
    const std::int64_t computed = victim->num_computed;
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
  replicas_[static_cast<std::size_t>(m.src)]->sync();
  const std::int64_t computed = r->num_computed;
  const std::int64_t behind = computed - m.copied;
  if (behind < config_.migration.stop_tokens) {
    // It stops at the end of the source's step in progress.
    m.awaiting_stop = true;
    replicas_[static_cast<std::size_t>(m.src)]->interrupt();
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

}  // namespace servesim
