#include "sim/search/plan_mix.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "sim/core/error.h"
#include "sim/search/plan_eval.h"
#include "sim/serving/catalog.h"
#include "sim/workload/i_workload.h"

namespace servesim::search {
namespace {

// Index of the bucket [edge_i, edge_{i+1}) holding `v` (0: below the first edge).
std::size_t bucket_of(const std::vector<std::int64_t>& edges, std::int64_t v) {
  return static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), v) - edges.begin());
}

// An empirical length distribution of `values`: each distinct value weighted by its count.
nlohmann::json empirical(const std::vector<std::int32_t>& values) {
  std::map<std::int32_t, std::int64_t> counts;
  for (std::int32_t v : values) ++counts[v];
  nlohmann::json vs = nlohmann::json::array(), ws = nlohmann::json::array();
  for (const auto& [v, n] : counts) {
    vs.push_back(v);
    ws.push_back(n);
  }
  return {{"dist", "empirical"}, {"values", vs}, {"weights", ws}};
}

std::string edge_text(std::int64_t lo, std::int64_t hi) {
  return hi > 0 ? fmt::format("[{}, {})", lo, hi) : fmt::format("[{}, inf)", lo);
}

}  // namespace

std::string MixBucket::label() const {
  return fmt::format("prompt {} x output {}", edge_text(prompt_lo, prompt_hi), edge_text(output_lo, output_hi));
}

std::vector<MixBucket> mix_buckets(const PlanConfig& plan, const std::shared_ptr<Catalog>& catalog, double native_trace_rate) {
  const MixKnobs& m = plan.mix;
  const std::size_t np = m.prompt_edges.size() + 1, no = m.output_edges.size() + 1;
  std::vector<MixBucket> out(np * no);
  for (std::size_t i = 0; i < np; ++i) {
    for (std::size_t j = 0; j < no; ++j) {
      MixBucket& b = out[i * no + j];
      b.prompt_lo = i == 0 ? 1 : m.prompt_edges[i - 1];
      b.prompt_hi = i < m.prompt_edges.size() ? m.prompt_edges[i] : 0;
      b.output_lo = j == 0 ? 1 : m.output_edges[j - 1];
      b.output_hi = j < m.output_edges.size() ? m.output_edges[j] : 0;
    }
  }
  // The traffic's own workload (as every candidate scenario has it), mix.samples requests.
  const Candidate any = enumerate_candidates(plan).front();
  const nlohmann::json w = candidate_scenario(plan, any, plan.target_rate, m.samples, native_trace_rate)["workload"];
  const std::string where = plan.source + ": traffic";
  auto workload = WorkloadRegistry::get().make(WorkloadRegistry::get().parse(w, where), WorkloadDeps{plan.seed, catalog->data_dir(), where});
  std::int64_t n = 0;
  while (auto r = workload->next()) {
    MixBucket& b = out[bucket_of(m.prompt_edges, r->prompt_tokens) * no + bucket_of(m.output_edges, r->output_tokens)];
    b.prompts.push_back(r->prompt_tokens);
    b.outputs.push_back(r->output_tokens);
    ++n;
  }
  if (n == 0) input_error(where, "gives no requests to split into mix buckets");
  for (MixBucket& b : out) b.share = static_cast<double>(b.prompts.size()) / static_cast<double>(n);
  return out;
}

PlanConfig bucket_plan(const PlanConfig& plan, const MixBucket& bucket) {
  PlanConfig p = plan;
  if (p.traffic.arrival == "trace") p.traffic.arrival = "poisson";
  p.traffic.trace = nlohmann::json::object();
  p.traffic.prompt = empirical(bucket.prompts);
  p.traffic.output = empirical(bucket.outputs);
  return p;
}

nlohmann::json mix_scenario(const PlanConfig& plan, const MixResult& r, const MixSolution& sol, double native_trace_rate) {
  const std::int64_t n = window_requests(plan.search, plan.target_rate, true);
  nlohmann::json s, pools = nlohmann::json::array(), shares = nlohmann::json::object();
  for (std::size_t k = 0; k < r.simulated.size(); ++k) {
    if (sol.replicas[k] == 0) continue;
    const Candidate& c = r.units[r.simulated[k]].c;
    if (c.split.disaggregated()) {
      input_error(plan.source, fmt::format("{} is disaggregated: the size-aware router addresses colocated pools only", c.label()));
    }
    const nlohmann::json one = candidate_scenario(plan, c, plan.target_rate, n, native_trace_rate, ScenarioUse::kMeasured);
    if (s.is_null()) s = one;
    const std::string name = fmt::format("u{}_{}_tp{}", r.simulated[k] + 1, c.device, c.tp);
    pools.push_back({{"name", name}, {"role", "mixed"}, {"replicas", sol.replicas[k]}, {"hardware", one["hardware"]},
                     {"engine", one["engine"]}, {"parallel", one["parallel"]}, {"scheduler", one["scheduler"]}});
    nlohmann::json w = nlohmann::json::array();
    // A bucket without load gets weight 1 everywhere (the router needs a positive weight per bucket).
    for (std::size_t b = 0; b < r.buckets.size(); ++b) w.push_back(r.problem.load[b] > 0 ? sol.share[k][b] : 1.0);
    shares[name] = w;
  }
  s.erase("replicas");
  s["name"] = plan.name + "-mix";
  s["pools"] = pools;
  s["router"] = {{"impl", "size_aware"}, {"prompt_edges", plan.mix.prompt_edges}, {"output_edges", plan.mix.output_edges}, {"shares", shares}};
  return s;
}

MixResult run_plan_mix(const PlanConfig& plan, const PriceBook& prices, const std::shared_ptr<Catalog>& catalog,
                       const SearchOptions& options) {
  const std::map<std::string, Price> price = check_plan_inputs(plan, prices, *catalog);
  const double native = native_trace_rate(plan, catalog);
  MixResult res;
  res.buckets = mix_buckets(plan, catalog, native);
  const std::size_t nb = res.buckets.size();
  std::vector<PlanConfig> bucket_plans;
  for (const MixBucket& b : res.buckets) bucket_plans.push_back(b.share > 0 ? bucket_plan(plan, b) : plan);

  // One unit per candidate group, at one replica.
  for (const Candidate& c : enumerate_candidates(plan)) {
    if (!res.units.empty() && res.units.back().c.group == c.group) continue;
    MixUnit u;
    u.c = c;
    u.c.replicas = 1;
    u.usd_per_hour = price.at(c.device).usd_per_gpu_hour * static_cast<double>(u.c.gpus());
    u.capacity.assign(nb, 0.0);
    u.capped.assign(nb, false);
    u.reason = rejection_reason(plan, u.c, *catalog, native);
    if (u.reason.empty() && plan.max_gpus > 0 && u.c.gpus() > plan.max_gpus) {
      u.reason = fmt::format("one replica uses {} GPUs, over limits.max_gpus {}", u.c.gpus(), plan.max_gpus);
      u.over_limit = true;
    }
    res.units.push_back(std::move(u));
  }
  std::vector<std::pair<std::size_t, std::size_t>> jobs;  // (unit, bucket)
  for (std::size_t u = 0; u < res.units.size(); ++u) {
    if (!res.units[u].reason.empty()) continue;
    for (std::size_t b = 0; b < nb; ++b) {
      if (res.buckets[b].share > 0) jobs.emplace_back(u, b);
    }
  }
  std::vector<std::int64_t> sims(jobs.size(), 0);
  std::atomic<std::size_t> done{0};
  const std::string source = plan.source + " (mix bucket scenario)";
  auto capacity = [&](std::size_t k) {
    const auto [ui, bi] = jobs[k];
    MixUnit& u = res.units[ui];
    const PlanConfig& bp = bucket_plans[bi];
    auto run = [&](double rate, bool full) {
      if (options.cancelled && options.cancelled()) throw Cancelled("plan mix stopped; nothing was written");
      const std::int64_t n = window_requests(bp.search, rate, full);
      ++sims[k];
      return simulate_and_judge(candidate_scenario(bp, u.c, rate, n, 0), rate, n, bp.slo, bp.search.early_stop, catalog, source,
                                options.cancelled);
    };
    RateSearch search{bp.search, run, {}, false};
    u.capacity[bi] = search(plan.target_rate * res.buckets[bi].share);
    u.capped[bi] = search.capped;
    const std::size_t d = ++done;
    if (options.progress) options.progress(d, jobs.size());
  };
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, jobs.size(), 1), [&](const tbb::blocked_range<std::size_t>& r) {
      for (std::size_t k = r.begin(); k != r.end(); ++k) capacity(k);
    });
  });
  for (std::size_t k = 0; k < jobs.size(); ++k) res.units[jobs[k].first].simulations += sims[k];
  for (std::int64_t s : sims) res.simulations += s;

  MixProblem& pr = res.problem;
  pr.max_gpus = plan.max_gpus;
  for (const MixBucket& b : res.buckets) pr.load.push_back(b.share * plan.target_rate);
  for (std::size_t u = 0; u < res.units.size(); ++u) {
    if (!res.units[u].reason.empty()) continue;
    res.simulated.push_back(u);
    pr.usd_per_hour.push_back(res.units[u].usd_per_hour);
    pr.gpus.push_back(res.units[u].c.gpus());
    pr.capacity.push_back(res.units[u].capacity);
  }
  if (res.simulated.empty()) {
    input_error(plan.source, fmt::format("none of {} device plans can run for a mix (memory, plan or limits), e.g. {}: {}",
                                         res.units.size(), res.units.front().c.label(), quoted_value(res.units.front().reason, 160)));
  }
  for (std::size_t b = 0; b < nb; ++b) {
    if (pr.load[b] <= 0) continue;
    bool any = false;
    for (const auto& cap : pr.capacity) any = any || cap[b] > 0;
    if (!any) {
      input_error(plan.source, fmt::format("no device plan serves mix bucket {} ({:.1f}% of requests) within {}, not even at "
                                           "search.min_rate {:g} req/s",
                                           res.buckets[b].label(), 100 * res.buckets[b].share, slo_text(plan.slo),
                                           plan.search.min_rate));
    }
  }
  res.mix = solve_mix(pr);
  if (!res.mix.feasible) {
    input_error(plan.source, fmt::format("no mix of the {} device plans serves {:g} req/s within limits.max_gpus {}",
                                         res.simulated.size(), plan.target_rate, plan.max_gpus));
  }
  for (std::size_t k = 0; k < res.simulated.size(); ++k) {
    res.single.push_back(solve_single(pr, k));
    const MixSolution& s = res.single.back();
    if (s.feasible && (res.best_single < 0 || s.usd_per_hour < res.single[static_cast<std::size_t>(res.best_single)].usd_per_hour)) {
      res.best_single = static_cast<std::int64_t>(k);
    }
  }
  // End to end: the mix, then the best single type, each one simulation of the whole cluster.
  auto end_to_end = [&](const MixSolution& sol, MixRun& run, const char* name) {
    bool disagg = false;
    for (std::size_t k = 0; k < res.simulated.size(); ++k) disagg |= sol.replicas[k] > 0 && res.units[res.simulated[k]].c.split.disaggregated();
    if (disagg) {
      run.reason = "a disaggregated unit (the size-aware router addresses colocated pools only)";
      return;
    }
    if (options.cancelled && options.cancelled()) throw Cancelled("plan mix stopped; nothing was written");
    run.scenario = mix_scenario(plan, res, sol, native);
    run.scenario["name"] = plan.name + "-" + name;
    const std::int64_t n = window_requests(plan.search, plan.target_rate, true);
    run.outcome = simulate_and_judge(run.scenario, plan.target_rate, n, plan.slo, false, catalog, plan.source + " (" + name + " scenario)",
                                     options.cancelled);
    run.simulated = true;
    ++res.simulations;
  };
  end_to_end(res.mix, res.mix_run, "mix");
  if (res.best_single >= 0) end_to_end(res.single[static_cast<std::size_t>(res.best_single)], res.single_run, "single");
  return res;
}

}  // namespace servesim::search
