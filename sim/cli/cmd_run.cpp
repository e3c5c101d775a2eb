#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sim/cli/commands.h"
#include "sim/cli/terminal_line.h"
#include "sim/cli/multi_seed.h"
#include "sim/cli/uncertainty.h"
#include "sim/validate/engine_profile.h"
#include "sim/cli/signals.h"
#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/core/json_file.h"
#include "sim/report/chrome_trace.h"
#include "sim/report/html_report.h"
#include "sim/report/output.h"
#include "sim/serving/simulation.h"

namespace servesim::cli {
namespace po = boost::program_options;

std::string default_data_dir() {
  const char* env = std::getenv("SERVESIM_DATA_DIR");
  return env && *env ? env : SERVESIM_DATA_DIR;
}

boost::program_options::variables_map parse_with_positionals(const Args& args, const boost::program_options::options_description& opts,
                                                             const char* name) {
  namespace po = boost::program_options;
  po::options_description hidden;
  hidden.add_options()(name, po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add(name, -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  return vm;
}

namespace {

// A one-line progress display on a terminal for runs that last more than a second.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : line_(enabled, 1.0) {}
  void update(const RunProgress& p) {
    if (!line_.due()) return;
    line_.show(fmt::format("simulated {:.1f} s, {} requests done, {:.2f} M events/s (Ctrl-C stops)", to_seconds(p.now),
                           p.requests_done, static_cast<double>(p.events) / line_.elapsed_s() / 1e6));
  }
  void clear() { line_.clear(); }

 private:
  TerminalLine line_;
};

int cmd_run(const Args& args) {
  po::options_description opts("servesim run [SCENARIO.json] [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")(
      "scenario,s", po::value<std::string>(), "scenario JSON file (default: the embedded default what-if scenario)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a scenario key: --set scheduler.max_num_seqs=128")(
      "out,o", po::value<std::string>()->default_value("out/run"),
      "output folder; replaced atomically, only if new, empty or written by servesim")(
      "force", "also replace a non-empty --out folder that servesim did not write")(
      "max-events", po::value<std::uint64_t>()->default_value(0), "stop with an error after this many events (0: no limit)")(
      "max-sim-time", po::value<std::string>(), "stop with an error past this simulated time, e.g. 2h")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/ and hardware_profiles/")(
      "seeds", po::value<int>()->default_value(1), "run seeds s, s+1, ..., s+K-1 (s: the scenario's seed) into --out/seed-<n>/ with seeds.json")(
      "uncertainty", po::value<int>()->default_value(0),
      "also replay N times with the fits' held-out errors drawn per family: 90% prediction intervals in uncertainty.json")(
      "confidence", po::value<double>()->default_value(0.9), "the intervals' coverage with --uncertainty")(
      "engine", po::value<std::string>(),
      "run on an engine profile's engine (e.g. engines/hf_transformers_cb_h200.json): its scheduler, KV manager, parallel "
      "plan, hardware and cost model with the fitted host constants replace the scenario's (before --set); model and "
      "workload kept. With --uncertainty replays also take the host of the engine's measured machine instances")(
      "host-scale", po::value<double>(),
      "with --engine: the host's speed against the fit machine's (host time multiplier, e.g. a host probe over the "
      "profile's fitted.host_probe); no host term in --uncertainty")(
      "report", "also write report.html (charts, tables; opens offline) into --out")(
      "timeline", "also write timeline.json (Chrome trace events: open in ui.perfetto.dev) into --out")(
      "timeline-window", po::value<std::string>(), "keep only this span of simulated time in the timeline, e.g. 60s:120s")(
      "print-scenario", "print the scenario (after --set) and exit")("quiet,q", "print nothing on success");
  po::options_description hidden;
  hidden.add_options()("extra", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("scenario", 1).add("extra", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("extra")) {
    bad_value("servesim run", vm["extra"].as<std::vector<std::string>>().front(),
              "one scenario file (SCENARIO.json or --scenario), options starting with --");
  }
  if (vm.count("help")) {
    std::cout << opts << "\nOutputs in --out: summary.json, requests.csv, timeseries.csv, resolved_config.json\n"
                         "(+ report.html with --report, timeline.json with --timeline).\n"
                         "SIGINT/SIGTERM stop the run cleanly: exit 130/143, nothing partial left, old results kept.\n";
    return 0;
  }
  nlohmann::json scenario;
  SimOptions so;
  so.data_dir = vm["data-dir"].as<std::string>();
  OutputOptions oo;
  oo.force = vm.count("force") > 0;
  oo.cancelled = stop_requested;
  const std::string out = vm["out"].as<std::string>();
  RunControl control;
  control.max_events = vm["max-events"].as<std::uint64_t>();
  if (vm.count("max-sim-time")) {
    control.max_sim_time = units::parse_duration(vm["max-sim-time"].as<std::string>(), "--max-sim-time");
    if (control.max_sim_time <= 0) bad_value("--max-sim-time", vm["max-sim-time"].as<std::string>(), "a positive duration");
  }
  if (vm.count("scenario")) {
    so.source = vm["scenario"].as<std::string>();
    scenario = read_json_file(so.source);
  } else {
    so.source = "<default scenario>";
    scenario = nlohmann::json::parse(default_scenario_text());
  }
  HostTerm host_term;  // --uncertainty's host term (empty: none)
  if (vm.count("host-scale") && !vm.count("engine")) bad_value("--host-scale", "without --engine", "--engine FILE (an engine profile)");
  if (vm.count("engine")) {
    const auto profile = validate::EngineProfile::load(validate::resolve_data_path(vm["engine"].as<std::string>(), so.data_dir));
    scenario = validate::with_engine(profile, scenario, "--engine");
    if (vm.count("host-scale")) {
      const double h = vm["host-scale"].as<double>();
      if (!(h > 0 && h < 100)) bad_value("--host-scale", fmt::format("{}", h), "a host time multiplier in (0, 100)");
      scenario["cost"]["host_scale"] = h;
      host_term.pinned = h;
    } else {
      host_term.instances = validate::host_draw_order(profile);
    }
    host_term.within = validate::within_instance_order(profile);
  }
  if (vm.count("set")) {
    for (const auto& a : vm["set"].as<std::vector<std::string>>()) apply_override(scenario, a);
  }
  if (vm.count("print-scenario")) {
    std::cout << scenario.dump(2) << "\n";
    return 0;
  }
  check_output_dir(out, oo);  // refuse a wrong --out before simulating anything
  const bool want_report = vm.count("report") > 0;
  const bool want_timeline = vm.count("timeline") > 0 || vm.count("timeline-window") > 0;
  report::TraceWindow window;
  if (vm.count("timeline-window")) window = report::parse_trace_window(vm["timeline-window"].as<std::string>(), "--timeline-window");
  const std::string assets = report::default_assets_dir();
  if (want_report) report::render_html(nlohmann::json::object(), assets);  // the chart library is there, before simulating
  const std::string label = std::filesystem::path(out).lexically_normal().filename().string();
  const int replays = vm["uncertainty"].as<int>();
  if (replays != 0 && replays < 2) bad_value("--uncertainty", std::to_string(replays), "at least 2 replays (or 0: none)");
  const double confidence = vm["confidence"].as<double>();
  if (!(confidence > 0 && confidence < 1)) bad_value("--confidence", std::to_string(confidence), "a fraction in (0, 1)");
  if (vm["seeds"].as<int>() != 1) {
    if (replays > 0) bad_value("--uncertainty", "with --seeds", "one seed (intervals are around one run)");
    if (want_timeline) bad_value("--timeline", "with --seeds", "one seed (a timeline shows one run)");
    return run_seeds_command(scenario, so, vm["seeds"].as<int>(), out, vm.count("quiet") > 0, oo, [&](FileList& files) {
      if (want_report) files.emplace_back("report.html", report::build_report_from_files(files, assets, label));
    });
  }
  const bool quiet = vm.count("quiet") > 0;
  ProgressLine progress(!quiet && ::isatty(STDERR_FILENO));
  control.cancelled = stop_requested;
  control.progress = [&](const RunProgress& p) { progress.update(p); };
  const auto t0 = std::chrono::steady_clock::now();
  Simulation sim(scenario, so);
  report::TraceRecorder recorder(window);
  if (want_timeline) control.trace = &recorder;
  SimResult res = sim.run(control);
  progress.clear();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // requests.csv and timeseries.csv are streamed into their files unless the report needs
  // their text (build_report_from_files reads them).
  auto files = result_files(res, want_report, want_report);
  nlohmann::json intervals;
  if (replays > 0) {
    intervals = uncertainty_intervals(scenario, so, res, replays, confidence, host_term);
    files.emplace_back("uncertainty.json", intervals.dump(2) + "\n");
  }
  if (want_report) files.emplace_back("report.html", report::build_report_from_files(files, assets, label));
  if (want_timeline) files.emplace_back("timeline.json", report::chrome_trace_json(recorder, res));
  write_dir_atomically(out, files, want_report ? std::vector<StreamedFile>{} : streamed_result_files(res), oo);
  if (!quiet) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    std::cout << summary_table(res.summary);
    if (replays > 0) std::cout << uncertainty_table(intervals);
    std::cout << fmt::format("wall time {:.3f} s, {} events ({:.2f} M events/s), peak RSS {:.1f} MB\nresults in {}/\n", wall,
                             res.events, static_cast<double>(res.events) / wall / 1e6, ru.ru_maxrss / 1024.0, out);
  }
  return 0;
}
}  // namespace

SERVESIM_CLI_COMMAND("run", "simulate a scenario (the embedded default without --scenario)", cmd_run);

}  // namespace servesim::cli
