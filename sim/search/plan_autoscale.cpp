// Static vs autoscaled plans over a day (plan_autoscale.h).
#include "sim/search/plan_autoscale.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "sim/core/error.h"
#include "sim/report/output.h"
#include "sim/search/plan_eval.h"

namespace servesim::search {
namespace {

std::string metric_column(const SloTarget& t) { return fmt::format("{}_p{:g}_s", t.metric, t.percentile); }

// The run's autoscale pool object (null for a static run).
const nlohmann::json* scaled_pool(const DayRun& r) {
  if (!r.outcome.autoscale.is_object()) return nullptr;
  const nlohmann::json& pools = r.outcome.autoscale.at("pools");
  return pools.empty() ? nullptr : &pools.front();
}

// "queue_length target_outstanding=32, replicas 1..8, scale-down window 300.000 s"
std::string policy_text(const nlohmann::json& settings) {
  const nlohmann::json& pol = settings.at("policy");
  std::string knobs;
  for (const auto& [k, v] : pol.items()) {
    if (k == "impl") continue;
    knobs += fmt::format("{}{}={}", knobs.empty() ? "" : " ", k, v.is_number_float() ? fmt::format("{:g}", v.get<double>()) : v.dump());
  }
  return fmt::format("{} {}, replicas {}..{}, scale-down window {}", pol.at("impl").get<std::string>(), knobs,
                     settings.at("min_replicas").get<std::int64_t>(), settings.at("max_replicas").get<std::int64_t>(),
                     settings.at("scale_down_cooldown").get<std::string>());
}

}  // namespace

std::string DayRun::label() const { return policy < 0 ? "static" : fmt::format("policy {}", policy + 1); }

nlohmann::json day_scenario(const PlanConfig& plan, const Candidate& c, std::int64_t policy, double native_trace_rate) {
  const DayKnobs& d = plan.day;
  nlohmann::json s = candidate_scenario(plan, c, plan.target_rate, 1, native_trace_rate, ScenarioUse::kMeasured);
  s["name"] = plan.name + (policy < 0 ? "-day-static" : fmt::format("-day-policy{}", policy + 1));
  if (!d.trace.empty()) {
    s["workload"] = d.trace;
  } else {
    const TrafficConfig& t = plan.traffic;
    s["workload"] = {{"impl", "synthetic"},
                     {"arrival", t.arrival},
                     {"rate", plan.target_rate / (1 + d.amplitude)},
                     {"num_requests", 0},
                     {"duration", to_seconds(d.duration)},
                     {"diurnal_amplitude", d.amplitude},
                     {"diurnal_period", to_seconds(d.period)},
                     {"prompt", t.prompt},
                     {"output", t.output}};
    if (t.arrival == "gamma") s["workload"]["cv"] = t.cv;
  }
  if (policy >= 0) {
    nlohmann::json a = d.policies.at(static_cast<std::size_t>(policy));
    const std::int64_t min = a.value("min_replicas", std::int64_t{1});
    if (!a.contains("max_replicas")) a["max_replicas"] = std::max(min, c.replicas);
    s["replicas"] = min;
    s["autoscale"] = a;
  }
  return s;
}

std::vector<DayRun> run_day_comparison(const PlanConfig& plan, const PlanResult& result, const std::shared_ptr<Catalog>& catalog,
                                       const SearchOptions& options) {
  std::vector<DayRun> runs;
  if (!plan.day.enabled) return runs;
  std::int64_t taken = 0;
  for (std::size_t i : result.ranking) {
    const CandidateResult& r = result.candidates[i];
    if (r.c.split.disaggregated()) continue;
    if (taken++ == plan.day.plans) break;
    for (std::int64_t p = -1; p < static_cast<std::int64_t>(plan.day.policies.size()); ++p) {
      DayRun run;
      run.candidate = i;
      run.plan_rank = r.rank;
      run.policy = p;
      run.scenario = day_scenario(plan, r.c, p, result.native_trace_rate);
      runs.push_back(std::move(run));
    }
  }
  const std::string source = plan.source + " (day scenario)";
  auto one = [&](std::size_t k) {
    DayRun& run = runs[k];
    if (options.cancelled && options.cancelled()) throw Cancelled("plan search stopped; nothing was written");
    run.outcome = simulate_and_judge(run.scenario, plan.target_rate, 0, plan.slo, false, catalog, source, options.cancelled);
    run.usd = run.outcome.gpu_hours * result.candidates[run.candidate].price;
  };
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, runs.size(), 1), [&](const tbb::blocked_range<std::size_t>& range) {
      for (std::size_t k = range.begin(); k != range.end(); ++k) one(k);
    });
  });
  return runs;
}

std::vector<std::pair<std::string, std::string>> day_files(const PlanConfig& plan, const PlanResult& result,
                                                           const std::vector<DayRun>& runs) {
  if (runs.empty()) return {};
  std::string csv = "plan_rank,candidate,run,policy,min_replicas,max_replicas,gpu_hours,usd,usd_saving_vs_static,slo_attainment";
  for (const SloTarget& t : plan.slo.targets) {
    csv += ',';
    csv += metric_column(t);
  }
  csv += ",meets_slos,cold_starts,mean_replicas,peak_replicas\n";
  std::string jsonl;
  double static_usd = 0;
  for (const DayRun& r : runs) {
    const Candidate& c = result.candidates[r.candidate].c;
    if (r.policy < 0) static_usd = r.usd;
    const nlohmann::json* pool = scaled_pool(r);
    const std::int64_t min = pool ? pool->at("settings").at("min_replicas").get<std::int64_t>() : c.replicas;
    const std::int64_t max = pool ? pool->at("settings").at("max_replicas").get<std::int64_t>() : c.replicas;
    const std::string policy = pool ? policy_text(pool->at("settings")) : "none";
    const double saving = static_usd > 0 ? 1 - r.usd / static_usd : 0.0;
    csv += fmt::format("{},{},{},{},{},{},{:.4f},{:.4f},{:.4f},{:.4f}", r.plan_rank, csv_field(c.label()), r.label(), csv_field(policy), min,
                       max, r.outcome.gpu_hours, r.usd, saving, r.outcome.goodput);
    for (double v : r.outcome.values) csv += fmt::format(",{:.6g}", v);
    csv += fmt::format(",{},{},{:.4f},{}\n", r.outcome.pass ? 1 : 0, pool ? pool->at("cold_starts").get<std::int64_t>() : 0,
                       pool ? pool->at("mean_replicas").get<double>() : static_cast<double>(c.replicas),
                       pool ? pool->at("peak_provisioned").get<std::int64_t>() : c.replicas);
    nlohmann::json j = {{"plan_rank", r.plan_rank}, {"candidate", c.label()}, {"run", r.label()},       {"policy", policy},
                        {"gpu_hours", r.outcome.gpu_hours}, {"usd", r.usd}, {"usd_saving_vs_static", saving},
                        {"slo_attainment", r.outcome.goodput}, {"meets_slos", r.outcome.pass}, {"slo_values_s", r.outcome.values},
                        {"output_tokens_per_s", r.outcome.output_tokens_per_s}, {"autoscale", pool ? *pool : nlohmann::json(nullptr)},
                        {"scenario", r.scenario}};
    jsonl += j.dump() + "\n";
  }
  return {{"autoscale.csv", csv}, {"autoscale.jsonl", jsonl}};
}

std::string day_summary(const PlanConfig& plan, const PlanResult& result, const std::vector<DayRun>& runs) {
  if (runs.empty()) return plan.day.enabled ? "over the day: no colocated plan meets the target, nothing compared\n" : "";
  const DayKnobs& d = plan.day;
  std::string s = d.trace.empty() ? fmt::format("over a day of {:g} s (mean {:.3g} req/s, peak {:g} req/s, diurnal amplitude {:g}):\n",
                                                to_seconds(d.duration), plan.target_rate / (1 + d.amplitude), plan.target_rate, d.amplitude)
                                  : std::string("over the day's trace:\n");
  double static_usd = 0;
  for (const DayRun& r : runs) {
    const Candidate& c = result.candidates[r.candidate].c;
    if (r.policy < 0) {
      static_usd = r.usd;
      s += fmt::format("  plan {}: {}\n", r.plan_rank, c.label());
    }
    const nlohmann::json* pool = scaled_pool(r);
    s += fmt::format("    {:<9} {:7.3f} GPU-h  ${:8.2f}{}  SLO attainment {:6.2f}%  {}  {}\n", r.label(), r.outcome.gpu_hours, r.usd,
                     r.policy < 0 || static_usd <= 0 ? std::string(9, ' ') : fmt::format(" ({:+4.0f}%)", 100 * (r.usd / static_usd - 1)),
                     100 * r.outcome.goodput, r.outcome.pass ? "meets SLOs" : "misses SLOs",
                     pool ? policy_text(pool->at("settings")) : fmt::format("{} replicas all day", c.replicas));
  }
  return s;
}

}  // namespace servesim::search
