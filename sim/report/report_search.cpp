#include "sim/report/report_search.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/report/compare.h"

namespace servesim::report {
namespace fs = std::filesystem;

namespace {

// One JSON value per non-empty line, at most `max` of them; `*more` tells whether lines were left.
std::vector<nlohmann::json> read_jsonl(const fs::path& path, std::size_t max, bool* more) {
  std::ifstream in(path);
  if (!in) input_error(path.string(), "cannot open file (missing or unreadable)");
  std::vector<nlohmann::json> out;
  std::string line;
  std::size_t lineno = 0;
  *more = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    if (out.size() == max) {
      *more = true;
      break;
    }
    const std::string where = fmt::format("{}:{}", path.string(), lineno);
    std::size_t byte = 0;
    auto j = try_parse_json_text(line, where, &byte);
    if (!j) input_error(fmt::format("{}:{}", where, byte), "malformed JSON, expected one JSON object per line");
    if (!j->is_object()) bad_value(where, compare::cut(line), "a JSON object per line");
    out.push_back(std::move(*j));
  }
  return out;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct MetricSpec {
  const char* key;                 // name in the document
  std::vector<const char*> path;   // into summary.json
  const char* label;
  const char* unit;                // as shown; values are scaled into it
  double scale;
  const char* better;              // "down", "up" or ""
};

// The metrics a sweep's report can plot against its axes (summary.json's, sim/metrics).
const std::vector<MetricSpec>& sweep_metrics() {
  static const std::vector<MetricSpec> m = {
      {"ttft_p99", {"ttft_s", "p99"}, "TTFT p99", "ms", 1e3, "down"},
      {"ttft_p50", {"ttft_s", "p50"}, "TTFT p50", "ms", 1e3, "down"},
      {"tpot_p99", {"tpot_s", "p99"}, "TPOT p99", "ms", 1e3, "down"},
      {"tpot_p50", {"tpot_s", "p50"}, "TPOT p50", "ms", 1e3, "down"},
      {"e2e_p99", {"e2e_s", "p99"}, "E2E p99", "ms", 1e3, "down"},
      {"queueing_p99", {"queueing_s", "p99"}, "queueing p99", "ms", 1e3, "down"},
      {"throughput_req_s", {"throughput", "requests_per_s"}, "throughput", "req/s", 1, "up"},
      {"throughput_tok_s", {"throughput", "output_tokens_per_s"}, "output throughput", "tokens/s", 1, "up"},
      {"goodput_req_s", {"goodput", "requests_per_s"}, "goodput", "req/s", 1, "up"},
      {"goodput_pct", {"goodput", "fraction"}, "requests meeting every SLO", "%", 100, "up"},
      {"completed", {"requests", "completed"}, "completed requests", "", 1, "up"},
      {"rejected", {"requests", "rejected"}, "rejected requests", "", 1, "down"},
      {"preemptions", {"requests", "preemptions"}, "preemptions", "", 1, "down"},
      {"kv_use_mean_pct", {"kv_utilization", "mean"}, "KV cache use, mean", "%", 100, ""},
      {"usd_per_m_tokens", {"cost", "usd_per_million_output_tokens"}, "cost per million output tokens", "$", 1, "down"},
      {"j_per_token", {"energy", "j_per_output_token"}, "GPU energy per output token", "J", 1, "down"},
  };
  return m;
}

}  // namespace

SearchFolder search_folder_kind(const std::string& dir) {
  const fs::path d(dir);
  std::error_code ec;
  if (fs::is_regular_file(d / "plans.jsonl", ec) && fs::is_regular_file(d / "pareto.json", ec)) return SearchFolder::kPlan;
  if (fs::is_regular_file(d / "points.jsonl", ec) || fs::is_regular_file(d / "journal.jsonl", ec)) return SearchFolder::kSweep;
  return SearchFolder::kNone;
}

nlohmann::json collect_sweep_data(const std::string& dir) {
  const fs::path d(dir);
  if (!fs::is_regular_file(d / "points.jsonl") || !fs::is_regular_file(d / "points.csv")) {
    input_error((d / "points.jsonl").string(),
                "missing: an unfinished sweep (its journal.jsonl is there); finish it with `servesim sweep SWEEP.json --out DIR --resume`");
  }
  // The varied keys in axis order: points.csv's columns between "status" and "completed".
  std::ifstream csv(d / "points.csv");
  std::string header;
  std::getline(csv, header);
  const std::vector<std::string> cols = compare::split_csv_line(header);
  nlohmann::json keys = nlohmann::json::array();
  bool in_keys = false;
  for (const auto& c : cols) {
    if (c == "completed") break;
    if (in_keys) keys.push_back(c);
    if (c == "status") in_keys = true;
  }
  if (!in_keys) bad_value((d / "points.csv").string() + ":1", compare::cut(header), "the header of a sweep's points.csv (index,id,status,...)");
  bool more = false;
  const std::vector<nlohmann::json> lines = read_jsonl(d / "points.jsonl", kMaxReportPoints, &more);
  nlohmann::json points = nlohmann::json::array();
  std::string name;
  for (const auto& l : lines) {
    nlohmann::json p = {{"index", l.value("index", 0)}, {"id", l.value("id", "")}, {"status", l.value("status", "")}};
    p["set"] = l.contains("set") ? l["set"] : nlohmann::json::object();
    if (l.contains("error")) p["error"] = l["error"];
    if (l.contains("summary") && l["summary"].is_object()) {
      const nlohmann::json& s = l["summary"];
      if (name.empty()) name = s.value("scenario", "");
      nlohmann::json m = nlohmann::json::object();
      for (const MetricSpec& spec : sweep_metrics()) {
        const nlohmann::json* v = &s;
        for (const char* k : spec.path) v = v && v->is_object() && v->contains(k) ? &(*v)[k] : nullptr;
        if (v && v->is_number() && std::isfinite(v->get<double>())) m[spec.key] = v->get<double>() * spec.scale;
      }
      p["m"] = std::move(m);
    }
    points.push_back(std::move(p));
  }
  nlohmann::json metrics = nlohmann::json::array();
  for (const MetricSpec& spec : sweep_metrics()) {
    metrics.push_back({{"key", spec.key}, {"label", spec.label}, {"unit", spec.unit}, {"better", spec.better}});
  }
  // The sweep's own name is the journal's header's.
  if (fs::is_regular_file(d / "journal.jsonl")) {
    std::ifstream j(d / "journal.jsonl");
    std::string first;
    if (std::getline(j, first)) {
      if (auto h = try_parse_json_text(first, (d / "journal.jsonl").string() + ":1"); h && h->is_object()) name = h->value("name", name);
    }
  }
  return {{"kind", "sweep"}, {"name", name}, {"keys", keys}, {"points", points}, {"metrics", metrics}, {"truncated", more}};
}

nlohmann::json collect_plan_data(const std::string& dir) {
  const fs::path d(dir);
  bool more = false;
  nlohmann::json candidates = nlohmann::json::array();
  for (auto& c : read_jsonl(d / "plans.jsonl", kMaxReportPoints, &more)) candidates.push_back(std::move(c));
  nlohmann::json doc = {{"kind", "plan"}, {"candidates", candidates}, {"truncated", more}};
  doc["pareto"] = read_json_file((d / "pareto.json").string());
  doc["plan"] = fs::is_regular_file(d / "plan.json") ? read_json_file((d / "plan.json").string()) : nlohmann::json::object();
  if (fs::is_regular_file(d / "summary.txt")) doc["summary"] = read_text(d / "summary.txt");
  return doc;
}

}  // namespace servesim::report
