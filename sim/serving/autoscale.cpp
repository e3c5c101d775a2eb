#include "sim/serving/autoscale.h"

#include <algorithm>

#include "sim/core/error.h"

namespace servesim {

AutoscaleConfig parse_autoscale(Params& p) {
  AutoscaleConfig c;
  const nlohmann::json policy = p.object("policy", "autoscaling policy {impl, ...} (`servesim list`: autoscaler; default "
                                                   "target_utilization)");
  c.min_replicas = p.integer("min_replicas", 1, "fewest replicas the pool keeps", 1, 4096);
  c.max_replicas = p.integer("max_replicas", std::nullopt, "most replicas the pool may have (all are built; the stopped "
                                                           "ones hold no GPUs)", 1, 4096);
  c.interval = p.duration("interval", "15s", "how often the policy is asked (Kubernetes HPA's default sync period)", 1);
  c.up_cooldown = p.duration("scale_up_cooldown", "0s", "no scale-up within this time of the last scale-up");
  c.down_cooldown = p.duration("scale_down_cooldown", "300s",
                               "no scale-down within this time of the last scale event of either direction (Kubernetes "
                               "HPA's default downscale stabilization window)");
  c.load_from_host = p.choice("load_from", "storage", {"storage", "host"},
                              "where a starting replica loads its weights from: storage (the replica's weights over "
                              "storage_bandwidth) or host memory (each GPU's shard over its host link, the device "
                              "profile's interconnect.host_link)") == "host";
  // 0.9 GB/s: Tensorfuse, "Reducing GPU cold start time when using vLLM" (2025-09-01): 18 s to load
  // Llama-3.1-8B-Instruct's 16.06 GB of weights from a cached volume on an L40S instance.
  c.storage_bandwidth = p.bandwidth("storage_bandwidth", "0.9GB/s",
                                    "weights read rate from storage (default: 16 GB of Llama-3.1-8B in 18 s from a cached "
                                    "volume, Tensorfuse 2025-09-01)");
  // 64 s: the same measurement's other steps with every cache warm (Dynamo bytecode transform
  // 10 s, graph compilation 13 s, CUDA graph capture 7 s, engine init and imports 34 s).
  c.engine_startup = p.duration("engine_startup", "64s",
                                "engine start-up besides loading weights: torch.compile, CUDA graph capture, init (default: "
                                "vLLM with warm caches, Tensorfuse 2025-09-01)");
  if (p.doc_mode()) return c;
  nlohmann::json pj = policy;
  if (!pj.is_object()) bad_value(p.where("policy"), pj.dump().substr(0, 60), "an object {impl, ...}");
  if (!pj.contains("impl")) pj["impl"] = "target_utilization";
  c.policy = AutoscalerRegistry::get().parse(pj, p.where("policy"));
  p.set_resolved("policy", c.policy.resolved);
  if (c.min_replicas > c.max_replicas) {
    bad_value(p.where("min_replicas"), std::to_string(c.min_replicas), "at most max_replicas (" + std::to_string(c.max_replicas) + ")");
  }
  c.enabled = true;
  return c;
}

PoolScaler::PoolScaler(const AutoscaleConfig& c, std::string pool, std::vector<std::int32_t> replicas, std::int64_t initial,
                       SimTime cold_start, double cold_load_s)
    : c_(c),
      pool_(std::move(pool)),
      ids_(std::move(replicas)),
      phase_(ids_.size(), ReplicaPhase::kStopped),
      held_(ids_.size(), 0),
      since_(ids_.size(), -1),
      policy_(AutoscalerRegistry::get().make(c.policy)),
      cold_start_(cold_start),
      cold_load_s_(cold_load_s) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(initial); ++i) set(i, ReplicaPhase::kServing, 0);
  record(0);
}

std::size_t PoolScaler::index(std::int32_t replica) const {
  const auto it = std::find(ids_.begin(), ids_.end(), replica);
  SERVESIM_ASSERT(it != ids_.end());
  return static_cast<std::size_t>(it - ids_.begin());
}

std::int64_t PoolScaler::count(ReplicaPhase p) const {
  return static_cast<std::int64_t>(std::count(phase_.begin(), phase_.end(), p));
}

void PoolScaler::set(std::size_t i, ReplicaPhase to, SimTime now) {
  const bool was_held = phase_[i] != ReplicaPhase::kStopped;
  const bool is_held = to != ReplicaPhase::kStopped;
  if (!was_held && is_held) since_[i] = now;
  if (was_held && !is_held) {
    held_[i] += now - since_[i];
    since_[i] = -1;
  }
  phase_[i] = to;
}

SimTime PoolScaler::held(std::int32_t replica, SimTime now) const {
  const std::size_t i = index(replica);
  return held_[i] + (since_[i] >= 0 ? now - since_[i] : 0);
}

void PoolScaler::record(SimTime now) {
  const std::int64_t serving = count(ReplicaPhase::kServing), starting = count(ReplicaPhase::kStarting);
  peak_provisioned_ = std::max(peak_provisioned_, serving + starting);
  nlohmann::json row = {{"t_s", to_seconds(now)}, {"serving", serving}, {"starting", starting}, {"draining", count(ReplicaPhase::kDraining)}};
  if (!series_.empty() && series_.back()["t_s"] == row["t_s"]) {
    series_.back() = std::move(row);  // several changes at one instant: the last state
  } else {
    series_.push_back(std::move(row));
  }
}

std::vector<PoolScaler::Change> PoolScaler::decide(const PoolLoad& load) {
  std::vector<Change> out;
  const SimTime now = load.now;
  const std::int64_t want = std::clamp(policy_->desired(load), c_.min_replicas, c_.max_replicas);
  std::int64_t provisioned = count(ReplicaPhase::kServing) + count(ReplicaPhase::kStarting);
  const auto n = static_cast<std::int64_t>(ids_.size());
  if (want > provisioned && (last_up_ < 0 || now - last_up_ >= c_.up_cooldown)) {
    for (; provisioned < want; ++provisioned) {
      std::int64_t pick = -1;  // a draining replica first (warm), else the lowest stopped one
      for (std::int64_t i = 0; i < n && pick < 0; ++i) pick = phase_[static_cast<std::size_t>(i)] == ReplicaPhase::kDraining ? i : -1;
      const bool warm = pick >= 0;
      for (std::int64_t i = 0; i < n && pick < 0; ++i) pick = phase_[static_cast<std::size_t>(i)] == ReplicaPhase::kStopped ? i : -1;
      SERVESIM_ASSERT(pick >= 0);
      const auto i = static_cast<std::size_t>(pick);
      const ReplicaPhase to = warm ? ReplicaPhase::kServing : ReplicaPhase::kStarting;
      set(i, to, now);
      cold_starts_ += warm ? 0 : 1;
      out.push_back({ids_[i], to});
    }
    ++scale_ups_;
    last_up_ = last_change_ = now;
  } else if (want < provisioned && (last_change_ < 0 || now - last_change_ >= c_.down_cooldown)) {
    for (; provisioned > want; --provisioned) {
      std::int64_t pick = -1;  // a starting replica first (highest), else the highest serving one
      for (std::int64_t i = n - 1; i >= 0 && pick < 0; --i) pick = phase_[static_cast<std::size_t>(i)] == ReplicaPhase::kStarting ? i : -1;
      const bool starting = pick >= 0;
      for (std::int64_t i = n - 1; i >= 0 && pick < 0; --i) pick = phase_[static_cast<std::size_t>(i)] == ReplicaPhase::kServing ? i : -1;
      SERVESIM_ASSERT(pick >= 0);
      const auto i = static_cast<std::size_t>(pick);
      const ReplicaPhase to = starting ? ReplicaPhase::kStopped : ReplicaPhase::kDraining;
      set(i, to, now);
      cancelled_ += starting ? 1 : 0;
      out.push_back({ids_[i], to});
    }
    ++scale_downs_;
    last_change_ = now;
  }
  if (!out.empty()) record(now);
  return out;
}

void PoolScaler::ready(std::int32_t replica, SimTime now) {
  const std::size_t i = index(replica);
  SERVESIM_ASSERT(phase_[i] == ReplicaPhase::kStarting);
  set(i, ReplicaPhase::kServing, now);
  record(now);
}

void PoolScaler::drained(std::int32_t replica, SimTime now) {
  const std::size_t i = index(replica);
  SERVESIM_ASSERT(phase_[i] == ReplicaPhase::kDraining);
  set(i, ReplicaPhase::kStopped, now);
  ++drains_;
  record(now);
}

void PoolScaler::cancel(std::int32_t replica, SimTime now) {
  const std::size_t i = index(replica);
  SERVESIM_ASSERT(phase_[i] == ReplicaPhase::kStarting);
  set(i, ReplicaPhase::kStopped, now);
  ++cancelled_;
  record(now);
}

nlohmann::json PoolScaler::summary(SimTime end, std::int64_t devices_per_replica) const {
  SimTime held = 0;
  for (std::int32_t id : ids_) held += this->held(id, end);
  const double replica_s = to_seconds(held);
  return {{"pool", pool_},
          {"settings", c_.resolved},
          {"cold_start_s", to_seconds(cold_start_)},
          {"cold_start_load_s", cold_load_s_},
          {"cold_start_engine_s", to_seconds(c_.engine_startup)},
          {"cold_starts", cold_starts_},
          {"starts_cancelled", cancelled_},
          {"drains_completed", drains_},
          {"scale_ups", scale_ups_},
          {"scale_downs", scale_downs_},
          {"peak_provisioned", peak_provisioned_},
          {"replica_hours", replica_s / 3600.0},
          {"gpu_hours", replica_s * static_cast<double>(devices_per_replica) / 3600.0},
          {"mean_replicas", end > 0 ? replica_s / to_seconds(end) : 0.0},
          {"replicas_over_time", series_}};
}

}  // namespace servesim
