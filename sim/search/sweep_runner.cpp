#include "sim/search/sweep_runner.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include "sim/core/error.h"
#include "sim/report/output.h"
#include "sim/search/sweep_output.h"
#include "sim/serving/simulation.h"

namespace servesim::search {

PointOutcome run_point(const SweepPoint& point, const std::shared_ptr<Catalog>& catalog, const PointRunOptions& options) {
  PointOutcome out;
  out.index = point.index;
  try {
    if (options.cancelled && options.cancelled()) {
      out.status = PointStatus::kCancelled;
      return out;
    }
    Simulation sim(point.config, catalog);
    RunControl control;
    control.cancelled = options.cancelled;
    SimResult res = sim.run(control);
    out.files = result_files(res, options.requests_csv, /*with_timeseries=*/false);
    out.summary = std::move(res.summary);
  } catch (const Cancelled&) {
    out.status = PointStatus::kCancelled;
  } catch (const InputError& e) {
    out.status = PointStatus::kFailed;
    out.error = e.what();
  }
  return out;
}

void check_catalog_names(const Sweep& sweep, Catalog& catalog) {
  for (const SweepPoint& p : sweep.points) {
    for (const PoolConfig& c : p.config.pools) {
      auto where = [&](const std::string& key) { return c.where.find(": ") == std::string::npos ? c.where + ": " + key : c.where + "." + key; };
      catalog.model(c.model, where("model"));
      catalog.device(c.hardware, where("hardware"));
      if (!c.topology.empty()) catalog.topology(c.topology, where("topology"));
    }
  }
}

int default_threads(int local_ranks) {
  return std::max(1, tbb::info::default_concurrency() / std::max(1, local_ranks));
}

// What the pool's tasks share with its owner: finished points, in completion order.
// Tasks hold it by shared_ptr, so a task that finishes after the owner stopped waiting (it
// never does; see ~PointPool) would still touch live memory.
struct PointPool::State {
  const Sweep* sweep = nullptr;
  std::shared_ptr<Catalog> catalog;
  PointRunOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<PointOutcome, std::exception_ptr>> done;
  int pushed = 0;                   // finished, collected or not
  std::atomic<bool> abandon{false};  // the owner is unwinding: cancel what is in flight
};

// The worker threads: oneTBB keeps (parallelism - 1) workers by default, the arena needs
// `threads` of them (the owner thread only submits and collects), so the limit is raised for
// the pool's lifetime.
struct PointPool::Threads {
  tbb::global_control control;
  tbb::task_arena arena;
  explicit Threads(int threads)
      : control(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads) + 1),
        arena(threads, /*reserved_for_masters=*/0) {}
};

PointPool::PointPool(const Sweep& sweep, std::shared_ptr<Catalog> catalog, PointRunOptions options, int threads)
    : state_(std::make_shared<State>()), tbb_(std::make_unique<Threads>(std::max(1, threads))), threads_(std::max(1, threads)) {
  state_->sweep = &sweep;
  state_->catalog = std::move(catalog);
  state_->options = std::move(options);
  state_->options.cancelled = [st = state_.get(), user = state_->options.cancelled] { return st->abandon.load() || (user && user()); };
}

PointPool::~PointPool() {
  if (std::uncaught_exceptions() > 0) state_->abandon = true;
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->pushed == submitted_; });
}

void PointPool::submit(std::size_t index) {
  SERVESIM_ASSERT(index < state_->sweep->points.size());
  ++in_flight_;
  ++submitted_;
  tbb_->arena.enqueue([st = state_, index] {
    PointOutcome o;
    std::exception_ptr error;
    try {
      o = run_point(st->sweep->points[index], st->catalog, st->options);
    } catch (...) {
      o.index = index;
      error = std::current_exception();
    }
    std::lock_guard lock(st->mu);
    st->done.emplace_back(std::move(o), error);
    ++st->pushed;
    st->cv.notify_all();
  });
}

std::optional<PointOutcome> PointPool::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mu);
  if (!state_->cv.wait_for(lock, timeout, [&] { return !state_->done.empty(); })) return std::nullopt;
  auto [outcome, error] = std::move(state_->done.front());
  state_->done.pop_front();
  --in_flight_;
  if (error) std::rethrow_exception(error);
  return std::move(outcome);
}

SweepStats run_sweep(const Sweep& sweep, SweepFolder& folder, const std::shared_ptr<Catalog>& catalog,
                     const SweepRunOptions& options, IRemoteWorkers* remote) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto stopping = [&] { return options.point.cancelled && options.point.cancelled(); };
  SweepStats stats;
  stats.points = sweep.points.size();
  stats.from_journal = folder.done();
  std::deque<std::size_t> pending;  // unfinished points, in point order
  for (std::size_t i = 0; i < sweep.points.size(); ++i) {
    if (!folder.has(i)) pending.push_back(i);
  }
  SweepProgress progress{sweep.points.size(), folder.done(), folder.done(), folder.failed(), 0};
  const auto report = [&] {
    if (!options.progress) return;
    progress.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    options.progress(progress);
  };
  const auto record = [&](PointOutcome&& o) {
    if (o.status == PointStatus::kCancelled) {  // not done: back in line (a later --resume runs it if we stop)
      pending.insert(std::lower_bound(pending.begin(), pending.end(), o.index), o.index);
      return;
    }
    folder.record(o);
    ++stats.ran;
    progress.done = folder.done();
    progress.failed = folder.failed();
    report();
  };
  const auto hand_out = [&](int wanted) {
    std::vector<std::size_t> out;
    while (!stopping() && wanted-- > 0 && !pending.empty()) {
      out.push_back(pending.front());
      pending.pop_front();
    }
    return out;
  };

  PointPool pool(sweep, catalog, options.point, options.threads);
  report();
  for (;;) {
    const bool stop = stopping();
    while (!stop && pool.in_flight() < pool.threads() && !pending.empty()) {
      pool.submit(pending.front());
      pending.pop_front();
    }
    if (remote) remote->poll(hand_out, record);
    if (pool.in_flight() > 0) {
      // Under MPI the loop also serves the other ranks, so it comes back quickly.
      if (auto o = pool.next(std::chrono::milliseconds(remote ? 2 : 250))) record(std::move(*o));
    } else if (remote && !remote->finished()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (pool.in_flight() == 0 && (pending.empty() || stop) && (!remote || remote->finished())) break;
    report();
  }
  stats.failed = folder.failed();
  stats.stopped = folder.done() < sweep.points.size();
  if (!stats.stopped) folder.write_tables();
  return stats;
}

}  // namespace servesim::search
