#include "sim/search/plan_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/core/error.h"
#include "sim/metrics/stats.h"
#include "sim/serving/catalog.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "sim/workload/i_workload.h"

namespace servesim::search {
namespace {

// A value standing for "never" (a rejected request's latency), finite so percentiles stay numbers.
constexpr double kNever = 1e30;

// Times by which requests must have finished for the SLOs to be met (sorted), and how many
// requests missing them make the SLOs certainly broken.
struct Deadline {
  std::vector<SimTime> times;
  std::int64_t fatal = 0;
};

// A request meeting every bound finishes by arrival + e2e, and by arrival + ttft +
// (output - 1) * tpot. Percentile verdicts: the e2e one fails once k_e2e requests miss their
// e2e deadline; a miss of the ttft+tpot deadline is a miss of ttft or of tpot, so
// k_ttft + k_tpot - 1 such misses force one of them over its certain count. The goodput
// verdict fails once more than n(1 - g) requests miss the earlier deadline.
std::vector<Deadline> deadlines(const ScenarioConfig& cfg, const SloConfig& slo, const std::shared_ptr<Catalog>& catalog) {
  SimTime ttft = 0, tpot = 0, e2e = 0;
  std::int64_t miss_ttft = 0, miss_tpot = 0, miss_e2e = 0;
  std::vector<std::pair<SimTime, std::int32_t>> reqs;
  auto workload = WorkloadRegistry::get().make(cfg.workload, WorkloadDeps{cfg.seed, catalog->data_dir(), cfg.source + ": workload"});
  while (auto r = workload->next()) reqs.emplace_back(r->arrival, r->output_tokens);
  const auto n = static_cast<std::int64_t>(reqs.size());
  for (const SloTarget& t : slo.targets) {
    const std::int64_t k = certain_miss_count(n, t.percentile);
    if (t.metric == "ttft") ttft = t.bound, miss_ttft = k;
    if (t.metric == "tpot") tpot = t.bound, miss_tpot = k;
    if (t.metric == "e2e") e2e = t.bound, miss_e2e = k;
  }
  const bool pair = ttft > 0 && tpot > 0;
  auto pair_time = [&](SimTime arrival, std::int32_t out) {
    return arrival + ttft + static_cast<SimTime>(std::max(0, out - 1)) * tpot;
  };
  std::vector<Deadline> out;
  if (slo.goodput > 0) {
    if (!pair && e2e == 0) return out;
    Deadline d;
    d.fatal = static_cast<std::int64_t>(std::floor(static_cast<double>(n) * (1 - slo.goodput))) + 1;
    for (const auto& [a, o] : reqs) d.times.push_back(std::min(e2e > 0 ? a + e2e : INT64_MAX, pair ? pair_time(a, o) : INT64_MAX));
    out.push_back(std::move(d));
  } else {
    if (e2e > 0) {
      Deadline d;
      d.fatal = miss_e2e;
      for (const auto& [a, o] : reqs) d.times.push_back(a + e2e);
      out.push_back(std::move(d));
    }
    if (pair) {
      Deadline d;
      d.fatal = miss_ttft + miss_tpot - 1;
      for (const auto& [a, o] : reqs) d.times.push_back(pair_time(a, o));
      out.push_back(std::move(d));
    }
  }
  for (Deadline& d : out) std::sort(d.times.begin(), d.times.end());
  return out;
}

}  // namespace

bool RateSearch::passes(double rate, bool full) {
  RunOutcome o = run(rate, full);
  if (full && o.pass && o.rate > best_full.rate) best_full = o;
  return o.pass;
}

double RateSearch::operator()(double guess) {
  const bool full_only = k.short_requests == 0;
  double lo = 0, hi = 0;  // lo passes (0: none yet); hi fails (0: none yet)
  double r = std::clamp(guess, k.min_rate, k.max_rate);
  for (;;) {
    if (passes(r, full_only)) {
      lo = r;
      if (hi > 0 || r >= k.max_rate) break;
      r = std::min(r * 2, k.max_rate);
    } else {
      hi = r;
      if (lo > 0) break;
      if (r <= k.min_rate) return 0;
      r = std::max(r / 2, k.min_rate);
    }
  }
  auto bisect = [&](bool full) {
    while (hi > 0 && hi / lo > 1 + k.tolerance) {
      const double m = std::sqrt(lo * hi);
      if (passes(m, full)) lo = m; else hi = m;
    }
  };
  bisect(full_only);
  if (!full_only) {
    // Confirm on the full window; step down until it passes there, then bisect there.
    while (!passes(lo, true)) {
      hi = lo;
      lo = lo / (1 + 4 * k.tolerance);
      if (lo < k.min_rate) return 0;
    }
    bisect(true);
  }
  capped = hi == 0 && lo >= k.max_rate;
  return lo;
}

std::int64_t certain_miss_count(std::int64_t n, double percentile) {
  if (n <= 0) return 1;
  const double rank = percentile / 100.0 * static_cast<double>(n - 1);
  // Sorted ascending, misses occupy the top k ranks; floor(rank) among them means both
  // interpolation points miss.
  return n - static_cast<std::int64_t>(std::floor(rank));
}

RunOutcome simulate_and_judge(const nlohmann::json& scenario, double rate, std::int64_t requests, const SloConfig& slo,
                              bool early_stop, const std::shared_ptr<Catalog>& catalog, const std::string& source,
                              const std::function<bool()>& cancelled) {
  RunOutcome out;
  out.rate = rate;
  out.requests = requests;
  const ScenarioConfig cfg = parse_scenario(scenario, source);
  std::vector<Deadline> dl;
  if (early_stop) dl = deadlines(cfg, slo, catalog);
  Simulation sim(cfg, catalog);
  RunControl control;
  bool broken = false;
  if (!dl.empty()) {
    control.progress = [&](const RunProgress& p) {
      for (const Deadline& d : dl) {
        const auto due = static_cast<std::int64_t>(std::lower_bound(d.times.begin(), d.times.end(), p.now) - d.times.begin());
        if (due - p.requests_done >= d.fatal) broken = true;
      }
      // Stop here (the next poll may never come): the same unwinding as a cancel.
      if (broken) throw Cancelled("an SLO is certainly broken");
    };
  }
  control.cancelled = [&] { return broken || (cancelled && cancelled()); };
  SimResult res;
  try {
    res = sim.run(control);
  } catch (const Cancelled&) {
    if (!broken) throw;
    out.stopped_early = true;
    out.values.assign(slo.targets.size(), kNever);
    return out;
  }
  std::vector<std::vector<double>> values(slo.targets.size());
  std::int64_t good = 0;
  for (const RequestRecord& r : res.records) {
    bool ok = true;
    for (std::size_t i = 0; i < slo.targets.size(); ++i) {
      const SloTarget& t = slo.targets[i];
      double v;
      if (r.rejected || r.first_token < 0) {
        v = kNever;
      } else if (t.metric == "ttft") {
        v = to_seconds(r.ttft());
      } else if (t.metric == "e2e") {
        v = to_seconds(r.e2e());
      } else {
        if (!r.has_tpot()) continue;  // one output token: no TPOT (DESIGN.md)
        v = r.tpot_ns() * 1e-9;
      }
      values[i].push_back(v);
      if (v > to_seconds(t.bound)) ok = false;
    }
    good += ok ? 1 : 0;
  }
  const auto n = static_cast<double>(res.records.size());
  out.goodput = n > 0 ? static_cast<double>(good) / n : 0;
  out.pass = true;
  for (std::size_t i = 0; i < slo.targets.size(); ++i) {
    std::sort(values[i].begin(), values[i].end());
    out.values.push_back(percentile_sorted(values[i], slo.targets[i].percentile));
    if (slo.goodput == 0 && out.values.back() > to_seconds(slo.targets[i].bound)) out.pass = false;
  }
  if (slo.goodput > 0) out.pass = out.goodput >= slo.goodput;
  out.output_tokens_per_s = res.summary["throughput"]["output_tokens_per_s"].get<double>();
  // Energy and money exactly as summary.json reports them (sim/metrics/energy.*), not recomputed.
  const nlohmann::json& energy = res.summary.at("energy");
  out.j_per_output_token = energy.at("j_per_output_token").get<double>();
  out.mean_power_w = energy.at("mean_power_w").get<double>();
  const nlohmann::json& cost = res.summary.at("cost");
  if (cost.value("available", false)) out.run_usd_per_m_output_tokens = cost.at("usd_per_million_output_tokens").get<double>();
  if (cost.value("available", false)) {
    // A fixed count: run_usd = usd_per_hour x hours, so the hours are their ratio (cost_summary).
    const double per_hour = cost.at("usd_per_hour").get<double>();
    double gpus = 0;
    for (const nlohmann::json& pr : cost.at("prices")) gpus += pr.at("gpus").get<double>();
    out.gpu_hours = cost.contains("gpu_hours") ? cost.at("gpu_hours").get<double>()
                                               : (per_hour > 0 ? cost.at("run_usd").get<double>() / per_hour * gpus : 0.0);
  }
  if (res.summary.contains("autoscale")) out.autoscale = res.summary.at("autoscale");
  return out;
}

}  // namespace servesim::search
