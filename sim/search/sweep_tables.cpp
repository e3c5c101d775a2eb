#include "sim/search/sweep_tables.h"

#include <fmt/format.h>

#include "sim/report/output.h"

namespace servesim::search {

namespace {

std::string cell_value(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// summary[a][b] formatted with `spec`, or an empty cell when absent.
std::string metric(const nlohmann::json& s, const char* a, const char* b, const char* spec) {
  if (!s.contains(a) || !s[a].is_object() || !s[a].contains(b) || !s[a][b].is_number()) return "";
  return fmt::format(fmt::runtime(spec), s[a][b].get<double>());
}

std::string count(const nlohmann::json& s, const char* a, const char* b) {
  if (!s.contains(a) || !s[a].is_object() || !s[a].contains(b) || !s[a][b].is_number_integer()) return "";
  return std::to_string(s[a][b].get<std::int64_t>());
}

}  // namespace

std::string points_csv(const Sweep& sweep, const std::vector<JournalEntry>& entries) {
  bool goodput = false;
  for (const auto& e : entries) goodput = goodput || (e.ok && e.summary.contains("goodput"));
  std::string out = "index,id,status";
  for (const auto& k : sweep.keys) {
    out += ',';
    out += csv_field(k);
  }
  out += ",completed,rejected,ttft_p50_s,ttft_p99_s,tpot_p50_s,tpot_p99_s,e2e_p99_s,requests_per_s,output_tokens_per_s";
  if (goodput) out += ",goodput_requests_per_s,goodput_fraction";
  out += ",error\n";
  for (std::size_t i = 0; i < sweep.points.size(); ++i) {
    const SweepPoint& p = sweep.points[i];
    const JournalEntry& e = entries.at(i);
    out += fmt::format("{},{},{}", i, p.id, e.ok ? "ok" : "failed");
    for (const auto& k : sweep.keys) {
      std::string v;
      for (const auto& o : p.set) {
        if (o.key == k) v = cell_value(o.value);
      }
      out += ',';
      out += csv_field(v);
    }
    const nlohmann::json& s = e.ok ? e.summary : nlohmann::json::object();
    out += fmt::format(",{},{},{},{},{},{},{},{},{}", count(s, "requests", "completed"), count(s, "requests", "rejected"),
                       metric(s, "ttft_s", "p50", "{:.6f}"), metric(s, "ttft_s", "p99", "{:.6f}"),
                       metric(s, "tpot_s", "p50", "{:.6f}"), metric(s, "tpot_s", "p99", "{:.6f}"),
                       metric(s, "e2e_s", "p99", "{:.6f}"), metric(s, "throughput", "requests_per_s", "{:.4f}"),
                       metric(s, "throughput", "output_tokens_per_s", "{:.2f}"));
    if (goodput) {
      out += fmt::format(",{},{}", metric(s, "goodput", "requests_per_s", "{:.4f}"), metric(s, "goodput", "fraction", "{:.4f}"));
    }
    out += ',';
    out += csv_field(e.error);
    out += '\n';
  }
  return out;
}

std::string points_jsonl(const Sweep& sweep, const std::vector<JournalEntry>& entries) {
  std::string out;
  for (std::size_t i = 0; i < sweep.points.size(); ++i) {
    const SweepPoint& p = sweep.points[i];
    const JournalEntry& e = entries.at(i);
    nlohmann::json set = nlohmann::json::object();
    for (const auto& o : p.set) set[o.key] = o.value;
    nlohmann::json line = {{"index", i}, {"id", p.id}, {"set", set}, {"status", e.ok ? "ok" : "failed"}};
    if (e.ok) {
      line["summary"] = e.summary;
    } else {
      line["error"] = e.error;
    }
    out += line.dump() + "\n";
  }
  return out;
}

}  // namespace servesim::search
