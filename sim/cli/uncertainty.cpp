#include "sim/cli/uncertainty.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/cost/residual_sources.h"
#include "sim/validate/engine_profile.h"

namespace servesim::cli {
namespace {

// (name, summary path, unit scale, unit) of the metrics given intervals.
struct Metric {
  const char* name;
  const char* group;
  const char* stat;
  double scale;
  const char* unit;
};
constexpr Metric kMetrics[] = {
    {"ttft_p50", "ttft_s", "p50", 1e3, "ms"},       {"ttft_p99", "ttft_s", "p99", 1e3, "ms"},
    {"tpot_p50", "tpot_s", "p50", 1e3, "ms"},       {"tpot_p99", "tpot_s", "p99", 1e3, "ms"},
    {"e2e_mean", "e2e_s", "mean", 1.0, "s"},        {"e2e_p99", "e2e_s", "p99", 1.0, "s"},
    {"output_tokens_per_s", "throughput", "output_tokens_per_s", 1.0, "tok/s"},
};

double metric(const nlohmann::json& summary, const Metric& m) {
  const auto g = summary.find(m.group);
  if (g == summary.end() || !g->contains(m.stat) || !(*g)[m.stat].is_number()) return 0.0;
  return (*g)[m.stat].get<double>();
}

double nearest_rank(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

// Per pool, where each family's draws come from (sim/cost/residual_sources.h): the files the
// perturbed model reads, so a bad one fails here, before any replay.
nlohmann::json draw_sources(const nlohmann::json& resolved, const std::string& data_dir) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& pool : resolved.at("pools")) {
    const std::string hw = pool.value("hardware", std::string());
    const std::string device = hw.ends_with(".json") || hw.find('/') != std::string::npos
                                   ? std::filesystem::path(hw).stem().string() : hw;
    nlohmann::json j = residual_sources(device, pool.at("cost"), "", data_dir, "pools." + pool.value("name", std::string()) + ".cost").to_json();
    j["device"] = device;
    out[pool.value("name", std::string())] = j;
  }
  return out;
}

void wrap(nlohmann::json& cost, int draw, std::uint64_t seed) {
  cost = {{"impl", "perturbed"}, {"inner", cost}, {"draw", draw}, {"seed", seed}};
}

}  // namespace

std::pair<double, double> interval(std::vector<double> values, double confidence) {
  return {nearest_rank(values, (1 - confidence) / 2), nearest_rank(values, (1 + confidence) / 2)};
}

nlohmann::json perturbed_scenario(const nlohmann::json& scenario, const nlohmann::json& resolved, int draw) {
  nlohmann::json s = scenario;
  const std::uint64_t seed = resolved.value("seed", std::uint64_t{0});
  bool any = false;
  if (s.contains("cost")) {
    wrap(s["cost"], draw, seed);
    any = true;
  }
  if (s.contains("pools") && s["pools"].is_array()) {
    for (auto& pool : s["pools"]) {
      if (pool.is_object() && pool.contains("cost")) {
        wrap(pool["cost"], draw, seed);
        any = true;
      }
    }
  }
  if (!any) {
    // The scenario took the default cost model: wrap what it resolved to.
    s["cost"] = resolved.at("pools").at(0).at("cost");
    wrap(s["cost"], draw, seed);
  }
  return s;
}

nlohmann::json uncertainty_intervals(const nlohmann::json& scenario, const SimOptions& options, const SimResult& base, int n,
                                     double confidence, const HostTerm& host_term) {
  const std::vector<double> host_scales = validate::host_replay_scales(host_term.instances, host_term.within, host_term.pinned);
  if (n < 2) bad_value("--uncertainty", std::to_string(n), "at least 2 replays");
  if (!(confidence > 0 && confidence < 1)) bad_value("--confidence", std::to_string(confidence), "a fraction in (0, 1)");
  const nlohmann::json sources = draw_sources(base.resolved_config, options.data_dir);
  std::vector<std::vector<double>> values(std::size(kMetrics));
  for (int draw = 1; draw <= n; ++draw) {
    nlohmann::json s = scenario;
    if (!host_scales.empty()) s["cost"]["host_scale"] = host_scales[static_cast<std::size_t>(draw - 1) % host_scales.size()];
    const SimResult r = Simulation(perturbed_scenario(s, base.resolved_config, draw), options).run();
    for (std::size_t m = 0; m < std::size(kMetrics); ++m) values[m].push_back(metric(r.summary, kMetrics[m]));
  }
  nlohmann::json metrics = nlohmann::json::object();
  for (std::size_t m = 0; m < std::size(kMetrics); ++m) {
    const auto [lo, hi] = interval(values[m], confidence);
    metrics[kMetrics[m].name] = {{"point", metric(base.summary, kMetrics[m])}, {"lo", lo}, {"hi", hi}};
  }
  nlohmann::json host = {{"rule", "none: the host time of the run as given"}};
  if (!host_term.instances.empty()) {
    host = {{"rule", "replay d's cost.host_scale is scales[(d - 1) mod n]: the machine instances of the engine profile's "
                     "fitted.host_population (host speed against the fit machine's), in a seeded order"},
            {"scales", host_term.instances}};
  } else if (!host_term.within.empty()) {
    host = {{"rule", "replay d's cost.host_scale is the host given (--host-scale)"}, {"pinned", host_term.pinned}};
  }
  if (!host_term.within.empty()) {
    host["rule"] = host["rule"].get<std::string>() +
                   ", times 1 + within[...]: the run-to-run host variation of repeated runs on one machine instance "
                   "(fitted.host_repeat; every host with every deviation once in the first n x m replays, "
                   "validate::host_replay_scales)";
    host["within_instance"] = host_term.within;
    host["replay_scales"] = host_scales;
  }
  return {{"replays", n},
          {"confidence", confidence},
          {"host_term", host},
          {"rule", "each replay scales every fitted family's costs by one draw of that family's held-out error (the "
                   "profile's residuals file; a derived profile: its transfer check's for the families the check "
                   "measured, else its source profile's, the derivation's own error for those unknown); lo/hi: "
                   "nearest-rank quantiles of the replays; point: the unperturbed run"},
          {"draws", sources},
          {"metrics", metrics}};
}

std::string uncertainty_table(const nlohmann::json& u) {
  const bool host = u.contains("host_term") && (u["host_term"].contains("scales") || u["host_term"].contains("within_instance"));
  std::string out = fmt::format("{:.0f}% prediction intervals from {} replays (fitted costs' held-out errors{}):\n",
                                100 * u.at("confidence").get<double>(), u.at("replays").get<int>(), host ? ", hosts" : "");
  for (const auto& m : kMetrics) {
    const auto& v = u.at("metrics").at(m.name);
    out += fmt::format("  {:<22} {:>10.2f} {}  [{:.2f}, {:.2f}]\n", m.name, v.at("point").get<double>() * m.scale, m.unit,
                       v.at("lo").get<double>() * m.scale, v.at("hi").get<double>() * m.scale);
  }
  if (host && u["host_term"].contains("scales")) {
    const auto scales = u["host_term"]["scales"].get<std::vector<double>>();
    const auto [lo, hi] = std::minmax_element(scales.begin(), scales.end());
    out += fmt::format("  host term: replays take the host speed of the engine's {} measured machine instances (x{:.2f} to x{:.2f} the fit machine's)\n",
                       scales.size(), *lo, *hi);
  }
  if (host && u["host_term"].contains("within_instance")) {
    const auto w = u["host_term"]["within_instance"].get<std::vector<double>>();
    const auto [lo, hi] = std::minmax_element(w.begin(), w.end());
    out += fmt::format("  host term: and the run-to-run variation of one instance ({} repeated runs: {:+.1f}% to {:+.1f}%)\n", w.size(),
                       100 * *lo, 100 * *hi);
  }
  if (!u.contains("draws")) return out;
  for (const auto& [pool, d] : u["draws"].items()) {
    // Families grouped by (origin, file), in family order.
    std::vector<std::pair<std::string, std::string>> groups;
    for (const char* f : kResidualFamilies) {
      const auto& e = d.at("families").at(f);
      std::string key = e.at("from").get<std::string>();
      if (e.contains("residuals")) key += " (" + e["residuals"].get<std::string>() + ")";
      if (e.value("derivation_error", "") == "unknown (not checked)") key += ": the derivation's own error unknown (not checked)";
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
      if (it == groups.end()) groups.emplace_back(key, f);
      else it->second += std::string(", ") + f;
    }
    out += fmt::format("  draws on {} ({}{}):\n", pool, d.at("device").get<std::string>(),
                       d.contains("derived_profile") ? ", derived: " + d["derived_profile"].get<std::string>() : "");
    for (const auto& [key, fams] : groups) out += fmt::format("    {}: {}\n", fams, key);
  }
  return out;
}

}  // namespace servesim::cli
