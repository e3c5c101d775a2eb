#include "sim/search/plan_output.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"

namespace servesim::search {
namespace {

double latency(const CandidateResult& r) { return r.at_target.values.empty() ? 0 : r.at_target.values.front(); }

std::string status(const CandidateResult& r) {
  if (!r.fits) return "rejected";
  if (r.pruned) return "pruned";
  if (!r.reason.empty()) return "over_limit";
  return r.meets_target ? "meets_target" : "below_target";
}

std::string csv_text(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch == '\n' ? ' ' : ch);
  return q + "\"";
}

std::string metric_column(const SloTarget& t, const char* suffix) { return fmt::format("{}_p{:g}_{}_s", t.metric, t.percentile, suffix); }

// Table order: the ranked plans, then the rest by headroom (highest first), then candidate order.
std::vector<std::size_t> table_order(const PlanResult& result) {
  std::vector<std::size_t> order = result.ranking;
  std::vector<std::size_t> rest;
  for (const CandidateResult& r : result.candidates) {
    if (r.rank == 0) rest.push_back(r.c.index);
  }
  std::stable_sort(rest.begin(), rest.end(), [&](std::size_t a, std::size_t b) {
    const CandidateResult &x = result.candidates[a], &y = result.candidates[b];
    const bool sx = x.fits && x.reason.empty(), sy = y.fits && y.reason.empty();
    if (sx != sy) return sx;
    return x.headroom > y.headroom;
  });
  order.insert(order.end(), rest.begin(), rest.end());
  return order;
}

nlohmann::json record(const PlanConfig& plan, const CandidateResult& r) {
  nlohmann::json j;
  j["index"] = r.c.index;
  j["rank"] = r.rank;
  j["candidate"] = r.c.label();
  j["device"] = r.c.device;
  j["tp"] = r.c.tp;
  j["pp"] = r.c.pp;
  j["replicas"] = r.c.replicas;
  j["disaggregation"] = r.c.split.name();
  j["max_num_batched_tokens"] = r.c.max_num_batched_tokens;
  j["max_num_seqs"] = r.c.max_num_seqs;
  j["kv_cache_dtype"] = r.c.kv_cache_dtype;
  j["gpus"] = r.c.gpus();
  j["status"] = status(r);
  j["reason"] = r.reason;
  j["usd_per_gpu_hour"] = r.price;
  j["usd_per_hour"] = r.usd_per_hour;
  j["max_rate"] = r.max_rate;
  j["max_rate_capped"] = r.capped;
  j["headroom"] = r.headroom;
  j["meets_target"] = r.meets_target;
  j["replicas_for_target"] = r.replicas_for_target;
  j["usd_per_m_output_tokens"] = r.usd_per_m_output_tokens;
  j["usd_per_m_output_tokens_at_capacity"] = r.usd_per_m_output_tokens_at_capacity;
  j["pareto_cost_latency"] = r.pareto_latency;
  j["pareto_cost_headroom"] = r.pareto_headroom;
  j["simulations"] = r.simulations;
  j["early_stops"] = r.early_stops;
  if (r.fits && r.reason.empty()) {
    j["at_max_rate"] = r.at_max.to_json();
    if (r.meets_target) j["at_target_rate"] = r.at_target.to_json();
  }
  (void)plan;
  return j;
}

}  // namespace

nlohmann::json RunOutcome::to_json() const {
  return {{"rate", rate},
          {"requests", requests},
          {"pass", pass},
          {"slo_values_s", values},
          {"goodput", goodput},
          {"output_tokens_per_s", output_tokens_per_s},
          {"j_per_output_token", j_per_output_token},
          {"mean_power_w", mean_power_w},
          {"run_usd_per_m_output_tokens", run_usd_per_m_output_tokens}};
}

void rank_plans(const PlanConfig& plan, PlanResult& result) {
  (void)plan;
  std::vector<std::size_t>& rk = result.ranking;
  rk.clear();
  for (const CandidateResult& r : result.candidates) {
    if (r.meets_target) rk.push_back(r.c.index);
  }
  auto& c = result.candidates;
  std::stable_sort(rk.begin(), rk.end(), [&](std::size_t a, std::size_t b) {
    if (c[a].usd_per_hour != c[b].usd_per_hour) return c[a].usd_per_hour < c[b].usd_per_hour;
    return latency(c[a]) < latency(c[b]);
  });
  for (std::size_t i = 0; i < rk.size(); ++i) c[rk[i]].rank = static_cast<std::int64_t>(i + 1);
  // Pareto: nobody is at most as costly and at least as good on the other axis, better on one.
  for (std::size_t a : rk) {
    bool dom_lat = false, dom_head = false;
    for (std::size_t b : rk) {
      if (a == b) continue;
      const bool cheaper_eq = c[b].usd_per_hour <= c[a].usd_per_hour, cheaper = c[b].usd_per_hour < c[a].usd_per_hour;
      if (cheaper_eq && latency(c[b]) <= latency(c[a]) && (cheaper || latency(c[b]) < latency(c[a]))) dom_lat = true;
      if (cheaper_eq && c[b].headroom >= c[a].headroom && (cheaper || c[b].headroom > c[a].headroom)) dom_head = true;
    }
    c[a].pareto_latency = !dom_lat;
    c[a].pareto_headroom = !dom_head;
  }
}

std::vector<std::pair<std::string, std::string>> plan_files(const PlanConfig& plan, const PlanResult& result,
                                                            const std::string& prices_path) {
  std::vector<std::pair<std::string, std::string>> files;
  const std::vector<std::size_t> order = table_order(result);
  std::string csv =
      "rank,candidate,device,tp,pp,replicas,disaggregation,max_num_batched_tokens,max_num_seqs,kv_cache_dtype,gpus,status,"
      "usd_per_gpu_hour,usd_per_hour,max_rate,max_rate_capped,headroom,meets_target,replicas_for_target";
  for (const SloTarget& t : plan.slo.targets) csv += fmt::format(",{}", metric_column(t, "at_target"));
  csv += ",usd_per_m_output_tokens,usd_per_m_output_tokens_at_capacity,j_per_output_token_at_target,mean_power_w_at_target,"
         "run_usd_per_m_output_tokens_at_target,j_per_output_token_at_capacity,pareto_cost_latency,pareto_cost_headroom,"
         "simulations,early_stops,reason\n";
  std::string jsonl;
  for (std::size_t i : order) {
    const CandidateResult& r = result.candidates[i];
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{:.4f},{:.4f},{:.6g},{},{:.6g},{},{}", r.rank, csv_text(r.c.label()),
                       r.c.device, r.c.tp, r.c.pp, r.c.replicas, r.c.split.name(), r.c.max_num_batched_tokens, r.c.max_num_seqs,
                       r.c.kv_cache_dtype, r.c.gpus(), status(r), r.price, r.usd_per_hour, r.max_rate, r.capped ? 1 : 0,
                       r.headroom, r.meets_target ? 1 : 0, r.replicas_for_target);
    for (std::size_t k = 0; k < plan.slo.targets.size(); ++k) {
      csv += r.meets_target ? fmt::format(",{:.6g}", r.at_target.values.at(k)) : std::string(",");
    }
    csv += fmt::format(",{:.4f},{:.4f}", r.usd_per_m_output_tokens, r.usd_per_m_output_tokens_at_capacity);
    csv += r.meets_target ? fmt::format(",{:.6g},{:.6g},{:.4f}", r.at_target.j_per_output_token, r.at_target.mean_power_w,
                                        r.at_target.run_usd_per_m_output_tokens)
                          : std::string(",,,");
    csv += r.max_rate > 0 ? fmt::format(",{:.6g}", r.at_max.j_per_output_token) : std::string(",");
    csv += fmt::format(",{},{},{},{},{}\n", r.pareto_latency ? 1 : 0, r.pareto_headroom ? 1 : 0, r.simulations, r.early_stops,
                       csv_text(r.reason));
    jsonl += record(plan, r).dump() + "\n";
  }
  files.emplace_back("plans.csv", csv);
  files.emplace_back("plans.jsonl", jsonl);
  nlohmann::json pareto = {{"cost_vs_latency", nlohmann::json::array()}, {"cost_vs_headroom", nlohmann::json::array()}};
  pareto["latency_metric"] = plan.slo.targets.empty() ? "" : metric_column(plan.slo.targets.front(), "at_target");
  for (std::size_t i : result.ranking) {
    const CandidateResult& r = result.candidates[i];
    const nlohmann::json p = {{"candidate", r.c.label()}, {"index", i}, {"rank", r.rank}, {"usd_per_hour", r.usd_per_hour},
                              {"latency_s", latency(r)}, {"headroom", r.headroom},
                              {"usd_per_m_output_tokens", r.usd_per_m_output_tokens},
                              {"j_per_output_token", r.at_target.j_per_output_token},
                              {"mean_power_w", r.at_target.mean_power_w}};
    if (r.pareto_latency) pareto["cost_vs_latency"].push_back(p);
    if (r.pareto_headroom) pareto["cost_vs_headroom"].push_back(p);
  }
  files.emplace_back("pareto.json", pareto.dump(2) + "\n");
  if (!result.ranking.empty()) {
    const CandidateResult& best = result.candidates[result.ranking.front()];
    files.emplace_back("best_scenario.json",
                       candidate_scenario(plan, best.c, plan.target_rate, window_requests(plan.search, plan.target_rate, true),
                                          result.native_trace_rate, ScenarioUse::kBest)
                               .dump(2) +
                           "\n");
  }
  nlohmann::json resolved = plan.resolved;
  resolved["prices_file"] = prices_path;
  files.emplace_back("plan.json", resolved.dump(2) + "\n");
  return files;
}

std::string plan_summary(const PlanConfig& plan, const PlanResult& result) {
  std::size_t rejected = 0, searched = 0, pruned = 0;
  for (const CandidateResult& r : result.candidates) (r.pruned ? pruned : r.fits && r.reason.empty() ? searched : rejected)++;
  std::string s = fmt::format(
      "plan {}: {} candidates ({} searched, {} rejected by memory, plan or limits, {} pruned), {} simulations\n", plan.name,
      result.candidates.size(), searched, rejected, pruned, result.simulations);
  s += fmt::format("SLO {} at {:g} req/s: {} candidate{} meet it\n", slo_text(plan.slo), plan.target_rate, result.ranking.size(),
                   result.ranking.size() == 1 ? "" : "s");
  const std::size_t shown = std::min<std::size_t>(result.ranking.size(), 5);
  for (std::size_t k = 0; k < shown; ++k) {
    const CandidateResult& r = result.candidates[result.ranking[k]];
    s += fmt::format("{} {:>2}. {:<55} {:>3} GPUs ${:>8.2f}/h  max {:>7.3g} req/s (+{:.0f}%)  {} {:.3g} s  ${:.3f}/M out tok  "
                     "{:.3g} J/tok  {:.3g} kW{}{}\n",
                     k == 0 ? "*" : " ", r.rank, r.c.label(), r.c.gpus(), r.usd_per_hour, r.max_rate, r.headroom * 100,
                     metric_column(plan.slo.targets.front(), "at_target"), latency(r), r.usd_per_m_output_tokens,
                     r.at_target.j_per_output_token, r.at_target.mean_power_w / 1e3,
                     r.pareto_latency ? "  [pareto latency]" : "", r.pareto_headroom ? "  [pareto headroom]" : "");
  }
  return s;
}

std::string no_plan_message(const PlanConfig& plan, const PlanResult& result) {
  const CandidateResult* closest = nullptr;
  const CandidateResult* first_rejected = nullptr;
  for (const CandidateResult& r : result.candidates) {
    if (first_rejected == nullptr && !r.reason.empty()) first_rejected = &r;
    if (!r.fits || !r.reason.empty()) continue;
    if (closest == nullptr || r.max_rate > closest->max_rate) closest = &r;
  }
  std::string s = fmt::format("none of {} candidates meets {} at {:g} req/s", result.candidates.size(), slo_text(plan.slo), plan.target_rate);
  if (closest == nullptr) {
    return s + fmt::format("; every candidate was rejected before simulation (memory, plan or limits), e.g. {}: {}",
                           first_rejected->c.label(), quoted_value(first_rejected->reason, 160));
  }
  if (closest->max_rate <= 0) return s + fmt::format("; none sustains even search.min_rate {:g} req/s", plan.search.min_rate);
  return s + fmt::format("; the closest is {} ({} GPUs, ${:.2f}/h), sustaining {:.3g} req/s ({:.0f}% of the target; about {} replicas "
                         "of it would be needed)",
                         closest->c.label(), closest->c.gpus(), closest->usd_per_hour, closest->max_rate,
                         100 * closest->max_rate / plan.target_rate, closest->replicas_for_target);
}

}  // namespace servesim::search
