#pragma once
// The outputs of a plan search: ranking, Pareto fronts, the result files and the human
// summary. Contract: pure functions of (plan, result); files are byte-identical for
// identical results. docs/plan_search.md describes every file and column.
#include <string>
#include <utility>
#include <vector>

#include "sim/search/plan_config.h"
#include "sim/search/plan_search.h"

namespace servesim::search {

// Ranks the candidates meeting the target (cheapest $/hour first; then the lower latency at
// the target rate -- the first SLO's percentile --, then candidate order) into
// result.ranking and each one's `rank`; marks the Pareto fronts among them: cost vs latency
// at the target rate, and cost vs headroom.
void rank_plans(const PlanConfig& plan, PlanResult& result);

// plans.csv (ranked table), plans.jsonl (one full record per candidate, same order),
// pareto.json, best_scenario.json (when a plan meets the target) and plan.json (the plan
// with every default filled in).
std::vector<std::pair<std::string, std::string>> plan_files(const PlanConfig& plan, const PlanResult& result,
                                                            const std::string& prices_path);

// The human summary: the chosen plan, the runners-up and the fronts.
std::string plan_summary(const PlanConfig& plan, const PlanResult& result);

// "none of N candidates meets TTFT p99 <= 2 s at 10 req/s; the closest is ..." (one line).
std::string no_plan_message(const PlanConfig& plan, const PlanResult& result);

}  // namespace servesim::search
