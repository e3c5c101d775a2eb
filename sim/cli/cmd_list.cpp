#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.h"
#include "sim/core/registry.h"
#include "sim/serving/scenario_config.h"

namespace servesim::cli {
namespace po = boost::program_options;

namespace {
int cmd_list(const Args& args) {
  po::options_description opts("servesim list [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("params,p", "also print each implementation's parameters");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  const bool params = vm.count("params") != 0;
  if (params) {
    // The scenario's own keys (top level, pools, engine, metrics, KV transfer, ...).
    std::cout << "scenario:\n";
    for (const auto& p : scenario_param_docs()) {
      std::cout << fmt::format("      {:<32} {:<10} default {:<10} {}\n", p.key, p.type, p.default_value, p.help);
    }
  }
  for (const auto& [iface, lister] : RegistryIndex::get().all()) {
    std::cout << iface << ":\n";
    for (const auto& e : lister()) {
      std::cout << fmt::format("  {:<18} {}\n", e.name, e.description);
      if (!params) continue;
      for (const auto& p : e.params) {
        if (p.key == "impl") continue;
        std::cout << fmt::format("      {:<32} {:<10} default {:<10} {}\n", p.key, p.type, p.default_value, p.help);
      }
    }
  }
  return 0;
}
}  // namespace

SERVESIM_CLI_COMMAND("list", "list every registered implementation (with --params, their parameters)", cmd_list);

}  // namespace servesim::cli
