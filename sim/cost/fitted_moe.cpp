// The MoE family of a fitted profile: fused routed-expert layers (vLLM's fused_moe) measured
// per shape along the tokens, and a regression over every shape (calibration/FITTING.md,
// "MoE layers").
#include <algorithm>
#include <cmath>

#include "sim/core/error.h"
#include "sim/cost/fitted_profile.h"

namespace servesim {

const std::vector<std::string>& moe_term_names() {
  static const std::vector<std::string> names = {"latency_us", "weight_byte_time", "flop_time", "activation_byte_time"};
  return names;
}

std::array<double, 4> moe_terms(const MoeQuery& q, const ProfileRates& r) {
  // MXFP4: 4-bit values and an 8-bit exponent per 32 (kMxfp4Group); its FLOPs run in bf16.
  const double wbytes = q.dtype == "fp8" || q.dtype == "fp8_block" ? 1.0 : q.dtype == "mxfp4" ? (4.0 + 8.0 / 32) / 8 : 2.0;
  const double copies = q.copies();
  // Experts that receive at least one routed copy (an even spread: all of them once there
  // are as many copies as experts), unless the query says.
  const double active = q.active > 0 ? q.active : std::max(1.0, std::min(q.local_experts, std::ceil(copies)));
  const double expert_params = 3.0 * q.hidden * q.inter;  // gate, up and down
  return {1.0, active * expert_params * wbytes / r.hbm_bandwidth * 1e6, 2.0 * copies * expert_params / r.peak(q.dtype) * 1e6,
          copies * (2.0 * q.hidden + 3.0 * q.inter) * 2.0 / r.hbm_bandwidth * 1e6};
}

double moe_regression_us(const std::vector<double>& coef, const MoeQuery& q, const ProfileRates& r) {
  SERVESIM_ASSERT(coef.size() == 4);
  const auto t = moe_terms(q, r);
  double s = 0;
  for (std::size_t i = 0; i < t.size(); ++i) s += coef[i] * t[i];  // dot()'s order
  return s;
}

MoeQuery FittedProfile::MoeGroup::query(const std::string& dtype, double at_tokens) const {
  MoeQuery q;
  q.dtype = dtype;
  q.tokens = at_tokens;
  q.hidden = hidden;
  q.inter = inter;
  q.topk = topk;
  q.local_experts = local_experts;
  q.ep = ep;
  return q;
}

double moe_group_log_ratio(const FittedProfile::MoeGroup& g, double log_tokens, const std::vector<double>& coef,
                           const std::string& dtype, const ProfileRates& r) {
  const auto& x = g.log_tokens;
  const auto& y = g.log_ratio;
  if (x.empty()) return 0;
  if (log_tokens <= x.front()) return y.front();
  if (log_tokens >= x.back()) {
    // Beyond the largest measured tokens the layer keeps its last measured *marginal*
    // efficiency against the regression (as GEMM lines do against the roofline): the time
    // grows from the last point by the regression's growth times the last step's ratio of
    // measured to regression growth (never below the last point's ratio: the fixed part of
    // the regression would otherwise make the residual shrink as the layer grows).
    const std::size_t n = x.size();
    if (n < 2 || log_tokens == x.back()) return y.back();
    const double t1 = g.tokens[n - 2], t2 = g.tokens[n - 1], u1 = g.us[n - 2], u2 = g.us[n - 1];
    const double r1 = moe_regression_us(coef, g.query(dtype, t1), r), r2 = moe_regression_us(coef, g.query(dtype, t2), r);
    const double rq = moe_regression_us(coef, g.query(dtype, std::exp(log_tokens)), r);
    const double marginal = r2 > r1 && u2 > u1 ? std::max((u2 - u1) / (r2 - r1), u2 / r2) : u2 / r2;
    return std::log((u2 + marginal * (rq - r2)) / rq);
  }
  const auto hi = static_cast<std::size_t>(std::upper_bound(x.begin(), x.end(), log_tokens) - x.begin());
  const std::size_t lo = hi - 1;
  const double f = (log_tokens - x[lo]) / (x[hi] - x[lo]);
  return y[lo] + f * (y[hi] - y[lo]);
}

void FittedProfile::finalize_moe() {
  for (auto& [dt, f] : moe) {
    for (auto& g : f.groups) {
      g.log_key = {std::log(g.hidden), std::log(g.inter), std::log(g.topk), std::log(g.local_experts), std::log(g.ep)};
      g.log_tokens.clear();
      g.log_ratio.clear();
      for (std::size_t i = 0; i < g.tokens.size(); ++i) {
        const double reg = f.coef.empty() ? 0 : moe_regression_us(f.coef, g.query(dt, g.tokens[i]), rates);
        g.log_tokens.push_back(std::log(g.tokens[i]));
        g.log_ratio.push_back(reg > 0 ? std::log(g.us[i] / reg) : 0.0);
      }
    }
  }
}

std::optional<FitAnswer> FittedProfile::predict_moe(const MoeQuery& q) const {
  const auto it = moe.find(q.dtype);
  if (it == moe.end() || it->second.coef.empty() || !(q.tokens > 0)) return std::nullopt;
  const MoeFit& f = it->second;
  const double reg = moe_regression_us(f.coef, q, rates);
  if (!(reg > 0)) return std::nullopt;
  for (const auto& g : f.groups) {
    if (g.hidden == q.hidden && g.inter == q.inter && g.topk == q.topk && g.local_experts == q.local_experts && g.ep == q.ep) {
      return FitAnswer{reg * std::exp(moe_group_log_ratio(g, std::log(q.tokens), f.coef, q.dtype, rates)), ""};
    }
  }
  return FitAnswer{reg * moe_neighbour_factor(f, q), "regression_residual"};
}

}  // namespace servesim
