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
    const int top = 2, bottom = 0;
    const int step = c_.first.empty() ? 2 : 1;  // uniform capping skips level 1
    if (level_ < top && watts > c_.high * c_.budget_w) {
      if (level_ == bottom) {
        capped_since_ = now;
        ++cap_events_;
      }
      level_ = std::min(top, level_ + step);
      changed = true;
    } else if (level_ > bottom && watts < c_.low * c_.budget_w) {
      level_ = std::max(bottom, level_ - step);
      if (level_ == bottom) capped_total_ += now - capped_since_;
      changed = true;
    }
  }
  last_ = now;
  last_energy_ = energy_j;
  return changed;
}

bool PowerCapController::caps(const std::string& pool) const {
  return level_ == 2 || (level_ == 1 && std::find(c_.first.begin(), c_.first.end(), pool) != c_.first.end());
}

nlohmann::json PowerCapController::summary(SimTime end) const {
  const SimTime capped = capped_total_ + (level_ > 0 ? end - capped_since_ : 0);
  return {{"budget_w", c_.budget_w},
          {"cap_w", c_.cap_w},
          {"high", c_.high},
          {"low", c_.low},
          {"first", c_.first},
          {"capped_fraction", end > 0 ? to_seconds(capped) / to_seconds(end) : 0.0},
          {"cap_events", cap_events_},
          {"intervals", intervals_},
          {"intervals_over_budget", over_budget_},
          {"peak_interval_power_w", peak_w_}};
}

}  // namespace servesim
