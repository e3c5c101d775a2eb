#include "sim/metrics/metrics.h"

#include <algorithm>
#include <malloc.h>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace servesim {

bool Slo::met(const RequestRecord& r) const {
  if (r.rejected) return false;
  if (ttft > 0 && r.ttft() > ttft) return false;
  if (e2e > 0 && r.e2e() > e2e) return false;
  if (tpot > 0 && r.has_tpot() && r.tpot_ns() > static_cast<double>(tpot)) return false;
  return true;
}

void MetricsCollector::on_token(const Request& r) {
  if (r.prev_token >= 0) itl_.add(r.last_token - r.prev_token);
}

void MetricsCollector::on_finish(const Request& r) {
  RequestRecord rec;
  rec.id = r.spec.id;
  rec.replica = r.replica;
  rec.arrival = r.spec.arrival;
  rec.prompt_tokens = r.spec.prompt_tokens;
  rec.output_tokens = r.spec.output_tokens;
  rec.client = r.spec.client;
  rec.priority = r.spec.priority;
  rec.first_scheduled = r.first_scheduled;
  rec.first_token = r.first_token;
  rec.last_token = r.last_token;
  rec.preemptions = r.preemptions;
  rec.cached_prefix_tokens = r.cached_prefix_tokens;
  rec.decode_replica = r.decode_replica;
  rec.migrations = r.migrations;
  rec.kv_transfer_ns = r.kv_transfer_ns;
  rec.kv_transfer_bytes = r.kv_transfer_bytes;
  rec.session = r.spec.session;
  rec.call = r.spec.call;
  records_.push_back(rec);
}

void MetricsCollector::on_reject(const Request& r) {
  RequestRecord rec;
  rec.id = r.spec.id;
  rec.arrival = r.spec.arrival;
  rec.prompt_tokens = r.spec.prompt_tokens;
  rec.output_tokens = r.spec.output_tokens;
  rec.rejected = true;
  rec.client = r.spec.client;
  rec.priority = r.spec.priority;
  rec.session = r.spec.session;
  rec.call = r.spec.call;
  records_.push_back(rec);
}

// glibc keeps freed blocks resident; malloc_trim returns every whole free page.
void release_free_memory() { ::malloc_trim(0); }

void MetricsCollector::on_step(std::int64_t num_seqs, std::int64_t num_tokens, SimTime duration) {
  ++steps_;
  step_seqs_ += num_seqs;
  step_tokens_ += num_tokens;
  busy_ += duration;
}

nlohmann::json MetricsCollector::summary(const Slo& slo) const {
  std::int64_t done = 0, rejected = 0, out_tokens = 0, in_tokens = 0, preemptions = 0, restarted = 0, cached = 0, good = 0;
  SimTime t_begin = kTimeMax, t_end = 0;
  records_.for_each([&](const RequestRecord& r) {
    t_begin = std::min(t_begin, r.arrival);
    if (r.rejected) {
      ++rejected;
      return;
    }
    ++done;
    t_end = std::max(t_end, r.last_token);
    out_tokens += r.output_tokens;
    in_tokens += r.prompt_tokens;
    preemptions += r.preemptions;
    restarted += r.preemptions > 0 ? 1 : 0;
    cached += r.cached_prefix_tokens;
    good += slo.met(r) ? 1 : 0;
  });
  // One column of doubles at a time (a run of millions of requests holds one, not four),
  // in the records' order, as each distribution's summary has always been computed.
  std::vector<double> col;
  col.reserve(static_cast<std::size_t>(done));
  const auto dist = [&](auto value_of, bool (*has)(const RequestRecord&)) {
    col.clear();
    records_.for_each([&](const RequestRecord& r) {
      if (!r.rejected && has(r)) col.push_back(value_of(r));
    });
    return to_json(summarize(col));
  };
  const auto always = [](const RequestRecord&) { return true; };
  const auto tpot_defined = [](const RequestRecord& r) { return r.has_tpot(); };
  const nlohmann::json ttft_j = dist([](const RequestRecord& r) { return to_seconds(r.ttft()); }, always);
  const nlohmann::json tpot_j = dist([](const RequestRecord& r) { return r.tpot_ns() * 1e-9; }, tpot_defined);
  const nlohmann::json e2e_j = dist([](const RequestRecord& r) { return to_seconds(r.e2e()); }, always);
  const nlohmann::json queue_j = dist([](const RequestRecord& r) { return to_seconds(r.queueing()); }, always);
  col = std::vector<double>();
  const double window = done > 0 ? to_seconds(t_end - t_begin) : 0.0;
  const auto rate = [&](double x) { return window > 0 ? x / window : 0.0; };
  Summary itl = itl_.summary();
  nlohmann::json itl_j = to_json(itl);
  for (const char* k : {"mean", "p50", "p90", "p99", "min", "max"}) itl_j[k] = itl_j[k].get<double>() * 1e-9;
  nlohmann::json j = {
      {"requests", {{"completed", done}, {"rejected", rejected}, {"preemptions", preemptions}, {"preempted_requests", restarted}}},
      {"window_s", window},
      {"ttft_s", ttft_j},
      {"tpot_s", tpot_j},
      {"itl_s", itl_j},
      {"e2e_s", e2e_j},
      {"queueing_s", queue_j},
      {"throughput",
       {{"requests_per_s", rate(static_cast<double>(done))},
        {"output_tokens_per_s", rate(static_cast<double>(out_tokens))},
        {"total_tokens_per_s", rate(static_cast<double>(out_tokens + in_tokens))}}},
      {"tokens", {{"prompt", in_tokens}, {"output", out_tokens}, {"prefix_cached", cached}}},
      {"steps", {{"count", steps_}, {"mean_batch_seqs", steps_ ? static_cast<double>(step_seqs_) / steps_ : 0.0},
                 {"mean_batch_tokens", steps_ ? static_cast<double>(step_tokens_) / steps_ : 0.0},
                 {"busy_s", to_seconds(busy_)}}},
  };
  if (slo.any()) {
    j["goodput"] = {{"requests_per_s", rate(static_cast<double>(good))},
                    {"fraction", done + rejected > 0 ? static_cast<double>(good) / static_cast<double>(done + rejected) : 0.0}};
  }
  // KV utilisation over time, summarised (full series in timeseries.csv).
  std::vector<double> util;
  samples_.for_each([&](const TimeSample& s) {
    if (s.kv_capacity_tokens > 0) util.push_back(static_cast<double>(s.kv_used_tokens) / static_cast<double>(s.kv_capacity_tokens));
  });
  j["kv_utilization"] = to_json(summarize(util));
  add_client_summary(j);
  add_program_summary(j);
  return j;
}

void MetricsCollector::add_program_summary(nlohmann::json& j) const {
  // Closed-loop sessions (agent programs, chat sessions), only when the workload has them:
  // job completion time = the last call's last token - the first call's arrival, over
  // programs whose every call completed (a rejected call ends its program: it counts in
  // `incomplete`).
  struct Prog {
    SimTime start = kTimeMax, end = 0;
    std::int64_t calls = 0;
    bool rejected = false;
  };
  std::map<std::int64_t, Prog> progs;
  records_.for_each([&](const RequestRecord& r) {
    if (r.call < 0) return;
    Prog& p = progs[r.session];
    ++p.calls;
    if (r.call == 0) p.start = r.arrival;
    if (r.rejected) {
      p.rejected = true;
      return;
    }
    p.end = std::max(p.end, r.last_token);
  });
  if (progs.empty()) return;
  std::vector<double> jct;
  std::int64_t incomplete = 0, calls = 0;
  for (const auto& [id, p] : progs) {
    calls += p.calls;
    if (p.rejected || p.start == kTimeMax) {
      ++incomplete;
      continue;
    }
    jct.push_back(to_seconds(p.end - p.start));
  }
  j["programs"] = {{"completed", static_cast<std::int64_t>(jct.size())},
                   {"incomplete", incomplete},
                   {"calls", calls},
                   {"jct_s", to_json(summarize(jct))}};
}

void MetricsCollector::add_client_summary(nlohmann::json& j) const {
  // Per client (only when the workload has more than one): completed requests, tokens
  // served, TTFT and TPOT (each request's mean time between tokens) distributions.
  struct Acc {
    std::vector<double> ttft, tpot;
    std::int64_t done = 0, rejected = 0, in_tokens = 0, out_tokens = 0;
    std::int32_t priority = 0;
  };
  // Most runs have one client: say so before holding any per-request values.
  bool one_client = true;
  records_.for_each([&](const RequestRecord& r) { one_client = one_client && r.client == records_.front().client; });
  if (one_client) return;
  std::map<std::int32_t, Acc> by_client;
  records_.for_each([&](const RequestRecord& r) {
    Acc& a = by_client[r.client];
    a.priority = r.priority;
    if (r.rejected) {
      ++a.rejected;
      return;
    }
    ++a.done;
    a.in_tokens += r.prompt_tokens;
    a.out_tokens += r.output_tokens;
    a.ttft.push_back(to_seconds(r.ttft()));
    if (r.has_tpot()) a.tpot.push_back(r.tpot_ns() * 1e-9);
  });
  if (by_client.size() < 2) return;
  nlohmann::json cj = nlohmann::json::object();
  for (auto& [client, a] : by_client) {
    cj[std::to_string(client)] = {{"priority", a.priority},
                                  {"completed", a.done},
                                  {"rejected", a.rejected},
                                  {"tokens", {{"prompt", a.in_tokens}, {"output", a.out_tokens}}},
                                  {"ttft_s", to_json(summarize(a.ttft))},
                                  {"tpot_s", to_json(summarize(a.tpot))}};
  }
  j["clients"] = cj;
}

}  // namespace servesim
