#include "sim/report/output.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include "sim/core/error.h"
#include "sim/cost/derived_note.h"
#include "sim/report/row_writer.h"

namespace servesim {
namespace fs = std::filesystem;

namespace {
void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) input_error(path.string(), "cannot write file");
}
}  // namespace

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

namespace {
// A time in seconds with 6 decimals; empty for a negative time (not reached).
void seconds(RowWriter& w, SimTime t) {
  if (t >= 0) w.fixed(to_seconds(t), 6);
}

std::string to_text(void (*write)(std::ostream&, const SimResult&), const SimResult& res) {
  std::ostringstream s;
  write(s, res);
  return std::move(s).str();
}
}  // namespace

void write_requests_csv(std::ostream& out, const SimResult& res) {
  RowWriter w(out);
  w.text(
      "id,replica,arrival_s,prompt_tokens,output_tokens,first_scheduled_s,first_token_s,last_token_s,ttft_s,tpot_s,"
      "e2e_s,queueing_s,preemptions,cached_prefix_tokens,rejected,pool,decode_replica,kv_transfer_s,kv_transfer_bytes,"
      "migrations");
  // Closed-loop workloads add the session (agent program) and the call's index in it.
  const bool programs = std::any_of(res.records.begin(), res.records.end(), [](const RequestRecord& r) { return r.call >= 0; });
  w.text(programs ? ",program,call\n" : "\n");
  auto program_cols = [&](const RequestRecord& r) {
    if (!programs) return;
    if (r.call < 0) {
      w.text(",,");
      return;
    }
    w.ch(',').integer(r.session).ch(',').integer(r.call);
  };
  auto pool_of = [&](std::int32_t replica) -> std::string_view {
    return replica >= 0 && static_cast<std::size_t>(replica) < res.replica_pool.size() ? res.replica_pool[static_cast<std::size_t>(replica)]
                                                                                        : std::string_view();
  };
  for (const auto& r : res.records) {
    if (r.rejected) {
      // id,,arrival,prompt,output,(7 empty),preemptions 0,cached 0,rejected 1,(4 empty),migrations 0
      w.integer(r.id).text(",,");
      seconds(w, r.arrival);
      w.ch(',').integer(r.prompt_tokens).ch(',').integer(r.output_tokens).text(",,,,,,,,0,0,1,,,,,0");
      program_cols(r);
      w.end_row();
      continue;
    }
    w.integer(r.id).ch(',').integer(r.replica).ch(',');
    seconds(w, r.arrival);
    w.ch(',').integer(r.prompt_tokens).ch(',').integer(r.output_tokens).ch(',');
    seconds(w, r.first_scheduled);
    w.ch(',');
    seconds(w, r.first_token);
    w.ch(',');
    seconds(w, r.last_token);
    w.ch(',');
    seconds(w, r.ttft());
    w.ch(',');
    if (r.has_tpot()) w.fixed(r.tpot_ns() * 1e-9, 6);
    w.ch(',');
    seconds(w, r.e2e());
    w.ch(',');
    seconds(w, r.queueing());
    w.ch(',').integer(r.preemptions).ch(',').integer(r.cached_prefix_tokens).text(",0,").text(pool_of(r.replica)).ch(',');
    if (r.decode_replica >= 0) w.integer(r.decode_replica);
    w.ch(',');
    if (r.decode_replica >= 0) w.fixed(to_seconds(r.kv_transfer_ns), 6);
    w.ch(',').fixed(r.kv_transfer_bytes, 0).ch(',').integer(r.migrations);
    program_cols(r);
    w.end_row();
  }
}

std::string requests_csv(const SimResult& res) { return to_text(write_requests_csv, res); }

void write_timeseries_csv(std::ostream& out, const SimResult& res) {
  RowWriter w(out);
  w.text(
      "time_s,replica,waiting,running,kv_used_tokens,kv_capacity_tokens,kv_utilization,kv_allocated_bytes,kv_used_bytes,"
      "kv_fragmentation,kv_cached_bytes,kv_prefix_hit_rate,kv_pages_mapped,kv_exposed_map_s,kv_swap_bytes,kv_offload_bytes,"
      "kv_preemptions,energy_j,power_w\n");
  // power_w: the replica's mean power since its previous row (0 on its first row).
  std::vector<std::pair<SimTime, double>> prev;  // by replica: (time, energy) of its last row
  for (const auto& t : res.samples) {
    const auto r = static_cast<std::size_t>(t.replica);
    if (r >= prev.size()) prev.resize(r + 1, {-1, 0.0});
    const double power = prev[r].first >= 0 && t.time > prev[r].first ? (t.energy_j - prev[r].second) / to_seconds(t.time - prev[r].first) : 0.0;
    prev[r] = {t.time, t.energy_j};
    const double u = t.kv_capacity_tokens > 0 ? static_cast<double>(t.kv_used_tokens) / static_cast<double>(t.kv_capacity_tokens) : 0.0;
    const double frag = t.kv_allocated_bytes > 0 ? 1.0 - t.kv_used_bytes / t.kv_allocated_bytes : 0.0;
    const double hit = t.kv_prefix_lookup_tokens > 0
                           ? static_cast<double>(t.kv_prefix_hit_tokens) / static_cast<double>(t.kv_prefix_lookup_tokens)
                           : 0.0;
    seconds(w, t.time);
    w.ch(',').integer(t.replica).ch(',').integer(t.waiting).ch(',').integer(t.running).ch(',').integer(t.kv_used_tokens);
    w.ch(',').integer(t.kv_capacity_tokens).ch(',').fixed(u, 6).ch(',').fixed(t.kv_allocated_bytes, 0).ch(',');
    w.fixed(t.kv_used_bytes, 0).ch(',').fixed(frag, 6).ch(',').fixed(t.kv_cached_bytes, 0).ch(',').fixed(hit, 6);
    w.ch(',').integer(t.kv_pages_mapped).ch(',').fixed(t.kv_exposed_map_s, 6).ch(',').fixed(t.kv_swap_bytes, 0).ch(',');
    w.fixed(t.kv_offload_bytes, 0).ch(',').integer(t.kv_preemptions).ch(',').fixed(t.energy_j, 3).ch(',').fixed(power, 1);
    w.end_row();
  }
}

std::string timeseries_csv(const SimResult& res) { return to_text(write_timeseries_csv, res); }

namespace {

constexpr const char* kMarkerText = "This folder was written by servesim; a later --out may replace it.\n";

// A sibling of `final_dir` that this process names: .<name>.servesim-<what>-<pid>.
fs::path sibling(const fs::path& final_dir, const char* what, long pid) {
  return final_dir.parent_path() / fmt::format(".{}.servesim-{}-{}", final_dir.filename().string(), what, pid);
}

// Removes leftovers of earlier runs into the same folder that were killed without a chance
// to clean up (SIGKILL, power loss): siblings named by a servesim run whose process is gone
// and that hold the marker, or are empty (killed between creating the folder and writing the
// marker into it: nothing can be lost). Nothing else is touched.
void remove_stale_siblings(const fs::path& final_dir) {
  std::error_code ec;
  const std::string prefix = fmt::format(".{}.servesim-", final_dir.filename().string());
  for (fs::directory_iterator it(final_dir.parent_path(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::size_t dash = name.rfind('-');
    if (dash == std::string::npos || dash + 1 >= name.size()) continue;
    const std::string pid_text = name.substr(dash + 1);
    if (pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9) continue;
    const long pid = std::stol(pid_text);
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code e2;
    if (fs::is_symlink(it->path(), e2)) continue;
    if (!fs::exists(it->path() / kOutputMarker, e2) && !(fs::is_directory(it->path(), e2) && fs::is_empty(it->path(), e2))) continue;
    fs::remove_all(it->path(), e2);
  }
}

// True when `p` is `ancestor` or lies under it (both absolute and normalised).
bool is_prefix(const fs::path& ancestor, const fs::path& p) {
  auto b = p.begin();
  for (auto a = ancestor.begin(); a != ancestor.end(); ++a) {
    if (a->empty()) continue;  // trailing separator
    if (b == p.end() || *a != *b) return false;
    ++b;
  }
  return true;
}

}  // namespace

std::string check_output_dir(const std::string& dir, const OutputOptions& opt) {
  const std::string& flag = opt.flag;
  if (dir.empty()) bad_value(flag, dir, "a folder path");
  fs::path p = fs::path(dir).lexically_normal();
  while (!p.has_filename() && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();  // "res/" -> "res"
  if (!p.empty() && *p.begin() == "~") {
    bad_value(flag, dir, "a folder path (servesim does not expand '~'; write $HOME or a relative path)");
  }
  const std::string leaf = p.filename().string();
  if (leaf.empty() || leaf == "." || leaf == ".." || p == p.root_path()) {
    bad_value(flag, dir, "a folder of its own for the results (not '.', '..' or '/')");
  }
  std::error_code ec;
  const fs::path abs = fs::weakly_canonical(fs::absolute(p, ec), ec);
  const fs::path cwd = fs::weakly_canonical(fs::current_path(ec), ec);
  if (is_prefix(abs, cwd)) bad_value(flag, dir, "a folder that is not the working directory or one of its parents");
  if (const char* home = std::getenv("HOME"); home && *home && fs::weakly_canonical(home, ec) == abs) {
    bad_value(flag, dir, "a folder of its own for the results (not the home folder)");
  }
  const auto st = fs::symlink_status(p, ec);
  if (fs::is_symlink(st)) bad_value(flag, dir, "a folder path (this is a symbolic link; servesim does not replace links)");
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) bad_value(flag, dir, "a folder path (a file with that name exists)");
    fs::directory_iterator it(p, ec);
    if (ec) bad_value(flag, dir, "a readable folder (" + ec.message() + ")");
    const bool empty = it == fs::directory_iterator();
    if (!empty && !opt.force && !fs::exists(p / kOutputMarker, ec)) {
      bad_value(flag, dir,
                fmt::format("a new or empty folder, or one servesim wrote (this one holds other files, e.g. '{}', and no {} "
                            "marker; pass --force to replace it)",
                            it->path().filename().string(), kOutputMarker));
    }
  }
  return p.string();
}

void write_dir_atomically(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files,
                          const OutputOptions& opt) {
  write_dir_atomically(dir, files, {}, opt);
}

void write_dir_atomically(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files,
                          const std::vector<StreamedFile>& streamed, const OutputOptions& opt) {
  const fs::path final_dir(check_output_dir(dir, opt));
  const auto is_cancelled = [&] { return opt.cancelled && opt.cancelled(); };
  std::error_code ec;
  fs::path parent = final_dir.parent_path();
  if (parent.empty()) parent = ".";
  // The first ancestor this call creates, so a failure removes what it made and nothing more.
  fs::path created_top;
  for (fs::path a = parent; !a.empty() && !fs::exists(a, ec); a = a.parent_path()) {
    created_top = a;
    if (a == a.parent_path()) break;
  }
  fs::create_directories(parent, ec);
  if (ec) bad_value(opt.flag, dir, "a location where a folder can be created (" + ec.message() + ")");
  const fs::path anchored = parent / final_dir.filename();
  remove_stale_siblings(anchored);
  const fs::path tmp = sibling(anchored, "partial", ::getpid());
  auto undo = [&] {
    std::error_code e;
    fs::remove_all(tmp, e);
    if (!created_top.empty()) {
      for (fs::path a = parent; !a.empty(); a = a.parent_path()) {
        if (!fs::remove(a, e)) break;  // only empty folders this call created
        if (a == created_top) break;
      }
    }
  };
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec)) {
    const std::string why = ec.message();
    undo();
    bad_value(opt.flag, dir, "a writable location (" + why + ")");
  }
  try {
    write_file(tmp / kOutputMarker, kMarkerText);
    for (const auto& [name, text] : files) {
      if (is_cancelled()) throw Cancelled("stopped before the results were complete; nothing was written to " + dir);
      const fs::path path = tmp / name;
      fs::create_directories(path.parent_path(), ec);
      if (ec) bad_value(opt.flag, dir, "a writable location (" + ec.message() + ")");
      write_file(path, text);
    }
    for (const auto& [name, write] : streamed) {
      if (is_cancelled()) throw Cancelled("stopped before the results were complete; nothing was written to " + dir);
      const fs::path path = tmp / name;
      std::ofstream out(path, std::ios::binary);
      write(out);
      out.close();
      if (!out) input_error(path.string(), "cannot write file");
    }
    if (is_cancelled()) throw Cancelled("stopped before the results were complete; nothing was written to " + dir);
  } catch (...) {
    undo();
    throw;
  }
  // Commit: a new path (or an empty folder) is replaced by rename(2); existing results are
  // exchanged with the new ones in one step (renameat2 RENAME_EXCHANGE), then removed.
  if (::rename(tmp.c_str(), anchored.c_str()) == 0) return;
  int rename_errno = errno;
  if (rename_errno == ENOTEMPTY || rename_errno == EEXIST) {
    // Checked again right before the exchange (the folder may have changed meanwhile).
    try {
      check_output_dir(dir, opt);
    } catch (...) {
      undo();
      throw;
    }
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, anchored.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(tmp, ec);  // the old results
      return;
    }
    rename_errno = errno;
    if (rename_errno == EINVAL || rename_errno == ENOSYS) {
      // A file system without exchange: move the old aside, the new in, the old out.
      const fs::path old = sibling(anchored, "old", ::getpid());
      if (::rename(anchored.c_str(), old.c_str()) == 0) {
        if (::rename(tmp.c_str(), anchored.c_str()) == 0) {
          fs::remove_all(old, ec);
          return;
        }
        rename_errno = errno;
        ::rename(old.c_str(), anchored.c_str());
      }
    }
  }
  const std::string why = std::strerror(rename_errno);
  undo();
  bad_value(opt.flag, dir, "a location the results can be moved into (" + why + ")");
}

std::vector<std::pair<std::string, std::string>> result_files(const SimResult& res, bool with_requests, bool with_timeseries) {
  std::vector<std::pair<std::string, std::string>> files = {{"summary.json", res.summary.dump(2) + "\n"},
                                                            {"resolved_config.json", res.resolved_config.dump(2) + "\n"}};
  if (with_requests) files.emplace_back("requests.csv", requests_csv(res));
  if (with_timeseries) files.emplace_back("timeseries.csv", timeseries_csv(res));
  return files;
}

std::vector<StreamedFile> streamed_result_files(const SimResult& res) {
  return {{"requests.csv", [&res](std::ostream& o) { write_requests_csv(o, res); }},
          {"timeseries.csv", [&res](std::ostream& o) { write_timeseries_csv(o, res); }}};
}

void write_results(const std::string& dir, const SimResult& res, const OutputOptions& options) {
  write_dir_atomically(dir, result_files(res, false, false), streamed_result_files(res), options);
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
  if (s.contains("programs")) {
    const auto& p = s["programs"];
    const auto& j = p["jct_s"];
    out += fmt::format("programs: {} completed, {} incomplete, {} calls; job completion time mean {:.2f} s p50 {:.2f} s p99 {:.2f} s\n",
                       p["completed"].get<std::int64_t>(), p["incomplete"].get<std::int64_t>(), p["calls"].get<std::int64_t>(),
                       j["mean"].get<double>(), j["p50"].get<double>(), j["p99"].get<double>());
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
  if (s.contains("derived_profiles")) out += derived_profiles_text(s["derived_profiles"]);
  if (s.contains("borrowed_moe")) out += borrowed_moe_text(s["borrowed_moe"]);
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
