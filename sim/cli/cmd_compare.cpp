// `servesim compare BASELINE CANDIDATE`: per-metric deltas of two runs (or two multi-seed
// folders), thresholds judged; exit 1 on a regression, 0 otherwise, 2 on bad input.
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/report/compare.h"
#include "sim/report/output.h"

namespace servesim::cli {
namespace po = boost::program_options;

namespace {

void write_report_file(const std::string& flag, const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) bad_value(flag, path, "a writable file path");
}

int cmd_compare(const Args& args) {
  po::options_description opts("servesim compare BASELINE_DIR CANDIDATE_DIR [options]");
  opts.add_options()("help,h", "show this help")(
      "threshold,t", po::value<std::vector<std::string>>()->composing(),
      "metric=+X% (a rise of more than X % fails), metric=-X% (a drop of more than X % fails), or absolute: ttft.p99=+50ms, "
      "throughput.tok_s=-100; repeatable")(
      "markdown", po::value<std::string>(), "write a Markdown table (pull-request comment) to this file")(
      "junit", po::value<std::string>(), "write a JUnit XML report (one testcase per threshold) to this file")(
      "confidence", po::value<double>()->default_value(0.95), "two-sided confidence of the bootstrap intervals (multi-seed)")(
      "resamples", po::value<int>()->default_value(2000), "bootstrap resamples (multi-seed)")(
      "bootstrap-seed", po::value<std::uint64_t>()->default_value(1), "seed of the bootstrap's random stream")(
      "quiet,q", "print only the regressions");
  const po::variables_map vm = parse_with_positionals(args, opts, "dirs");
  if (vm.count("help")) {
    std::cout << opts
              << "\nBASELINE_DIR and CANDIDATE_DIR are folders of `servesim run --out` (one seed) or of `servesim run --seeds K`.\n"
                 "Metrics: {ttft,tpot,itl,e2e,queueing}.{mean,p50,p90,p99}, throughput.req_s, throughput.tok_s (alias\n"
                 "throughput), goodput, preemptions, pool.<name>.{ttft,tpot}.<stat>. With >= 2 seeds on both sides a crossing\n"
                 "is a regression only when the bootstrap interval of the change is wholly on the threshold's side of zero.\n"
                 "Exit codes: 0 no regression, 1 a threshold crossed, 2 bad input.\n";
    return 0;
  }
  const auto dirs = vm.count("dirs") ? vm["dirs"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (dirs.size() != 2) {
    std::string got;
    for (const auto& d : dirs) got += (got.empty() ? "" : " ") + d;
    bad_value("servesim compare", got, "two folders: BASELINE_DIR CANDIDATE_DIR");
  }
  std::vector<compare::Threshold> thresholds;
  if (vm.count("threshold")) {
    for (const auto& t : vm["threshold"].as<std::vector<std::string>>()) thresholds.push_back(compare::parse_threshold(t, "--threshold"));
  }
  compare::CompareOptions o;
  o.confidence = vm["confidence"].as<double>();
  o.resamples = vm["resamples"].as<int>();
  o.seed = vm["bootstrap-seed"].as<std::uint64_t>();
  const compare::RunSet base = compare::load_run_set(dirs[0], "baseline");
  const compare::RunSet cand = compare::load_run_set(dirs[1], "candidate");
  const compare::Comparison c = compare::compare_runs(base, cand, thresholds, o);
  if (vm.count("markdown")) write_report_file("--markdown", vm["markdown"].as<std::string>(), compare::render_markdown(c, "servesim compare"));
  if (vm.count("junit")) {
    write_report_file("--junit", vm["junit"].as<std::string>(), compare::render_junit({{"servesim.compare", &c}}));
  }
  if (vm.count("quiet")) {
    for (const auto& l : compare::regression_lines(c)) std::cout << "REGRESSION " << l << "\n";
  } else {
    std::cout << compare::render_text(c);
  }
  return c.regression() ? 1 : 0;
}

}  // namespace

SERVESIM_CLI_COMMAND("compare", "compare two runs metric by metric; exit 1 when a --threshold is crossed (CI gate)", cmd_compare);

}  // namespace servesim::cli
