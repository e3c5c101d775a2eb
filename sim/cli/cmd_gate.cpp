// `servesim gate SUITE.json`: runs a suite of scenarios (each with its seeds), compares each
// with its stored baseline under the suite's thresholds, prints a summary; exit 1 on any
// regression. `--update-baselines` replaces the stored baselines (the folder as a whole,
// atomically) instead of comparing. The policy under test comes in by --set.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.h"
#include "sim/cli/multi_seed.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/report/compare.h"
#include "sim/report/output.h"

namespace servesim::cli {
namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

struct GateScenario {
  std::string name;
  std::string where;   // "suite.json: scenarios[1]", for error messages
  nlohmann::json scenario;
  std::string source;  // for error messages
  std::vector<std::string> set;
  int seeds = 3;
  std::vector<compare::Threshold> thresholds;
};

struct Suite {
  std::string name;
  fs::path baselines;
  compare::CompareOptions options;
  std::vector<GateScenario> scenarios;
};

void check_keys(const nlohmann::json& obj, const std::string& where, const std::set<std::string>& known) {
  if (!obj.is_object()) bad_value(where, obj.dump().substr(0, 80), "a JSON object");
  for (const auto& [k, v] : obj.items()) {
    if (known.count(k)) continue;
    std::string list;
    for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
    bad_value(where + ": " + k, k, "a known key (" + list + ")");
  }
}

std::vector<std::string> string_list(const nlohmann::json& obj, const std::string& key, const std::string& where) {
  std::vector<std::string> out;
  if (!obj.contains(key)) return out;
  const auto& a = obj[key];
  if (!a.is_array()) bad_value(where + ": " + key, a.dump().substr(0, 80), "an array of strings");
  for (const auto& v : a) {
    if (!v.is_string()) bad_value(where + ": " + key, v.dump().substr(0, 80), "a string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<compare::Threshold> thresholds_of(const nlohmann::json& obj, const std::string& where) {
  std::vector<compare::Threshold> out;
  const auto texts = string_list(obj, "thresholds", where);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    out.push_back(compare::parse_threshold(texts[i], fmt::format("{}: thresholds[{}]", where, i)));
  }
  return out;
}

int int_field(const nlohmann::json& obj, const std::string& key, int dflt, int min, const std::string& where) {
  if (!obj.contains(key)) return dflt;
  const auto& v = obj[key];
  if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > 1000000) {
    bad_value(where + ": " + key, v.dump().substr(0, 80), fmt::format("an integer >= {}", min));
  }
  return v.get<int>();
}

Suite parse_suite(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  check_keys(j, path, {"name", "baselines", "seeds", "set", "thresholds", "confidence", "resamples", "scenarios"});
  const fs::path dir = fs::path(path).parent_path();
  Suite s;
  s.name = optional_string(j, "name", fs::path(path).stem().string(), path);
  const std::string baselines = j.contains("baselines") && j["baselines"].is_string() ? j["baselines"].get<std::string>() : "baselines";
  if (j.contains("baselines") && !j["baselines"].is_string()) bad_value(path + ": baselines", j["baselines"].dump(), "a folder path (string)");
  s.baselines = fs::path(baselines).is_absolute() ? fs::path(baselines) : dir / baselines;
  if (j.contains("confidence")) {
    if (!j["confidence"].is_number()) bad_value(path + ": confidence", j["confidence"].dump(), "a fraction in (0, 1)");
    s.options.confidence = j["confidence"].get<double>();
  }
  s.options.resamples = int_field(j, "resamples", s.options.resamples, 100, path);
  const int seeds = int_field(j, "seeds", 3, 1, path);
  const auto set = string_list(j, "set", path);
  const auto thresholds = thresholds_of(j, path);
  const auto& list = require_field(j, "scenarios", path);
  if (!list.is_array() || list.empty()) bad_value(path + ": scenarios", list.dump().substr(0, 80), "a non-empty array of scenarios");
  const std::regex safe("[A-Za-z0-9._-]+");
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = fmt::format("{}: scenarios[{}]", path, i);
    const auto& e = list[i];
    check_keys(e, where, {"name", "scenario", "set", "seeds", "thresholds"});
    GateScenario g;
    g.where = where;
    const auto& name = require_field(e, "name", where);
    if (!name.is_string() || !std::regex_match(name.get<std::string>(), safe) || name.get<std::string>() == "." ||
        name.get<std::string>() == "..") {
      bad_value(where + ": name", name.dump().substr(0, 80), "a folder-safe name (letters, digits, '.', '_', '-')");
    }
    g.name = name.get<std::string>();
    if (!names.insert(g.name).second) bad_value(where + ": name", g.name, "a name unique in the suite");
    const auto& sc = require_field(e, "scenario", where);
    if (sc.is_string()) {
      const fs::path p = fs::path(sc.get<std::string>()).is_absolute() ? fs::path(sc.get<std::string>()) : dir / sc.get<std::string>();
      g.source = p.string();
      g.scenario = read_json_file(g.source);
    } else if (sc.is_object()) {
      g.source = where + ": scenario";
      g.scenario = sc;
    } else {
      bad_value(where + ": scenario", sc.dump().substr(0, 80), "a scenario file path (relative to the suite) or an inline scenario object");
    }
    g.set = set;
    for (auto& a : string_list(e, "set", where)) g.set.push_back(std::move(a));
    g.seeds = int_field(e, "seeds", seeds, 1, where);
    g.thresholds = e.contains("thresholds") ? thresholds_of(e, where) : thresholds;
    s.scenarios.push_back(std::move(g));
  }
  return s;
}

void write_report_file(const std::string& flag, const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) bad_value(flag, path, "a writable file path");
}

bool stored_in_baseline(const std::string& file) {
  // Baselines keep what compare reads (timeseries.csv stays in --out only).
  return file.size() < 15 || file.compare(file.size() - 14, 14, "timeseries.csv") != 0;
}

int cmd_gate(const Args& args) {
  po::options_description opts("servesim gate SUITE.json [options]");
  opts.add_options()("help,h", "show this help")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a key of every scenario (the policy under test), after the suite's own")(
      "update-baselines", "run the suite and replace the stored baselines (atomically) instead of comparing")(
      "out,o", po::value<std::string>()->default_value("out/gate"), "where the candidate runs are written (<out>/<scenario>/)")(
      "markdown", po::value<std::string>(), "write a Markdown summary (pull-request comment) to this file")(
      "junit", po::value<std::string>(), "write a JUnit XML report (a testsuite per scenario, a testcase per threshold)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/ and hardware_profiles/")(
      "verbose,v", "print every metric of every scenario")("quiet,q", "print only regressions and the result line");
  po::options_description hidden;
  hidden.add_options()("suite", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("suite", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts << "\nSUITE.json: see docs/ci_gate.md. Exit codes: 0 no regression (or baselines updated), 1 a regression, 2 bad input.\n";
    return 0;
  }
  const auto suites = vm.count("suite") ? vm["suite"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (suites.size() != 1) bad_value("servesim gate", suites.empty() ? "" : suites[1], "exactly one SUITE.json");
  const Suite suite = parse_suite(suites[0]);
  const std::vector<std::string> cli_set = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const bool update = vm.count("update-baselines") > 0;
  const bool quiet = vm.count("quiet") > 0;
  const fs::path out = vm["out"].as<std::string>();
  SimOptions so;
  so.data_dir = vm["data-dir"].as<std::string>();

  // Check every baseline exists before spending time on simulations.
  if (!update) {
    for (const auto& g : suite.scenarios) {
      if (!fs::is_directory(suite.baselines / g.name)) {
        input_error((suite.baselines / g.name).string(),
                    "no stored baseline for scenario '" + g.name + "', expected one (create it with `servesim gate " + suites[0] +
                        " --update-baselines`)");
      }
    }
  }

  FileList baseline_files;
  for (std::size_t i = 0; i < suite.scenarios.size(); ++i) {
    const GateScenario& g = suite.scenarios[i];
    nlohmann::json scenario = g.scenario;
    for (const auto& a : g.set) apply_override(scenario, a);
    for (const auto& a : cli_set) apply_override(scenario, a);
    so.source = g.source;
    const auto t0 = std::chrono::steady_clock::now();
    const FileList files = run_seeds(scenario, so, g.seeds, true);
    write_dir_atomically((out / g.name).string(), files);
    if (!quiet) {
      std::cout << fmt::format("[{}/{}] {}: {} seed{} run in {:.1f} s -> {}/\n", i + 1, suite.scenarios.size(), g.name, g.seeds,
                               g.seeds == 1 ? "" : "s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                               (out / g.name).string());
    }
    for (const auto& [file, text] : files) {
      if (stored_in_baseline(file)) baseline_files.emplace_back(g.name + "/" + file, text);
    }
  }
  if (update) {
    write_dir_atomically(suite.baselines.string(), baseline_files);
    std::cout << fmt::format("baselines updated: {}/ ({} scenario{})\n", suite.baselines.string(), suite.scenarios.size(),
                             suite.scenarios.size() == 1 ? "" : "s");
    return 0;
  }

  std::vector<compare::Comparison> results;
  for (const auto& g : suite.scenarios) {
    const auto base = compare::load_run_set((suite.baselines / g.name).string(), "baseline");
    const auto cand = compare::load_run_set((out / g.name).string(), "candidate");
    results.push_back(compare::compare_runs(base, cand, g.thresholds, suite.options, g.where + ": thresholds"));
  }
  std::size_t regressions = 0, failed_scenarios = 0;
  std::string markdown = fmt::format("## servesim gate: {}\n\n", suite.name);
  std::vector<std::pair<std::string, const compare::Comparison*>> junit;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& c = results[i];
    const auto& name = suite.scenarios[i].name;
    const auto lines = compare::regression_lines(c);
    regressions += lines.size();
    failed_scenarios += lines.empty() ? 0 : 1;
    if (vm.count("verbose")) {
      std::cout << fmt::format("== {}\n", name) << compare::render_text(c);
    } else if (!quiet) {
      std::cout << fmt::format("{}: {}\n", name, lines.empty() ? fmt::format("ok ({} thresholds)", c.verdicts.size())
                                                               : fmt::format("{} regression(s)", lines.size()));
      for (const auto& v : c.verdicts) {
        if (v.regression()) continue;
        std::cout << fmt::format("  {} {}: {}\n", v.point_crosses ? "within noise" : "ok", v.threshold.text, compare::verdict_line(c, v));
      }
    }
    for (const auto& l : lines) std::cout << fmt::format("  REGRESSION {}: {}\n", name, l);
    markdown += compare::render_markdown(c, name) + "\n";
    junit.emplace_back("servesim.gate." + name, &c);
  }
  if (vm.count("markdown")) write_report_file("--markdown", vm["markdown"].as<std::string>(), markdown);
  if (vm.count("junit")) write_report_file("--junit", vm["junit"].as<std::string>(), compare::render_junit(junit));
  std::cout << fmt::format("gate {}: {} scenario{}, {}\n", suite.name, results.size(), results.size() == 1 ? "" : "s",
                           regressions == 0 ? std::string("no regression")
                                            : fmt::format("{} regression{} in {} scenario{}", regressions, regressions == 1 ? "" : "s",
                                                          failed_scenarios, failed_scenarios == 1 ? "" : "s"));
  return regressions > 0 ? 1 : 0;
}

}  // namespace

SERVESIM_CLI_COMMAND("gate", "run a suite of scenarios against stored baselines; exit 1 on a regression (CI)", cmd_gate);

}  // namespace servesim::cli
