// `servesim cost predict`: ask a cost model for the time of each operator of a shapes CSV.
#include <cmath>
#include <iostream>
#include <map>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/calibrate/csv_table.h"
#include "sim/calibrate/fit.h"
#include "sim/calibrate/shapes.h"
#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/cost/i_cost_model.h"
#include "sim/hardware/device_spec.h"
#include "sim/report/output.h"

namespace servesim::cli {
namespace po = boost::program_options;

namespace {

int predict(const Args& args) {
  po::options_description opts("servesim cost predict [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("hardware", po::value<std::string>()->required(),
                                                 "device profile name (hardware_profiles/devices/<name>.json)")(
      "in", po::value<std::string>()->required(), "shapes CSV (columns in calibration/FITTING.md)")(
      "out,o", po::value<std::string>()->required(), "output CSV: the input columns, time_us, source (and ape_pct)")(
      "cost", po::value<std::string>()->default_value("calibrated"), "cost model: calibrated or roofline")(
      "profile", po::value<std::string>(), "fitted profile for --cost calibrated (default: the device's)")(
      "kernel-set", po::value<std::string>(),
      "for --cost calibrated: the kernels (engine) to predict, e.g. vllm, pytorch (default: the device's profile)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of hardware_profiles/ and calibration/");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  po::notify(vm);
  const std::string data_dir = vm["data-dir"].as<std::string>();
  const DeviceSpec dev = load_device(vm["hardware"].as<std::string>(), data_dir, "--hardware");
  nlohmann::json cfg = {{"impl", vm["cost"].as<std::string>()}};
  if (vm.count("profile")) {
    if (cfg["impl"] != "calibrated") bad_value("--profile", vm["profile"].as<std::string>(), "only with --cost calibrated");
    cfg["profile"] = vm["profile"].as<std::string>();
  }
  if (vm.count("kernel-set")) {
    if (cfg["impl"] != "calibrated") bad_value("--kernel-set", vm["kernel-set"].as<std::string>(), "only with --cost calibrated");
    cfg["kernel_set"] = vm["kernel-set"].as<std::string>();
  }
  const auto model = CostModelRegistry::get().build(cfg, "--cost", nullptr, CostDeps{dev, data_dir});
  const calib::ShapeTable shapes = calib::read_shapes(vm["in"].as<std::string>());

  const bool measured = std::find(shapes.columns.begin(), shapes.columns.end(), "measured_us") != shapes.columns.end();
  std::string text;
  for (const auto& c : shapes.columns) text += csv_field(c) + ",";
  text += measured ? "time_us,source,ape_pct\n" : "time_us,source\n";
  std::map<std::string, std::size_t> by_source;
  double ape_sum = 0;
  std::size_t ape_n = 0;
  for (std::size_t i = 0; i < shapes.ops.size(); ++i) {
    const auto p = model->predict(shapes.ops[i]);
    SERVESIM_ASSERT(p.has_value());
    SimTime ns = p->ns;
    if (shapes.ops[i].moe.ep > 0) {  // a MoE layer's experts: its three operators
      ns = 0;
      for (const Operator& part : moe_expert_operators(shapes.ops[i].moe, 1)) ns += model->predict(part)->ns;
    }
    const double us = static_cast<double>(ns) * 1e-3;
    for (const auto& c : shapes.cells[i]) text += csv_field(c) + ",";
    text += fmt::format("{:.3f},{}", us, p->source);
    if (measured) {
      if (std::isnan(shapes.measured_us[i])) {
        text += ",";
      } else {
        const double ape = std::fabs(us / shapes.measured_us[i] - 1) * 100;
        text += fmt::format(",{:.2f}", ape);
        ape_sum += ape;
        ++ape_n;
      }
    }
    text += "\n";
    ++by_source[std::string(p->source)];
  }
  calib::write_file_atomically(vm["out"].as<std::string>(), text);
  std::cout << fmt::format("{} operators predicted on {}; answered by:\n", shapes.ops.size(), dev.name);
  for (const auto& [src, n] : by_source) std::cout << fmt::format("  {:<48} {}\n", src, n);
  if (ape_n > 0) std::cout << fmt::format("MAPE against measured_us: {:.2f}% over {} rows\n", ape_sum / static_cast<double>(ape_n), ape_n);
  std::cout << "results in " << vm["out"].as<std::string>() << "\n";
  return 0;
}

int cmd_cost(const Args& args) {
  const std::string usage =
      "usage: servesim cost predict --hardware H --in shapes.csv --out times.csv [--cost calibrated|roofline]\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout) << usage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "predict") return predict(Args(args.begin() + 1, args.end()));
  bad_value("servesim cost", args[0], "predict");
}

}  // namespace

SERVESIM_CLI_COMMAND("cost", "ask a cost model for the time of operators listed in a CSV (cost predict)", cmd_cost);

}  // namespace servesim::cli
