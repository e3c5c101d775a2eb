// `servesim calibrate check`: the error of a fitted profile on the shapes held out of its fit.
#include <algorithm>
#include <cmath>
#include <map>

#include "sim/calibrate/fit.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim::calib {
namespace {

// Targets on held-out shapes (issue 4): GEMM 5%, attention 8%, collectives 10%, copies 5%.
double target_of(const std::string& family) {
  if (family == "gemm") return 0.05;
  if (family == "attention_prefill" || family == "attention_decode") return 0.08;
  if (family == "collective") return 0.10;
  if (family == "copy") return 0.05;
  if (family == "moe") return 0.08;
  return 0;
}

// `err`: signed relative errors, predicted / measured - 1.
CheckRow summarise(const std::string& family, const std::string& device, std::vector<double> err) {
  CheckRow r;
  r.family = family;
  r.device = device;
  r.n = err.size();
  if (err.empty()) return r;
  std::sort(err.begin(), err.end());
  r.median_error = err.size() % 2 ? err[err.size() / 2] : 0.5 * (err[err.size() / 2 - 1] + err[err.size() / 2]);
  // Faster by more than 0.01 % (profiles store 5 significant digits).
  r.faster_share = static_cast<double>(std::count_if(err.begin(), err.end(), [](double e) { return e < -1e-4; })) /
                   static_cast<double>(err.size());
  for (int i = 0; i < 100; ++i) {
    const auto rank = static_cast<std::size_t>(std::ceil((i + 0.5) / 100.0 * static_cast<double>(err.size())));
    r.quantiles.push_back(err[std::max<std::size_t>(rank, 1) - 1]);
  }
  std::vector<double> ape;
  for (double e : err) ape.push_back(std::fabs(e));
  std::sort(ape.begin(), ape.end());
  double s = 0;
  for (double a : ape) s += a;
  r.mape = s / static_cast<double>(ape.size());
  // p90 by the nearest-rank rule: the smallest value with at least 90% of values <= it.
  const std::size_t rank = static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(ape.size())));
  r.p90 = ape[std::max<std::size_t>(rank, 1) - 1];
  r.max_ape = ape.back();
  return r;
}

}  // namespace

std::vector<CheckRow> check_profile(const FittedProfile& p, const MeasurementSet& set, const FitSettings& settings) {
  const FitSettings s = with_size_holdout(settings, set);
  const std::vector<bool> owned = owned_rows(set);
  std::map<std::string, std::vector<double>> ape, diag;
  std::map<std::string, std::size_t> unanswered;
  std::map<double, std::map<std::string, std::pair<double, int>>> page;
  for (std::size_t i = 0; i < set.rows.size(); ++i) {
    const Measurement& m = set.rows[i];
    if (!owned[i] || !is_held_out(m, s) || (set.sliding_window_only && m.window == 0)) continue;
    const std::string fam = std::string(family_name(m.family)) + (m.window > 0 ? " (sliding window)" : "");
    std::optional<FitAnswer> a;
    switch (m.family) {
      case Family::kGemm: {
        a = p.predict_gemm(m.m, m.n, m.k, m.dtype);
        if (a) diag["gemm " + m.dtype].push_back(a->us / m.us - 1);
        auto it = p.gemm.find(m.dtype);
        if (it != p.gemm.end() && !it->second.coef.empty()) {
          const double reg = dot(it->second.coef, gemm_terms(m.m, m.n, m.k, m.dtype, p.rates));
          diag["gemm (regression only)"].push_back(reg / m.us - 1);
        }
        break;
      }
      case Family::kAttentionPrefill:
      case Family::kAttentionDecode: {
        const bool prefill = m.family == Family::kAttentionPrefill;
        const auto q = AttentionQuery::uniform(m.heads, m.kv_heads, m.head_dim, m.dtype, m.layout == "paged", m.batch, m.q, m.ctx, m.window);
        a = p.predict_attention(prefill, q, m.kernel);
        if (a) diag[fam + " " + m.kernel + " " + m.layout].push_back(a->us / m.us - 1);
        const auto& af = prefill ? p.prefill : p.decode;
        const auto& g = af.global;
        if (!g.empty() && !af.kernels.empty() && af.kernels.front() == m.kernel) diag[fam + " (global regression only)"].push_back(dot(g, attention_terms(prefill, q, p.rates)) / m.us - 1);
        break;
      }
      case Family::kCollective:
        a = p.predict_collective(m.op, m.ranks, m.bytes, m.backend);
        if (a) diag["collective " + m.op + " " + m.backend].push_back(a->us / m.us - 1);
        break;
      case Family::kCopy:
        a = p.predict_copy(m.op, m.backend == "pinned", m.bytes * m.chunks, m.chunks);
        if (a) diag["copy " + m.op + " " + m.backend].push_back(a->us / m.us - 1);
        break;
      case Family::kPageMap: {
        auto& e = page[m.bytes][m.op];
        e.first += m.us;
        e.second += 1;
        continue;
      }
      case Family::kMoe: {
        const MoeQuery q = moe_query(m);
        a = p.predict_moe(q);
        if (a) diag["moe " + m.dtype + (*a->variant ? std::string(" ") + a->variant : std::string())].push_back(a->us / m.us - 1);
        auto it = p.moe.find(m.dtype);
        if (it != p.moe.end() && !it->second.coef.empty()) diag["moe (regression only)"].push_back(moe_regression_us(it->second.coef, q, p.rates) / m.us - 1);
        break;
      }
    }
    if (!a) {
      ++unanswered[fam];  // e.g. a curve whose every point was held out
      continue;
    }
    ape[fam].push_back(a->us / m.us - 1);
  }
  for (const auto& [bytes, ops] : page) {
    if (ops.size() != 2) continue;
    double us = 0;
    for (const auto& [op, e] : ops) us += e.first / e.second;
    if (auto a = p.predict_page_map(bytes)) ape["page_map"].push_back(a->us / us - 1);
  }
  std::vector<CheckRow> out;
  for (const std::string fam : {"gemm", "attention_prefill", "attention_decode", "attention_prefill (sliding window)",
                                "attention_decode (sliding window)", "collective", "copy", "page_map", "moe"}) {
    auto it = ape.find(fam);
    if (it == ape.end()) continue;
    CheckRow r = summarise(fam, p.device, it->second);
    r.target = target_of(fam.substr(0, fam.find(' ')));  // a sliding window has its family's target
    r.unanswered = unanswered[fam];
    out.push_back(r);
  }
  for (const auto& [name, v] : diag) {
    CheckRow r = summarise(name, p.device, v);
    r.diagnostic = true;
    out.push_back(r);
  }
  return out;
}

nlohmann::json residuals_json(const std::vector<CheckRow>& rows, const std::string& device, const std::string& profile_path,
                              const std::string& profile_sha256, const std::vector<std::string>& against) {
  auto entry = [](const CheckRow& r) {
    std::vector<double> q;
    for (double v : r.quantiles) q.push_back(round_sig(v, 5));
    return nlohmann::json{{"n", r.n}, {"quantiles", q}};
  };
  nlohmann::json fams = nlohmann::json::object();
  for (const auto& r : rows) {
    if (r.diagnostic || r.device != device || r.quantiles.empty()) continue;
    fams[r.family] = entry(r);
  }
  // Per-dtype GEMM distributions (the "gemm <dtype>" diagnostics) where the family pools several.
  nlohmann::json by = nlohmann::json::object();
  for (const auto& r : rows) {
    if (!r.diagnostic || r.device != device || r.quantiles.empty() || !r.family.starts_with("gemm ") || r.family[5] == '(') continue;
    by[r.family.substr(5)] = entry(r);
  }
  if (by.size() > 1 && fams.contains("gemm")) fams["gemm"]["by_dtype"] = by;
  nlohmann::json j = {{"schema", "servesim.residuals/1"},
                      {"device", device},
                      {"profile", profile_path},
                      {"profile_sha256", profile_sha256},
                      {"rule", std::string("per family (and per dtype where the GEMM family pools several: by_dtype), predicted / measured - 1 on ") +
                                   (against.empty() ? "the shapes held out of the profile's fit" : "every row of the tables in 'against'") +
                                   ", at quantiles (i + 0.5) / 100, i = 0..99 (nearest rank); written by servesim calibrate check "
                                   "--residuals-out"},
                      {"families", fams}};
  if (!against.empty()) j["against"] = against;
  return j;
}

nlohmann::json expected_error_json(const std::string& residuals_path, const std::string& shown_path) {
  const nlohmann::json r = read_json_file(residuals_path);
  const auto fams = r.find("families");
  if (r.value("schema", "") != "servesim.residuals/1" || fams == r.end() || !fams->is_object() || fams->empty()) {
    input_error(residuals_path, "expected a servesim.residuals/1 file with a non-empty families object");
  }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [family, f] : fams->items()) {
    const auto q = f.find("quantiles");
    if (q == f.end() || !q->is_array() || q->empty()) input_error(residuals_path, "families." + family + ".quantiles: expected a non-empty array");
    double abs_sum = 0;
    std::vector<double> v;
    for (const auto& x : *q) {
      if (!x.is_number()) bad_value(residuals_path + ": families." + family + ".quantiles", x.dump(), "numbers");
      v.push_back(x.get<double>());
      abs_sum += std::fabs(v.back());
    }
    out[family] = {{"mean_abs_error", round_sig(abs_sum / static_cast<double>(v.size()), 4)},
                   {"median_error", round_sig(v[v.size() / 2], 4)},
                   {"n", f.value("n", 0)}};
  }
  return {{"residuals", shown_path},
          {"checked_device", r.value("device", std::string())},
          {"checked_profile", r.value("profile", std::string())},
          {"against", r.value("against", nlohmann::json::array())},
          {"families", out},
          {"rule", "the same transfer rule checked where both devices were measured: per family, the mean absolute and the "
                   "median signed error (predicted / measured - 1) over the residual file's quantiles; families absent "
                   "were not checked"}};
}

}  // namespace servesim::calib
