#pragma once
// A whole simulation: a cluster of pools of replicas built from a ScenarioConfig and a
// Catalog, the event loop, and results.
// Contract: no global state; two Simulation objects in one process are independent and a
// scenario with a seed always gives the same results. Building validates everything
// (impossible plans, a model that does not fit, a topology too small) before anything runs.
//
// The cluster: arrivals go through the router to the replicas requests enter (every
// replica when all pools are mixed; the prefill pools when disaggregated, or a mixed pool
// when every prefill replica's queue is over disaggregation.overflow_waiting). On a
// prefill replica a request leaves after its prompt (first token sampled); the decode
// router picks a decode replica; the KV is placed there as soon as it has room (FIFO per
// replica; until then the prefill replica keeps holding it: back-pressure), then moves over
// the path between the two replicas (KvMover); the decode replica adopts the request when
// the copy ends, and its first token reaches the user then (TTFT includes the transfer).
// Live migration (Llumnix) moves running requests between replicas of a pool the same way,
// in live copy rounds while the request keeps decoding, then a stop-the-world copy of the
// last tokens.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/event_queue.h"
#include "sim/cost/i_cost_model.h"
#include "sim/hardware/device_spec.h"
#include "sim/hardware/topology.h"
#include "sim/metrics/metrics.h"
#include "sim/model/model_spec.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/sched/i_router.h"
#include "sim/serving/catalog.h"
#include "sim/serving/autoscale.h"
#include "sim/serving/i_trace_sink.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/replica.h"
#include "sim/serving/scenario_config.h"
#include "sim/workload/i_workload.h"

namespace servesim {

struct SimOptions {
  std::string data_dir = SERVESIM_DATA_DIR;
  std::string source = "scenario.json";  // name used in error messages
};

// What a running simulation reports to its caller now and then.
struct RunProgress {
  SimTime now = 0;                  // simulated time
  std::uint64_t events = 0;         // events fired so far
  std::int64_t requests_done = 0;   // completed or rejected
};

// How a caller bounds and watches a run. Contract: the limits and the callbacks never change
// the results of a run that stays within the limits (same order of events, byte-identical
// outputs); a run that would pass a limit throws InputError naming the limit, before firing
// the first event beyond it.
struct RunControl {
  std::uint64_t max_events = 0;  // 0: no limit
  SimTime max_sim_time = 0;      // 0: no limit; no event later than this fires
  // Polled every kPollEvents events: true stops the run (Cancelled).
  std::function<bool()> cancelled;
  // Called every kPollEvents events.
  std::function<void(const RunProgress&)> progress;
  // Observer of steps, preemptions and KV transfers (timelines); null: none. Not owned.
  ITraceSink* trace = nullptr;
  static constexpr std::uint64_t kPollEvents = 4096;
};

// One pool's shared, read-only parts: model, device, plan, cost model, memory plan.
struct PoolRuntime {
  const PoolConfig* config = nullptr;
  std::shared_ptr<const ModelSpec> model;
  std::shared_ptr<const DeviceSpec> device;
  std::shared_ptr<const Topology> topology;  // null: none given
  std::unique_ptr<IParallelPlan> plan;
  std::shared_ptr<const ICostModel> cost;
  std::unique_ptr<PowerModel> power;
  std::unique_ptr<PowerModel> power_capped;  // under power_cap.cap (null: no power_cap)
  MemoryConfig mem;
  MemoryPlan memory;
  std::int64_t max_model_len = 0;
  std::shared_ptr<const ModelSpec> draft;  // engine.speculative's drafter (null: off)
  HostOffload offload;  // engine.kv_offload / expert_offload (host_offload.h)
  // The replicas' shared operator memos (executor_memo.h): one cost model, one thread.
  std::shared_ptr<OperatorMemos> memos;
  ExecutorContext exec_context(PlanLinks links) const;
};

// Builds a pool's runtime from its config (checks the plan and that the model fits).
// `topology_devices_before`: devices of earlier pools on the same topology (placement).
// `cap_w` > 0 also builds power_capped, the power model under that limit (power_cap.cap).
PoolRuntime build_pool(const PoolConfig& config, Catalog& catalog, const std::string& source, double cap_w = 0);

struct PoolSummaryInput;

struct SimResult {
  nlohmann::json summary;
  nlohmann::json resolved_config;
  std::vector<RequestRecord> records;
  std::vector<TimeSample> samples;
  std::vector<std::string> replica_pool;  // pool name of each replica id
  std::uint64_t events = 0;
};

class Simulation final : public IReplicaOwner {
 public:
  // Parses the scenario and loads what it names through a catalog of its own.
  Simulation(const nlohmann::json& scenario, const SimOptions& options);
  // Builds from a parsed scenario and a shared catalog (sweeps: many simulations, one catalog).
  Simulation(const ScenarioConfig& config, std::shared_ptr<Catalog> catalog);
  ~Simulation() override;
  SimResult run(const RunControl& control = {});

  const nlohmann::json& resolved_config() const { return resolved_; }
  const MemoryPlan& memory_plan() const { return pools_.front().memory; }
  const ModelSpec& model() const { return *pools_.front().model; }
  Replica& replica(std::size_t i) { return *replicas_.at(i); }
  std::size_t num_replicas() const { return replicas_.size(); }

  // IReplicaOwner
  void on_released(Request* r) override;
  void on_prefilled(Replica& from, Request* r) override;
  void on_step_end(Replica& rep) override;
  bool may_merge_steps(const Replica& rep) const override;
  bool holds_moving_kv(const Replica& rep) const override {
    const auto i = static_cast<std::size_t>(rep.id());
    return inflight_[i] > 0 || outgoing_[i] > 0;
  }

 private:
  struct Transfer;
  struct Migration;
  struct Placement {
    std::int32_t node_group = 0;     // replicas of one group share nodes
    std::int64_t first_device = 0;   // in the group's device numbering
    std::int64_t devices = 1;
  };
  struct Path {
    double bandwidth = 0;  // bytes/s, all lanes together
    double latency_s = 0;
    const char* kind = "";
  };
  struct Group {  // replicas one router chooses among
    std::vector<std::int32_t> all;      // every replica of the group
    std::vector<std::int32_t> members;  // those serving now (all of them without autoscaling)
    std::vector<ReplicaView> views;
    std::unique_ptr<IRouter> router;
    ComponentConfig router_config;
    std::uint64_t seed = 0;
  };

  void build(std::shared_ptr<Catalog> catalog);
  // Autoscaling (autoscale_sim.cpp). A group's router is rebuilt over its serving members
  // whenever they change (a fresh router: its memory of sessions and prefixes starts empty).
  void rebuild_group(Group& g);
  void rebuild_groups();
  void build_autoscale();
  void autoscale_tick(std::size_t scaler);
  void check_drained(std::int32_t replica, bool at_step_end);
  bool serving(std::int32_t replica) const;
  // Time replica's GPUs have been held by now (the whole run without autoscaling).
  SimTime held(std::int32_t replica) const;
  nlohmann::json autoscale_summary() const;
  void run_events(const RunControl& control);
  void pull_arrival();
  // `streamed`: from the workload's next() (the next one is pulled); else a closed-loop follow-up.
  void on_arrival(Request* r, bool streamed);
  std::int32_t route(Group& g, const Request& r);
  void sample();
  Request* acquire(RequestSpec&& spec);
  void release(Request* r);

  // KV moves.
  Path path(std::int32_t src, std::int32_t dst) const;
  double kv_bytes(std::int32_t replica, std::int64_t tokens) const;
  // Places r's KV for `tokens` tokens on `dst` (r keeps its slot at the source). Returns false
  // and changes nothing when dst has no room.
  bool place_kv(Request* r, std::int32_t dst, std::int64_t tokens, std::int32_t* dst_slot, std::int64_t* hit);
  void free_kv_at(Request* r, std::int32_t replica, std::int32_t slot);
  void try_place(std::int32_t dst);
  void start_transfer(std::unique_ptr<Transfer> t);
  void reschedule_transfers();
  void on_transfer_done(Transfer* t);
  void finish_hand_off(Transfer& t);
  // Migration.
  // Tokens r has computed by now, including steps of a merged run that have ended but are
  // applied only when the run's event fires (what step-by-step execution would show).
  void balance();
  void migration_round_done(Transfer& t);
  void begin_stop_the_world(Migration& m);

  ScenarioConfig config_;
  std::shared_ptr<Catalog> catalog_;
  nlohmann::json resolved_;
  std::vector<PoolRuntime> pools_;
  std::unique_ptr<IWorkload> workload_;
  EventQueue queue_;
  MetricsCollector metrics_;
  PowerCapController power_cap_{PowerCapConfig{}};
  std::vector<PoolScaler> scalers_;         // one per autoscaled pool
  std::vector<std::int32_t> scaler_of_;     // per replica: index into scalers_, or -1
  std::vector<EventId> ready_event_;        // per replica: its pending cold-start end (0: none)
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<Placement> placement_;
  Group entry_, decode_, overflow_;
  std::deque<Request> request_pool_;
  std::vector<Request*> free_requests_;
  std::int64_t live_requests_ = 0;
  std::vector<RequestSpec> follow_ups_;  // scratch of on_released
  bool arrivals_done_ = false;
  SimTime next_arrival_ = 0;
  static constexpr std::int64_t kMaxIdleSamples = 1000;
  // At most this many time-series rows (~600 MB in memory, ~800 MB of CSV): a finer
  // metrics.sample_interval over a long run is an InputError, not an unbounded allocation.
  static constexpr std::size_t kMaxSampleRows = 4'000'000;
  std::int64_t idle_samples_ = 0;

  // KV placements waiting for room, per decode replica (FIFO), and transfers in flight.
  struct PendingHandOff {
    Request* r;
    std::int32_t src;
    SimTime since;
    SimTime prefill_step;  // the prefill's last step duration (layer-wise overlap)
  };
  std::vector<std::deque<PendingHandOff>> pending_;
  std::vector<std::unique_ptr<Transfer>> transfers_;
  std::vector<std::int32_t> sending_, receiving_;  // transfers in flight per replica
  std::vector<std::size_t> inflight_;  // requests whose KV is placed on the replica and moving there
  std::vector<std::size_t> outgoing_;  // requests handed off by the replica whose KV it still holds
  SimTime transfers_updated_ = 0;
  std::map<RequestId, std::unique_ptr<Migration>> migrations_;
  std::vector<std::int32_t> migrations_per_pool_;
  std::int64_t migrations_done_ = 0, migrations_aborted_ = 0;
  SimTime migration_downtime_ = 0;
  double migration_bytes_ = 0;
  std::vector<double> sent_bytes_, received_bytes_;  // per replica
  ITraceSink* trace_ = nullptr;  // RunControl::trace of the run in progress
};

// Applies "a.b.c=value" overrides to a scenario (value parsed as JSON, else a string).
// Throws InputError for a malformed override.
void apply_override(nlohmann::json& scenario, const std::string& assignment);

// The embedded default what-if scenario.
const char* default_scenario_text();

}  // namespace servesim
