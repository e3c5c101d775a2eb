// `servesim sweep SWEEP.json --out DIR`: runs every point of a sweep (sim/search/sweep_spec.h)
// on all cores, or over MPI ranks when started by mpirun / srun, into DIR (journal, one folder
// per point, points.csv and points.jsonl); `--resume` continues a stopped or killed sweep.
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include "sim/cli/commands.h"
#include "sim/cli/terminal_line.h"
#include "sim/cli/signals.h"
#include "sim/core/error.h"
#include "sim/search/sweep_mpi.h"
#include "sim/search/sweep_output.h"
#include "sim/search/sweep_runner.h"

namespace servesim::cli {
namespace po = boost::program_options;
using namespace servesim::search;

namespace {

// One line on a terminal: points done, rate and ETA, at most 4 times a second.
class SweepProgressLine {
 public:
  explicit SweepProgressLine(bool enabled) : line_(enabled) {}
  void update(const SweepProgress& p) {
    if (!line_.due()) return;
    const std::size_t ran = p.done - p.done_before;
    const double rate = p.elapsed_s > 0 ? static_cast<double>(ran) / p.elapsed_s : 0.0;
    const std::string eta = rate > 0 ? fmt::format("ETA {:.0f} s", static_cast<double>(p.total - p.done) / rate) : "ETA -";
    line_.show(fmt::format("sweep: {}/{} points{}, {:.2f} points/s, {} (Ctrl-C stops, --resume continues)", p.done, p.total,
                           p.failed ? fmt::format(" ({} failed)", p.failed) : "", rate, eta));
  }
  void clear() { line_.clear(); }

 private:
  TerminalLine line_;
};

struct Options {
  std::string sweep_file, out, data_dir;
  std::optional<int> threads;
  bool resume = false, quiet = false, requests_csv = false;
  OutputOptions output;
};

// The sweep and what every rank needs to run it.
struct Loaded {
  Sweep sweep;
  std::shared_ptr<Catalog> catalog;
};

Loaded load(const Options& o) {
  Loaded l;
  l.sweep = load_sweep(o.sweep_file, o.requests_csv ? "requests_csv" : "");
  l.catalog = std::make_shared<Catalog>(o.data_dir);
  check_catalog_names(l.sweep, *l.catalog);
  return l;
}

SweepRunOptions run_options(const Options& o, int threads, SweepProgressLine* line) {
  SweepRunOptions r;
  r.threads = threads;
  r.point.requests_csv = o.requests_csv;
  r.point.cancelled = stop_requested;
  if (line) r.progress = [line](const SweepProgress& p) { line->update(p); };
  return r;
}

int finish(const Options& o, const Sweep& sweep, const SweepFolder& folder, const SweepStats& s, int threads, int ranks,
           double wall_s) {
  if (s.stopped) {
    // main() reports the signal; this line says how to go on.
    const std::string how = fmt::format("{} of {} points done and kept in {}/journal.jsonl; `servesim sweep {} --out {} --resume` runs the others",
                                        folder.done(), s.points, folder.dir(), o.sweep_file, o.out);
    std::fprintf(stderr, "servesim sweep: %s\n", how.c_str());
    throw Cancelled(how);
  }
  if (!o.quiet) {
    std::cout << fmt::format("sweep {}: {} points ({} run now, {} from the journal, {} failed) in {:.2f} s on {} thread(s) x {} rank(s)\n"
                             "results in {}/points.csv and points.jsonl; one folder per point in {}/points/<id>/\n",
                             sweep.name, s.points, s.ran, s.from_journal, s.failed, wall_s, threads, ranks, folder.dir(), folder.dir());
  }
  return 0;
}

int run_single(const Options& o) {
  const auto t0 = std::chrono::steady_clock::now();
  Loaded l = load(o);
  const int threads = o.threads.value_or(default_threads());
  SweepFolder folder(o.out, l.sweep, o.resume, o.output);
  if (!o.quiet && folder.resumed()) {
    std::cout << fmt::format("resuming sweep {}: {} of {} points done\n", l.sweep.name, folder.done(), l.sweep.points.size());
  }
  SweepProgressLine line(!o.quiet && ::isatty(STDERR_FILENO));
  const SweepStats s = run_sweep(l.sweep, folder, l.catalog, run_options(o, threads, &line));
  line.clear();
  return finish(o, l.sweep, folder, s, threads, 1,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// Runs `step` on this rank and makes every rank agree on whether it worked. On failure rank 0
// rethrows its error (main prints it); a rank whose own step failed while rank 0's worked
// prints its error with its rank; every rank then returns exit code 2.
std::optional<int> agreed(const MpiSession& mpi, const std::function<void()>& step) {
  std::string error;
  try {
    step();
  } catch (const InputError& e) {
    error = e.what();
  }
  if (mpi.max_over_ranks(error.empty() ? 0 : 1) == 0) return std::nullopt;
  const bool rank0_failed = mpi.broadcast(error.empty() ? 0 : 1) != 0;
  if (mpi.rank() == 0 && rank0_failed) throw InputError(error);
  if (!error.empty() && !rank0_failed) std::fprintf(stderr, "error: rank %d: %s\n", mpi.rank(), error.c_str());
  return 2;
}

int run_mpi(const Options& o) {
  const auto t0 = std::chrono::steady_clock::now();
  MpiSession mpi;
  Loaded l;
  if (auto rc = agreed(mpi, [&] { l = load(o); })) return *rc;
  const int threads = o.threads.value_or(default_threads(mpi.local_size()));
  std::unique_ptr<SweepFolder> folder;
  if (auto rc = agreed(mpi, [&] {
        if (mpi.rank() == 0) folder = std::make_unique<SweepFolder>(o.out, l.sweep, o.resume, o.output);
      })) {
    return *rc;
  }
  try {
    if (mpi.rank() != 0) {
      serve_sweep(l.sweep, l.catalog, run_options(o, threads, nullptr));
      return 0;
    }
    if (!o.quiet && folder->resumed()) {
      std::cout << fmt::format("resuming sweep {}: {} of {} points done\n", l.sweep.name, folder->done(), l.sweep.points.size());
    }
    SweepProgressLine line(!o.quiet && ::isatty(STDERR_FILENO));
    MpiWorkers workers(mpi);
    const SweepStats s = run_sweep(l.sweep, *folder, l.catalog, run_options(o, threads, &line), &workers);
    line.clear();
    return finish(o, l.sweep, *folder, s, threads, mpi.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  } catch (const Cancelled&) {
    throw;  // every rank has left the protocol: a clean stop
  } catch (const InputError& e) {
    std::fprintf(stderr, "error: rank %d: %s\n", mpi.rank(), e.what());
    mpi.abort(2);  // the other ranks may be waiting on this one
  } catch (const std::exception& e) {
    std::fprintf(stderr, "servesim internal error: rank %d: %s\n", mpi.rank(), quoted_value(e.what(), 400).c_str());
    mpi.abort(1);
  }
}

int cmd_sweep(const Args& args) {
  po::options_description opts("servesim sweep SWEEP.json --out DIR [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("sweep", po::value<std::string>(), "sweep file (docs/sweep.md)")(
      "out,o", po::value<std::string>(), "output folder (required): journal.jsonl, points/<id>/, points.csv, points.jsonl")(
      "threads,j", po::value<int>(), "points run at once (default: the cores this process may use, shared among the MPI ranks of a node)")(
      "resume", "continue the sweep in --out: run only the points its journal does not hold")(
      "force", "replace a non-empty --out folder that servesim did not write")(
      "requests-csv", "also write requests.csv in every point's folder (off by default: it is the largest file)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/ and hardware_profiles/")(
      "quiet,q", "print nothing on success (no progress line either)");
  po::options_description hidden;
  hidden.add_options()("extra", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("sweep", 1).add("extra", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts
              << "\nRuns every point of the sweep (docs/sweep.md) on all cores; under `mpirun -n N` (or srun) the points are\n"
                 "spread over the ranks, rank 0 writing --out. SIGINT/SIGTERM stop cleanly (exit 130/143): finished points\n"
                 "stay in the journal and `--resume` runs the others.\n";
    return 0;
  }
  if (vm.count("extra")) bad_value("servesim sweep", vm["extra"].as<std::vector<std::string>>().front(), "one sweep file, options starting with --");
  if (!vm.count("sweep")) bad_value("servesim sweep", "", "a sweep file: servesim sweep SWEEP.json --out DIR");
  if (!vm.count("out")) bad_value("--out", "", "an output folder for the sweep (--out DIR)");
  Options o;
  o.sweep_file = vm["sweep"].as<std::string>();
  o.out = vm["out"].as<std::string>();
  o.data_dir = vm["data-dir"].as<std::string>();
  o.resume = vm.count("resume") > 0;
  o.quiet = vm.count("quiet") > 0;
  o.requests_csv = vm.count("requests-csv") > 0;
  o.output.force = vm.count("force") > 0;
  o.output.cancelled = stop_requested;
  if (vm.count("threads")) {
    const int t = vm["threads"].as<int>();
    if (t < 1 || t > 1024) bad_value("--threads", std::to_string(t), "a number of threads in [1, 1024]");
    o.threads = t;
  }
  return mpi_launched() ? run_mpi(o) : run_single(o);
}

}  // namespace

SERVESIM_CLI_COMMAND("sweep", "run every point of a sweep file on all cores or MPI ranks (resumable)", cmd_sweep);

}  // namespace servesim::cli
