#pragma once
// One simulation of a plan-search candidate at one rate, judged against the plan's SLOs.
// Contract: the verdict is a pure function of (scenario, SLOs); early stop (when enabled)
// ends a run only once the SLOs are certainly broken, so it never turns a pass into a fail.
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "sim/search/plan_config.h"
#include "sim/search/plan_search.h"

namespace servesim::search {

// Simulates `scenario` (rate and request count as given) and judges it. `cancelled` is the
// user's stop (Cancelled propagates).
RunOutcome simulate_and_judge(const nlohmann::json& scenario, double rate, std::int64_t requests, const SloConfig& slo,
                              bool early_stop, const std::shared_ptr<Catalog>& catalog, const std::string& source,
                              const std::function<bool()>& cancelled);

// The fewest requests, out of n, that must miss `target` for its percentile to exceed the
// bound for certain (numpy's linear interpolation: both ranks around p/100*(n-1) miss).
std::int64_t certain_miss_count(std::int64_t n, double percentile);

}  // namespace servesim::search
