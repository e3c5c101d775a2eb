#include "sim/report/chrome_trace.h"

#include <algorithm>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/model/operator.h"

namespace servesim::report {

namespace {

// µs with ns precision.
std::string us(SimTime ns) { return fmt::format("{}.{:03d}", ns / 1000, static_cast<int>(ns % 1000)); }

std::string json_string(const std::string& s) { return nlohmann::json(s).dump(); }

constexpr std::int64_t kTransferTidOffset = 1'000'000;   // "replica N KV transfers" threads

const char* transfer_name(KvTransferTrace::Kind k) {
  switch (k) {
    case KvTransferTrace::Kind::kHandOff: return "KV hand-off";
    case KvTransferTrace::Kind::kMigrationRound: return "KV migration round";
    case KvTransferTrace::Kind::kMigrationFinal: return "KV migration (stop-the-world)";
  }
  return "KV transfer";
}

}  // namespace

TraceWindow parse_trace_window(const std::string& text, const std::string& flag) {
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos) {
    bad_value(flag, text, "FROM:TO in simulated time, e.g. 60s:120s (either side may be empty)");
  }
  TraceWindow w;
  const std::string a = text.substr(0, colon), b = text.substr(colon + 1);
  if (!a.empty()) w.from = units::parse_duration(a, flag);
  if (!b.empty()) w.to = units::parse_duration(b, flag);
  if (w.from < 0 || (w.to >= 0 && w.to <= w.from)) bad_value(flag, text, "FROM:TO with 0 <= FROM < TO");
  return w;
}

void TraceRecorder::on_step(const StepTrace& s) {
  if (!open_preemptions_.empty() && s.plan && !s.merged) {
    for (const ScheduledSeq& q : s.plan->seqs) {
      const auto it = open_preemptions_.find(q.req->spec.id);
      if (it == open_preemptions_.end()) continue;
      preemptions_[it->second].resumed = s.start;
      open_preemptions_.erase(it);
    }
  }
  if (!window_.overlaps(s.start, s.end)) return;
  steps_.push_back(Step{s.replica, s.start, s.end, s.seqs, s.tokens, s.prefill_seqs, s.prefill_tokens, s.ns_by_class, s.merged});
}

void TraceRecorder::on_preempted(std::int32_t replica, RequestId id, SimTime at) {
  open_preemptions_[id] = preemptions_.size();
  preemptions_.push_back(Preemption{id, replica, at, -1});
}

void TraceRecorder::on_kv_transfer(const KvTransferTrace& t) {
  if (window_.overlaps(t.start, t.end)) transfers_.push_back(t);
}

std::string chrome_trace_json(const TraceRecorder& rec, const SimResult& res) {
  const TraceWindow& w = rec.window();
  std::vector<std::string> ev;
  // Pools (processes) in the resolved config's order; replicas (threads) in them.
  std::vector<std::string> pool_names;
  const nlohmann::json& pools = res.resolved_config.contains("pools") ? res.resolved_config["pools"] : nlohmann::json::array();
  for (const auto& p : pools) {
    const std::string name = p.value("name", "default");
    pool_names.push_back(name);
    ev.push_back(fmt::format(R"({{"ph":"M","name":"process_name","pid":{},"args":{{"name":{}}}}})", pool_names.size(),
                             json_string(fmt::format("pool {} ({})", name, p.value("role", "mixed")))));
    ev.push_back(fmt::format(R"({{"ph":"M","name":"process_sort_index","pid":{},"args":{{"sort_index":{}}}}})", pool_names.size(),
                             pool_names.size()));
  }
  const std::size_t requests_pid = pool_names.size() + 1;  // pools are 1..P (pid 0 is special to some viewers)
  auto pid_of = [&](std::int32_t replica) -> std::size_t {
    if (replica < 0 || static_cast<std::size_t>(replica) >= res.replica_pool.size()) return 1;
    const auto it = std::find(pool_names.begin(), pool_names.end(), res.replica_pool[static_cast<std::size_t>(replica)]);
    return it == pool_names.end() ? 1 : static_cast<std::size_t>(it - pool_names.begin()) + 1;
  };
  for (std::size_t r = 0; r < res.replica_pool.size(); ++r) {
    const auto rid = static_cast<std::int32_t>(r);
    ev.push_back(fmt::format(R"({{"ph":"M","name":"thread_name","pid":{},"tid":{},"args":{{"name":"replica {}"}}}})", pid_of(rid), r, r));
    ev.push_back(fmt::format(R"({{"ph":"M","name":"thread_sort_index","pid":{},"tid":{},"args":{{"sort_index":{}}}}})", pid_of(rid), r, 2 * r));
    ev.push_back(fmt::format(R"({{"ph":"M","name":"thread_name","pid":{},"tid":{},"args":{{"name":"replica {} KV transfers"}}}})", pid_of(rid),
                             kTransferTidOffset + static_cast<std::int64_t>(r), r));
    ev.push_back(fmt::format(R"({{"ph":"M","name":"thread_sort_index","pid":{},"tid":{},"args":{{"sort_index":{}}}}})", pid_of(rid),
                             kTransferTidOffset + static_cast<std::int64_t>(r), 2 * r + 1));
  }
  ev.push_back(fmt::format(R"({{"ph":"M","name":"process_name","pid":{},"args":{{"name":"requests"}}}})", requests_pid));
  ev.push_back(fmt::format(R"({{"ph":"M","name":"process_sort_index","pid":{},"args":{{"sort_index":{}}}}})", requests_pid, requests_pid));

  // Steps.
  for (const auto& s : rec.steps()) {
    const char* name = s.prefill_seqs == 0 ? "decode" : s.prefill_seqs == s.seqs ? "prefill" : "prefill+decode";
    std::string args = fmt::format(R"("seqs":{},"tokens":{},"prefill_seqs":{},"prefill_tokens":{},"merged":{})", s.seqs, s.tokens,
                                   s.prefill_seqs, s.prefill_tokens, s.merged ? "true" : "false");
    for (std::size_t c = 0; c < s.ns_by_class.size(); ++c) {
      if (s.ns_by_class[c] != 0) args += fmt::format(R"(,"{}_us":{})", op_class_name(static_cast<OpClass>(c)), us(s.ns_by_class[c]));
    }
    ev.push_back(fmt::format(R"({{"ph":"X","cat":"step","name":"{}","pid":{},"tid":{},"ts":{},"dur":{},"args":{{{}}}}})", name,
                             pid_of(s.replica), s.replica, us(s.start), us(s.end - s.start), args));
  }
  // KV transfers: a slice on each end's transfer thread, joined by a flow.
  std::int64_t flow = 0;
  for (const auto& t : rec.transfers()) {
    ++flow;
    const std::string args = fmt::format(R"("request":{},"bytes":{:.0f},"src_replica":{},"dst_replica":{})", t.request, t.bytes, t.src, t.dst);
    const std::string name = transfer_name(t.kind);
    for (const auto& [replica, dir] : {std::pair{t.src, "out"}, std::pair{t.dst, "in"}}) {
      ev.push_back(fmt::format(R"({{"ph":"X","cat":"kv_transfer","name":{},"pid":{},"tid":{},"ts":{},"dur":{},"args":{{{},"direction":"{}"}}}})",
                               json_string(fmt::format("{} {} r{}", name, std::string(dir) == "out" ? "to" : "from",
                                                       std::string(dir) == "out" ? t.dst : t.src)),
                               pid_of(replica), kTransferTidOffset + replica, us(t.start), us(std::max<SimTime>(0, t.end - t.start)), args, dir));
    }
    ev.push_back(fmt::format(R"({{"ph":"s","cat":"kv_transfer","name":"KV","id":{},"pid":{},"tid":{},"ts":{}}})", flow, pid_of(t.src),
                             kTransferTidOffset + t.src, us(t.start)));
    ev.push_back(fmt::format(R"({{"ph":"f","bp":"e","cat":"kv_transfer","name":"KV","id":{},"pid":{},"tid":{},"ts":{}}})", flow,
                             pid_of(t.dst), kTransferTidOffset + t.dst, us(t.start)));
  }
  // Request lifecycles (async, one track per request id). Events of one request are written
  // in time order; at one instant ends precede begins, inner ends precede outer ones, so
  // nesting is unambiguous to a reader that keeps file order for equal timestamps.
  std::map<RequestId, std::vector<const TraceRecorder::Preemption*>> pre;
  for (const auto& p : rec.preemptions()) pre[p.id].push_back(&p);
  enum Rank { kEndPreempted, kEndPhase, kBeginOuter, kBeginPhase, kBeginPreempted, kEndOuter };
  struct Ev {
    SimTime ts;
    int rank;
    std::string text;
  };
  std::vector<Ev> req;
  auto span = [&](RequestId id, const char* name, SimTime a, SimTime b, const std::string& args, Rank begin, Rank end_rank) {
    req.push_back({a, begin, fmt::format(R"({{"ph":"b","cat":"request","name":"{}","id":{},"pid":{},"tid":0,"ts":{}{}}})", name, id,
                                         requests_pid, us(a), args.empty() ? "" : ",\"args\":{" + args + "}")});
    req.push_back({b, end_rank, fmt::format(R"({{"ph":"e","cat":"request","name":"{}","id":{},"pid":{},"tid":0,"ts":{}}})", name, id, requests_pid, us(b))});
  };
  auto phase = [&](RequestId id, const char* name, SimTime a, SimTime b, const std::string& args = "") {
    if (b > a) span(id, name, a, b, args, kBeginPhase, kEndPhase);  // empty phases are left out
  };
  for (const RequestRecord& r : res.records) {
    const SimTime end = r.last_token >= 0 ? r.last_token : r.arrival;
    if (!w.overlaps(r.arrival, end)) continue;
    req.clear();
    span(r.id, "request", r.arrival, end,
         fmt::format(R"("prompt_tokens":{},"output_tokens":{},"replica":{},"decode_replica":{},"preemptions":{},"rejected":{})",
                     r.prompt_tokens, r.output_tokens, r.replica, r.decode_replica, r.preemptions, r.rejected ? "true" : "false"),
         kBeginOuter, kEndOuter);
    if (!r.rejected && r.first_scheduled >= 0) {
      phase(r.id, "queued", r.arrival, r.first_scheduled);
      const bool handed_off = r.decode_replica >= 0 && r.migrations == 0 && r.kv_transfer_ns > 0;
      const SimTime prefill_end = handed_off ? r.first_token - r.kv_transfer_ns : r.first_token;
      phase(r.id, "prefill", r.first_scheduled, prefill_end);
      if (handed_off) phase(r.id, "transferred", prefill_end, r.first_token, fmt::format(R"("kv_bytes":{:.0f})", r.kv_transfer_bytes));
      phase(r.id, "decode", r.first_token, r.last_token);
      if (auto it = pre.find(r.id); it != pre.end()) {
        for (const auto* p : it->second) {
          const SimTime until = p->resumed >= 0 ? p->resumed : end;
          if (until > p->at) span(r.id, "preempted", p->at, until, fmt::format(R"("replica":{})", p->replica), kBeginPreempted, kEndPreempted);
        }
      }
    }
    std::stable_sort(req.begin(), req.end(), [](const Ev& x, const Ev& y) { return x.ts != y.ts ? x.ts < y.ts : x.rank < y.rank; });
    for (auto& e : req) ev.push_back(std::move(e.text));
  }
  // Counters from the time series.
  for (const TimeSample& t : res.samples) {
    if (!w.overlaps(t.time, t.time)) continue;
    const double u = t.kv_capacity_tokens > 0 ? static_cast<double>(t.kv_used_tokens) / static_cast<double>(t.kv_capacity_tokens) : 0.0;
    ev.push_back(fmt::format(R"({{"ph":"C","name":"replica {} queue","pid":{},"ts":{},"args":{{"waiting":{},"running":{}}}}})", t.replica,
                             pid_of(t.replica), us(t.time), t.waiting, t.running));
    ev.push_back(fmt::format(R"({{"ph":"C","name":"replica {} KV use","pid":{},"ts":{},"args":{{"kv_used_tokens":{},"kv_utilization":{:.6f}}}}})",
                             t.replica, pid_of(t.replica), us(t.time), t.kv_used_tokens, u));
  }
  std::string out = "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"generator\":\"servesim run --timeline\"},\"traceEvents\":[\n";
  for (std::size_t i = 0; i < ev.size(); ++i) {
    out += ev[i];
    out += i + 1 < ev.size() ? ",\n" : "\n";
  }
  out += "]}\n";
  return out;
}

}  // namespace servesim::report
