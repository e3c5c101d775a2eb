#pragma once
// A sweep's output folder DIR. Contract:
//   DIR/journal.jsonl     append-only: a header line {"servesim_sweep", "name", "hash", "points"}
//                         then one line per finished point {"index", "id", "status", "summary" |
//                         "error"}, each written whole and fsynced before the next point counts
//   DIR/points/<id>/      summary.json, resolved_config.json (+ requests.csv), written
//                         atomically before the point's journal line
//   DIR/points.csv        the results table and DIR/points.jsonl the full summaries, both in
//   DIR/points.jsonl      point order, written atomically (temporary file + rename) once every
//                         point is in the journal
// - A new sweep replaces DIR under the --out rules of sim/report/output.h (new, empty, or
//   holding servesim's marker, else --force), in one rename, with a folder holding the marker
//   and the journal's header; nothing is written before the sweep has been fully validated.
// - Resuming reads the journal: the header's hash must be this sweep's (else InputError: a
//   journal from a different sweep), a partial last line (a kill mid-write) is dropped from
//   the file, every complete line must name a point of this sweep once. A resumed DIR that
//   is missing or empty starts a new sweep.
// - While a SweepFolder is open it holds an exclusive lock on the journal: a second sweep on
//   the same DIR is refused (InputError) instead of interleaving.
// - Only the thread that owns the folder calls record().
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/report/output.h"
#include "sim/search/sweep_runner.h"
#include "sim/search/sweep_spec.h"

namespace servesim::search {

struct JournalEntry {
  std::size_t index = 0;
  std::string id;
  bool ok = true;
  std::string error;        // !ok
  nlohmann::json summary;   // ok
};

class SweepFolder {
 public:
  SweepFolder(const std::string& dir, const Sweep& sweep, bool resume, const OutputOptions& options);
  ~SweepFolder();
  SweepFolder(const SweepFolder&) = delete;
  SweepFolder& operator=(const SweepFolder&) = delete;

  const std::string& dir() const { return dir_; }
  bool resumed() const { return resumed_; }  // an existing journal was continued
  bool has(std::size_t index) const { return entries_.at(index).has_value(); }
  std::size_t done() const { return done_; }
  std::size_t failed() const { return failed_; }

  // Writes a finished point's folder, then its journal line (fsynced).
  void record(const PointOutcome& outcome);
  // Writes points.csv and points.jsonl; every point must be done.
  void write_tables() const;

 private:
  void start_new(const OutputOptions& options);
  void resume();
  void lock_journal();
  void add(JournalEntry e, const std::string& where);

  std::string dir_;
  const Sweep& sweep_;
  OutputOptions options_;
  std::vector<std::optional<JournalEntry>> entries_;
  std::size_t done_ = 0, failed_ = 0;
  bool resumed_ = false;
  int fd_ = -1;  // the journal, open for appending
};

// The journal's first line for `sweep`.
std::string journal_header(const Sweep& sweep);

}  // namespace servesim::search
