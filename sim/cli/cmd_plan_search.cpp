// `servesim plan search PLAN.json`: the cheapest deployment that sustains the plan's target
// rate within its SLOs, found by simulation (sim/search/, docs/plan_search.md).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>

#include <unistd.h>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.h"
#include "sim/cli/signals.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/report/output.h"
#include "sim/search/plan_output.h"
#include "sim/search/plan_search.h"
#include "sim/serving/catalog.h"

namespace servesim::cli {
namespace po = boost::program_options;

int plan_search_cmd(const Args& args) {
  po::options_description opts("servesim plan search PLAN.json [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("plan,p", po::value<std::string>(), "plan file (JSON, docs/plan_search.md)")(
      "out,o", po::value<std::string>()->default_value("out/plan"),
      "output folder; replaced atomically, only if new, empty or written by servesim")(
      "force", "also replace a non-empty --out folder that servesim did not write")(
      "threads,j", po::value<int>()->default_value(0), "worker threads (0: all cores); results do not depend on it")(
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
  if (vm.count("help")) {
    std::cout << opts
              << "\nOutputs in --out: plans.csv (ranked table), plans.jsonl, pareto.json, best_scenario.json (runs with\n"
                 "`servesim run`), plan.json (resolved plan), summary.txt. When no candidate meets the SLOs at the\n"
                 "target rate: one line naming the closest candidate, exit 2, nothing written.\n";
    return 0;
  }
  if (vm.count("extra")) {
    bad_value("servesim plan search", vm["extra"].as<std::vector<std::string>>().front(), "one plan file (PLAN.json or --plan)");
  }
  if (!vm.count("plan")) input_error("servesim plan search", "missing the plan file (PLAN.json)");
  const int threads = vm["threads"].as<int>();
  if (threads < 0 || threads > 4096) bad_value("--threads", std::to_string(threads), "0 (all cores) or a thread count up to 4096");
  const std::string path = vm["plan"].as<std::string>();
  const std::string data_dir = vm["data-dir"].as<std::string>();
  const bool quiet = vm.count("quiet") > 0;
  OutputOptions oo;
  oo.force = vm.count("force") > 0;
  oo.cancelled = stop_requested;
  const std::string out = check_output_dir(vm["out"].as<std::string>(), oo);  // refuse a wrong --out before searching

  const search::PlanConfig plan = search::parse_plan(read_json_file(path), path);
  const PriceBook prices = PriceBook::load(data_dir, vm.count("prices") ? vm["prices"].as<std::string>() : "");
  auto catalog = std::make_shared<Catalog>(data_dir);

  search::SearchOptions so;
  so.threads = threads;
  so.cancelled = stop_requested;
  std::mutex print_mu;
  if (!quiet && ::isatty(2)) {  // a progress line only on a terminal
    so.progress = [&](std::size_t done, std::size_t total) {
      std::lock_guard<std::mutex> lock(print_mu);
      std::fprintf(stderr, "\rsearching: %zu/%zu candidate groups", done, total);
      if (done == total) std::fprintf(stderr, "\n");
    };
  }
  const auto wall0 = std::chrono::steady_clock::now();
  const std::clock_t cpu0 = std::clock();
  search::PlanResult result = search::run_plan_search(plan, prices, catalog, so);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  search::rank_plans(plan, result);
  if (result.ranking.empty()) input_error(path, search::no_plan_message(plan, result));

  auto files = search::plan_files(plan, result, prices.path());
  const std::string summary = search::plan_summary(plan, result);
  files.emplace_back("summary.txt", summary);
  write_dir_atomically(out, files, oo);
  if (!quiet) {
    std::cout << summary
              << fmt::format("search took {:.1f} s wall, {:.1f} s CPU; results in {}/ (best_scenario.json runs with `servesim run`)\n",
                             wall, cpu, out);
  }
  return 0;
}

}  // namespace servesim::cli
