#include "sim/report/output.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <unistd.h>

#include "sim/core/error.h"

namespace servesim {
namespace fs = std::filesystem;

namespace {
std::string seconds(SimTime t) { return t < 0 ? std::string() : fmt::format("{:.6f}", to_seconds(t)); }

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) input_error(path.string(), "cannot write file");
}
}  // namespace

std::string requests_csv(const SimResult& res) {
  std::string s =
      "id,replica,arrival_s,prompt_tokens,output_tokens,first_scheduled_s,first_token_s,last_token_s,ttft_s,tpot_s,"
      "e2e_s,queueing_s,preemptions,cached_prefix_tokens,rejected,pool,decode_replica,kv_transfer_s,kv_transfer_bytes,"
      "migrations\n";
  auto pool_of = [&](std::int32_t replica) {
    return replica >= 0 && static_cast<std::size_t>(replica) < res.replica_pool.size() ? res.replica_pool[static_cast<std::size_t>(replica)]
                                                                                        : std::string();
  };
  for (const auto& r : res.records) {
    if (r.rejected) {
      s += fmt::format("{},,{},{},{},,,,,,,,0,0,1,,,,,0\n", r.id, seconds(r.arrival), r.prompt_tokens, r.output_tokens);
      continue;
    }
    s += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},0,{},{},{},{:.0f},{}\n", r.id, r.replica, seconds(r.arrival),
                     r.prompt_tokens, r.output_tokens, seconds(r.first_scheduled), seconds(r.first_token), seconds(r.last_token),
                     seconds(r.ttft()), r.has_tpot() ? fmt::format("{:.6f}", r.tpot_ns() * 1e-9) : std::string(),
                     seconds(r.e2e()), seconds(r.queueing()), r.preemptions, r.cached_prefix_tokens, pool_of(r.replica),
                     r.decode_replica >= 0 ? std::to_string(r.decode_replica) : std::string(),
                     r.decode_replica >= 0 ? fmt::format("{:.6f}", to_seconds(r.kv_transfer_ns)) : std::string(),
                     r.kv_transfer_bytes, r.migrations);
  }
  return s;
}

std::string timeseries_csv(const SimResult& res) {
  std::string s =
      "time_s,replica,waiting,running,kv_used_tokens,kv_capacity_tokens,kv_utilization,kv_allocated_bytes,kv_used_bytes,"
      "kv_fragmentation,kv_cached_bytes,kv_prefix_hit_rate,kv_pages_mapped,kv_exposed_map_s,kv_swap_bytes,kv_offload_bytes,"
      "kv_preemptions\n";
  for (const auto& t : res.samples) {
    const double u = t.kv_capacity_tokens > 0 ? static_cast<double>(t.kv_used_tokens) / static_cast<double>(t.kv_capacity_tokens) : 0.0;
    const double frag = t.kv_allocated_bytes > 0 ? 1.0 - t.kv_used_bytes / t.kv_allocated_bytes : 0.0;
    const double hit = t.kv_prefix_lookup_tokens > 0
                           ? static_cast<double>(t.kv_prefix_hit_tokens) / static_cast<double>(t.kv_prefix_lookup_tokens)
                           : 0.0;
    s += fmt::format("{},{},{},{},{},{},{:.6f},{:.0f},{:.0f},{:.6f},{:.0f},{:.6f},{},{:.6f},{:.0f},{:.0f},{}\n", seconds(t.time),
                     t.replica, t.waiting, t.running, t.kv_used_tokens, t.kv_capacity_tokens, u, t.kv_allocated_bytes,
                     t.kv_used_bytes, frag, t.kv_cached_bytes, hit, t.kv_pages_mapped, t.kv_exposed_map_s, t.kv_swap_bytes,
                     t.kv_offload_bytes, t.kv_preemptions);
  }
  return s;
}

void write_dir_atomically(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  const fs::path final_dir(dir);
  std::error_code ec;
  if (fs::exists(final_dir, ec) && !fs::is_directory(final_dir, ec)) {
    bad_value("--out", dir, "a directory path (a file with that name exists)");
  }
  const fs::path parent = final_dir.has_parent_path() ? final_dir.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  const fs::path tmp = parent / fmt::format(".{}.partial-{}", final_dir.filename().string(), ::getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directories(tmp, ec)) bad_value("--out", dir, "a writable location (" + ec.message() + ")");
  try {
    for (const auto& [name, text] : files) {
      const fs::path path = tmp / name;
      fs::create_directories(path.parent_path(), ec);
      if (ec) bad_value("--out", dir, "a writable location (" + ec.message() + ")");
      write_file(path, text);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    bad_value("--out", dir, "a location the results can be moved into");
  }
}

void write_results(const std::string& dir, const SimResult& res) {
  write_dir_atomically(dir, {{"summary.json", res.summary.dump(2) + "\n"},
                             {"resolved_config.json", res.resolved_config.dump(2) + "\n"},
                             {"requests.csv", requests_csv(res)},
                             {"timeseries.csv", timeseries_csv(res)}});
}

std::string summary_table(const nlohmann::json& s) {
  std::string out;
  out += fmt::format("scenario {}: {} on {} x{} replica(s), simulated {:.1f} s\n", s.value("scenario", ""), s.value("model", ""),
                     s.value("hardware", ""), s.value("replicas", 1), s.value("simulated_time_s", 0.0));
  const auto& rq = s["requests"];
  out += fmt::format("requests: {} completed, {} rejected, {} preemptions\n", rq["completed"].get<std::int64_t>(),
                     rq["rejected"].get<std::int64_t>(), rq["preemptions"].get<std::int64_t>());
  out += fmt::format("{:<14}{:>12}{:>12}{:>12}{:>12}\n", "metric (ms)", "mean", "p50", "p90", "p99");
  for (const auto& [key, label] : std::vector<std::pair<const char*, const char*>>{
           {"ttft_s", "TTFT"}, {"tpot_s", "TPOT"}, {"itl_s", "ITL"}, {"e2e_s", "E2E"}, {"queueing_s", "queueing"}}) {
    const auto& m = s[key];
    out += fmt::format("{:<14}{:>12.2f}{:>12.2f}{:>12.2f}{:>12.2f}\n", label, m["mean"].get<double>() * 1e3,
                       m["p50"].get<double>() * 1e3, m["p90"].get<double>() * 1e3, m["p99"].get<double>() * 1e3);
  }
  const auto& tp = s["throughput"];
  out += fmt::format("throughput: {:.2f} req/s, {:.1f} output tok/s, {:.1f} total tok/s\n", tp["requests_per_s"].get<double>(),
                     tp["output_tokens_per_s"].get<double>(), tp["total_tokens_per_s"].get<double>());
  if (s.contains("goodput")) {
    out += fmt::format("goodput: {:.2f} req/s ({:.1f}% of requests meet every SLO)\n", s["goodput"]["requests_per_s"].get<double>(),
                       100.0 * s["goodput"]["fraction"].get<double>());
  }
  const auto& ku = s["kv_utilization"];
  if (s.contains("pools") && s["pools"].size() > 1) {
    for (const auto& p : s["pools"]) {
      out += fmt::format("pool {} ({}, {} x{}, tp {}): KV cache {} tokens per replica, busy {:.1f}%, mean batch {:.1f} seqs\n",
                         p["name"].get<std::string>(), p["role"].get<std::string>(), p["hardware"].get<std::string>(),
                         p["replicas"].get<std::int64_t>(), p["tp"].get<std::int64_t>(), p["kv_capacity_tokens"].get<std::int64_t>(),
                         100.0 * p["busy_fraction"].get<double>(), p["mean_batch_seqs"].get<double>());
    }
    out += fmt::format("KV cache utilisation mean {:.1f}% p99 {:.1f}%\n", 100.0 * ku["mean"].get<double>(), 100.0 * ku["p99"].get<double>());
  } else {
    // The KV manager's own capacity (it honours kv.num_gpu_blocks_override), not the memory plan's.
    const std::int64_t cap = s.contains("pools") ? s["pools"][0]["kv_capacity_tokens"].get<std::int64_t>()
                                                 : s["memory"]["kv_tokens"].get<std::int64_t>();
    out += fmt::format("KV cache: {} tokens capacity, utilisation mean {:.1f}% p99 {:.1f}%\n", cap, 100.0 * ku["mean"].get<double>(),
                       100.0 * ku["p99"].get<double>());
  }
  if (s.contains("kv_transfer")) {
    const auto& k = s["kv_transfer"];
    out += fmt::format("KV hand-off (wait for decode room + transfer): {} requests, mean {:.2f} ms p99 {:.2f} ms, {:.1f} MB mean\n", k["requests"].get<std::int64_t>(),
                       k["time_s"]["mean"].get<double>() * 1e3, k["time_s"]["p99"].get<double>() * 1e3,
                       k["bytes"]["mean"].get<double>() / 1e6);
  }
  if (s.contains("migration")) {
    const auto& m = s["migration"];
    out += fmt::format("migrations: {} completed, {} aborted, mean downtime {:.2f} ms\n", m["completed"].get<std::int64_t>(),
                       m["aborted"].get<std::int64_t>(), m["mean_downtime_s"].get<double>() * 1e3);
  }
  return out;
}

}  // namespace servesim
