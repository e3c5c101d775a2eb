// Derived profiles for devices we cannot measure (GH200, MI300X): the closest measured
// profile, rescaled term by term to the target's rates. See FITTING.md, "Derived profiles".
#include <fmt/format.h>

#include "sim/calibrate/fit.h"
#include "sim/cost/profile_derive.h"

namespace servesim::calib {

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
  // GEMM: the regression (latency, FLOP and byte times) is kept, its terms evaluated at the
  // target's peaks and bandwidth. Between chips of one layout (architecture and SM count)
  // every measured grid point is scaled by the ratio of the regression at that shape on the
  // target to that on the source, so its residual carries over; across layouts the point
  // becomes the regression on the target, the residual dropped (gemm_residuals_transfer).
  DeriveRule rule;
  rule.same_chip_layout = gemm_residuals_transfer(source, target);
  rule.collective_scale = collective_bandwidth_ratio(source, target);
  rule.collective_latency_scale = collective_latency_ratio(source, target);
  rule.link_scale = source.intra_node_bandwidth / target.intra_node_bandwidth;
  rule.cpu_scale = cpu_scale;
  derive_families(src, rule, d);
  d.derived_from = {
      {"profile", src_path},
      {"sha256", src_sha256},
      {"device", src.device},
      {"rules",
       "GEMM, MoE and attention: regression coefficients kept (FLOP terms scale with peak FLOP/s, byte terms with HBM "
       "bandwidth, latency and per-item terms kept); on one chip layout (architecture and SM count) each measured point "
       "keeps its regression's rate-independent part (the terms in us: latency, per-sequence and per-row costs) and the "
       "rest moves as the rate-dependent terms do (regression(target) / regression(source) of that part), raised where it "
       "would fall below a neighbour one step smaller that the source measured no slower; across layouts GEMM and MoE "
       "points become the regression at the target rates (the residual dropped) and attention points scale by "
       "regression(target) / regression(source); "
       "collectives: latency floor times source/target SM boost clock, the rest of all-reduce, all-gather and reduce-scatter times source/target "
       "achieved all-reduce bus bandwidth (achievable.allreduce_busbw of both devices; else the link peaks), of "
       "send_recv and all_to_all times source/target intra-node link bandwidth; copies: per-call floor "
       "times cpu_scale, the rest times source/target host-link (d2d: HBM) bandwidth; page mapping times cpu_scale"}};
  rule.to_json(d.derived_from);
  d.provenance = {{"tool", "servesim calibrate derive"}, {"source_provenance", src.provenance}};
  d.finalize();
  return d;
}

}  // namespace servesim::calib
