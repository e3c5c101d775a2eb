#include "sim/serving/power_cap.h"

#include <algorithm>

namespace servesim {

bool PowerCapController::on_sample(SimTime now, const std::vector<double>& energy_j) {
  if (!c_.enabled()) return false;
  bool changed = false;
  if (last_ >= 0 && now > last_ && energy_j.size() == last_energy_.size()) {
    double joules = 0;
    for (std::size_t i = 0; i < energy_j.size(); ++i) joules += energy_j[i] - last_energy_[i];
    const double watts = joules / to_seconds(now - last_);
    peak_w_ = std::max(peak_w_, watts);
    ++intervals_;
    over_budget_ += watts > c_.budget_w;
    if (!capped_ && watts > c_.high * c_.budget_w) {
      capped_ = changed = true;
      capped_since_ = now;
      ++cap_events_;
    } else if (capped_ && watts < c_.low * c_.budget_w) {
      capped_ = false;
      changed = true;
      capped_total_ += now - capped_since_;
    }
  }
  last_ = now;
  last_energy_ = energy_j;
  return changed;
}

nlohmann::json PowerCapController::summary(SimTime end) const {
  const SimTime capped = capped_total_ + (capped_ ? end - capped_since_ : 0);
  return {{"budget_w", c_.budget_w},
          {"cap_w", c_.cap_w},
          {"high", c_.high},
          {"low", c_.low},
          {"capped_fraction", end > 0 ? to_seconds(capped) / to_seconds(end) : 0.0},
          {"cap_events", cap_events_},
          {"intervals", intervals_},
          {"intervals_over_budget", over_budget_},
          {"peak_interval_power_w", peak_w_}};
}

}  // namespace servesim
