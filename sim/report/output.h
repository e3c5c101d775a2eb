#pragma once
// Result files. Contract: write_results() writes every file into a fresh temporary folder
// beside `dir` and renames it into place only when all are written, so a failed run
// leaves no half-written output. Files are byte-identical for identical results.
// An output folder holds a marker file (kOutputMarker); only a folder with the marker, an
// empty one, or a new path is ever replaced (unless OutputOptions::force), and old results
// are swapped out by one atomic rename: at every instant `dir` holds the old results or the
// new ones, never a mix, never nothing.
//   summary.json          aggregates (metrics, memory plan, KV counters, cost breakdown)
//   requests.csv          one row per request (times in seconds)
//   timeseries.csv        queue lengths and KV use per replica over time
//   resolved_config.json  the scenario with every default filled in
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "sim/serving/simulation.h"

namespace servesim {

// The file that marks a folder as servesim's output (safe for a later --out to replace).
inline constexpr const char* kOutputMarker = ".servesim-output";

struct OutputOptions {
  std::string flag = "--out";  // the option named in error messages
  bool force = false;          // also replace a non-empty folder without the marker
  // Polled between files and before the final rename; when it returns true, what this call
  // created is removed and Cancelled is thrown (the CLI's SIGINT/SIGTERM).
  std::function<bool()> cancelled;
};

// write_results() streams requests.csv and timeseries.csv into their files row by row (a
// run of millions of requests never holds them as strings).
void write_results(const std::string& dir, const SimResult& result, const OutputOptions& options = {});
// The files of a run folder (the list above; requests.csv and timeseries.csv when asked), as
// write_results(), `run --seeds` and sweeps write them.
std::vector<std::pair<std::string, std::string>> result_files(const SimResult& result, bool with_requests = true,
                                                              bool with_timeseries = true);

// Checks that `dir` may be used as an output folder and returns it normalised (no trailing
// slash). Refused (InputError naming options.flag): an empty path, `.`, `..`, `~`, `/`, the
// working directory or one of its parents, the home folder, a symbolic link, a file, and a
// non-empty folder without the marker unless options.force.
std::string check_output_dir(const std::string& dir, const OutputOptions& options = {});

// Writes `files` (path relative to `dir` -> content; sub-folders are created) into `dir`
// atomically: everything goes into a temporary folder beside `dir` (with the marker file),
// which is exchanged with `dir` in one rename only once every file is written; the old
// results are removed afterwards. On failure or cancellation nothing this call created is
// left behind (InputError / Cancelled) and an existing `dir` is untouched.
void write_dir_atomically(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files,
                          const OutputOptions& options = {});
// A file written by a function into its stream (large files: rows, never one string).
using StreamedFile = std::pair<std::string, std::function<void(std::ostream&)>>;
// The same, plus `streamed` files written after `files` (into the same temporary folder).
void write_dir_atomically(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files,
                          const std::vector<StreamedFile>& streamed, const OutputOptions& options = {});
// requests.csv and timeseries.csv of `result` as streamed files (they refer to `result`).
std::vector<StreamedFile> streamed_result_files(const SimResult& result);
void write_requests_csv(std::ostream& out, const SimResult& result);
void write_timeseries_csv(std::ostream& out, const SimResult& result);
std::string requests_csv(const SimResult& result);
// One CSV field: quoted (RFC 4180, quotes doubled) when it holds a comma, a quote or a newline.
std::string csv_field(const std::string& s);
std::string timeseries_csv(const SimResult& result);
// The human summary table printed by `servesim run`.
std::string summary_table(const nlohmann::json& summary);

}  // namespace servesim
