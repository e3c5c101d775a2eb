#pragma once
// Energy, power and money outputs of a run (summary.json "energy" and "cost"). Contract: a replica's devices
// draw the pool's engine-idle power for the whole simulated time and, on top, the dynamic
// energy of the kernels they ran (sim/cost/power_model.h); a replica's energy is its
// devices' total. Per-token and per-request figures divide the cluster's energy by the
// output tokens and requests completed in the run.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/time.h"
#include "sim/cost/power_model.h"
#include "sim/hardware/prices.h"
#include "sim/metrics/metrics.h"

namespace servesim {

struct ReplicaEnergyInput {
  std::int32_t pool = 0;
  std::int64_t devices = 1;     // GPUs of the replica (tp x pp)
  std::int64_t dynamic_nj = 0;  // dynamic energy on ONE device (Executor::dynamic_energy_nj)
  SimTime held = -1;            // time its GPUs were held (autoscaling); -1: the whole run
};

// Energy of one replica's devices after `elapsed` of simulated time, in joules.
double replica_energy_j(const PowerCoefficients& c, std::int64_t devices, std::int64_t dynamic_nj, SimTime elapsed);

struct EnergyPool {
  std::string name;
  const PowerModel* power = nullptr;
};

// The highest cluster power over one sampling interval of the time series (samples at the
// same instants for every replica, in time order): sum of the replicas' energy increments
// over the interval's length.
double peak_interval_power_w(const std::vector<TimeSample>& samples);

// The "energy" object: totals, per pool, per token and per request, and the peak of the
// per-interval power of the time series (0 when no samples).
nlohmann::json energy_summary(const std::vector<EnergyPool>& pools, const std::vector<ReplicaEnergyInput>& replicas,
                              SimTime elapsed, std::int64_t output_tokens, std::int64_t completed, double peak_power_w);

// The "cost" object: the deployment's $ per hour at on-demand GPU prices (prices.json), the
// run's cost over its simulated time, and $ per million output tokens and per request.
// A device without a price gives {"available": false, "reason": ...} instead.
// A pool whose GPU count changed over the run (autoscaling) gives the GPU-seconds it held;
// the cost then adds "gpu_hours", and usd_per_hour is the run's mean.
struct CostPool {
  std::string device;
  std::int64_t gpus = 0;
  std::optional<double> gpu_seconds;  // absent: gpus for the whole run
};
nlohmann::json cost_summary(const PriceBook& prices, const std::vector<CostPool>& pools, SimTime elapsed,
                            std::int64_t output_tokens, std::int64_t completed);

}  // namespace servesim
