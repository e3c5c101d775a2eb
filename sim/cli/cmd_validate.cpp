// `servesim validate RUN_OR_DIR`: replays measured runs of a real serving engine through the
// engine's profile and reports predicted vs measured (per step, per request, throughput).
// `servesim validate fit`: fits the profile's constants from its calibration inputs only.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/calibrate/fit.h"
#include "sim/cli/commands.h"
#include "sim/cli/signals.h"
#include "sim/cli/uncertainty.h"
#include "sim/report/output.h"
#include "sim/core/error.h"
#include "sim/validate/compare.h"
#include "sim/validate/engine_fit.h"
#include "sim/validate/engine_profile.h"
#include "sim/validate/groundtruth.h"
#include "sim/validate/report.h"

namespace servesim::cli {
namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultEngine = "engines/hf_transformers_cb_h200.json";

std::string engine_path(const po::variables_map& vm, const std::string& data_dir) {
  return validate::resolve_data_path(vm["engine"].as<std::string>(), data_dir);
}

int fit(const Args& args) {
  po::options_description opts("servesim validate fit [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("engine", po::value<std::string>()->default_value(kDefaultEngine),
                                                 "engine profile whose calibration inputs to fit (as given or under --data-dir)")(
      "out,o", po::value<std::string>(), "write the fitted profile here (default: replace the --engine file)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/, hardware_profiles/, engines/, calibration/");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts << "\nFits only from the profile's calibration section (calibration runs, forward sweeps).\n";
    return 0;
  }
  SimOptions so;
  so.data_dir = vm["data-dir"].as<std::string>();
  const std::string path = engine_path(vm, so.data_dir);
  const validate::EngineProfile profile = validate::EngineProfile::load(path);
  so.source = path;
  const validate::EngineFit f = validate::fit_engine(profile, so);
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : path;
  calib::write_file_atomically(out, validate::with_fit(profile, f).dump(2) + "\n");
  std::cout << "fitted constants:\n" << f.constants.dump(2) << "\nfit quality:\n" << f.quality.dump(2) << "\nprofile written to " << out << "\n";
  return 0;
}

std::string host_term_text(const std::vector<std::vector<double>>& host_scales, const std::vector<std::size_t>& host_instances,
                           std::size_t within) {
  if (std::all_of(host_scales.begin(), host_scales.end(), [](const auto& h) { return h.empty(); })) {
    return "none: kernel fits' held-out errors only";
  }
  const bool instances = std::any_of(host_instances.begin(), host_instances.end(), [](std::size_t n) { return n > 0; });
  std::string t = instances ? "replay d's host_scale from machine instance (d - 1) mod n of fitted.host_population (seeded order): the "
                              "fit machine's and every other but the run's own process (runs.host_instances: n)"
                            : "replay d's host_scale: the run's own probe's";
  if (within > 0) {
    t += fmt::format(", times 1 + within-instance deviation {} of the {} of fitted.host_repeat (run-to-run host variation on "
                     "one instance; seeded order)",
                     instances ? "floor((d - 1) / n) mod m" : "(d - 1) mod m", within);
  }
  return t;
}

// Per run, the measured TTFT/TPOT p50, mean E2E and throughput against the intervals of
// `replays` perturbed replays (sim/cli/uncertainty.h), and the share that fall inside.
// With `host_scales[i]` not empty, replay d of run i also takes hf_engine's host_scale
// host_scales[i][(d - 1) mod size] (in a seeded order: every instance equally often).
nlohmann::json validation_intervals(const std::vector<validate::GtRun>& runs, const std::vector<validate::RunValidation>& results,
                                    const validate::EngineProfile& profile, const std::vector<nlohmann::json>& constants,
                                    const std::vector<std::vector<double>>& host_scales,
                                    const std::vector<std::size_t>& host_instances, std::size_t within, const SimOptions& so,
                                    int replays, double confidence) {
  using Get = std::function<validate::Pair(const validate::RunValidation&)>;
  const std::vector<std::pair<std::string, Get>> metrics = {
      {"ttft_p50", [](const auto& v) { return v.ttft.p50; }}, {"tpot_p50", [](const auto& v) { return v.tpot.p50; }},
      {"e2e_p50", [](const auto& v) { return v.e2e.p50; }},   {"throughput", [](const auto& v) { return v.throughput; }}};
  nlohmann::json per_run = nlohmann::json::array();
  int inside = 0, total = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    std::vector<std::vector<double>> values(metrics.size());
    for (int draw = 1; draw <= replays; ++draw) {
      nlohmann::json c = constants[i];
      if (!host_scales[i].empty()) c["host_scale"] = host_scales[i][static_cast<std::size_t>(draw - 1) % host_scales[i].size()];
      const auto v = validate::validate_run(runs[i], profile, c, so,
                                            [draw](const nlohmann::json& s) { return perturbed_scenario(s, s, draw); });
      for (std::size_t m = 0; m < metrics.size(); ++m) values[m].push_back(metrics[m].second(v).predicted);
    }
    nlohmann::json row = {{"run", results[i].run}, {"host_instances", host_instances[i]}};
    for (std::size_t m = 0; m < metrics.size(); ++m) {
      const auto pair = metrics[m].second(results[i]);
      const auto [lo, hi] = interval(values[m], confidence);
      const bool in = pair.measured >= lo && pair.measured <= hi;
      inside += in;
      ++total;
      row[metrics[m].first] = {{"measured", pair.measured}, {"point", pair.predicted}, {"lo", lo}, {"hi", hi}, {"inside", in}};
    }
    per_run.push_back(row);
  }
  return {{"replays", replays},
          {"confidence", confidence},
          {"inside", inside},
          {"total", total},
          {"host_term", host_term_text(host_scales, host_instances, within)},
          {"within_instance", within},
          {"runs", per_run}};
}

// The profile's constants for one run; with --host-probe, hf_engine's host_scale set to the
// run's own host probe over the fit machine's (a run without a probe keeps scale 1).
nlohmann::json run_constants(const validate::EngineProfile& profile, const validate::GtRun& run, bool host_probe) {
  nlohmann::json c = profile.fitted["constants"];
  if (host_probe && run.meta.host_plan_build_s > 0) c["host_scale"] = run.meta.host_plan_build_s / profile.host_probe_s;
  return c;
}

std::string coverage_text(const nlohmann::json& j) {
  std::string out = fmt::format("{:.0f}% prediction intervals ({} replays): measured inside {} of {}\n",
                                100 * j["confidence"].get<double>(), j["replays"].get<int>(), j["inside"].get<int>(),
                                j["total"].get<int>());
  out += "  host term: " + j["host_term"].get<std::string>() + "\n";
  for (const auto& r : j["runs"]) {
    for (const auto& [name, v] : r.items()) {
      if (name == "run" || name == "host_instances" || name == "within_instance") continue;
      out += fmt::format("  {:<28} {:<11} measured {:.4g} predicted {:.4g} [{:.4g}, {:.4g}] {}\n", r["run"].get<std::string>(), name,
                         v["measured"].get<double>(), v["point"].get<double>(), v["lo"].get<double>(), v["hi"].get<double>(),
                         v["inside"].get<bool>() ? "inside" : "OUTSIDE");
    }
  }
  return out;
}

int cmd_validate(const Args& args) {
  if (!args.empty() && args.front() == "fit") return fit(Args(args.begin() + 1, args.end()));
  po::options_description opts("servesim validate RUN_OR_DIR [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("run", po::value<std::string>(), "a ground-truth run folder, or a folder of runs")(
      "engine", po::value<std::string>()->default_value(kDefaultEngine), "engine profile (as given or under --data-dir)")(
      "out,o", po::value<std::string>()->default_value("out/validate"),
      "output folder; replaced atomically, only if new, empty or written by servesim")(
      "force", "also replace a non-empty --out folder that servesim did not write")(
      "role", po::value<std::string>()->default_value("validation"), "with a folder of runs: validate the runs of this role")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/, hardware_profiles/, engines/")(
      "uncertainty", po::value<int>()->default_value(0),
      "also replay each run N times with the fits' held-out errors drawn per family and (without --host-probe) the "
      "host of another machine instance of the profile's fitted.host_population, and report whether the measured "
      "values fall inside the prediction intervals (intervals.json)")(
      "confidence", po::value<double>()->default_value(0.9), "the intervals' coverage with --uncertainty")(
      "host-probe",
      "scale the engine's host time per run by the run's host probe (meta.json sdpa_probe: the cuDNN plan build) over "
      "the fit machine's (the profile's fitted.host_probe): hf_engine's host_scale")(
      "quiet,q", "print nothing on success");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("help") || !vm.count("run")) {
    std::cout << opts
              << "\nReplays each run's requests at their measured arrival times through the engine profile and compares:\n"
                 "per-step time (each measured step's composition costed), TTFT / TPOT / E2E percentiles, throughput.\n"
                 "Outputs in --out: validation.json, summary.md, <run>/per_request.csv, per_step.csv, per_request.svg.\n"
                 "`servesim validate fit [--engine FILE]` fits the profile's constants from its calibration inputs.\n";
    return vm.count("help") ? 0 : 2;
  }
  SimOptions so;
  so.data_dir = vm["data-dir"].as<std::string>();
  const std::string path = engine_path(vm, so.data_dir);
  const validate::EngineProfile profile = validate::EngineProfile::load(path);
  if (!profile.has_constants()) {
    input_error(path + ": fitted", "missing; expected fitted constants (run `servesim validate fit --engine " + path + "`)");
  }
  so.source = path;
  OutputOptions oo;
  oo.force = vm.count("force") > 0;
  oo.cancelled = stop_requested;
  const std::string out = vm["out"].as<std::string>();
  check_output_dir(out, oo);  // refuse a wrong --out before reading anything
  const std::string dir = vm["run"].as<std::string>();
  const std::vector<std::string> dirs = validate::find_runs(dir);
  const bool single = dirs.size() == 1 && dirs.front() == dir;
  const std::string role = vm["role"].as<std::string>();

  // Read and check everything before simulating anything.
  std::vector<validate::GtRun> runs;
  for (const std::string& d : dirs) {
    if (!single && validate::read_meta(d).role != role) continue;  // other runs are not read further
    validate::GtRun run = validate::read_run(d);
    validate::check_run_matches(profile, run.meta, d);
    runs.push_back(std::move(run));
  }
  if (runs.empty()) input_error(dir, "no run of role '" + role + "' here, expected at least one (see --role)");
  const int replays = vm["uncertainty"].as<int>();
  const double confidence = vm["confidence"].as<double>();
  if (replays != 0 && replays < 2) bad_value("--uncertainty", std::to_string(replays), "at least 2 replays (or 0: none)");
  if (!(confidence > 0 && confidence < 1)) bad_value("--confidence", std::to_string(confidence), "a fraction in (0, 1)");
  const bool host_probe = vm.count("host-probe") > 0;
  if (host_probe && !(profile.host_probe_s > 0)) {
    input_error(path + ": fitted.host_probe", "missing; expected the fit machine's host probe for --host-probe (refit with "
                                              "`servesim validate fit` from calibration runs that carry an sdpa_probe)");
  }
  std::vector<nlohmann::json> constants;
  for (const validate::GtRun& run : runs) {
    constants.push_back(run_constants(profile, run, host_probe));
    if (host_probe && !(run.meta.host_plan_build_s > 0) && !vm.count("quiet")) {
      std::cout << "run " << run.meta.name << ": no host probe (meta.json sdpa_probe), host scale 1\n";
    }
  }
  std::vector<validate::RunValidation> results;
  for (std::size_t i = 0; i < runs.size(); ++i) results.push_back(validate::validate_run(runs[i], profile, constants[i], so));
  std::vector<std::pair<std::string, std::string>> extra;
  nlohmann::json intervals;
  if (replays > 0) {
    // Without --host-probe the run's host is unknown: a machine instance of the profile's
    // population. With it, the run's own probe sets the host scale (no host draw).
    // Either way, with fitted.host_repeat, each replay's host also varies as repeated runs on
    // one instance did.
    std::vector<std::vector<double>> host_scales(runs.size());
    std::vector<std::size_t> host_instances(runs.size(), 0);
    const std::vector<double> within = validate::within_instance_order(profile);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const std::vector<double> inst = host_probe ? std::vector<double>{} : validate::host_draw_order(profile, runs[i].meta.host_plan_build_s);
      host_instances[i] = inst.size();
      host_scales[i] = validate::host_replay_scales(inst, within, constants[i].value("host_scale", 1.0));
    }
    intervals = validation_intervals(runs, results, profile, constants, host_scales, host_instances, within.size(), so, replays,
                                     confidence);
    extra.emplace_back("intervals.json", intervals.dump(2) + "\n");
  }
  if (stop_requested()) throw Cancelled("stopped before writing");
  validate::write_validation(out, results, oo, extra);
  if (!vm.count("quiet")) {
    for (const auto& r : results) std::cout << validate::table_text(r) << "\n";
    if (replays > 0) std::cout << coverage_text(intervals);
    std::cout << "results in " << out << "/\n";
  }
  return 0;
}

}  // namespace

SERVESIM_CLI_COMMAND("validate", "predict measured runs of a real engine and report the error (`validate fit`: fit the engine)",
                     cmd_validate);

}  // namespace servesim::cli
