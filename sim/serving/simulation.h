#pragma once
// A whole simulation: a scenario's components built by name, the event loop, and results.
// Contract: no global state; two Simulation objects in one process are independent and a
// scenario with a seed always gives the same results. Building validates everything
// (unknown keys, impossible plans, a model that does not fit) before anything runs.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/event_queue.h"
#include "sim/cost/i_cost_model.h"
#include "sim/hardware/device_spec.h"
#include "sim/metrics/metrics.h"
#include "sim/model/model_spec.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/sched/i_router.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/replica.h"
#include "sim/workload/i_workload.h"

namespace servesim {

struct SimOptions {
  std::string data_dir = SERVESIM_DATA_DIR;
  std::string source = "scenario.json";  // name used in error messages
};

struct SimResult {
  nlohmann::json summary;
  nlohmann::json resolved_config;
  std::vector<RequestRecord> records;
  std::vector<TimeSample> samples;
  std::uint64_t events = 0;
};

class Simulation {
 public:
  Simulation(const nlohmann::json& scenario, const SimOptions& options);
  ~Simulation();
  SimResult run();

  const nlohmann::json& resolved_config() const { return resolved_; }
  const MemoryPlan& memory_plan() const { return memory_; }
  const ModelSpec& model() const { return model_; }
  Replica& replica(std::size_t i) { return *replicas_.at(i); }  // e.g. to cost a given step (servesim validate)

 private:
  void pull_arrival();
  void on_arrival(Request* r);
  void sample();
  Request* acquire(RequestSpec&& spec);
  void release(Request* r);

  std::string source_;
  nlohmann::json resolved_;
  std::string name_;
  std::uint64_t seed_ = 0;
  ModelSpec model_;
  DeviceSpec device_;
  std::unique_ptr<IParallelPlan> plan_;
  std::unique_ptr<ICostModel> cost_;
  std::unique_ptr<IRouter> router_;
  std::unique_ptr<IWorkload> workload_;
  MemoryPlan memory_;
  Slo slo_;
  SimTime sample_interval_ = 0;
  EventQueue queue_;
  MetricsCollector metrics_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<ReplicaView> loads_;
  std::deque<Request> pool_;
  std::vector<Request*> free_requests_;
  std::int64_t live_requests_ = 0;
  bool arrivals_done_ = false;
};

// Applies "a.b.c=value" overrides to a scenario (value parsed as JSON, else a string).
// Throws InputError for a malformed override.
void apply_override(nlohmann::json& scenario, const std::string& assignment);

// The embedded default what-if scenario.
const char* default_scenario_text();

}  // namespace servesim
