#pragma once
// The CI regression gate: two sets of runs compared metric by metric, thresholds judged.
//
// Contract:
// - load_run_set() is the only function that reads files. A run set is one run folder
//   (`servesim run --out`: summary.json, requests.csv, resolved_config.json) or a
//   multi-seed folder (`servesim run --seeds K`: seeds.json naming its seed-<n>/ run
//   folders). Bad input raises InputError naming the file, the value and what was expected.
// - Everything else is a pure function of its arguments. The bootstrap draws from an Rng
//   seeded by CompareOptions::seed and the metric's name, so the same inputs give the same
//   intervals and verdicts byte for byte, whatever metrics or thresholds are asked for.
// - Metric values: request-level metrics (TTFT, TPOT, E2E, queueing: mean, p50, p90, p99)
//   are computed over the completed requests of requests.csv pooled over the seeds, with
//   the percentile definition of sim/metrics/stats.h; run-level metrics (ITL, throughput,
//   goodput, preemptions, per-pool values) are the mean over the seeds of summary.json's.
// - Threshold rule: `metric=+X%` fails when the candidate is more than X % above the
//   baseline; `metric=-X%` when it is more than X % below; `metric=+A` / `-A` (A a plain
//   number in the metric's unit, or a duration "50ms" for time metrics) when the absolute
//   change is beyond A. Exactly X % does not fail. With several seeds on both sides a
//   crossing is a regression only when the bootstrap interval of the change lies wholly on
//   the threshold's side of zero as well (statistically and practically significant).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace servesim::compare {

// The per-request families read from requests.csv (seconds, completed requests only).
enum class Family { kTtft, kTpot, kE2e, kQueueing };
inline constexpr int kNumFamilies = 4;

// One run folder.
struct SeedRun {
  std::string dir;
  std::uint64_t seed = 0;
  nlohmann::json summary;
  nlohmann::json resolved_config;
  std::vector<double> per_request[kNumFamilies];  // indexed by Family
};

// One run, or the runs of several seeds of one scenario.
struct RunSet {
  std::string dir;
  std::vector<SeedRun> runs;  // at least one
};

// The fields of one line of servesim's CSV files (no quoting; a trailing CR dropped).
std::vector<std::string> split_csv_line(const std::string& line);
// `s` cut to n characters ("..." appended when cut), for quoting user values in errors.
std::string cut(const std::string& s, std::size_t n = 80);

// Reads a run folder or a multi-seed folder; `role` ("baseline", "candidate") names it in errors.
RunSet load_run_set(const std::string& dir, const std::string& role);

enum class Stat { kMean, kP50, kP90, kP99 };

struct MetricDef {
  std::string name;           // "ttft.p99", "throughput.tok_s", "pool.prefill.ttft.p99"
  std::string unit;           // as displayed: "ms", "req/s", "tok/s", "", "%"
  double display_scale = 1;   // base unit -> displayed unit (seconds -> ms: 1000)
  bool is_time = false;       // base unit seconds; absolute thresholds may be durations
  bool lower_is_better = true;
  // Request-level: pooled per-request values of `family`; run-level: summary.json at `path`.
  std::optional<Family> family;
  Stat stat = Stat::kMean;
  std::string pool;               // per-pool metrics: the pool's name in summary.pools[]
  std::vector<std::string> path;  // run-level: keys into summary.json (or into the pool's entry)
};

// The metrics both sets can answer, in display order. Per-pool metrics appear when a set
// has more than one pool and the pool exists in both; goodput when both runs had SLOs.
std::vector<MetricDef> available_metrics(const RunSet& baseline, const RunSet& candidate);

struct Threshold {
  std::string text;       // as given: "ttft.p99=+5%"
  std::string metric;     // "ttft.p99" (the alias "throughput" is resolved to "throughput.tok_s")
  bool rise = true;       // '+': a rise fails; '-': a drop fails
  bool relative = true;   // '%' form
  double limit = 0;       // fraction (0.05) when relative, else absolute in the metric's base unit
  bool limit_is_duration = false;  // absolute limit given with a time unit (converted to seconds)
};

// Parses "metric=+5%", "metric=-2%", "metric=+50ms", "metric=-10"; `where` names the
// argument in errors ("--threshold", "suite.json: thresholds[1]").
Threshold parse_threshold(const std::string& text, const std::string& where);

// Whether the change from `baseline` to `candidate` is beyond the threshold (the rule above,
// point values only).
bool crosses(const Threshold& t, double baseline, double candidate);

// Relative change (candidate - baseline) / |baseline|; 0 when both are 0, +-inf when only
// the baseline is.
double relative_change(double baseline, double candidate);

struct CompareOptions {
  double confidence = 0.95;  // two-sided percentile interval
  int resamples = 2000;      // bootstrap replicates
  std::uint64_t seed = 1;    // bootstrap stream (with the metric's name)
};

struct Delta {
  MetricDef metric;
  double baseline = 0, candidate = 0;  // base units
  bool has_interval = false;           // both sets have >= 2 seeds
  double rel_lo = 0, rel_hi = 0;       // bootstrap interval of the relative change
  double abs_lo = 0, abs_hi = 0;       // and of the absolute change
  double abs_change() const { return candidate - baseline; }
  double rel_change() const { return relative_change(baseline, candidate); }
};

struct Verdict {
  Threshold threshold;
  std::size_t delta = 0;        // index into Comparison::deltas
  bool point_crosses = false;   // the point estimate is beyond the threshold
  bool interval_agrees = true;  // the whole interval is on the threshold's side of zero (true without an interval)
  bool regression() const { return point_crosses && interval_agrees; }
};

struct Comparison {
  std::string baseline_dir, candidate_dir;
  std::vector<std::uint64_t> baseline_seeds, candidate_seeds;
  CompareOptions options;
  bool statistical = false;  // both sets have >= 2 seeds: intervals computed
  std::vector<Delta> deltas;
  std::vector<Verdict> verdicts;
  std::vector<std::string> config_differences;  // "scheduler.max_num_seqs: 256 -> 4"
  bool regression() const;
};

// Deltas of every available metric and the verdict of every threshold. A threshold naming
// a metric that is not available raises InputError (`where` names the argument).
Comparison compare_runs(const RunSet& baseline, const RunSet& candidate, const std::vector<Threshold>& thresholds,
                        const CompareOptions& options = {}, const std::string& where = "--threshold");

// The bootstrap alone, exposed for tests: the `confidence` percentile interval of the
// relative change of `stat` between two sets of per-seed samples (hierarchical: seeds drawn
// with replacement, then the requests of each drawn seed with replacement, pooled).
std::pair<double, double> bootstrap_relative_interval(const std::vector<std::vector<double>>& baseline_seeds,
                                                      const std::vector<std::vector<double>>& candidate_seeds, Stat stat,
                                                      const CompareOptions& options, const std::string& stream);

// Differences between two resolved configs as "a.b.c: x -> y" (values cut to ~40 characters).
std::vector<std::string> config_differences(const nlohmann::json& baseline, const nlohmann::json& candidate);

std::string render_text(const Comparison& c);
// A Markdown section for a pull-request comment; `title` heads it.
std::string render_markdown(const Comparison& c, const std::string& title);
// A JUnit XML document: one <testsuite> per named comparison, one <testcase> per threshold,
// a <failure> when it is a regression.
std::string render_junit(const std::vector<std::pair<std::string, const Comparison*>>& suites);

// One line on a threshold's verdict: "ttft.p99 rose +12.30 % (100.0 -> 112.3 ms, +12.30 ms;
// limit +5%), 95 % interval [+8.10 %, +16.00 %]" (the absolute interval for absolute limits).
std::string verdict_line(const Comparison& c, const Verdict& v);

// Short verdict lines for the regressions ("ttft.p99 rose 12.3 % (limit +5%), 95 % CI [...]").
std::vector<std::string> regression_lines(const Comparison& c);

}  // namespace servesim::compare
