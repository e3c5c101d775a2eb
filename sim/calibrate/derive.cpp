// Derived profiles for devices we cannot measure (GH200, MI300X): the closest measured
// profile, rescaled term by term to the target's rates. See FITTING.md, "Derived profiles".
#include <fmt/format.h>

#include "sim/calibrate/fit.h"

namespace servesim::calib {
namespace {

// y' = floor * floor_scale + (y - floor) * s: the latency floor (the curve's first knot)
// scales with a latency ratio, the size-dependent part with a bandwidth ratio.
KnotCurve scale_above_floor(const KnotCurve& c, double s, double floor_scale) {
  KnotCurve out = c;
  const double floor = c.y.front();
  for (double& y : out.y) y = floor * floor_scale + (y - floor) * s;
  return out;
}

}  // namespace

double collective_bandwidth_ratio(const DeviceSpec& source, const DeviceSpec& target) {
  // The achieved all-reduce bus bandwidth where both devices have one; the link peaks
  // otherwise (as if both reached the same share of their peak).
  if (source.achievable_allreduce_busbw && target.achievable_allreduce_busbw) {
    return *source.achievable_allreduce_busbw / *target.achievable_allreduce_busbw;
  }
  return source.intra_node_bandwidth / target.intra_node_bandwidth;
}

bool gemm_residuals_transfer(const DeviceSpec& source, const DeviceSpec& target) {
  // A GEMM's residual (measured / regression) is the library's tile and split choice and its
  // wave quantisation over the SMs: a property of the architecture's kernels and of the SM
  // count. Checked both ways between A100 and H100 on Vidur's tables (FITTING.md).
  return source.arch == target.arch && source.sm_count == target.sm_count;
}

double collective_latency_ratio(const DeviceSpec& source, const DeviceSpec& target) {
  // NCCL's per-step latency is spent in its kernels (flag polling, reductions, copies of small
  // chunks on the SMs): it scales with the SM clock.
  if (source.boost_clock_hz > 0 && target.boost_clock_hz > 0) return source.boost_clock_hz / target.boost_clock_hz;
  return 1.0;
}

FittedProfile derive_profile(const FittedProfile& src, const std::string& src_path, const std::string& src_sha256,
                             const DeviceSpec& source, const DeviceSpec& target, double cpu_scale) {
  FittedProfile d;
  d.device = target.name;
  d.status = "derived";
  d.rates = rates_of(target);
  const ProfileRates& rs = src.rates;
  const ProfileRates& rt = d.rates;

  // GEMM: the regression (latency, FLOP and byte times) is kept, its terms evaluated at the
  // target's peaks and bandwidth. Between chips of one layout (architecture and SM count)
  // every measured grid point is scaled by the ratio of the regression at that shape on the
  // target to that on the source, so its residual carries over; across layouts the point
  // becomes the regression on the target, the residual dropped (gemm_residuals_transfer).
  const bool same_chip_layout = gemm_residuals_transfer(source, target);
  for (const auto& [dt, g] : src.gemm) {
    FittedProfile::GemmFit ng;
    ng.coef = g.coef;
    for (const auto& [key, line] : g.grid.lines()) {
      for (std::size_t i = 0; i < line.x.size(); ++i) {
        double y = line.y[i];
        if (!g.coef.empty()) {
          const double a = dot(g.coef, gemm_terms(line.x[i], key[0], key[1], dt, rs));
          const double b = dot(g.coef, gemm_terms(line.x[i], key[0], key[1], dt, rt));
          if (a > 0 && b > 0) y = same_chip_layout ? y * (b / a) : b;
        }
        ng.grid.add(key, line.x[i], y);
      }
    }
    d.gemm.emplace(dt, std::move(ng));
  }
  d.moe = derive_moe(src.moe, rs, rt, same_chip_layout);
  // Attention: the same per configuration; the global regression carries over as is.
  for (int f = 0; f < 2; ++f) {
    const bool prefill = f == 0;
    const auto& sa = prefill ? src.prefill : src.decode;
    auto& da = prefill ? d.prefill : d.decode;
    da.global = sa.global;
    for (const auto& c : sa.configs) {
      FittedProfile::AttentionConfig nc = c;
      for (auto& p : nc.points) {
        const auto q = AttentionQuery::uniform(c.heads, c.kv_heads, c.head_dim, c.kv_dtype, c.layout == "paged", p.batch, p.q, p.ctx);
        const double a = dot(c.coef, attention_terms(prefill, q, rs));
        const double b = dot(c.coef, attention_terms(prefill, q, rt));
        if (a > 0 && b > 0) p.us *= b / a;
      }
      da.configs.push_back(std::move(nc));
    }
  }
  // Collectives: the latency floor (per-step latency) scaled by the SM clocks, the rest by the
  // achieved all-reduce bandwidth (the link peaks where a device has no measurement).
  // Point-to-point traffic (send_recv, all_to_all) moves over the links as they are: the peaks.
  const double coll = collective_bandwidth_ratio(source, target);
  const double link = source.intra_node_bandwidth / target.intra_node_bandwidth;
  const double latency = collective_latency_ratio(source, target);
  for (const auto& c : src.collectives) {
    FittedProfile::Curve nc = c;
    const bool reduction_family = c.op == "all_reduce" || c.op == "all_gather" || c.op == "reduce_scatter";
    nc.curve = scale_above_floor(c.curve, reduction_family ? coll : link, latency);
    d.collectives.push_back(std::move(nc));
  }
  // Copies: per-call latency by host CPU, bytes by host-link (h2d/d2h) or HBM (d2d) bandwidth.
  for (const auto& c : src.copies) {
    FittedProfile::Curve nc = c;
    const double s = c.op == "d2d" ? rs.hbm_bandwidth / rt.hbm_bandwidth : rs.host_link_bandwidth / rt.host_link_bandwidth;
    nc.curve = scale_above_floor(c.curve, s, cpu_scale);
    d.copies.push_back(std::move(nc));
  }
  // Host-side driver calls scale with the host CPU.
  if (src.page_map) {
    KnotCurve k = *src.page_map;
    for (double& y : k.y) y *= cpu_scale;
    d.page_map = k;
  }
  d.launch = src.launch;
  d.kernel_set = src.kernel_set;  // the same kernels, on another device
  d.derived_from = {
      {"profile", src_path},
      {"sha256", src_sha256},
      {"device", src.device},
      {"cpu_scale", cpu_scale},
      {"collective_scale", coll},
      {"collective_latency_scale", latency},
      {"rules",
       "GEMM, MoE and attention: regression coefficients kept (FLOP terms scale with peak FLOP/s, byte terms with HBM "
       "bandwidth, latency terms kept), measured points times regression(target rates)/regression(source rates); "
       "GEMM and MoE points across architectures or SM counts: the regression at the target rates (the residual dropped); "
       "collectives: latency floor times source/target SM boost clock, the rest of all-reduce, all-gather and reduce-scatter times source/target "
       "achieved all-reduce bus bandwidth (achievable.allreduce_busbw of both devices; else the link peaks), of "
       "send_recv and all_to_all times source/target intra-node link bandwidth; copies: per-call floor "
       "times cpu_scale, the rest times source/target host-link (d2d: HBM) bandwidth; page mapping times cpu_scale"}};
  d.provenance = {{"tool", "servesim calibrate derive"}, {"source_provenance", src.provenance}};
  d.finalize();
  return d;
}

}  // namespace servesim::calib
