// Answers for what a profile never measured, from what it measured nearby (calibration/
// FITTING.md: "GEMMs between sparse lines", "Head configurations never measured", "Rank
// counts between measured ones"):
// - a GEMM (n, k) with no box of measured lines around it: the regression times the residual
//   (measured / regression) of the lines near (n, k) at the same m;
// - attention of a head configuration never measured: the global regression times the
//   residual (configuration's answer / global regression) of the configurations near it;
// - a collective of a GPU count between two measured ones: their bus bandwidths interpolated;
// - a MoE layer of a shape never measured: the regression times the residual of the measured
//   shapes near it (hidden, expert width, top-k, local experts, EP) at the same tokens.
// The GEMM, attention and MoE rules share one weighting (NeighbourMean): each neighbour's log residual weighs
// exp(-(d / 0.7)^2), d the sum of |log| size ratios, beside the regression's own residual, 0,
// weighing as a neighbour at d = 1: near a measured neighbour its residual answers, far from
// every one the regression does.
#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/cost/fitted_profile.h"

namespace servesim {
namespace {

// The weighted mean of neighbours' log residuals beside the prior's 0. Width and prior
// distance: chosen on the A100 leave-one-model-out GEMM check among (0.35, 0.5, 0.7) x (0.5,
// 0.75, 1), all within 0.3 point of each other there; of the two best, the wider, whose GEMM
// answers vary least from one (n, k) to the next. Attention takes them as they are.
class NeighbourMean {
 public:
  static constexpr double kWidth = 0.7, kPriorDistance = 1.0;
  // Neighbours weighing below e^-14 (under 1e-5 of the prior's weight; a residual of 20x from
  // one moves the answer by 3e-5 of itself) are skipped: each costs a lookup.
  static constexpr double kIgnore = 14;
  // exp(-weight_exponent(d)) is a neighbour's weight; above kIgnore, skip it.
  static double weight_exponent(double d) { return d * d / (kWidth * kWidth); }
  void add(double exponent, double log_residual) {
    const double w = std::exp(-exponent);
    wsum_ += w;
    lsum_ += w * log_residual;
  }
  double factor() const { return std::exp(lsum_ / wsum_); }

 private:
  double wsum_ = std::exp(-weight_exponent(kPriorDistance));
  double lsum_ = 0;
};

// The share of a collective's bytes each rank's link carries (nccl-tests' bus bandwidth
// factor): all-reduce 2 (n - 1) / n, the others (n - 1) / n.
double bus_factor(const std::string& op, double n) { return (op == "all_reduce" ? 2.0 : 1.0) * (n - 1) / n; }

}  // namespace

double FittedProfile::moe_neighbour_factor(const MoeFit& f, const MoeQuery& q) const {
  const std::array<double, 5> key = {std::log(q.hidden), std::log(q.inter), std::log(q.topk), std::log(q.local_experts),
                                     std::log(q.ep)};
  const double lt = std::log(q.tokens);
  NeighbourMean mean;
  for (const auto& g : f.groups) {
    double d = 0;
    for (std::size_t i = 0; i < key.size(); ++i) d += std::abs(g.log_key[i] - key[i]);
    const double e = NeighbourMean::weight_exponent(d);
    if (e > NeighbourMean::kIgnore) continue;
    mean.add(e, moe_group_log_ratio(g, lt, f.coef, q.dtype, rates));
  }
  return mean.factor();
}

std::optional<double> FittedProfile::gemm_from_neighbours(const GemmFit& g, double m, double n, double k,
                                                          const std::string& dtype) const {
  // Every line takes part at every m (the weights vary smoothly with n and k, so the answer has
  // no jumps of its own). The regression's terms carry what changes with the shape (latency,
  // FLOPs, waves, bytes); the residual what the regression misses and neighbouring shapes
  // share: its byte term, fitted over every shape, put decode-sized GEMMs at the peak
  // bandwidth (-16 % median on held-out models' m <= 16 GEMMs).
  if (g.coef.empty()) return std::nullopt;
  const double reg = gemm_regression_us(g.coef, m, n, k, dtype, rates);
  if (!(reg > 0)) return std::nullopt;
  const double ln = std::log(n), lk = std::log(k);
  const bool logs_ready = g.log_keys.size() == g.grid.lines().size();  // finalize() ran since the last add
  NeighbourMean mean;
  std::size_t i = 0;
  for (const auto& [key, line] : g.grid.lines()) {
    const auto lkey = logs_ready ? g.log_keys[i++] : std::array<double, 2>{std::log(key[0]), std::log(key[1])};
    const double e = NeighbourMean::weight_exponent(std::abs(lkey[0] - ln) + std::abs(lkey[1] - lk));
    if (e > NeighbourMean::kIgnore) continue;
    const auto t = g.grid.line_at(key, m);
    const double line_reg = gemm_regression_us(g.coef, m, key[0], key[1], dtype, rates);
    if (!t || !(*t > 0) || !(line_reg > 0)) continue;
    mean.add(e, std::log(*t / line_reg));
  }
  return reg * mean.factor();
}

double FittedProfile::attention_neighbour_factor(bool prefill, const AttentionFit& f, const AttentionQuery& q,
                                                 double peak) const {
  // Configurations of the preferred kernel, the query's KV dtype and layout (neighbour_pool,
  // built by finalize()), each asked with
  // its own heads at the query's batch and lengths. Only the kNearest nearest take part: a
  // model's head shape is fixed, so no jump in it matters, and each neighbour costs a
  // residual lookup on every step that prices this attention.
  if (q.heads <= 0 || q.kv_heads <= 0 || q.head_dim <= 0 || (q.kv_dtype != "fp8" && q.kv_dtype != "bf16")) return 1.0;
  constexpr std::size_t kNearest = 4;
  const double lh = std::log(static_cast<double>(q.heads)), lkv = std::log(static_cast<double>(q.kv_heads)),
               ld = std::log(static_cast<double>(q.head_dim));
  std::array<std::pair<double, const AttentionConfig*>, kNearest> near{};
  std::size_t have = 0;
  for (const std::size_t i : f.neighbour_pool[(q.kv_dtype == "fp8" ? 2 : 0) + (q.paged ? 1 : 0)]) {
    const AttentionConfig& c = f.configs[i];
    const double e = NeighbourMean::weight_exponent(std::abs(c.log_shape[0] - lh) + std::abs(c.log_shape[1] - lkv) +
                                                    std::abs(c.log_shape[2] - ld));
    if (e > NeighbourMean::kIgnore || (have == kNearest && e >= near[kNearest - 1].first)) continue;
    std::size_t j = have < kNearest ? have++ : kNearest - 1;
    for (; j > 0 && near[j - 1].first > e; --j) near[j] = near[j - 1];  // ties: the earlier configuration stays
    near[j] = {e, &c};
  }
  NeighbourMean mean;
  for (std::size_t j = 0; j < have; ++j) {
    const AttentionConfig& c = *near[j].second;
    AttentionQuery qc = q;
    qc.heads = c.heads;
    qc.kv_heads = c.kv_heads;
    qc.head_dim = qc.v_head_dim = c.head_dim;
    qc.kv_bytes_per_token = q.kv_bytes_per_token * (static_cast<double>(c.kv_heads) * c.head_dim) /
                            (static_cast<double>(q.kv_heads) * q.head_dim);
    std::array<double, 7> terms{};
    const std::size_t n = attention_terms_into(prefill, qc, rates, peak, terms);
    const double global = dot_n(f.global, terms, n);
    const auto measured = config_answer(prefill, c, qc, terms, n, peak);
    if (!measured || !(*measured > 0) || !(global > 0)) continue;
    mean.add(near[j].first, std::log(*measured / std::max(global, f.global_floor_us)));
  }
  return mean.factor();
}

std::optional<FitAnswer> FittedProfile::between_rank_counts(const std::string& op, int ranks, double bytes,
                                                            const std::string& backend) const {
  // A rank count between two measured ones (3 between 2 and 4, 6 between 4 and 8) of the same
  // op and backend: the bus bandwidth each reaches at these bytes (bytes x bus factor / time),
  // interpolated in (log ranks, log bus bandwidth), carried back through this count's bus
  // factor. Outside the measured counts: nothing (the roofline answers).
  std::optional<FitAnswer> best;
  for (const Curve& lo : collectives) {
    if (lo.op != op || lo.ranks >= ranks || (!backend.empty() && lo.backend != backend)) continue;
    const Curve* hi = nullptr;
    bool nearest_below = true;  // lo must be the largest measured count below `ranks`
    for (const Curve& c : collectives) {
      if (c.op != op || c.backend != lo.backend) continue;
      if (c.ranks > ranks && (!hi || c.ranks < hi->ranks)) hi = &c;
      nearest_below &= !(c.ranks > lo.ranks && c.ranks < ranks);
    }
    if (!hi || !nearest_below) continue;
    const double t_lo = lo.envelope.at(bytes), t_hi = hi->envelope.at(bytes);
    if (!(t_lo > 0) || !(t_hi > 0)) continue;
    const double b_lo = bytes * bus_factor(op, lo.ranks) / t_lo, b_hi = bytes * bus_factor(op, hi->ranks) / t_hi;
    const double f = std::log(static_cast<double>(ranks) / lo.ranks) / std::log(static_cast<double>(hi->ranks) / lo.ranks);
    const double us = bytes * bus_factor(op, ranks) / std::exp(std::log(b_lo) + f * (std::log(b_hi) - std::log(b_lo)));
    if (!best || us < best->us) best = FitAnswer{us, lo.backend.c_str()};
  }
  return best;
}

}  // namespace servesim
