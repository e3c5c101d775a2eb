#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.h"
#include "sim/core/registry.h"
#include "sim/search/plan_config.h"
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
  auto print_param = [](const ParamDoc& p) {
    std::cout << fmt::format("      {:<32} {:<10} default {:<10} {}\n", p.key, p.type, p.default_value, p.help);
  };
  if (params) {
    // The scenario's own keys (top level, pools, engine, metrics, KV transfer, ...).
    std::cout << "scenario:\n";
    for (const auto& p : scenario_param_docs()) print_param(p);
    // The plan file of `servesim plan search` (docs/plan_search.md).
    std::cout << "plan file:\n";
    for (const auto& p : search::plan_param_docs()) print_param(p);
  }
  for (const auto& [iface, lister] : RegistryIndex::get().all()) {
    std::cout << iface << ":\n";
    for (const auto& e : lister()) {
      std::cout << fmt::format("  {:<18} {}\n", e.name, e.description);
      if (!params) continue;
      for (const auto& p : e.params) {
        if (p.key != "impl") print_param(p);
      }
    }
  }
  return 0;
}
}  // namespace

SERVESIM_CLI_COMMAND("list", "list every registered implementation (with --params, their parameters)", cmd_list);

}  // namespace servesim::cli
