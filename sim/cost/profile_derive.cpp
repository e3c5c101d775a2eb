#include "sim/cost/profile_derive.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace servesim {
namespace {

// y' = floor * floor_scale + (y - floor) * s: the latency floor (the curve's first knot)
// scales with a latency ratio, the size-dependent part with a bandwidth ratio.
KnotCurve scale_above_floor(const KnotCurve& c, double s, double floor_scale) {
  KnotCurve out = c;
  const double floor = c.y.front();
  for (double& y : out.y) y = floor * floor_scale + (y - floor) * s;
  return out;
}

double rule_number(const nlohmann::json& j, const std::string& key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number() || !(it->get<double>() > 0)) {
    bad_value(where + ": " + key, it == j.end() ? "missing" : it->dump().substr(0, 40), "a positive number (derive's rule)");
  }
  return it->get<double>();
}

// A measured time t at the target by its regression (terms `names`, at the source's rates
// `ta` and the target's `tb`): the terms that do not depend on the rates (named "..._us": a
// latency, a cost per sequence or per row) stay as they are, and the rest of t moves as the
// rate-dependent terms ("..._time": FLOPs at the peak, bytes at the bandwidth) move. A point
// measured at or below its fixed part scales as a whole (b / a).
double scale_by_regression(double t, const std::vector<double>& coef, const std::vector<double>& ta, const std::vector<double>& tb,
                           const std::vector<std::string>& names) {
  double a = 0, b = 0, fixed = 0;
  for (std::size_t i = 0; i < coef.size() && i < ta.size() && i < tb.size() && i < names.size(); ++i) {
    a += coef[i] * ta[i];
    b += coef[i] * tb[i];
    if (names[i].ends_with("_us")) fixed += coef[i] * ta[i];
  }
  if (!(a > 0 && b > 0)) return t;
  if (fixed > 0 && t > fixed && a > fixed && b > fixed) return fixed + (t - fixed) * (b - fixed) / (a - fixed);
  return t * (b / a);
}

}  // namespace

void DeriveRule::to_json(nlohmann::json& d) const {
  d["same_chip_layout"] = same_chip_layout;
  d["collective_scale"] = collective_scale;
  d["collective_latency_scale"] = collective_latency_scale;
  d["link_scale"] = link_scale;
  d["cpu_scale"] = cpu_scale;
}

DeriveRule DeriveRule::from_json(const nlohmann::json& d, const std::string& where) {
  DeriveRule r;
  const auto same = d.find("same_chip_layout");
  if (same == d.end() || !same->is_boolean()) {
    bad_value(where + ": same_chip_layout", same == d.end() ? "missing" : same->dump().substr(0, 40), "true or false");
  }
  r.same_chip_layout = same->get<bool>();
  r.collective_scale = rule_number(d, "collective_scale", where);
  r.collective_latency_scale = rule_number(d, "collective_latency_scale", where);
  r.link_scale = rule_number(d, "link_scale", where);
  r.cpu_scale = rule_number(d, "cpu_scale", where);
  return r;
}

void keep_source_order(const std::vector<std::array<double, 3>>& at, const std::vector<double>& src, std::vector<double>& d) {
  SERVESIM_ASSERT(at.size() == src.size() && src.size() == d.size());
  // Per axis, the points ordered by their other two coordinates, then along the axis: each
  // point's predecessor in that order is its neighbour one step smaller (when the others match).
  std::array<std::vector<std::size_t>, 3> order;
  for (std::size_t a = 0; a < 3; ++a) {
    auto& o = order[a];
    o.resize(at.size());
    std::iota(o.begin(), o.end(), std::size_t{0});
    const std::size_t u = (a + 1) % 3, v = (a + 2) % 3;
    std::stable_sort(o.begin(), o.end(), [&](std::size_t i, std::size_t j) {
      return std::tie(at[i][u], at[i][v], at[i][a]) < std::tie(at[j][u], at[j][v], at[j][a]);
    });
  }
  // A raise along one axis can break an order along another: until nothing moves (values only
  // rise, each to a value already present, so this ends).
  for (bool moved = true; moved;) {
    moved = false;
    for (std::size_t a = 0; a < 3; ++a) {
      const std::size_t u = (a + 1) % 3, v = (a + 2) % 3;
      const auto& o = order[a];
      for (std::size_t i = 1; i < o.size(); ++i) {
        const std::size_t p = o[i - 1], q = o[i];
        if (at[p][u] != at[q][u] || at[p][v] != at[q][v] || !(at[q][a] > at[p][a])) continue;
        if (src[p] <= src[q] && d[q] < d[p]) {
          d[q] = d[p];
          moved = true;
        }
      }
    }
  }
}

void derive_families(const FittedProfile& src, const DeriveRule& rule, FittedProfile& out) {
  const ProfileRates& rs = src.rates;
  const ProfileRates& rt = out.rates;
  for (const auto& [dt, g] : src.gemm) {
    FittedProfile::GemmFit ng;
    ng.coef = g.coef;
    std::vector<std::array<double, 3>> at;
    std::vector<double> measured, derived;
    for (const auto& [key, line] : g.grid.lines()) {
      for (std::size_t i = 0; i < line.x.size(); ++i) {
        double y = line.y[i];
        if (!g.coef.empty()) {
          const auto ta = gemm_terms(line.x[i], key[0], key[1], dt, rs), tb = gemm_terms(line.x[i], key[0], key[1], dt, rt);
          const double a = dot(g.coef, ta), b = dot(g.coef, tb);
          if (a > 0 && b > 0) y = rule.same_chip_layout ? scale_by_regression(y, g.coef, ta, tb, gemm_term_names()) : b;
        }
        at.push_back({line.x[i], key[0], key[1]});
        measured.push_back(line.y[i]);
        derived.push_back(y);
      }
    }
    keep_source_order(at, measured, derived);
    for (std::size_t i = 0; i < at.size(); ++i) ng.grid.add({at[i][1], at[i][2]}, at[i][0], derived[i]);
    out.gemm.emplace(dt, std::move(ng));
  }
  out.moe = derive_moe(src.moe, rs, rt, rule.same_chip_layout);
  // Attention: the same per configuration (across layouts the residual kept as a ratio); the
  // global regression carries over as is.
  for (const bool prefill : {true, false}) {
    const auto& sa = prefill ? src.prefill : src.decode;
    auto& da = prefill ? out.prefill : out.decode;
    da.global = sa.global;
    da.kernels = sa.kernels;
    for (const auto& c : sa.configs) {
      FittedProfile::AttentionConfig nc = c;
      std::vector<std::array<double, 3>> at;
      std::vector<double> measured, derived;
      for (auto& p : nc.points) {
        const auto q = AttentionQuery::uniform(c.heads, c.kv_heads, c.head_dim, c.kv_dtype, c.layout == "paged", p.batch, p.q, p.ctx);
        at.push_back({p.batch, p.q, p.ctx});
        measured.push_back(p.us);
        const auto ta = attention_terms(prefill, q, rs), tb = attention_terms(prefill, q, rt);
        const double a = dot(c.coef, ta), b = dot(c.coef, tb);
        // Across chip layouts the kernel's fixed costs are not known to carry: the whole time
        // scales (the residual kept as a ratio).
        derived.push_back(rule.same_chip_layout ? scale_by_regression(p.us, c.coef, ta, tb, attention_term_names(prefill))
                          : a > 0 && b > 0      ? p.us * (b / a)
                                                : p.us);
      }
      keep_source_order(at, measured, derived);
      for (std::size_t i = 0; i < nc.points.size(); ++i) nc.points[i].us = derived[i];
      da.configs.push_back(std::move(nc));
    }
  }
  // Collectives: the latency floor (per-step latency) scaled by the SM clocks, the rest of the
  // reductions by the achieved all-reduce bandwidth; point-to-point traffic by the link peaks.
  for (const auto& c : src.collectives) {
    FittedProfile::Curve nc = c;
    const bool reduction_family = c.op == "all_reduce" || c.op == "all_gather" || c.op == "reduce_scatter";
    nc.curve = scale_above_floor(c.curve, reduction_family ? rule.collective_scale : rule.link_scale, rule.collective_latency_scale);
    out.collectives.push_back(std::move(nc));
  }
  // Copies: per-call latency by host CPU, bytes by host-link (h2d/d2h) or HBM (d2d) bandwidth.
  for (const auto& c : src.copies) {
    FittedProfile::Curve nc = c;
    const double s = c.op == "d2d" ? rs.hbm_bandwidth / rt.hbm_bandwidth : rs.host_link_bandwidth / rt.host_link_bandwidth;
    nc.curve = scale_above_floor(c.curve, s, rule.cpu_scale);
    out.copies.push_back(std::move(nc));
  }
  // Host-side driver calls scale with the host CPU.
  if (src.page_map) {
    KnotCurve k = *src.page_map;
    for (double& y : k.y) y *= rule.cpu_scale;
    out.page_map = k;
  }
  out.launch = src.launch;
  out.kernel_set = src.kernel_set;  // the same kernels, on another device
}

std::map<std::string, FittedProfile::MoeFit> derive_moe(const std::map<std::string, FittedProfile::MoeFit>& src,
                                                        const ProfileRates& rs, const ProfileRates& rt, bool same_chip_layout) {
  std::map<std::string, FittedProfile::MoeFit> out;
  for (const auto& [dt, f] : src) {
    FittedProfile::MoeFit nf;
    nf.kernel = f.kernel;
    nf.coef = f.coef;
    if (same_chip_layout) {
      nf.groups = f.groups;
      for (auto& g : nf.groups) {
        for (std::size_t i = 0; i < g.tokens.size(); ++i) {
          const MoeQuery q = g.query(dt, g.tokens[i]);
          const auto ta = moe_terms(q, rs), tb = moe_terms(q, rt);
          g.us[i] = scale_by_regression(g.us[i], f.coef, {ta.begin(), ta.end()}, {tb.begin(), tb.end()}, moe_term_names());
        }
      }
    }
    out.emplace(dt, std::move(nf));
  }
  return out;
}

const std::vector<std::string>& profile_family_names() {
  static const std::vector<std::string> kNames = {"gemm", "attention_prefill", "attention_decode", "collective", "copy", "page_map", "moe"};
  return kNames;
}

void copy_family(const FittedProfile& from, const std::string& family, FittedProfile& to, const std::string& where) {
  if (family == "gemm") {
    to.gemm = from.gemm;
  } else if (family == "attention_prefill") {
    to.prefill = from.prefill;
  } else if (family == "attention_decode") {
    to.decode = from.decode;
  } else if (family == "collective") {
    to.collectives = from.collectives;
  } else if (family == "copy") {
    to.copies = from.copies;
  } else if (family == "page_map") {
    to.page_map = from.page_map;
  } else if (family == "moe") {
    to.moe = from.moe;
  } else {
    bad_value(where, family, "a profile family: gemm, attention_prefill, attention_decode, collective, copy, page_map or moe");
  }
}

}  // namespace servesim
