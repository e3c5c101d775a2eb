#pragma once
// The data behind report.html for a sweep folder (`servesim sweep --out`) and a plan-search
// folder (`servesim plan search --out`).
//
// Contract:
// - search_folder_kind() tells the two apart by their files (points.jsonl / journal.jsonl of a
//   sweep; plans.jsonl and pareto.json of a plan search) and reads nothing else; kNone for any
//   other folder (a run folder, a multi-seed folder).
// - collect_sweep_data(): {"kind": "sweep", "name", "keys" (the varied keys in axis order,
//   from points.csv's header), "points": [{"index", "id", "set", "status", "error" | "m"}],
//   "metrics": [{"key", "label", "unit", "better"}], "truncated"} where "m" holds the metrics
//   listed in "metrics" (from each point's summary; NaN-free: a metric the summary lacks is
//   left out). At most kMaxReportPoints points. An unfinished sweep (a journal but no
//   points.jsonl) is an InputError saying how to finish it.
// - collect_plan_data(): {"kind": "plan", "plan" (plan.json), "pareto" (pareto.json),
//   "candidates" (plans.jsonl's records, in its ranked order; at most kMaxReportPoints),
//   "summary" (summary.txt, when present), "truncated"}.
// - Every malformed line or file is an InputError naming the file (and line), as
//   read_json_file / parse_json_text word it. Same folder, same document byte for byte.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace servesim::report {

inline constexpr std::size_t kMaxReportPoints = 20'000;

enum class SearchFolder { kNone, kSweep, kPlan };

SearchFolder search_folder_kind(const std::string& dir);
nlohmann::json collect_sweep_data(const std::string& dir);
nlohmann::json collect_plan_data(const std::string& dir);

}  // namespace servesim::report
