#pragma once
// Several seeds of one scenario (`servesim run --seeds K`, `servesim gate`).
// Layout of a multi-seed output folder OUT (K >= 2), written atomically as a whole:
//   OUT/seeds.json        {"scenario", "seeds": [s, s+1, ...], "runs": ["seed-<s>", ...]}
//   OUT/seed-<s>/         the usual run files of seed s (summary.json, requests.csv, ...)
// Nothing else sits at OUT's top level, so a tool never mistakes one seed for the whole.
// With K = 1 the folder is a plain run folder (as without --seeds).
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/report/output.h"
#include "sim/serving/simulation.h"

namespace servesim::cli {

using FileList = std::vector<std::pair<std::string, std::string>>;

// Runs `scenario` with seeds base, base+1, ..., base+k-1 (base: the scenario's seed) and
// returns the files of the folder layout above; `on_seed` is told each seed's summary.
// `with_timeseries` false leaves timeseries.csv out (stored baselines). Throws InputError
// for k < 1.
FileList run_seeds(const nlohmann::json& scenario, const SimOptions& options, int k, bool with_timeseries,
                   const std::function<void(std::uint64_t seed, const nlohmann::json& summary)>& on_seed = {});

// `servesim run --seeds K`: runs, writes OUT atomically, prints one line per seed.
// `finish`, when given, may add files (e.g. report.html) before the folder is written.
int run_seeds_command(const nlohmann::json& scenario, const SimOptions& options, int k, const std::string& out, bool quiet,
                      const OutputOptions& output = {}, const std::function<void(FileList&)>& finish = {});

}  // namespace servesim::cli
