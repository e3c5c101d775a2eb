#pragma once
// The results tables of a sweep, one row per point in point order. Contract: a pure function
// of the sweep and the journal entries, so the tables are byte-identical whatever the
// threads, ranks, completion order or interruptions were.
//   points.csv    index, id, status (ok | failed), one column per varied key (strings bare,
//                 other values as compact JSON; empty when a point leaves the key at the
//                 base), completed, rejected, ttft_p50_s, ttft_p99_s, tpot_p50_s, tpot_p99_s,
//                 e2e_p99_s, requests_per_s, output_tokens_per_s, [goodput_requests_per_s,
//                 goodput_fraction when the scenarios set SLOs], error
//   points.jsonl  {"index", "id", "set": {key: value}, "status", "summary" | "error"}
#include <string>
#include <vector>

#include "sim/search/sweep_output.h"

namespace servesim::search {

// `entries[i]` is point i's entry.
std::string points_csv(const Sweep& sweep, const std::vector<JournalEntry>& entries);
std::string points_jsonl(const Sweep& sweep, const std::vector<JournalEntry>& entries);

}  // namespace servesim::search
