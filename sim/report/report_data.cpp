#include "sim/report/report_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/metrics/stats.h"
#include "sim/report/compare.h"
#include "sim/report/report_search.h"

namespace servesim::report {
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A CSV file of servesim's read by column name. Numeric columns: empty cells are NaN; a
// cell that is not a number is an InputError naming the file, line and column.
struct Table {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  std::size_t column(const std::string& name, bool required = true) const {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      if (required) input_error(path + ":1", fmt::format("header lacks column '{}', expected servesim's output", name));
      return header.size();
    }
    return static_cast<std::size_t>(it - header.begin());
  }
  double number(std::size_t row, std::size_t col) const {
    if (col >= header.size()) return kNaN;
    const std::string& text = rows[row][col];
    if (text.empty()) return kNaN;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !std::isfinite(v)) {
      bad_value(fmt::format("{}:{}: {}", path, row + 2, header[col]), compare::cut(text), "a number");
    }
    return v;
  }
};

Table read_table(const fs::path& path, std::size_t max_rows = std::numeric_limits<std::size_t>::max()) {
  std::ifstream in(path);
  Table t;
  t.path = path.string();
  if (!in) input_error(t.path, "cannot open file (missing or unreadable)");
  std::string line;
  if (!std::getline(in, line)) input_error(t.path + ":1", "empty file, expected a header line");
  t.header = compare::split_csv_line(line);
  std::size_t lineno = 1;
  while (t.rows.size() < max_rows && std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto fields = compare::split_csv_line(line);
    if (fields.size() != t.header.size()) {
      bad_value(fmt::format("{}:{}", t.path, lineno), compare::cut(line), fmt::format("{} comma-separated fields as in the header", t.header.size()));
    }
    t.rows.push_back(std::move(fields));
  }
  return t;
}

nlohmann::json percentiles_ms(std::vector<double> v) {
  const Summary s = summarize(v);
  return {{"count", s.count}, {"mean", s.mean * 1e3}, {"p50", s.p50 * 1e3}, {"p90", s.p90 * 1e3}, {"p99", s.p99 * 1e3}, {"max", s.max * 1e3}};
}

// Completions and output tokens per time bin (by last token time), over every seed.
nlohmann::json completions_over_time(const std::vector<Table>& requests) {
  std::vector<std::pair<double, double>> done;  // (last token s, output tokens)
  double last = 0;
  for (const Table& t : requests) {
    const std::size_t lt = t.column("last_token_s"), out = t.column("output_tokens"), rej = t.column("rejected");
    for (std::size_t i = 0; i < t.rows.size(); ++i) {
      if (t.rows[i][rej] == "1") continue;
      const double time = t.number(i, lt);
      if (std::isnan(time)) continue;
      done.emplace_back(time, t.number(i, out));
      last = std::max(last, time);
    }
  }
  // Bins of a whole number of seconds, about 100 of them at most (fewer, fuller bins: less noise).
  const double bin = std::max(1.0, std::ceil(last / 100.0));
  // Whole bins only: a last, partial bin would read as a drop in throughput.
  const auto bins = std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(last / bin)));
  std::vector<double> reqs(bins, 0.0), toks(bins, 0.0);
  for (const auto& [time, tokens] : done) {
    const auto b = static_cast<std::size_t>(std::floor(time / bin));
    if (b >= bins) continue;
    reqs[b] += 1;
    toks[b] += std::isnan(tokens) ? 0 : tokens;
  }
  const double per = bin * static_cast<double>(requests.size());  // per second, mean over seeds
  nlohmann::json t = nlohmann::json::array(), r = nlohmann::json::array(), k = nlohmann::json::array();
  for (std::size_t b = 0; b < bins; ++b) {
    t.push_back(static_cast<double>(b) * bin);
    r.push_back(reqs[b] / per);
    k.push_back(toks[b] / per);
  }
  return {{"bin_s", bin}, {"t", t}, {"requests_per_s", r}, {"output_tokens_per_s", k}};
}

// The time series of one run per replica, thinned to at most kSeriesPoints rows each.
nlohmann::json replica_series(const fs::path& path, const std::vector<std::string>& replica_pool) {
  if (!fs::exists(path)) return nlohmann::json::array();  // stored baselines leave it out
  const Table t = read_table(path);
  const std::size_t ct = t.column("time_s"), cr = t.column("replica"), cw = t.column("waiting"), cn = t.column("running"),
                    cu = t.column("kv_used_tokens"), cc = t.column("kv_capacity_tokens"), cp = t.column("kv_preemptions", false);
  std::map<std::int64_t, std::vector<std::size_t>> rows;
  for (std::size_t i = 0; i < t.rows.size(); ++i) rows[static_cast<std::int64_t>(t.number(i, cr))].push_back(i);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [replica, idx] : rows) {
    const std::size_t stride = (idx.size() + kSeriesPoints - 1) / kSeriesPoints;
    nlohmann::json s = {{"replica", replica}, {"pool", replica >= 0 && static_cast<std::size_t>(replica) < replica_pool.size() ? replica_pool[static_cast<std::size_t>(replica)] : ""}};
    nlohmann::json time = nlohmann::json::array(), waiting = nlohmann::json::array(), running = nlohmann::json::array(),
                   used = nlohmann::json::array(), cap = nlohmann::json::array(), pre = nlohmann::json::array();
    for (std::size_t j = 0; j < idx.size(); j += std::max<std::size_t>(1, stride)) {
      const std::size_t i = idx[j];
      time.push_back(t.number(i, ct));
      waiting.push_back(t.number(i, cw));
      running.push_back(t.number(i, cn));
      used.push_back(t.number(i, cu));
      cap.push_back(t.number(i, cc));
      pre.push_back(cp < t.header.size() ? t.number(i, cp) : 0.0);
    }
    s["t"] = time;
    s["waiting"] = waiting;
    s["running"] = running;
    s["kv_used_tokens"] = used;
    s["kv_capacity_tokens"] = cap;
    s["preemptions"] = pre;
    out.push_back(std::move(s));
  }
  return out;
}

// The pool name of each replica id: the simulation numbers replicas pool by pool, in the
// order of the resolved config's pools[] (sim/serving/simulation.cpp).
std::vector<std::string> pools_of_replicas(const nlohmann::json& resolved_config) {
  std::vector<std::string> pool;
  if (!resolved_config.contains("pools") || !resolved_config["pools"].is_array()) return pool;
  for (const auto& p : resolved_config["pools"]) {
    const auto n = p.contains("replicas") && p["replicas"].is_number_integer() ? p["replicas"].get<std::int64_t>() : 0;
    for (std::int64_t i = 0; i < n && pool.size() < (1u << 20); ++i) pool.push_back(p.value("name", ""));
  }
  return pool;
}

nlohmann::json extra_tables(const fs::path& dir) {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& name : kExtraTables) {
    if (!fs::is_regular_file(dir / name)) continue;
    const Table t = read_table(dir / name, kExtraRows);
    out.push_back({{"file", name}, {"header", t.header}, {"rows", t.rows}});
  }
  return out;
}

nlohmann::json collect_set(const std::string& dir, const std::string& role) {
  const compare::RunSet set = compare::load_run_set(dir, role);
  nlohmann::json j;
  j["dir"] = dir;
  j["label"] = fs::path(dir).lexically_normal().filename().string();
  if (j["label"].get<std::string>().empty()) j["label"] = dir;
  j["resolved_config"] = set.runs.front().resolved_config;
  nlohmann::json summaries = nlohmann::json::array(), seeds = nlohmann::json::array();
  std::vector<Table> requests;
  for (const compare::SeedRun& r : set.runs) {
    summaries.push_back(r.summary);
    seeds.push_back(r.seed);
    requests.push_back(read_table(fs::path(r.dir) / "requests.csv"));
  }
  j["summaries"] = summaries;
  j["seeds"] = seeds;
  // Latency distributions pooled over the seeds (completed requests), in ms.
  nlohmann::json cdf = nlohmann::json::object(), pct = nlohmann::json::object();
  for (const char* family : {"ttft", "tpot", "e2e", "queueing", "kv_transfer"}) {
    std::vector<double> v;
    for (const Table& t : requests) {
      const std::size_t c = t.column(std::string(family) + "_s", false), rej = t.column("rejected");
      for (std::size_t i = 0; i < t.rows.size(); ++i) {
        if (t.rows[i][rej] == "1") continue;
        const double x = t.number(i, c);
        if (!std::isnan(x)) v.push_back(x);
      }
    }
    if (v.empty()) continue;
    pct[family] = percentiles_ms(v);
    cdf[family] = cdf_points(v, 1e3);
  }
  j["cdf_ms"] = cdf;
  j["percentiles_ms"] = pct;
  j["completions"] = completions_over_time(requests);
  j["timeseries"] = replica_series(fs::path(set.runs.front().dir) / "timeseries.csv", pools_of_replicas(set.runs.front().resolved_config));
  j["extras"] = extra_tables(dir);
  return j;
}

}  // namespace

nlohmann::json cdf_points(std::vector<double>& values, double scale, std::size_t max_points) {
  std::sort(values.begin(), values.end());
  nlohmann::json out = nlohmann::json::array();
  const std::size_t n = values.size();
  if (n == 0 || max_points == 0) return out;
  const std::size_t m = std::min(n, std::max<std::size_t>(2, max_points));
  std::size_t prev = n;
  for (std::size_t k = 0; k < m; ++k) {
    // Evenly spaced ranks from the first to the last value.
    const std::size_t i = m == 1 ? n - 1 : (k * (n - 1) + (m - 1) / 2) / (m - 1);
    if (i == prev) continue;
    prev = i;
    out.push_back({values[i] * scale, static_cast<double>(i + 1) / static_cast<double>(n)});
  }
  return out;
}

nlohmann::json collect_report_data(const std::vector<std::string>& dirs, const std::string& title) {
  if (dirs.empty()) bad_value("servesim report", "", "one or more result folders");
  // A sweep or a plan search has a page of its own (sim/report/report_search.h).
  for (const std::string& dir : dirs) {
    const SearchFolder kind = search_folder_kind(dir);
    if (kind == SearchFolder::kNone) continue;
    if (dirs.size() > 1) {
      bad_value("servesim report", dir, "run folders only when several are given (a sweep or plan-search folder is reported alone)");
    }
    nlohmann::json doc = kind == SearchFolder::kSweep ? collect_sweep_data(dir) : collect_plan_data(dir);
    doc["title"] = title;
    doc["dir"] = dir;
    doc["label"] = fs::path(dir).lexically_normal().filename().string();
    return doc;
  }
  nlohmann::json doc;
  nlohmann::json sets = nlohmann::json::array();
  for (std::size_t i = 0; i < dirs.size(); ++i) sets.push_back(collect_set(dirs[i], dirs.size() == 1 ? "report" : fmt::format("report input {}", i + 1)));
  if (dirs.size() > 1) {
    doc["kind"] = "compare";
    // What each folder's scenario changes against the reference's.
    for (std::size_t i = 1; i < sets.size(); ++i) sets[i]["config_changes"] = compare::config_differences(sets[0]["resolved_config"], sets[i]["resolved_config"]);
  } else {
    doc["kind"] = sets[0]["summaries"].size() > 1 ? "seeds" : "run";
  }
  doc["title"] = title;
  doc["sets"] = std::move(sets);
  return doc;
}

}  // namespace servesim::report
