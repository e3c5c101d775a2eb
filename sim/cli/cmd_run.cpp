#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <sys/resource.h>

#include "sim/cli/commands.h"
#include "sim/cli/multi_seed.h"
#include "sim/core/json_file.h"
#include "sim/report/output.h"
#include "sim/serving/simulation.h"

namespace servesim::cli {
namespace po = boost::program_options;

std::string default_data_dir() {
  const char* env = std::getenv("SERVESIM_DATA_DIR");
  return env && *env ? env : SERVESIM_DATA_DIR;
}

namespace {
int cmd_run(const Args& args) {
  po::options_description opts("servesim run [options]");
  opts.add_options()("help,h", "show this help")(
      "scenario,s", po::value<std::string>(), "scenario JSON file (default: the embedded default what-if scenario)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a scenario key: --set scheduler.max_num_seqs=128")(
      "out,o", po::value<std::string>()->default_value("out/run"), "output directory (replaced atomically)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/ and hardware_profiles/")(
      "seeds", po::value<int>()->default_value(1), "run seeds s, s+1, ..., s+K-1 (s: the scenario's seed) into --out/seed-<n>/ with seeds.json")(
      "print-scenario", "print the scenario (after --set) and exit")("quiet,q", "print nothing on success");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts << "\nOutputs in --out: summary.json, requests.csv, timeseries.csv, resolved_config.json.\n";
    return 0;
  }
  nlohmann::json scenario;
  SimOptions so;
  so.data_dir = vm["data-dir"].as<std::string>();
  if (vm.count("scenario")) {
    so.source = vm["scenario"].as<std::string>();
    scenario = read_json_file(so.source);
  } else {
    so.source = "<default scenario>";
    scenario = nlohmann::json::parse(default_scenario_text());
  }
  if (vm.count("set")) {
    for (const auto& a : vm["set"].as<std::vector<std::string>>()) apply_override(scenario, a);
  }
  if (vm.count("print-scenario")) {
    std::cout << scenario.dump(2) << "\n";
    return 0;
  }
  if (vm["seeds"].as<int>() != 1) {
    return run_seeds_command(scenario, so, vm["seeds"].as<int>(), vm["out"].as<std::string>(), vm.count("quiet") > 0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  Simulation sim(scenario, so);
  SimResult res = sim.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string out = vm["out"].as<std::string>();
  write_results(out, res);
  if (!vm.count("quiet")) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    std::cout << summary_table(res.summary);
    std::cout << fmt::format("wall time {:.3f} s, {} events ({:.2f} M events/s), peak RSS {:.1f} MB\nresults in {}/\n", wall,
                             res.events, static_cast<double>(res.events) / wall / 1e6, ru.ru_maxrss / 1024.0, out);
  }
  return 0;
}
}  // namespace

SERVESIM_CLI_COMMAND("run", "simulate a scenario (the embedded default without --scenario)", cmd_run);

}  // namespace servesim::cli
