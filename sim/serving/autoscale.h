#pragma once
// Autoscaling of a pool over time: a policy (sim/sched/i_autoscaler.h) decides every
// control interval how many replicas the pool should have; this controller turns that into
// replicas started, cancelled and drained. Contract:
// - The pool is built with max_replicas replicas; `replicas` of them (the pool's count,
//   within [min, max]) serve from time 0, the others are stopped. Only serving replicas
//   are router candidates.
// - At every multiple of `interval` (after everything else at that instant) the policy's
//   answer, clamped to [min_replicas, max_replicas], is compared with the provisioned
//   count (serving + starting). Up: allowed when no scale-up happened in the last
//   scale_up_cooldown; a draining replica is taken back first (lowest id: it is warm and
//   serves at once), then the lowest stopped replica starts. Down: allowed when no scale
//   event of either direction happened in the last scale_down_cooldown; a starting replica
//   is cancelled first (highest id), then the highest serving replica drains.
// - A started replica serves after its cold start: the weights of one replica loaded
//   (load_from host: each GPU's shard over its own host link, the device profile's
//   interconnect.host_link; storage: the replica's weights over storage_bandwidth, shared)
//   plus engine_startup. A draining replica takes no new work, finishes what it holds and
//   stops at the end of the step that leaves it empty (or at the next control instant when
//   it held no step). A replica's GPUs count (GPU time, $, idle energy) from the start of its
//   cold start (or time 0) until it stops (or the run ends).
// - Deterministic: decisions depend only on simulated state at control instants.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/params.h"
#include "sim/core/registry.h"
#include "sim/core/time.h"
#include "sim/sched/i_autoscaler.h"

namespace servesim {

struct AutoscaleConfig {
  bool enabled = false;  // the pool's `autoscale` section was given
  ComponentConfig policy;
  std::int64_t min_replicas = 1, max_replicas = 1;
  SimTime interval = 0, up_cooldown = 0, down_cooldown = 0;
  bool load_from_host = false;
  double storage_bandwidth = 0;  // bytes/s
  SimTime engine_startup = 0;
  nlohmann::json resolved;
};

// Parses a pool's `autoscale` section (p's object; `where` names it for errors). The
// pool's replica count is checked against the bounds by the caller.
AutoscaleConfig parse_autoscale(Params& p);

enum class ReplicaPhase : std::uint8_t { kStopped, kStarting, kServing, kDraining };

class PoolScaler {
 public:
  // `replicas`: the pool's replica ids in order (max_replicas of them); the first
  // `initial` serve from time 0. `cold_start`: the time from start to serving.
  PoolScaler(const AutoscaleConfig& c, std::string pool, std::vector<std::int32_t> replicas, std::int64_t initial,
             SimTime cold_start, double cold_load_s);
  struct Change {
    std::int32_t replica;
    ReplicaPhase to;
  };
  // The decision at a control instant: the phase changes made (see the header comment).
  std::vector<Change> decide(const PoolLoad& load);
  // A starting replica's cold start ended (-> serving); a draining one emptied (-> stopped).
  void ready(std::int32_t replica, SimTime now);
  void drained(std::int32_t replica, SimTime now);
  // A starting replica stopped before serving (the run ended).
  void cancel(std::int32_t replica, SimTime now);
  ReplicaPhase phase(std::int32_t replica) const { return phase_[index(replica)]; }
  const std::vector<std::int32_t>& replicas() const { return ids_; }
  std::int64_t count(ReplicaPhase p) const;
  // Time the replica's GPUs have been held by `now`.
  SimTime held(std::int32_t replica, SimTime now) const;
  SimTime cold_start() const { return cold_start_; }
  // summary.json "autoscale.pools[]": settings, counts, replica-time and the replica count
  // over time (a row at every change).
  nlohmann::json summary(SimTime end, std::int64_t devices_per_replica) const;

 private:
  std::size_t index(std::int32_t replica) const;
  void set(std::size_t i, ReplicaPhase to, SimTime now);
  void record(SimTime now);

  AutoscaleConfig c_;
  std::string pool_;
  std::vector<std::int32_t> ids_;
  std::vector<ReplicaPhase> phase_;
  std::vector<SimTime> held_, since_;  // held before `since_`, and the start of the current hold (-1: none)
  std::unique_ptr<IAutoscaler> policy_;
  SimTime cold_start_ = 0;
  double cold_load_s_ = 0;
  SimTime last_up_ = -1, last_change_ = -1;
  std::int64_t cold_starts_ = 0, scale_ups_ = 0, scale_downs_ = 0, cancelled_ = 0, drains_ = 0;
  std::int64_t peak_provisioned_ = 0;
  nlohmann::json series_ = nlohmann::json::array();
};

}  // namespace servesim
