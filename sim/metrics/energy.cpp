#include "sim/metrics/energy.h"

#include <algorithm>

namespace servesim {

double replica_energy_j(const PowerCoefficients& c, std::int64_t devices, std::int64_t dynamic_nj, SimTime elapsed) {
  return static_cast<double>(devices) * (c.engine_idle_w * to_seconds(elapsed) + static_cast<double>(dynamic_nj) * 1e-9);
}

double peak_interval_power_w(const std::vector<TimeSample>& samples) {
  double peak = 0;
  std::vector<double> last_energy;  // by replica
  SimTime last_time = 0;
  std::size_t i = 0;
  bool first = true;
  while (i < samples.size()) {
    const SimTime t = samples[i].time;
    double delta = 0;
    for (; i < samples.size() && samples[i].time == t; ++i) {
      const auto r = static_cast<std::size_t>(samples[i].replica);
      if (r >= last_energy.size()) last_energy.resize(r + 1, 0.0);
      delta += samples[i].energy_j - last_energy[r];
      last_energy[r] = samples[i].energy_j;
    }
    if (!first && t > last_time) peak = std::max(peak, delta / to_seconds(t - last_time));
    first = false;
    last_time = t;
  }
  return peak;
}

nlohmann::json energy_summary(const std::vector<EnergyPool>& pools, const std::vector<ReplicaEnergyInput>& replicas,
                              SimTime elapsed, std::int64_t output_tokens, std::int64_t completed, double peak_power_w) {
  const double secs = to_seconds(elapsed);
  double total = 0, dynamic = 0, node_extra = 0;
  std::string node_missing;  // the first pool without a node overhead
  std::int64_t all_devices = 0;
  nlohmann::json per_pool = nlohmann::json::array();
  for (std::size_t pi = 0; pi < pools.size(); ++pi) {
    const PowerCoefficients& c = pools[pi].power->coefficients();
    double e = 0, dyn = 0;
    std::int64_t devices = 0;
    double device_s = 0;  // seconds the pool's GPUs were held, summed (autoscaled pools)
    bool varying = false;
    for (const auto& r : replicas) {
      if (r.pool != static_cast<std::int32_t>(pi)) continue;
      const SimTime held = r.held >= 0 ? r.held : elapsed;
      varying |= r.held >= 0;
      e += replica_energy_j(c, r.devices, r.dynamic_nj, held);
      dyn += static_cast<double>(r.devices) * static_cast<double>(r.dynamic_nj) * 1e-9;
      devices += r.devices;
      device_s += static_cast<double>(r.devices) * to_seconds(held);
    }
    total += e;
    dynamic += dyn;
    if (c.node_overhead_w) {
      node_extra += varying ? device_s * *c.node_overhead_w : static_cast<double>(devices) * *c.node_overhead_w * secs;
    } else if (node_missing.empty()) {
      node_missing = pools[pi].name;
    }
    all_devices += devices;
    per_pool.push_back({{"name", pools[pi].name},
                        {"gpus", devices},
                        {"energy_j", e},
                        {"mean_power_per_gpu_w", devices > 0 && secs > 0 ? e / (static_cast<double>(devices) * secs) : 0.0},
                        {"power_model", pools[pi].power->describe()}});
  }
  const double tokens = static_cast<double>(output_tokens);
  nlohmann::json node;
  if (!node_missing.empty()) {
    node = {{"available", false},
            {"reason", "pool " + node_missing + "'s device profile has no power.node_overhead_per_gpu (a system datasheet's maximum power)"}};
  } else {
    const double n = total + node_extra;
    node = {{"available", true},
            {"total_j", n},
            {"mean_power_w", secs > 0 ? n / secs : 0.0},
            {"j_per_output_token", output_tokens > 0 ? n / tokens : 0.0},
            {"kwh_per_million_output_tokens", output_tokens > 0 ? n / tokens * 1e6 / 3.6e6 : 0.0},
            {"basis", "the GPUs' energy plus, for every GPU at all times, its share of the node's non-GPU power at the system "
                      "datasheet's maximum (device profiles' power.node_overhead_per_gpu): an upper bound"}};
  }
  return {{"total_j", total},
          {"total_kwh", total / 3.6e6},
          {"dynamic_j", dynamic},
          {"idle_j", total - dynamic},
          {"gpus", all_devices},
          {"mean_power_w", secs > 0 ? total / secs : 0.0},
          {"peak_interval_power_w", peak_power_w},
          {"j_per_output_token", output_tokens > 0 ? total / tokens : 0.0},
          {"kwh_per_million_output_tokens", output_tokens > 0 ? total / tokens * 1e6 / 3.6e6 : 0.0},
          {"j_per_request", completed > 0 ? total / static_cast<double>(completed) : 0.0},
          {"node", node},
          {"pools", per_pool}};
}

nlohmann::json cost_summary(const PriceBook& prices, const std::vector<CostPool>& pools, SimTime elapsed,
                            std::int64_t output_tokens, std::int64_t completed) {
  double per_hour = 0, run_usd = 0, gpu_s = 0;
  bool varying = false;
  nlohmann::json used = nlohmann::json::array();
  for (const CostPool& p : pools) {
    const Price* price = prices.find(p.device, "on_demand");
    if (!price) {
      return {{"available", false}, {"reason", "no on_demand price for " + p.device + " in " + prices.path()}};
    }
    const double held_s = p.gpu_seconds ? *p.gpu_seconds : static_cast<double>(p.gpus) * to_seconds(elapsed);
    varying |= p.gpu_seconds.has_value();
    gpu_s += held_s;
    run_usd += held_s / 3600.0 * price->usd_per_gpu_hour;
    per_hour += static_cast<double>(p.gpus) * price->usd_per_gpu_hour;
    used.push_back({{"device", p.device},
                    {"gpus", p.gpus},
                    {"usd_per_gpu_hour", price->usd_per_gpu_hour},
                    {"source", price->source},
                    {"date", price->date}});
  }
  if (!varying) run_usd = per_hour * to_seconds(elapsed) / 3600.0;  // the fixed-count formula, unchanged
  if (varying) per_hour = elapsed > 0 ? run_usd / (to_seconds(elapsed) / 3600.0) : 0.0;
  nlohmann::json j = {{"available", true},
          {"tier", "on_demand"},
          {"usd_per_hour", per_hour},
          {"run_usd", run_usd},
          {"usd_per_million_output_tokens", output_tokens > 0 ? run_usd / static_cast<double>(output_tokens) * 1e6 : 0.0},
          {"usd_per_request", completed > 0 ? run_usd / static_cast<double>(completed) : 0.0},
          {"prices", used}};
  if (varying) {
    j["gpu_hours"] = gpu_s / 3600.0;
    j["basis"] = "GPU time held by each pool (autoscaled pools: from each replica's cold start to its drain); usd_per_hour "
                 "is the run's mean";
  }
  return j;
}

}  // namespace servesim
