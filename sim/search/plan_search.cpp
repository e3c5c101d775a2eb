#include "sim/search/plan_search.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "sim/core/error.h"
#include "sim/search/plan_eval.h"
#include "sim/serving/catalog.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"
#include "sim/workload/i_workload.h"

namespace servesim::search {
namespace {

double rate_of(const RunOutcome& o) { return o.rate; }

// A group's results on the wire between processes (MessagePack: doubles travel as IEEE
// binary64, so the coordinator's tables are byte-identical to a single process's).
nlohmann::json outcome_wire(const RunOutcome& o) {
  return {o.rate, o.requests, o.pass, o.stopped_early, o.values, o.goodput, o.output_tokens_per_s, o.j_per_output_token,
          o.mean_power_w, o.run_usd_per_m_output_tokens, o.gpu_hours, o.autoscale};
}

RunOutcome outcome_from_wire(const nlohmann::json& j) {
  RunOutcome o;
  o.rate = j.at(0).get<double>();
  o.requests = j.at(1).get<std::int64_t>();
  o.pass = j.at(2).get<bool>();
  o.stopped_early = j.at(3).get<bool>();
  o.values = j.at(4).get<std::vector<double>>();
  o.goodput = j.at(5).get<double>();
  o.output_tokens_per_s = j.at(6).get<double>();
  o.j_per_output_token = j.at(7).get<double>();
  o.mean_power_w = j.at(8).get<double>();
  o.run_usd_per_m_output_tokens = j.at(9).get<double>();
  o.gpu_hours = j.at(10).get<double>();
  o.autoscale = j.at(11);
  return o;
}

nlohmann::json result_wire(const CandidateResult& r) {
  return {r.fits,     r.pruned,       r.reason,   r.price,        r.usd_per_hour,
          r.max_rate, r.capped,       outcome_wire(r.at_max),     r.meets_target,
          outcome_wire(r.at_target),  r.headroom, r.replicas_for_target,
          r.usd_per_m_output_tokens,  r.usd_per_m_output_tokens_at_capacity,
          r.simulations,              r.early_stops};
}

void result_from_wire(const nlohmann::json& j, CandidateResult& r) {
  r.fits = j.at(0).get<bool>();
  r.pruned = j.at(1).get<bool>();
  r.reason = j.at(2).get<std::string>();
  r.price = j.at(3).get<double>();
  r.usd_per_hour = j.at(4).get<double>();
  r.max_rate = j.at(5).get<double>();
  r.capped = j.at(6).get<bool>();
  r.at_max = outcome_from_wire(j.at(7));
  r.meets_target = j.at(8).get<bool>();
  r.at_target = outcome_from_wire(j.at(9));
  r.headroom = j.at(10).get<double>();
  r.replicas_for_target = j.at(11).get<std::int64_t>();
  r.usd_per_m_output_tokens = j.at(12).get<double>();
  r.usd_per_m_output_tokens_at_capacity = j.at(13).get<double>();
  r.simulations = j.at(14).get<std::int64_t>();
  r.early_stops = j.at(15).get<std::int64_t>();
}

}  // namespace

double native_trace_rate(const PlanConfig& plan, const std::shared_ptr<Catalog>& catalog) {
  if (plan.traffic.arrival != "trace") return 0;
  nlohmann::json w = plan.traffic.trace;
  w["max_requests"] = plan.search.requests;
  const std::string where = plan.source + ": traffic.trace";
  const ComponentConfig c = WorkloadRegistry::get().parse(w, where);
  auto workload = WorkloadRegistry::get().make(c, WorkloadDeps{plan.seed, catalog->data_dir(), where});
  SimTime first = -1, last = 0;
  std::int64_t n = 0;
  while (auto r = workload->next()) {
    if (first < 0) first = r->arrival;
    last = r->arrival;
    ++n;
  }
  if (n < 2 || last <= first) input_error(where, "fewer than 2 requests at distinct times in its first search.requests rows (no rate to scale)");
  return static_cast<double>(n - 1) / to_seconds(last - first);
}

std::map<std::string, Price> check_plan_inputs(const PlanConfig& plan, const PriceBook& prices, Catalog& catalog) {
  catalog.model(plan.model, plan.source + ": model");
  std::map<std::string, Price> price;
  for (std::size_t i = 0; i < plan.candidates.devices.size(); ++i) {
    const std::string& d = plan.candidates.devices[i];
    const std::string where = fmt::format("{}: candidates.devices[{}]", plan.source, i);
    catalog.device(d, where);
    price[d] = prices.price(d, plan.price_tier, where);
  }
  return price;
}

std::string rejection_reason(const PlanConfig& plan, const Candidate& c, Catalog& catalog, double native_trace_rate) {
  const std::string source = plan.source + " (candidate scenario)";
  try {
    const ScenarioConfig cfg = parse_scenario(candidate_scenario(plan, c, plan.target_rate, 10, native_trace_rate), source);
    for (const PoolConfig& pc : cfg.pools) (void)build_pool(pc, catalog, source);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::int64_t window_requests(const SearchKnobs& k, double rate, bool full) {
  const double seconds = to_seconds(k.min_duration) * (full ? 1.0 : 1.0 / 3.0);
  const auto by_time = static_cast<std::int64_t>(std::ceil(rate * seconds - 1e-9));
  return std::max(full ? k.requests : k.short_requests, by_time);
}

std::int64_t Candidate::gpus() const {
  return replicas * (split.disaggregated() ? split.prefill + split.decode : 1) * tp * pp;
}

std::string Candidate::label() const {
  return fmt::format("{} tp{} pp{} x{} {} mnbt{} mns{} kv {}", device, tp, pp, replicas, split.name(), max_num_batched_tokens,
                     max_num_seqs, kv_cache_dtype);
}

std::vector<Candidate> enumerate_candidates(const PlanConfig& plan) {
  const CandidateAxes& a = plan.candidates;
  std::vector<Candidate> out;
  std::size_t group = 0;
  for (const auto& dev : a.devices)
    for (const Split& s : a.splits)
      for (std::int64_t tp : a.tp)
        for (std::int64_t pp : a.pp)
          for (const auto& kv : a.kv_cache_dtype)
            for (std::int64_t mnbt : a.max_num_batched_tokens)
              for (std::int64_t mns : a.max_num_seqs) {
                std::vector<std::int64_t> reps = a.replicas;
                std::sort(reps.begin(), reps.end());
                reps.erase(std::unique(reps.begin(), reps.end()), reps.end());
                for (std::int64_t r : reps) {
                  Candidate c;
                  c.index = out.size();
                  c.group = group;
                  c.device = dev;
                  c.split = s;
                  c.tp = tp;
                  c.pp = pp;
                  c.kv_cache_dtype = kv;
                  c.max_num_batched_tokens = mnbt;
                  c.max_num_seqs = mns;
                  c.replicas = r;
                  out.push_back(c);
                }
                ++group;
              }
  return out;
}

nlohmann::json candidate_scenario(const PlanConfig& plan, const Candidate& c, double rate, std::int64_t requests,
                                  double native_trace_rate, ScenarioUse use) {
  const bool for_run = use == ScenarioUse::kBest;
  nlohmann::json s;
  s["name"] = for_run ? plan.name + "-best" : plan.name;
  s["seed"] = plan.seed;
  s["model"] = plan.model;
  s["hardware"] = c.device;
  s["engine"] = {{"gpu_memory_utilization", plan.candidates.gpu_memory_utilization}, {"kv_cache_dtype", c.kv_cache_dtype}};
  s["parallel"] = {{"impl", "megatron"}, {"tp", c.tp}, {"pp", c.pp}};
  s["scheduler"] = {{"impl", plan.candidates.scheduler},
                    {"max_num_batched_tokens", c.max_num_batched_tokens},
                    {"max_num_seqs", c.max_num_seqs}};
  s["cost"] = plan.candidates.cost;
  if (c.split.disaggregated()) {
    s["pools"] = nlohmann::json::array({{{"name", "prefill"}, {"role", "prefill"}, {"replicas", c.replicas * c.split.prefill}},
                                        {{"name", "decode"}, {"role", "decode"}, {"replicas", c.replicas * c.split.decode}}});
  } else {
    s["replicas"] = c.replicas;
  }
  const TrafficConfig& t = plan.traffic;
  if (t.arrival == "trace") {
    s["workload"] = t.trace;
    s["workload"]["time_scale"] = native_trace_rate / rate;
    s["workload"]["max_requests"] = requests;
  } else {
    s["workload"] = {{"impl", "synthetic"}, {"arrival", t.arrival}, {"rate", rate},      {"num_requests", requests},
                     {"duration", 0},       {"prompt", t.prompt},   {"output", t.output}};
    if (t.arrival == "gamma") s["workload"]["cv"] = t.cv;
  }
  nlohmann::json slo = nlohmann::json::object();
  for (const SloTarget& x : plan.slo.targets) slo[x.metric] = to_seconds(x.bound);
  s["metrics"] = {{"slo", slo}};
  // A screening run reads no time series: one sample a simulated hour keeps the cost out.
  if (use == ScenarioUse::kScreening) s["metrics"]["sample_interval"] = "1h";
  return s;
}

PlanResult run_plan_search(const PlanConfig& plan, const PriceBook& prices, const std::shared_ptr<Catalog>& catalog,
                           const SearchOptions& options) {
  const std::map<std::string, Price> price = check_plan_inputs(plan, prices, *catalog);
  PlanResult result;
  result.native_trace_rate = native_trace_rate(plan, catalog);
  const std::vector<Candidate> cands = enumerate_candidates(plan);
  result.candidates.resize(cands.size());
  std::vector<std::size_t> group_start;
  for (const Candidate& c : cands) {
    if (group_start.size() <= c.group) group_start.push_back(c.index);
  }
  group_start.push_back(cands.size());
  const std::size_t groups = group_start.size() - 1;
  const std::string source = plan.source + " (candidate scenario)";
  std::atomic<std::size_t> done{0};

  auto search_group = [&](std::size_t g) {
    double prev_per_replica = 0;  // warm start: the last sustained rate per replica of this group
    std::int64_t met_with = 0;    // the fewest replicas of this group that met the target (0: none)
    std::string reason;           // a rejection shared by the whole group (memory, plan)
    for (std::size_t i = group_start[g]; i < group_start[g + 1]; ++i) {
      const Candidate& c = cands[i];
      CandidateResult& r = result.candidates[i];
      r.c = c;
      r.price = price.at(c.device).usd_per_gpu_hour;
      r.usd_per_hour = r.price * static_cast<double>(c.gpus());
      // Memory and plan checks do not depend on the replica count: once per group.
      if (i == group_start[g]) reason = rejection_reason(plan, c, *catalog, result.native_trace_rate);
      if (!reason.empty()) {
        r.reason = reason;
        continue;
      }
      if (plan.max_gpus > 0 && c.gpus() > plan.max_gpus) {
        r.fits = true;
        r.reason = fmt::format("uses {} GPUs, over limits.max_gpus {}", c.gpus(), plan.max_gpus);
        continue;
      }
      r.fits = true;
      if (plan.search.prune && met_with > 0) {
        r.pruned = true;
        r.reason = fmt::format("pruned: x{} of the same already meets the target at a lower cost", met_with);
        continue;
      }
      auto run = [&](double rate, bool full) {
        const std::int64_t n = window_requests(plan.search, rate, full);
        if (options.cancelled && options.cancelled()) throw Cancelled("plan search stopped; nothing was written");
        const ScenarioUse use = full ? ScenarioUse::kMeasured : ScenarioUse::kScreening;
        RunOutcome o = simulate_and_judge(candidate_scenario(plan, c, rate, n, result.native_trace_rate, use), rate, n, plan.slo,
                                          plan.search.early_stop, catalog, source, options.cancelled);
        ++r.simulations;
        r.early_stops += o.stopped_early ? 1 : 0;
        return o;
      };
      RateSearch search{plan.search, run, {}, false};
      const double guess = plan.search.warm_start && prev_per_replica > 0 ? prev_per_replica * static_cast<double>(c.replicas)
                                                                           : plan.target_rate;
      r.max_rate = search(guess);
      r.capped = search.capped;
      r.at_max = search.best_full;
      if (r.max_rate > 0) prev_per_replica = r.max_rate / static_cast<double>(c.replicas);
      r.headroom = r.max_rate / plan.target_rate - 1;
      r.meets_target = r.max_rate >= plan.target_rate;
      if (r.max_rate > 0) {
        const double per_replica = r.max_rate / static_cast<double>(c.replicas);
        r.replicas_for_target = static_cast<std::int64_t>(std::ceil(plan.target_rate / per_replica - 1e-9));
        if (r.at_max.output_tokens_per_s > 0) {
          r.usd_per_m_output_tokens_at_capacity = r.usd_per_hour / (r.at_max.output_tokens_per_s * 3600) * 1e6;
        }
      }
      if (r.meets_target) {
        if (met_with == 0) met_with = c.replicas;
        r.at_target = rate_of(r.at_max) == plan.target_rate ? r.at_max : run(plan.target_rate, true);
        if (r.at_target.output_tokens_per_s > 0) {
          r.usd_per_m_output_tokens = r.usd_per_hour / (r.at_target.output_tokens_per_s * 3600) * 1e6;
        }
      }
    }
    const std::size_t d = ++done;
    if (options.progress) options.progress(d, groups);
  };

  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (options.spread != nullptr) {
    const auto encode = [&](std::size_t g) {
      nlohmann::json rs = nlohmann::json::array();
      for (std::size_t i = group_start[g]; i < group_start[g + 1]; ++i) rs.push_back(result_wire(result.candidates[i]));
      const std::vector<std::uint8_t> bytes = nlohmann::json::to_msgpack(rs);
      return std::string(bytes.begin(), bytes.end());
    };
    const auto decode = [&](std::size_t g, const std::string& bytes) {
      const nlohmann::json rs = nlohmann::json::from_msgpack(bytes);
      SERVESIM_ASSERT(rs.size() == group_start[g + 1] - group_start[g]);
      for (std::size_t i = group_start[g]; i < group_start[g + 1]; ++i) {
        result.candidates[i].c = cands[i];
        result_from_wire(rs.at(i - group_start[g]), result.candidates[i]);
      }
      const std::size_t d = ++done;
      if (options.progress) options.progress(d, groups);
    };
    options.spread->run(groups, threads, search_group, encode, decode);
    if (!options.spread->coordinator()) return result;
  } else {
    tbb::task_arena arena(threads);
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, groups, 1), [&](const tbb::blocked_range<std::size_t>& range) {
        for (std::size_t g = range.begin(); g != range.end(); ++g) search_group(g);
      });
    });
  }

  for (const CandidateResult& r : result.candidates) result.simulations += r.simulations;
  return result;
}

}  // namespace servesim::search
