#pragma once
// POLCA-style power capping of a cluster under a power budget (a row's breaker share):
// servers are oversubscribed (more GPUs than budget / TDP) and capped only while the
// cluster's power nears the budget (Patel et al., "POLCA: Power Oversubscription in LLM
// Cloud Providers", 2023). Contract:
// - The controller looks at every time-series sample (metrics.sample_interval): the
//   cluster's GPU power over the last interval is the replicas' energy increments (engine
//   idle + the dynamic energy of the steps that ended) over the interval's length.
// - Levels: 0 uncapped; 1 the pools named in `first` capped (the lower-priority work,
//   POLCA's first step); 2 every GPU capped at `cap` (power_cap.cap, a power limit as
//   nvidia-smi -pl sets it). With `first` empty level 1 is skipped (uniform capping). Above
//   high x budget the level goes up one step per sample, below low x budget down one step.
//   A change applies from each replica's next step (the step in progress keeps its price),
//   as a limit set by the node's power manager would.
// - Deterministic: decisions depend only on simulated energy at sample instants.
// - budget 0 turns it off (the default); then nothing changes anywhere.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/time.h"

namespace servesim {

struct PowerCapConfig {
  double budget_w = 0;  // 0: off
  double cap_w = 0;
  double high = 0.95, low = 0.85;
  std::vector<std::string> first;  // pools capped first (empty: all at once)
  nlohmann::json resolved;
  bool enabled() const { return budget_w > 0; }
};

class PowerCapController {
 public:
  explicit PowerCapController(PowerCapConfig c) : c_(std::move(c)) {}
  // `energy_j`: each replica's energy so far (all its GPUs). Returns true when the cap
  // level changes at this sample (then level() and caps() say the new state).
  bool on_sample(SimTime now, const std::vector<double>& energy_j);
  int level() const { return level_; }
  // Whether a GPU of pool `pool` runs capped at the current level.
  bool caps(const std::string& pool) const;
  // summary.json "power_cap": settings, time capped, cap events, intervals over the budget.
  nlohmann::json summary(SimTime end) const;

 private:
  PowerCapConfig c_;
  int level_ = 0;
  SimTime last_ = -1, capped_since_ = 0, capped_total_ = 0;
  std::vector<double> last_energy_;
  std::int64_t cap_events_ = 0, intervals_ = 0, over_budget_ = 0;
  double peak_w_ = 0;
};

}  // namespace servesim
