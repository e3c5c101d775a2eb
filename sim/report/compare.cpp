#include "sim/report/compare.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/rng.h"
#include "sim/core/units.h"

namespace servesim::compare {
namespace fs = std::filesystem;

namespace {

constexpr std::array<const char*, kNumFamilies> kFamilyName = {"ttft", "tpot", "e2e", "queueing"};
constexpr std::array<const char*, kNumFamilies> kFamilyColumn = {"ttft_s", "tpot_s", "e2e_s", "queueing_s"};
constexpr std::array<Stat, 4> kStats = {Stat::kMean, Stat::kP50, Stat::kP90, Stat::kP99};

const char* stat_name(Stat s) {
  switch (s) {
    case Stat::kMean: return "mean";
    case Stat::kP50: return "p50";
    case Stat::kP90: return "p90";
    case Stat::kP99: return "p99";
  }
  return "?";
}
double stat_percent(Stat s) { return s == Stat::kP50 ? 50.0 : s == Stat::kP90 ? 90.0 : 99.0; }

}  // namespace

std::string cut(const std::string& s, std::size_t n) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

// --- reading ------------------------------------------------------------------------------

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    out.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!out.empty() && !out.back().empty() && out.back().back() == '\r') out.back().pop_back();
  return out;
}

namespace {

void read_requests_csv(const fs::path& path, SeedRun& run) {
  std::ifstream in(path);
  if (!in) input_error(path.string(), "cannot open file (missing or unreadable), expected requests.csv written by `servesim run --out`");
  std::string line;
  if (!std::getline(in, line)) input_error(path.string() + ":1", "empty file, expected a header line");
  const auto header = split_csv_line(line);
  auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) input_error(path.string() + ":1", fmt::format("header lacks column '{}', expected servesim's requests.csv", name));
    return static_cast<std::size_t>(it - header.begin());
  };
  std::array<std::size_t, kNumFamilies> col{};
  for (int f = 0; f < kNumFamilies; ++f) col[static_cast<std::size_t>(f)] = column(kFamilyColumn[static_cast<std::size_t>(f)]);
  const std::size_t rejected = column("rejected");
  std::size_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const auto fields = split_csv_line(line);
    const std::string where = fmt::format("{}:{}", path.string(), lineno);
    if (fields.size() != header.size()) {
      bad_value(where, cut(line), fmt::format("{} comma-separated fields as in the header", header.size()));
    }
    if (fields[rejected] == "1") continue;
    for (int f = 0; f < kNumFamilies; ++f) {
      const std::size_t c = col[static_cast<std::size_t>(f)];
      const std::string& text = fields[c];
      if (text.empty()) continue;  // e.g. no TPOT for a one-token output
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !std::isfinite(v)) {
        bad_value(where + ": " + header[c], cut(text), "a number of seconds");
      }
      run.per_request[f].push_back(v);
    }
  }
}

SeedRun load_seed_run(const fs::path& dir, const std::string& role) {
  if (!fs::is_directory(dir)) {
    input_error(dir.string(), role + " run folder missing (not a directory), expected a folder written by `servesim run --out`");
  }
  SeedRun run;
  run.dir = dir.string();
  for (const char* name : {"summary.json", "resolved_config.json", "requests.csv"}) {
    if (!fs::is_regular_file(dir / name)) {
      input_error((dir / name).string(), role + " run lacks this file, expected summary.json, requests.csv and resolved_config.json");
    }
  }
  run.summary = read_json_file((dir / "summary.json").string());
  run.resolved_config = read_json_file((dir / "resolved_config.json").string());
  if (!run.summary.is_object() || !run.summary.contains("ttft_s") || !run.summary.contains("throughput")) {
    input_error((dir / "summary.json").string(), "not a servesim run summary (no ttft_s / throughput)");
  }
  if (run.resolved_config.contains("seed") && run.resolved_config["seed"].is_number_unsigned()) {
    run.seed = run.resolved_config["seed"].get<std::uint64_t>();
  }
  read_requests_csv(dir / "requests.csv", run);
  return run;
}

// --- statistics ---------------------------------------------------------------------------

// Linear interpolation between ranks (sim/metrics/stats.h), safe with infinite values.
double interpolate(double lo, double hi, double frac) { return lo == hi || frac == 0 ? lo : lo + frac * (hi - lo); }

double percentile_sorted_safe(const std::vector<double>& x, double p) {
  if (x.empty()) return 0.0;
  const double rank = p / 100.0 * static_cast<double>(x.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return interpolate(x[lo], x[hi], rank - static_cast<double>(lo));
}

// The statistic of unsorted values (reorders them); the same numbers as summarize().
double stat_of(std::vector<double>& v, Stat s) {
  if (v.empty()) return 0.0;
  if (s == Stat::kMean) {
    double sum = 0;
    for (double x : v) sum += x;
    return sum / static_cast<double>(v.size());
  }
  const double rank = stat_percent(s) / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  const double a = v[lo];
  if (lo + 1 >= v.size()) return a;
  const double b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
  return interpolate(a, b, rank - static_cast<double>(lo));
}

// Hierarchical resample: K seeds with replacement, then each drawn seed's requests with
// replacement, pooled into `out`.
void resample(const std::vector<const std::vector<double>*>& seeds, Rng& rng, std::vector<double>& out) {
  out.clear();
  const auto k = static_cast<std::int64_t>(seeds.size());
  for (std::int64_t i = 0; i < k; ++i) {
    const std::vector<double>& v = *seeds[static_cast<std::size_t>(rng.uniform_int(0, k - 1))];
    const auto n = static_cast<std::int64_t>(v.size());
    for (std::int64_t j = 0; j < n; ++j) out.push_back(v[static_cast<std::size_t>(rng.uniform_int(0, n - 1))]);
  }
}

struct Interval {
  double rel_lo = 0, rel_hi = 0, abs_lo = 0, abs_hi = 0;
};

Interval interval_of(std::vector<double>& rel, std::vector<double>& abs, double confidence) {
  std::sort(rel.begin(), rel.end());
  std::sort(abs.begin(), abs.end());
  const double lo = 50.0 * (1.0 - confidence), hi = 100.0 - lo;
  return {percentile_sorted_safe(rel, lo), percentile_sorted_safe(rel, hi), percentile_sorted_safe(abs, lo),
          percentile_sorted_safe(abs, hi)};
}

// Intervals of every statistic of one per-request family (one resample serves all four).
std::array<Interval, 4> bootstrap_family(const std::vector<const std::vector<double>*>& b,
                                         const std::vector<const std::vector<double>*>& c, const CompareOptions& o,
                                         const std::string& stream) {
  Rng rng = Rng::for_component(o.seed, stream);
  std::array<std::vector<double>, 4> rel, abs;
  std::vector<double> rb, rc;
  for (int r = 0; r < o.resamples; ++r) {
    resample(b, rng, rb);
    resample(c, rng, rc);
    for (std::size_t s = 0; s < kStats.size(); ++s) {
      const double vb = stat_of(rb, kStats[s]), vc = stat_of(rc, kStats[s]);
      rel[s].push_back(relative_change(vb, vc));
      abs[s].push_back(vc - vb);
    }
  }
  std::array<Interval, 4> out;
  for (std::size_t s = 0; s < kStats.size(); ++s) out[s] = interval_of(rel[s], abs[s], o.confidence);
  return out;
}

// Run-level metrics: seeds drawn with replacement, the mean of their values.
Interval bootstrap_seeds(const std::vector<double>& b, const std::vector<double>& c, const CompareOptions& o,
                         const std::string& stream) {
  Rng rng = Rng::for_component(o.seed, stream);
  std::vector<double> rel, abs;
  auto mean_of_draw = [&](const std::vector<double>& v) {
    const auto k = static_cast<std::int64_t>(v.size());
    double sum = 0;
    for (std::int64_t i = 0; i < k; ++i) sum += v[static_cast<std::size_t>(rng.uniform_int(0, k - 1))];
    return sum / static_cast<double>(k);
  };
  for (int r = 0; r < o.resamples; ++r) {
    const double vb = mean_of_draw(b), vc = mean_of_draw(c);
    rel.push_back(relative_change(vb, vc));
    abs.push_back(vc - vb);
  }
  return interval_of(rel, abs, o.confidence);
}

// --- metrics ------------------------------------------------------------------------------

const nlohmann::json* find_path(const nlohmann::json& root, const std::vector<std::string>& path) {
  const nlohmann::json* cur = &root;
  for (const auto& k : path) {
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return cur;
}

const nlohmann::json* pool_entry(const nlohmann::json& summary, const std::string& name) {
  if (!summary.contains("pools") || !summary["pools"].is_array()) return nullptr;
  for (const auto& p : summary["pools"]) {
    if (p.value("name", "") == name) return &p;
  }
  return nullptr;
}

// A run-level metric's value in one run; nullopt when the run lacks it.
std::optional<double> run_value(const SeedRun& run, const MetricDef& m) {
  const nlohmann::json* base = m.pool.empty() ? &run.summary : pool_entry(run.summary, m.pool);
  if (!base) return std::nullopt;
  const nlohmann::json* v = find_path(*base, m.path);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

bool all_have(const RunSet& s, const MetricDef& m) {
  return std::all_of(s.runs.begin(), s.runs.end(), [&](const SeedRun& r) { return run_value(r, m).has_value(); });
}

std::vector<double> seed_values(const RunSet& s, const MetricDef& m) {
  std::vector<double> v;
  for (const auto& r : s.runs) v.push_back(*run_value(r, m));
  return v;
}

std::vector<const std::vector<double>*> family_seeds(const RunSet& s, Family f) {
  std::vector<const std::vector<double>*> v;
  for (const auto& r : s.runs) v.push_back(&r.per_request[static_cast<int>(f)]);
  return v;
}

double pooled_stat(const RunSet& s, Family f, Stat st) {
  std::vector<double> all;
  for (const auto& r : s.runs) all.insert(all.end(), r.per_request[static_cast<int>(f)].begin(), r.per_request[static_cast<int>(f)].end());
  return stat_of(all, st);
}

double metric_value(const RunSet& s, const MetricDef& m) {
  if (m.family) return pooled_stat(s, *m.family, m.stat);
  const auto v = seed_values(s, m);
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

std::vector<std::string> pool_names(const RunSet& s) {
  std::vector<std::string> names;
  const auto& summary = s.runs.front().summary;
  if (summary.contains("pools") && summary["pools"].is_array()) {
    for (const auto& p : summary["pools"]) names.push_back(p.value("name", ""));
  }
  return names;
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else if (j.is_array() && !j.empty()) {
    for (std::size_t i = 0; i < j.size(); ++i) flatten(j[i], prefix + "." + std::to_string(i), out);
  } else {
    out[prefix] = j.dump();
  }
}

}  // namespace

// --- public -------------------------------------------------------------------------------

RunSet load_run_set(const std::string& dir, const std::string& role) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) {
    input_error(dir, role + " folder missing (not a directory), expected a run folder of `servesim run --out` or `--seeds K`");
  }
  RunSet set;
  set.dir = dir;
  const fs::path manifest = root / "seeds.json";
  if (!fs::exists(manifest)) {
    set.runs.push_back(load_seed_run(root, role));
    return set;
  }
  const nlohmann::json m = read_json_file(manifest.string());
  const auto& runs = require_field(m, "runs", manifest.string());
  if (!runs.is_array() || runs.empty()) bad_value(manifest.string() + ": runs", cut(runs.dump()), "a non-empty array of run folder names");
  for (const auto& r : runs) {
    if (!r.is_string()) bad_value(manifest.string() + ": runs", cut(r.dump()), "a run folder name (string)");
    set.runs.push_back(load_seed_run(root / r.get<std::string>(), role));
  }
  return set;
}

std::vector<MetricDef> available_metrics(const RunSet& b, const RunSet& c) {
  std::vector<MetricDef> out;
  auto time_metric = [](std::string name, std::optional<Family> f, Stat st, std::vector<std::string> path, std::string pool = "") {
    MetricDef m;
    m.name = std::move(name);
    m.unit = "ms";
    m.display_scale = 1e3;
    m.is_time = true;
    m.family = f;
    m.stat = st;
    m.path = std::move(path);
    m.pool = std::move(pool);
    return m;
  };
  auto run_metric = [](std::string name, std::string unit, std::vector<std::string> path) {
    MetricDef m;
    m.name = std::move(name);
    m.unit = std::move(unit);
    m.path = std::move(path);
    return m;
  };
  std::vector<MetricDef> candidates;
  for (int f = 0; f < kNumFamilies; ++f) {
    for (Stat st : kStats) {
      const std::string fam = kFamilyName[static_cast<std::size_t>(f)];
      candidates.push_back(time_metric(fam + "." + stat_name(st), static_cast<Family>(f), st, {}));
    }
    if (f == static_cast<int>(Family::kTpot)) {  // ITL after TPOT, from the summaries (no per-gap data in requests.csv)
      for (Stat st : kStats) candidates.push_back(time_metric(std::string("itl.") + stat_name(st), std::nullopt, st, {"itl_s", stat_name(st)}));
    }
  }
  candidates.push_back(run_metric("throughput.req_s", "req/s", {"throughput", "requests_per_s"}));
  candidates.push_back(run_metric("throughput.tok_s", "tok/s", {"throughput", "output_tokens_per_s"}));
  candidates.push_back(run_metric("goodput", "req/s", {"goodput", "requests_per_s"}));
  candidates.push_back(run_metric("preemptions", "", {"requests", "preemptions"}));
  const auto pb = pool_names(b), pc = pool_names(c);
  if (pb.size() > 1 || pc.size() > 1) {
    for (const auto& p : pb) {
      if (std::find(pc.begin(), pc.end(), p) == pc.end()) continue;
      for (Stat st : kStats) {
        candidates.push_back(time_metric(fmt::format("pool.{}.ttft.{}", p, stat_name(st)), std::nullopt, st, {"ttft_s_of_entered", stat_name(st)}, p));
      }
      for (Stat st : kStats) {
        candidates.push_back(time_metric(fmt::format("pool.{}.tpot.{}", p, stat_name(st)), std::nullopt, st, {"tpot_s_of_finished", stat_name(st)}, p));
      }
    }
  }
  for (auto& m : candidates) {
    if (m.family || (all_have(b, m) && all_have(c, m))) out.push_back(std::move(m));
  }
  return out;
}

double relative_change(double baseline, double candidate) {
  if (baseline == candidate) return 0.0;
  if (baseline == 0) return candidate > 0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  return (candidate - baseline) / std::fabs(baseline);
}

Threshold parse_threshold(const std::string& text, const std::string& where) {
  const std::string expected =
      "metric=+X% (a rise of more than X % fails), metric=-X% (a drop of more than X % fails) or an absolute "
      "metric=+50ms / metric=-10";
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 >= text.size()) bad_value(where, cut(text), expected);
  Threshold t;
  t.text = text;
  t.metric = text.substr(0, eq);
  if (t.metric == "throughput") t.metric = "throughput.tok_s";
  std::string v = text.substr(eq + 1);
  if (v[0] != '+' && v[0] != '-') bad_value(where, cut(text), "a sign before the limit: " + expected);
  t.rise = v[0] == '+';
  v = v.substr(1);
  if (!v.empty() && v.back() == '%') {
    t.relative = true;
    v.pop_back();
    char* end = nullptr;
    const double pct = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(pct) || pct < 0) bad_value(where, cut(text), "a non-negative percentage: " + expected);
    t.limit = pct / 100.0;
    return t;
  }
  t.relative = false;
  char* end = nullptr;
  const double a = std::strtod(v.c_str(), &end);
  if (v.empty() || end == v.c_str() || !std::isfinite(a) || a < 0) bad_value(where, cut(text), expected);
  if (*end == '\0') {
    t.limit = a;
    return t;
  }
  try {
    t.limit = to_seconds(units::parse_duration(v, where));
  } catch (const InputError&) {
    bad_value(where, cut(text), "a percentage, a plain number or a duration (ns, us, ms, s): " + expected);
  }
  t.limit_is_duration = true;
  return t;
}

bool crosses(const Threshold& t, double baseline, double candidate) {
  // "More than": a change equal to the limit (to rounding) passes.
  const double change = t.relative ? relative_change(baseline, candidate) : candidate - baseline;
  const double slack = 1e-9 * std::max(t.limit, t.relative ? 1e-3 : std::fabs(baseline) + 1e-12);
  return t.rise ? change > t.limit + slack : change < -t.limit - slack;
}

bool Comparison::regression() const {
  return std::any_of(verdicts.begin(), verdicts.end(), [](const Verdict& v) { return v.regression(); });
}

std::pair<double, double> bootstrap_relative_interval(const std::vector<std::vector<double>>& baseline_seeds,
                                                      const std::vector<std::vector<double>>& candidate_seeds, Stat stat,
                                                      const CompareOptions& options, const std::string& stream) {
  std::vector<const std::vector<double>*> b, c;
  for (const auto& v : baseline_seeds) b.push_back(&v);
  for (const auto& v : candidate_seeds) c.push_back(&v);
  const auto iv = bootstrap_family(b, c, options, stream);
  const auto i = static_cast<std::size_t>(std::find(kStats.begin(), kStats.end(), stat) - kStats.begin());
  return {iv[i].rel_lo, iv[i].rel_hi};
}

std::vector<std::string> config_differences(const nlohmann::json& baseline, const nlohmann::json& candidate) {
  std::map<std::string, std::string> a, b;
  flatten(baseline, "", a);
  flatten(candidate, "", b);
  std::vector<std::string> out;
  auto add = [&](const std::string& key, const std::string& x, const std::string& y) {
    out.push_back(fmt::format("{}: {} -> {}", key, cut(x, 40), cut(y, 40)));
  };
  for (const auto& [k, v] : a) {
    const auto it = b.find(k);
    if (it == b.end()) add(k, v, "(absent)");
    else if (it->second != v) add(k, v, it->second);
  }
  for (const auto& [k, v] : b) {
    if (!a.count(k)) add(k, "(absent)", v);
  }
  return out;
}

Comparison compare_runs(const RunSet& b, const RunSet& c, const std::vector<Threshold>& thresholds, const CompareOptions& o,
                        const std::string& where) {
  if (!(o.confidence > 0 && o.confidence < 1)) bad_value("--confidence", fmt::format("{}", o.confidence), "a fraction in (0, 1), e.g. 0.95");
  if (o.resamples < 100) bad_value("--resamples", std::to_string(o.resamples), "at least 100 bootstrap resamples");
  Comparison out;
  out.baseline_dir = b.dir;
  out.candidate_dir = c.dir;
  for (const auto& r : b.runs) out.baseline_seeds.push_back(r.seed);
  for (const auto& r : c.runs) out.candidate_seeds.push_back(r.seed);
  out.options = o;
  out.statistical = b.runs.size() >= 2 && c.runs.size() >= 2;
  out.config_differences = config_differences(b.runs.front().resolved_config, c.runs.front().resolved_config);

  const auto metrics = available_metrics(b, c);
  std::array<std::optional<std::array<Interval, 4>>, kNumFamilies> family_iv;
  for (const auto& m : metrics) {
    Delta d;
    d.metric = m;
    d.baseline = metric_value(b, m);
    d.candidate = metric_value(c, m);
    if (out.statistical) {
      Interval iv;
      if (m.family) {
        auto& fam = family_iv[static_cast<std::size_t>(*m.family)];
        if (!fam) {
          fam = bootstrap_family(family_seeds(b, *m.family), family_seeds(c, *m.family), o,
                                 std::string("compare/") + kFamilyName[static_cast<std::size_t>(*m.family)]);
        }
        iv = (*fam)[static_cast<std::size_t>(std::find(kStats.begin(), kStats.end(), m.stat) - kStats.begin())];
      } else {
        iv = bootstrap_seeds(seed_values(b, m), seed_values(c, m), o, "compare/" + m.name);
      }
      d.has_interval = true;
      d.rel_lo = iv.rel_lo;
      d.rel_hi = iv.rel_hi;
      d.abs_lo = iv.abs_lo;
      d.abs_hi = iv.abs_hi;
    }
    out.deltas.push_back(std::move(d));
  }

  for (const auto& t : thresholds) {
    const auto it = std::find_if(out.deltas.begin(), out.deltas.end(), [&](const Delta& d) { return d.metric.name == t.metric; });
    if (it == out.deltas.end()) {
      bad_value(where, cut(t.metric),
                "a metric both runs report: {ttft,tpot,itl,e2e,queueing}.{mean,p50,p90,p99}, throughput.req_s, "
                "throughput.tok_s (alias throughput), goodput (runs with an SLO), preemptions, "
                "pool.<name>.{ttft,tpot}.<stat> (clusters)");
    }
    if (!t.relative && t.limit_is_duration && !it->metric.is_time) {
      bad_value(where, cut(t.text), fmt::format("a plain number in {} for {} (durations only for latency metrics)",
                                                it->metric.unit.empty() ? "its unit" : it->metric.unit, it->metric.name));
    }
    Verdict v;
    v.threshold = t;
    v.delta = static_cast<std::size_t>(it - out.deltas.begin());
    v.point_crosses = crosses(t, it->baseline, it->candidate);
    if (it->has_interval) {
      const double lo = t.relative ? it->rel_lo : it->abs_lo, hi = t.relative ? it->rel_hi : it->abs_hi;
      v.interval_agrees = t.rise ? lo > 0 : hi < 0;
    }
    out.verdicts.push_back(std::move(v));
  }
  return out;
}

}  // namespace servesim::compare
