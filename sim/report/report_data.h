#pragma once
// The data behind report.html, gathered from result folders.
//
// Contract:
// - A single sweep or plan-search folder gives that folder's document instead
//   (sim/report/report_search.h; kind "sweep" or "plan"); such a folder among several is an
//   InputError.
// - collect_report_data() reads one or more result folders and returns one JSON document
//   that the report's script (tools/report/report.js) draws; it reads nothing else and
//   writes nothing. Each folder is a run folder (`servesim run --out`) or a multi-seed
//   folder (`servesim run --seeds K`), read by compare::load_run_set (same validation and
//   error messages as `servesim compare`). kind: "run" (one run folder), "seeds" (one
//   multi-seed folder), "compare" (two or more folders, the first the reference).
// - Per folder ("sets"): its summaries (one per seed), resolved config, latency CDFs of the
//   completed requests pooled over the seeds (TTFT, TPOT, E2E, queueing and, when KV was
//   handed off, the hand-off time) as at most kCdfPoints (ms, fraction) points, the same
//   percentiles as summary.json's (sim/metrics/stats.h), completions per second over
//   time (whole bins of a whole number of seconds; a last, partial bin is left out), and the first seed's time series per replica (thinned to at most
//   kSeriesPoints samples per replica; every kept sample is a real row). In a comparison,
//   each folder after the first has "config_changes": its resolved config's differences
//   from the first's (compare::config_differences).
// - Optional tables keyed by the files present in a folder ("extras"): each file of
//   kExtraTables found at a folder's top level is included as a table (header + rows, at
//   most kExtraRows rows), so sweep points and plan-search results show up once those
//   commands write them, without a change here.
// - Deterministic: the same folders give the same document byte for byte.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace servesim::report {

inline constexpr std::size_t kCdfPoints = 400;
inline constexpr std::size_t kSeriesPoints = 1500;
inline constexpr std::size_t kExtraRows = 500;
// Tables a result folder may hold besides a run's files: sweep points, plan-search plans.
inline const std::vector<std::string> kExtraTables = {"points.csv", "plans.csv"};

nlohmann::json collect_report_data(const std::vector<std::string>& dirs, const std::string& title = "");

// Points of the empirical CDF of `values` (sorted in place): (x[i] * scale, (i + 1) / n)
// at evenly spaced ranks i (rounded), at most max_points, always the smallest and the largest.
nlohmann::json cdf_points(std::vector<double>& values, double scale, std::size_t max_points = kCdfPoints);

}  // namespace servesim::report
