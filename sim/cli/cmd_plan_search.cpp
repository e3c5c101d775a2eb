// `servesim plan search PLAN.json`: the cheapest deployment that sustains the plan's target
// rate within its SLOs, found by simulation (sim/search/, docs/plan_search.md); and
// `servesim plan mix PLAN.json`: the cheapest heterogeneous mix of device plans (Melange).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>

#include <unistd.h>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.h"
#include "sim/cli/signals.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/report/output.h"
#include "sim/search/plan_autoscale.h"
#include "sim/search/plan_mix.h"
#include "sim/search/plan_mpi.h"
#include "sim/search/plan_output.h"
#include "sim/search/plan_search.h"
#include "sim/search/sweep_runner.h"
#include "sim/serving/catalog.h"

namespace servesim::cli {
namespace po = boost::program_options;

namespace {

// What `plan search` and `plan mix` share: the plan file, prices, data and the output folder.
struct PlanCommand {
  search::PlanConfig plan;
  PriceBook prices;
  std::shared_ptr<Catalog> catalog;
  OutputOptions oo;
  std::string out;
  std::string path;
  bool quiet = false;
  search::SearchOptions so;
  std::mutex print_mu;
};

// Parses the options (nullptr after --help, printed with `help_tail`); refuses a wrong --out
// before anything runs.
std::unique_ptr<PlanCommand> plan_command(const Args& args, const std::string& verb, const std::string& default_out,
                                          const std::string& progress_what, const char* help_tail) {
  po::options_description opts("servesim plan " + verb + " PLAN.json [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("plan,p", po::value<std::string>(), "plan file (JSON, docs/plan_search.md)")(
      "out,o", po::value<std::string>()->default_value(default_out),
      "output folder; replaced atomically, only if new, empty or written by servesim")(
      "force", "also replace a non-empty --out folder that servesim did not write")(
      "threads,j", po::value<int>()->default_value(0),
      "worker threads (0: all cores, shared among the MPI ranks of a node); results do not depend on it")(
      "prices", po::value<std::string>(), "price file (default: <data-dir>/hardware_profiles/prices.json)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/ and hardware_profiles/")(
      "quiet,q", "print nothing on success");
  po::options_description hidden;
  hidden.add_options()("extra", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("plan", 1).add("extra", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  const std::string where = "servesim plan " + verb;
  if (vm.count("help")) {
    std::cout << opts << help_tail;
    return nullptr;
  }
  if (vm.count("extra")) bad_value(where, vm["extra"].as<std::vector<std::string>>().front(), "one plan file (PLAN.json or --plan)");
  if (!vm.count("plan")) input_error(where, "missing the plan file (PLAN.json)");
  const int threads = vm["threads"].as<int>();
  if (threads < 0 || threads > 4096) bad_value("--threads", std::to_string(threads), "0 (all cores) or a thread count up to 4096");
  auto c = std::make_unique<PlanCommand>();
  c->path = vm["plan"].as<std::string>();
  const std::string data_dir = vm["data-dir"].as<std::string>();
  c->quiet = vm.count("quiet") > 0;
  c->oo.force = vm.count("force") > 0;
  c->oo.cancelled = stop_requested;
  c->out = check_output_dir(vm["out"].as<std::string>(), c->oo);  // refuse a wrong --out before searching
  c->plan = search::parse_plan(read_json_file(c->path), c->path);
  c->prices = PriceBook::load(data_dir, vm.count("prices") ? vm["prices"].as<std::string>() : "");
  c->catalog = std::make_shared<Catalog>(data_dir);
  c->so.threads = threads;
  c->so.cancelled = stop_requested;
  if (!c->quiet && ::isatty(2)) {  // a progress line only on a terminal
    PlanCommand* raw = c.get();
    c->so.progress = [raw, progress_what](std::size_t done, std::size_t total) {
      std::lock_guard<std::mutex> lock(raw->print_mu);
      std::fprintf(stderr, "\r%s: %zu/%zu", progress_what.c_str(), done, total);
      if (done == total) std::fprintf(stderr, "\n");
    };
  }
  return c;
}

// `plan search` under mpirun / srun: the candidate groups spread over the ranks
// (sim/search/plan_mpi.h); rank 0 writes everything. An error or a stop on any rank ends all.
std::optional<search::PlanResult> search_over_ranks(PlanCommand& c, std::string& note) {
  search::MpiSession mpi;
  search::MpiGroupSpread spread(mpi);
  c.so.spread = &spread;
  if (c.so.threads == 0) c.so.threads = search::default_threads(mpi.local_size());
  if (mpi.rank() != 0) c.so.progress = nullptr;
  try {
    search::PlanResult result = search::run_plan_search(c.plan, c.prices, c.catalog, c.so);
    if (mpi.rank() != 0) return std::nullopt;
    c.so.spread = nullptr;  // what follows (the day comparison) runs on rank 0 alone
    note = fmt::format(" over {} MPI ranks ({} of {} candidate groups searched by ranks other than 0; CPU time of rank 0 only)",
                       mpi.size(), spread.remote_groups(), spread.groups());
    return result;
  } catch (const Cancelled& e) {
    std::fprintf(stderr, "%s (rank %d)\n", e.what(), mpi.rank());
    mpi.abort(130);
  } catch (const InputError& e) {
    std::fprintf(stderr, "error: rank %d: %s\n", mpi.rank(), e.what());
    mpi.abort(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "servesim internal error: rank %d: %s\n", mpi.rank(), quoted_value(e.what(), 400).c_str());
    mpi.abort(1);
  }
}

}  // namespace

int plan_search_cmd(const Args& args) {
  auto c = plan_command(args, "search", "out/plan", "searching candidate groups",
                        "\nOutputs in --out: plans.csv (ranked table), plans.jsonl, pareto.json, best_scenario.json (runs with\n"
                        "`servesim run`), plan.json (resolved plan), summary.txt; with an `autoscale` section also autoscale.csv and\n"
                        "autoscale.jsonl (static vs autoscaled over a day). When no candidate meets the SLOs at the\n"
                        "target rate: one line naming the closest candidate, exit 2, nothing written.\n");
  if (!c) return 0;
  const search::PlanConfig& plan = c->plan;
  const auto wall0 = std::chrono::steady_clock::now();
  const std::clock_t cpu0 = std::clock();
  search::PlanResult result;
  std::string ranks_note;
  if (search::mpi_launched()) {
    std::optional<search::PlanResult> r = search_over_ranks(*c, ranks_note);
    if (!r) return 0;  // a rank other than 0: its groups went to rank 0
    result = std::move(*r);
  } else {
    result = search::run_plan_search(plan, c->prices, c->catalog, c->so);
  }
  search::rank_plans(plan, result);
  if (result.ranking.empty()) input_error(c->path, search::no_plan_message(plan, result));
  const std::vector<search::DayRun> day = search::run_day_comparison(plan, result, c->catalog, c->so);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;

  auto files = search::plan_files(plan, result, c->prices.path());
  for (auto& f : search::day_files(plan, result, day)) files.push_back(std::move(f));
  const std::string summary = search::plan_summary(plan, result) + search::day_summary(plan, result, day);
  files.emplace_back("summary.txt", summary);
  write_dir_atomically(c->out, files, c->oo);
  if (!c->quiet) {
    std::cout << summary
              << fmt::format("search took {:.1f} s wall, {:.1f} s CPU{}; results in {}/ (best_scenario.json runs with `servesim run`)\n",
                             wall, cpu, ranks_note, c->out);
  }
  return 0;
}

int plan_mix_cmd(const Args& args) {
  auto c = plan_command(args, "mix", "out/mix", "measuring bucket capacities",
                        "\nThe plan file's traffic is split into request-size buckets (its `mix` section); each device plan's\n"
                        "capacity per bucket is simulated; GLPK finds the cheapest mix (Melange). Outputs in --out: mix.json,\n"
                        "mix_units.csv, plan.json, summary.txt. docs/plan_search.md (Heterogeneous mixes).\n");
  if (!c) return 0;
  const auto wall0 = std::chrono::steady_clock::now();
  const search::MixResult result = search::run_plan_mix(c->plan, c->prices, c->catalog, c->so);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  auto files = search::mix_files(c->plan, result, c->prices.path());
  const std::string summary = search::mix_summary(c->plan, result);
  files.emplace_back("summary.txt", summary);
  write_dir_atomically(c->out, files, c->oo);
  if (!c->quiet) std::cout << summary << fmt::format("took {:.1f} s wall; results in {}/\n", wall, c->out);
  return 0;
}

}  // namespace servesim::cli
