#pragma once
// One simulation of a plan-search candidate at one rate, judged against the plan's SLOs.
// Contract: the verdict is a pure function of (scenario, SLOs); early stop (when enabled)
// ends a run only once the SLOs are certainly broken, so it never turns a pass into a fail.
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/search/plan_config.h"
#include "sim/search/plan_search.h"

namespace servesim::search {

// Searches the highest rate that passes, in [min_rate, max_rate]: bracket on the short
// window from `guess` (doubling / halving), bisect geometrically to the tolerance, then
// confirm on the full window (stepping down and bisecting again if it fails there).
struct RateSearch {
  const SearchKnobs& k;
  std::function<RunOutcome(double rate, bool full)> run;
  RunOutcome best_full;  // the highest-rate full-window run that passed
  bool capped = false;

  bool passes(double rate, bool full);
  // The highest rate found to pass on the full window (0: not even min_rate).
  double operator()(double guess);
};

// Simulates `scenario` (rate and request count as given) and judges it. `cancelled` is the
// user's stop (Cancelled propagates).
RunOutcome simulate_and_judge(const nlohmann::json& scenario, double rate, std::int64_t requests, const SloConfig& slo,
                              bool early_stop, const std::shared_ptr<Catalog>& catalog, const std::string& source,
                              const std::function<bool()>& cancelled);

// The fewest requests, out of n, that must miss `target` for its percentile to exceed the
// bound for certain (numpy's linear interpolation: both ranks around p/100*(n-1) miss).
std::int64_t certain_miss_count(std::int64_t n, double percentile);

}  // namespace servesim::search
