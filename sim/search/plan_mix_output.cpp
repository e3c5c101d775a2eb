// The outputs of `servesim plan mix` (plan_mix.h): mix.json, mix_units.csv, the summary.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/report/output.h"
#include "sim/search/plan_mix.h"

namespace servesim::search {
namespace {

std::string edge(std::int64_t hi) { return hi > 0 ? std::to_string(hi) : "inf"; }

// "rps_p1_1024_o256_inf": one replica's capacity for the bucket, req/s.
std::string capacity_column(const MixBucket& b) {
  return fmt::format("rps_p{}_{}_o{}_{}", b.prompt_lo, edge(b.prompt_hi), b.output_lo, edge(b.output_hi));
}

std::string status(const MixUnit& u) {
  if (u.reason.empty()) return "simulated";
  return u.over_limit ? "over_limit" : "rejected";
}

// The replicas of a solution with the share of each bucket they serve.
nlohmann::json solution_json(const MixResult& r, const MixSolution& s) {
  nlohmann::json units = nlohmann::json::array();
  for (std::size_t k = 0; k < r.simulated.size(); ++k) {
    if (s.replicas[k] == 0) continue;
    const MixUnit& u = r.units[r.simulated[k]];
    nlohmann::json buckets = nlohmann::json::array();
    double busy = 0;  // replicas' time in use: sum_b share * load / capacity
    for (std::size_t b = 0; b < r.buckets.size(); ++b) {
      if (s.share[k][b] <= 0) continue;
      const double rps = s.share[k][b] * r.problem.load[b];
      busy += rps / u.capacity[b];
      buckets.push_back({{"bucket", r.buckets[b].label()}, {"share_of_bucket", s.share[k][b]}, {"rps", rps}});
    }
    units.push_back({{"candidate", u.c.label()},
                     {"replicas", s.replicas[k]},
                     {"gpus", u.c.gpus() * s.replicas[k]},
                     {"usd_per_hour", u.usd_per_hour * static_cast<double>(s.replicas[k])},
                     {"utilisation", busy / static_cast<double>(s.replicas[k])},
                     {"buckets", buckets}});
  }
  return {{"usd_per_hour", s.usd_per_hour}, {"gpus", s.gpus}, {"units", units}};
}

nlohmann::json run_json(const MixRun& run) {
  if (!run.simulated) return {{"simulated", false}, {"reason", run.reason}};
  return {{"simulated", true},
          {"requests", run.outcome.requests},
          {"meets_slos", run.outcome.pass},
          {"slo_values_s", run.outcome.values},
          {"slo_attainment", run.outcome.goodput},
          {"output_tokens_per_s", run.outcome.output_tokens_per_s},
          {"run_usd_per_m_output_tokens", run.outcome.run_usd_per_m_output_tokens}};
}

// "TTFT p99 0.412 s, TPOT p99 31.2 ms: meets the SLOs (99.7% of requests within every bound)"
std::string run_text(const PlanConfig& plan, const MixRun& run) {
  if (!run.simulated) return "not simulated: " + run.reason;
  std::string s;
  for (std::size_t i = 0; i < plan.slo.targets.size(); ++i) {
    const SloTarget& t = plan.slo.targets[i];
    const double v = run.outcome.values.at(i);
    s += fmt::format("{}{} p{:g} {}", s.empty() ? "" : ", ", t.metric, t.percentile,
                     v >= 1 ? fmt::format("{:.3g} s", v) : fmt::format("{:.3g} ms", v * 1e3));
  }
  return s + fmt::format(": {} the SLOs ({:.1f}% of requests within every bound)", run.outcome.pass ? "meets" : "misses",
                         100 * run.outcome.goodput);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> mix_files(const PlanConfig& plan, const MixResult& r, const std::string& prices_path) {
  nlohmann::json j;
  j["name"] = plan.name;
  j["target_rate"] = plan.target_rate;
  j["slo"] = slo_text(plan.slo);
  j["buckets"] = nlohmann::json::array();
  for (std::size_t b = 0; b < r.buckets.size(); ++b) {
    const MixBucket& k = r.buckets[b];
    j["buckets"].push_back({{"bucket", k.label()}, {"prompt_min", k.prompt_lo}, {"prompt_end", k.prompt_hi}, {"output_min", k.output_lo},
                            {"output_end", k.output_hi}, {"samples", k.prompts.size()}, {"share", k.share},
                            {"load_rps", r.problem.load.at(b)}});
  }
  j["units"] = nlohmann::json::array();
  std::string csv = "candidate,device,tp,pp,disaggregation,max_num_batched_tokens,max_num_seqs,kv_cache_dtype,gpus,usd_per_hour,status";
  for (const MixBucket& b : r.buckets) csv += fmt::format(",{}", capacity_column(b));
  csv += ",mix_replicas,single_type_replicas,single_type_usd_per_hour,simulations,reason\n";
  std::size_t k = 0;  // index into r.simulated
  for (const MixUnit& u : r.units) {
    const bool sim = u.reason.empty();
    const MixSolution* single = sim ? &r.single.at(k) : nullptr;
    const std::int64_t in_mix = sim ? r.mix.replicas.at(k) : 0;
    nlohmann::json uj = {{"candidate", u.c.label()}, {"gpus", u.c.gpus()}, {"usd_per_hour", u.usd_per_hour}, {"status", status(u)},
                         {"reason", u.reason}, {"simulations", u.simulations}};
    if (sim) {
      uj["capacity_rps"] = u.capacity;
      uj["capacity_capped"] = u.capped;
      uj["mix_replicas"] = in_mix;
      uj["single_type"] = single->feasible ? nlohmann::json{{"replicas", single->replicas[k]}, {"usd_per_hour", single->usd_per_hour}}
                                           : nlohmann::json(nullptr);
    }
    j["units"].push_back(uj);
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{:.4f},{}", csv_field(u.c.label()), u.c.device, u.c.tp, u.c.pp, u.c.split.name(),
                       u.c.max_num_batched_tokens, u.c.max_num_seqs, u.c.kv_cache_dtype, u.c.gpus(), u.usd_per_hour, status(u));
    for (std::size_t b = 0; b < r.buckets.size(); ++b) csv += sim ? fmt::format(",{:.6g}", u.capacity[b]) : std::string(",");
    if (sim && single->feasible) {
      csv += fmt::format(",{},{},{:.4f}", in_mix, single->replicas[k], single->usd_per_hour);
    } else {
      csv += sim ? fmt::format(",{},,", in_mix) : std::string(",,,");
    }
    csv += fmt::format(",{},{}\n", u.simulations, csv_field(u.reason));
    if (sim) ++k;
  }
  j["mix"] = solution_json(r, r.mix);
  if (r.best_single >= 0) {
    const MixSolution& s = r.single[static_cast<std::size_t>(r.best_single)];
    j["best_single_type"] = solution_json(r, s);
    j["saving_vs_best_single_type"] = s.usd_per_hour > 0 ? 1 - r.mix.usd_per_hour / s.usd_per_hour : 0.0;
  } else {
    j["best_single_type"] = nullptr;
  }
  j["simulations"] = r.simulations;
  j["end_to_end"] = {{"target_rate", plan.target_rate}, {"mix", run_json(r.mix_run)}, {"best_single_type", run_json(r.single_run)}};
  nlohmann::json resolved = plan.resolved;
  resolved["prices_file"] = prices_path;
  std::vector<std::pair<std::string, std::string>> files = {
      {"mix.json", j.dump(2) + "\n"}, {"mix_units.csv", csv}, {"plan.json", resolved.dump(2) + "\n"}};
  if (r.mix_run.simulated) files.emplace_back("mix_scenario.json", r.mix_run.scenario.dump(2) + "\n");
  if (r.single_run.simulated) files.emplace_back("single_scenario.json", r.single_run.scenario.dump(2) + "\n");
  return files;
}

std::string mix_summary(const PlanConfig& plan, const MixResult& r) {
  std::string s = fmt::format("plan {} mix: {} buckets, {} device plans ({} simulated), {} simulations\n", plan.name, r.buckets.size(),
                              r.units.size(), r.simulated.size(), r.simulations);
  for (std::size_t b = 0; b < r.buckets.size(); ++b) {
    s += fmt::format("  b{} {:<42} {:5.1f}% of requests, {:.3g} req/s\n", b + 1, r.buckets[b].label(), 100 * r.buckets[b].share,
                     r.problem.load[b]);
  }
  auto describe = [&](const char* title, const MixSolution& m) {
    s += fmt::format("{} ${:.2f}/h, {} GPUs:\n", title, m.usd_per_hour, m.gpus);
    for (std::size_t k = 0; k < r.simulated.size(); ++k) {
      if (m.replicas[k] == 0) continue;
      const MixUnit& u = r.units[r.simulated[k]];
      std::string served;
      for (std::size_t b = 0; b < r.buckets.size(); ++b) {
        if (m.share[k][b] > 0) served += fmt::format("{}b{} {:.0f}%", served.empty() ? "" : ", ", b + 1, 100 * m.share[k][b]);
      }
      s += fmt::format("  {} x {:<62} ${:>8.2f}/h  serves {}\n", m.replicas[k], u.c.label(), u.usd_per_hour * static_cast<double>(m.replicas[k]),
                       served);
    }
  };
  describe(fmt::format("cheapest mix at {:g} req/s within {}:", plan.target_rate, slo_text(plan.slo)).c_str(), r.mix);
  if (r.best_single >= 0) {
    const MixSolution& b = r.single[static_cast<std::size_t>(r.best_single)];
    describe("best single type (same capacities):", b);
    s += fmt::format("the mix costs {:.1f}% less than the best single type\n", 100 * (1 - r.mix.usd_per_hour / b.usd_per_hour));
  } else {
    s += "no single device plan serves every bucket within the limits; only a mix does\n";
  }
  s += fmt::format("end to end at {:g} req/s (one simulation of the whole cluster, size_aware router):\n", plan.target_rate);
  s += "  mix:              " + run_text(plan, r.mix_run) + "\n";
  if (r.best_single >= 0) s += "  best single type: " + run_text(plan, r.single_run) + "\n";
  return s;
}

}  // namespace servesim::search
