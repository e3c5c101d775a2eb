#pragma once
// Running a sweep's points. Contract:
// - run_point() builds one Simulation from the point's parsed config and the shared Catalog
//   (read-only, thread-safe) and runs it; nothing else is shared between points, so any number
//   of them run at once and each gives what it would give alone.
// - A point whose simulation fails with bad input (a model that does not fit, an impossible
//   plan, a run limit) is a failed point with its one-line message, not a sweep error: capacity
//   sweeps cross such points on purpose. A cancelled point (the caller's `cancelled`) is
//   reported as such and left to a later --resume. Any other exception is a bug and escapes.
// - PointPool runs points on `threads` oneTBB worker threads (a task arena of that size; one
//   point per task) and hands back finished points in completion order. Only the thread that
//   owns the pool submits and collects (MPI calls stay on that thread).
// - run_sweep() is the coordinator: it hands the unfinished points, in point order, to its own
//   pool and (under MPI) to the other ranks on request, records every finished point through
//   the SweepFolder as it arrives, and at the end writes the tables. A cancelled point (a
//   worker rank that was stopped) goes back in line; if the coordinator itself is stopped,
//   the unfinished points stay for a later --resume and the tables are not written. Results
//   do not depend on the number of threads or ranks; only the journal's line order does.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/search/sweep_spec.h"
#include "sim/serving/catalog.h"

namespace servesim::search {

class SweepFolder;

enum class PointStatus : std::uint8_t { kOk, kFailed, kCancelled };

struct PointOutcome {
  std::size_t index = 0;
  PointStatus status = PointStatus::kOk;
  std::string error;        // kFailed: the one-line message
  nlohmann::json summary;   // kOk
  std::vector<std::pair<std::string, std::string>> files;  // kOk: the point folder's files
};

struct PointRunOptions {
  bool requests_csv = false;              // also write requests.csv per point
  std::function<bool()> cancelled;        // polled while simulating
};

PointOutcome run_point(const SweepPoint& point, const std::shared_ptr<Catalog>& catalog, const PointRunOptions& options);

// Loads every model, device and topology the points name, so that a typo is an InputError
// before anything runs (not a failed point).
void check_catalog_names(const Sweep& sweep, Catalog& catalog);

// The threads a sweep uses by default: the cores this process may run on (oneTBB honours the
// CPU affinity mask, e.g. Slurm's --cpus-per-task), shared among `local_ranks` ranks.
int default_threads(int local_ranks = 1);

class PointPool {
 public:
  PointPool(const Sweep& sweep, std::shared_ptr<Catalog> catalog, PointRunOptions options, int threads);
  ~PointPool();  // waits for the points in flight
  PointPool(const PointPool&) = delete;
  PointPool& operator=(const PointPool&) = delete;

  void submit(std::size_t index);
  // The next finished point, waiting at most `timeout`; rethrows a point's internal error.
  std::optional<PointOutcome> next(std::chrono::milliseconds timeout);
  int in_flight() const { return in_flight_; }
  int threads() const { return threads_; }

 private:
  struct State;
  struct Threads;  // oneTBB's arena, an implementation detail
  std::shared_ptr<State> state_;
  std::unique_ptr<Threads> tbb_;
  int threads_ = 1;
  int in_flight_ = 0;
  int submitted_ = 0;
};

struct SweepProgress {
  std::size_t total = 0;
  std::size_t done = 0;         // finished, in the journal (including done_before)
  std::size_t done_before = 0;  // finished in an earlier run (resume)
  std::size_t failed = 0;
  double elapsed_s = 0;         // this run
};

struct SweepRunOptions {
  int threads = 1;
  PointRunOptions point;
  std::function<void(const SweepProgress&)> progress;  // after each finished point and now and then
};

// Rank 0's view of the other MPI ranks (null in a single process).
class IRemoteWorkers {
 public:
  virtual ~IRemoteWorkers() = default;
  // Serves what the workers sent: requests are answered with hand_out(wanted) (an empty list:
  // no more work), finished points go to on_result.
  virtual void poll(const std::function<std::vector<std::size_t>(int wanted)>& hand_out,
                    const std::function<void(PointOutcome&&)>& on_result) = 0;
  // True once every worker has left (after an empty hand-out and its last results).
  virtual bool finished() const = 0;
};

struct SweepStats {
  std::size_t points = 0, ran = 0, from_journal = 0, failed = 0;
  bool stopped = false;  // `cancelled` was seen: the tables were not written
};

SweepStats run_sweep(const Sweep& sweep, SweepFolder& folder, const std::shared_ptr<Catalog>& catalog,
                     const SweepRunOptions& options, IRemoteWorkers* remote = nullptr);

}  // namespace servesim::search
