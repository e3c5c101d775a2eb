#include "sim/calibrate/fit.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "sim/calibrate/least_squares.h"
#include "sim/core/error.h"
#include "sim/cost/sha256.h"

namespace servesim::calib {

nlohmann::json FitSettings::to_json() const {
  nlohmann::json j = {{"holdout",
           {{"rule", "a shape is held out of the fit when the first 64 bits of SHA-256(shape key), read big-endian, are "
                     "divisible by modulus"},
            {"modulus", holdout_modulus}}},
          {"knot_ratio", knot_ratio},
          {"min_config_points", min_config_points}};
  if (holdout_largest > 0) {
    j["holdout"] = {{"rule", "the rows whose size is at least the (1 - largest) quantile of their family's sizes (GEMM m; "
                             "attention batch x (q + ctx); collective bytes; copy bytes per copy; page size)"},
                    {"largest", holdout_largest}};
  }
  return j;
}

FitSettings FitSettings::from_json(const nlohmann::json& j, const std::string& where) {
  FitSettings s;
  try {
    const auto& h = j.at("holdout");
    if (h.contains("largest")) {
      s.holdout_largest = h.at("largest").get<double>();
      s.holdout_modulus = 0;
    } else {
      s.holdout_modulus = h.at("modulus").get<std::uint64_t>();
    }
    s.knot_ratio = j.at("knot_ratio").get<double>();
    s.min_config_points = j.at("min_config_points").get<std::size_t>();
  } catch (const nlohmann::json::exception&) {
    input_error(where, "malformed fit_settings, expected holdout.modulus, knot_ratio and min_config_points");
  }
  if (s.knot_ratio <= 1) bad_value(where + ": knot_ratio", std::to_string(s.knot_ratio), "a number > 1");
  if (!(s.holdout_largest >= 0 && s.holdout_largest < 1)) {
    bad_value(where + ": holdout.largest", std::to_string(s.holdout_largest), "a fraction in [0, 1)");
  }
  return s;
}

namespace {
double holdout_size(const Measurement& m) {
  switch (m.family) {
    case Family::kGemm:
    case Family::kMoe: return m.m;
    case Family::kAttentionPrefill:
    case Family::kAttentionDecode: return m.batch * (m.q + m.ctx);
    case Family::kCollective:
    case Family::kPageMap:
    // A copy's size is the bytes of one copy (its curve's x); a chain of N copies is not an
    // N-times larger copy, and keying on bytes x chunks would hold out every chained row.
    case Family::kCopy: return m.bytes;
  }
  return 0;
}
}  // namespace

FitSettings with_size_holdout(const FitSettings& s, const MeasurementSet& set) {
  FitSettings out = s;
  out.size_floor.clear();
  if (s.holdout_largest <= 0) return out;
  std::map<int, std::vector<double>> sizes;
  for (const auto& r : set.rows) sizes[static_cast<int>(r.family)].push_back(holdout_size(r));
  for (auto& [fam, v] : sizes) {
    std::sort(v.begin(), v.end());
    const auto at = static_cast<std::size_t>(std::floor((1.0 - s.holdout_largest) * static_cast<double>(v.size())));
    out.size_floor[fam] = v[std::min(at, v.size() - 1)];
  }
  return out;
}

bool is_held_out(const Measurement& m, const FitSettings& s) {
  if (s.holdout_largest > 0) {
    auto it = s.size_floor.find(static_cast<int>(m.family));
    SERVESIM_ASSERT(it != s.size_floor.end() || s.size_floor.empty());
    return it != s.size_floor.end() && holdout_size(m) >= it->second;
  }
  return s.holdout_modulus > 0 && sha256_u64(m.key()) % s.holdout_modulus == 0;
}

std::vector<bool> owned_rows(const MeasurementSet& set) {
  std::map<std::string, int> owner;
  for (const auto& r : set.rows) owner.emplace(r.group(), r.input);
  std::vector<bool> out(set.rows.size());
  for (std::size_t i = 0; i < set.rows.size(); ++i) out[i] = owner.at(set.rows[i].group()) == set.rows[i].input;
  return out;
}

ProfileRates rates_of(const DeviceSpec& dev) {
  ProfileRates r;
  r.peak_flops["bf16"] = dev.peak_flops(DType::kBf16);
  r.peak_flops["fp8"] = dev.peak_flops(DType::kFp8);
  r.hbm_bandwidth = dev.hbm_bandwidth;
  r.sm_count = dev.sm_count;
  r.intra_node_bandwidth = dev.intra_node_bandwidth;
  r.host_link_bandwidth = dev.host_link_bandwidth;
  r.collective_busbw = dev.achievable_collective_busbw.value_or(0.0);
  r.nvls_allreduce_busbw = dev.achievable_nvls_allreduce_busbw.value_or(0.0);
  r.pageable_h2d_bandwidth = dev.achievable_pageable_h2d_bandwidth.value_or(0.0);
  r.pageable_d2h_bandwidth = dev.achievable_pageable_d2h_bandwidth.value_or(0.0);
  return r;
}

namespace {

// A piecewise-linear curve through knots chosen among the measured x (each at least
// `ratio` times the previous; the largest x always a knot), values by least squares on
// relative error over all points (hat basis), so dense noisy data is smoothed and sparse
// data interpolated exactly.
KnotCurve fit_knots(std::vector<std::pair<double, double>> pts, double ratio) {
  std::sort(pts.begin(), pts.end());
  std::vector<double> knots;
  for (const auto& [x, y] : pts) {
    if (knots.empty() || x >= knots.back() * ratio) knots.push_back(x);
  }
  const double xmax = pts.back().first;
  if (knots.back() != xmax) {
    if (knots.size() > 1 && xmax < knots.back() * std::sqrt(ratio)) knots.back() = xmax;
    else knots.push_back(xmax);
  }
  KnotCurve c;
  c.x = knots;
  if (knots.size() == 1) {
    double s = 0;
    for (const auto& p : pts) s += p.second;
    c.y = {s / static_cast<double>(pts.size())};
    return c;
  }
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(pts.size()), static_cast<Eigen::Index>(knots.size()));
  Eigen::VectorXd y(static_cast<Eigen::Index>(pts.size()));
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const double x = pts[i].first;
    auto it = std::upper_bound(knots.begin(), knots.end(), x);
    std::size_t b = static_cast<std::size_t>(it - knots.begin());
    if (b >= knots.size()) b = knots.size() - 1;
    if (b == 0) b = 1;
    const std::size_t a = b - 1;
    const double w = std::clamp((x - knots[a]) / (knots[b] - knots[a]), 0.0, 1.0);
    X(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(a)) = 1 - w;
    X(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(b)) += w;
    y(static_cast<Eigen::Index>(i)) = pts[i].second;
  }
  c.y = fit_relative_nonneg(X, y);
  // A knot the fit drove to zero (possible only with contradictory data) takes its
  // neighbour's value, so the curve stays positive.
  for (std::size_t i = 0; i < c.y.size(); ++i) {
    if (c.y[i] > 0) continue;
    for (std::size_t d = 1; d < c.y.size(); ++d) {
      if (i >= d && c.y[i - d] > 0) { c.y[i] = c.y[i - d]; break; }
      if (i + d < c.y.size() && c.y[i + d] > 0) { c.y[i] = c.y[i + d]; break; }
    }
  }
  return c;
}

std::vector<double> fit_terms(const std::vector<std::vector<double>>& rows, const std::vector<double>& y) {
  Eigen::MatrixXd X(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(rows.front().size()));
  Eigen::VectorXd Y(static_cast<Eigen::Index>(rows.size()));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < rows[i].size(); ++j) X(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = rows[i][j];
    Y(static_cast<Eigen::Index>(i)) = y[i];
  }
  return fit_relative_nonneg(X, Y);
}

std::string input_date(const MeasurementSet& set) {
  std::string d;
  for (const auto& in : set.inputs) d = std::max(d, in.date);
  return d.empty() ? "unknown (no input carries a date)" : d;
}

}  // namespace

MoeQuery moe_query(const Measurement& m) {
  MoeQuery q;
  q.dtype = m.dtype;
  q.tokens = m.m;
  q.hidden = m.k;
  q.inter = m.n / m.ranks;
  q.topk = m.topk;
  q.local_experts = static_cast<double>(m.experts / m.ep);
  q.ep = m.ep;
  return q;
}

FittedProfile fit_profile(const MeasurementSet& set, const DeviceSpec& dev, const FitSettings& settings) {
  const FitSettings s = with_size_holdout(settings, set);
  FittedProfile p;
  p.device = dev.name;
  p.status = "measured";
  p.rates = rates_of(dev);
  const std::vector<bool> owned = owned_rows(set);

  std::map<std::string, std::vector<std::vector<double>>> gemm_x;
  std::map<std::string, std::vector<double>> gemm_y;
  struct AttnAcc {
    std::vector<FittedProfile::AttentionPoint> pts;
    std::vector<std::vector<double>> x;
    std::vector<double> y;
  };
  std::map<std::string, AttnAcc> attn[2];
  std::map<std::string, const Measurement*> attn_proto;
  std::map<std::string, std::vector<std::pair<double, double>>> curves;
  std::map<std::string, std::vector<const Measurement*>> chains;  // copies of more than one chunk
  std::map<std::string, const Measurement*> curve_proto;
  std::map<double, std::map<std::string, std::pair<double, int>>> page;  // bytes -> op -> (sum, count)
  struct MoeAcc {
    std::string kernel;
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    // Per-device shape -> tokens -> (sum, count): two measured layers of one per-device shape
    // (e.g. width 2,048 on 2 shards and 1,024 on one) are one group, their times averaged.
    std::map<std::array<double, 5>, std::map<double, std::pair<double, int>>> groups;
  };
  std::map<std::string, MoeAcc> moe;
  std::vector<std::size_t> shadowed(set.inputs.size(), 0), held(set.inputs.size(), 0), used(set.inputs.size(), 0);

  for (std::size_t i = 0; i < set.rows.size(); ++i) {
    const Measurement& m = set.rows[i];
    const auto in = static_cast<std::size_t>(m.input);
    if (!owned[i]) { ++shadowed[in]; continue; }
    if (is_held_out(m, s)) { ++held[in]; continue; }
    ++used[in];
    switch (m.family) {
      case Family::kGemm: {
        auto& g = p.gemm[m.dtype];
        g.grid.add({m.n, m.k}, m.m, m.us);
        gemm_x[m.dtype].push_back(gemm_terms(m.m, m.n, m.k, m.dtype, p.rates));
        gemm_y[m.dtype].push_back(m.us);
        break;
      }
      case Family::kAttentionPrefill:
      case Family::kAttentionDecode: {
        const bool prefill = m.family == Family::kAttentionPrefill;
        const auto q = AttentionQuery::uniform(m.heads, m.kv_heads, m.head_dim, m.dtype, m.layout == "paged", m.batch, m.q, m.ctx);
        auto terms = attention_terms(prefill, q, p.rates);
        auto& acc = attn[prefill ? 0 : 1][m.group()];
        acc.pts.push_back({m.batch, m.q, m.ctx, m.us});
        acc.x.push_back(terms);
        acc.y.push_back(m.us);
        attn_proto.emplace(m.group(), &m);
        break;
      }
      case Family::kCollective:
      case Family::kCopy:
        if (m.chunks > 1) {
          chains[m.group()].push_back(&m);
        } else {
          curves[m.group()].emplace_back(m.bytes, m.us);
        }
        curve_proto.emplace(m.group(), &m);
        break;
      case Family::kPageMap: {
        auto& e = page[m.bytes][m.op];
        e.first += m.us;
        e.second += 1;
        break;
      }
      case Family::kMoe: {
        const MoeQuery q = moe_query(m);
        auto& acc = moe[m.dtype];
        acc.kernel = m.kernel;
        const auto t = moe_terms(q, p.rates);
        acc.x.emplace_back(t.begin(), t.end());
        acc.y.push_back(m.us);
        auto& e = acc.groups[{q.hidden, q.inter, q.topk, q.local_experts, q.ep}][q.tokens];
        e.first += m.us;
        e.second += 1;
        break;
      }
    }
  }

  for (auto& [dt, g] : p.gemm) {
    g.grid.finalize();
    g.coef = fit_terms(gemm_x[dt], gemm_y[dt]);
  }
  for (int f = 0; f < 2; ++f) {
    FittedProfile::AttentionFit& af = f == 0 ? p.prefill : p.decode;
    if (attn[f].empty()) continue;
    // Kernels measured, in the preference order of attention_kernel_preference().
    std::set<std::string> measured;
    for (const auto& [group, acc] : attn[f]) measured.insert(attn_proto.at(group)->kernel);
    for (const auto& k : attention_kernel_preference(f == 0))
      if (measured.erase(k)) af.kernels.push_back(k);
    for (const auto& k : measured) af.kernels.push_back(k);
    // The global regression: every configuration of the preferred kernel.
    std::vector<std::vector<double>> gx;
    std::vector<double> gy;
    for (const auto& [group, acc] : attn[f]) {
      if (attn_proto.at(group)->kernel != af.kernels.front()) continue;
      gx.insert(gx.end(), acc.x.begin(), acc.x.end());
      gy.insert(gy.end(), acc.y.begin(), acc.y.end());
    }
    af.global = fit_terms(gx, gy);
    for (auto& [group, acc] : attn[f]) {
      if (acc.pts.size() < s.min_config_points) continue;
      const Measurement* m = attn_proto.at(group);
      FittedProfile::AttentionConfig c;
      c.heads = m->heads;
      c.kv_heads = m->kv_heads;
      c.head_dim = m->head_dim;
      c.kv_dtype = m->dtype;
      c.layout = m->layout;
      c.kernel = m->kernel;
      c.coef = fit_terms(acc.x, acc.y);
      c.points = acc.pts;
      af.configs.push_back(std::move(c));
    }
  }
  for (auto& [group, pts] : curves) {
    const Measurement* m = curve_proto.at(group);
    FittedProfile::Curve c;
    c.op = m->op;
    c.backend = m->backend;
    c.ranks = m->ranks;
    c.curve = fit_knots(pts, s.knot_ratio);
    // Chains of N copies take one + (N - 1) max(one + gap, issue): each further copy waits
    // for the previous one plus the engine's gap, or for the host to issue it. gap and
    // issue are the candidates (from each chain's per-copy time) with the least squared
    // relative error over the chains.
    const auto& ch = chains[group];
    std::vector<double> gaps = {0.0}, issues = {0.0};
    for (const Measurement* x : ch) {
      const double one = c.curve.at(x->bytes);
      const double per = (x->us - one) / (x->chunks - 1);
      if (per > 0) issues.push_back(per);
      if (per > one) gaps.push_back(per - one);
    }
    double best_err = -1;
    for (double g : gaps) {
      for (double f : issues) {
        double err = 0;
        for (const Measurement* x : ch) {
          const double one = c.curve.at(x->bytes);
          const double e = (one + (x->chunks - 1) * std::max(one + g, f)) / x->us - 1;
          err += e * e;
        }
        if (best_err < 0 || err < best_err - 1e-15) {
          best_err = err;
          c.gap_us = g;
          c.issue_floor_us = f;
        }
      }
    }
    (m->family == Family::kCollective ? p.collectives : p.copies).push_back(std::move(c));
  }
  if (!page.empty()) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& [bytes, ops] : page) {
      if (ops.size() != 2) continue;  // needs both cuMemMap and cuMemSetAccess
      double us = 0;
      for (const auto& [op, e] : ops) us += e.first / e.second;
      pts.emplace_back(bytes, us);
    }
    if (!pts.empty()) p.page_map = fit_knots(pts, 1.0000001);
  }
  for (auto& [dt, acc] : moe) {
    FittedProfile::MoeFit& f = p.moe[dt];
    f.kernel = acc.kernel;
    f.coef = fit_terms(acc.x, acc.y);
    for (const auto& [key, pts] : acc.groups) {
      FittedProfile::MoeGroup g;
      g.hidden = key[0];
      g.inter = key[1];
      g.topk = key[2];
      g.local_experts = key[3];
      g.ep = key[4];
      for (const auto& [tokens, e] : pts) {
        g.tokens.push_back(tokens);
        g.us.push_back(e.first / e.second);
      }
      f.groups.push_back(std::move(g));
    }
  }
  if (!set.launch.empty()) p.launch = set.launch;

  nlohmann::json inputs = nlohmann::json::array();
  for (std::size_t i = 0; i < set.inputs.size(); ++i) {
    const auto& in = set.inputs[i];
    nlohmann::json skipped = nlohmann::json::object();
    for (const auto& [why, n] : in.skipped) skipped[why] = n;
    inputs.push_back({{"path", in.rel_path}, {"sha256", in.sha256}, {"format", in.format}, {"rows", in.rows},
                      {"kept", in.kept}, {"skipped", skipped}, {"shadowed", shadowed[i]}, {"held_out", held[i]},
                      {"fitted", used[i]}, {"date", in.date}});
  }
  p.provenance = {{"inputs", inputs}, {"fit_settings", s.to_json()}, {"data_date", input_date(set)},
                  {"tool", "servesim calibrate fit"}};
  p.finalize();
  return p;
}

const std::vector<std::string>& attention_kernel_preference(bool prefill) {
  // Production serving kernels first (vLLM's FlashAttention-3, cuDNN's fused attention),
  // then PyTorch's FlashAttention-2, then the harness's own decode kernel.
  static const std::vector<std::string> p = {"vllm_flash_attn_fa3", "cudnn_sdpa", "flash_varlen"};
  static const std::vector<std::string> d = {"vllm_flash_attn_fa3", "flash_varlen_contig", "flash_varlen_paged",
                                             "servesim_paged", "servesim_contig"};
  return prefill ? p : d;
}


namespace {
// A number as the profile stores it: integral values without a fraction ("32", not "32.0"),
// others in nlohmann's shortest round-trip form. Values are unchanged; the files are ~25% smaller.
void dump_number(const nlohmann::json& j, std::string& out) {
  if (j.is_number_float()) {
    const double x = j.get<double>();
    if (std::isfinite(x) && x == std::trunc(x) && std::fabs(x) < 1e15) {
      out += std::to_string(static_cast<long long>(x));
      return;
    }
  }
  out += j.dump();
}

void dump_scalar_array(const nlohmann::json& j, std::string& out) {
  out += "[";
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (i) out += ",";
    dump_number(j[i], out);
  }
  out += "]";
}

bool scalar_array(const nlohmann::json& j) {
  return j.is_array() && std::all_of(j.begin(), j.end(), [](const nlohmann::json& e) { return e.is_primitive(); });
}

void dump_rec(const nlohmann::json& j, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  const std::string pad_in(static_cast<std::size_t>(indent + 1) * 2, ' ');
  if (j.is_object()) {
    if (j.empty()) { out += "{}"; return; }
    // An object of numbers, strings and flat arrays (a GEMM line, a curve) on one line: the
    // profile's bulk, whose indentation alone would be ~7 % of its size.
    if (std::all_of(j.begin(), j.end(), [](const nlohmann::json& v) { return v.is_primitive() || scalar_array(v); })) {
      out += "{";
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!first) out += ", ";
        first = false;
        out += nlohmann::json(k).dump() + ": ";
        if (v.is_array()) dump_scalar_array(v, out);
        else dump_number(v, out);
      }
      out += "}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      if (!first) out += ",\n";
      first = false;
      out += pad_in + nlohmann::json(k).dump() + ": ";
      dump_rec(v, indent + 1, out);
    }
    out += "\n" + pad + "}";
  } else if (j.is_array()) {
    if (scalar_array(j)) {
      dump_scalar_array(j, out);
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < j.size(); ++i) {
      out += pad_in;
      dump_rec(j[i], indent + 1, out);
      out += i + 1 < j.size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else {
    dump_number(j, out);
  }
}
}  // namespace

std::string dump_profile_json(const nlohmann::json& j) {
  std::string out;
  dump_rec(j, 0, out);
  out += "\n";
  return out;
}

}  // namespace servesim::calib
