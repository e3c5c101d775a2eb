#include "sim/cost/power_model.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"

namespace servesim {
namespace {

// Rules for devices without measured coefficients, each a ratio read off the H200
// measurement (calibration/data/h200/power.csv, fitted by `servesim calibrate power`), so
// that the rules give back the H200's own coefficients from its profile:
// - engine idle: idle + 6.66 % of TDP (H200: 123.6 W with an engine's context open against
//   77 W with no process, at 700 W TDP);
// - a large bf16 GEMM at the profile's achievable fraction of peak draws the whole dynamic
//   budget (TDP - engine idle) at the full clock (H200: 0.738 pJ/FLOP x 0.79 x 989.4
//   TFLOP/s = 577 W against 576 W; such GEMMs are indeed power-limited at TDP);
// - other dtypes: the same power at each dtype's peak rate (H200: fp8 fitted at 0.60 of the
//   bf16 energy per FLOP; the peak ratio gives 0.5);
// - streaming HBM at the achievable bandwidth draws 75 % of the dynamic budget (H200:
//   100 pJ/B x 0.9 x 4.8 TB/s = 432 W of 576 W);
// - compute-bound kernels settle at 72 % of the boost clock under the TDP limit (H200: 1425
//   of 1980 MHz).
constexpr double kEngineIdleTdpShare = 0.0666;
constexpr double kGemmDynamicShare = 1.001;
constexpr double kStreamDynamicShare = 0.7495;
constexpr double kPowerLimitedClockShare = 1425.0 / 1980.0;
constexpr double kPowerLimitedAt = 0.97;  // of the TDP: a kernel measured this close ran power-limited

}  // namespace

PowerCoefficients power_coefficients(const DeviceSpec& d, double limit_w, const std::string& where) {
  PowerCoefficients c;
  c.tdp_w = d.tdp_w;
  c.limit_w = limit_w > 0 ? limit_w : d.tdp_w;
  c.idle_w = d.idle_w;
  c.engine_idle_w = d.engine_idle_w.value_or(std::min(d.idle_w + kEngineIdleTdpShare * d.tdp_w, 0.5 * (d.idle_w + d.tdp_w)));
  if (c.limit_w <= c.engine_idle_w) {
    bad_value(where, fmt::format("{:.0f}W", c.limit_w),
              fmt::format("a power limit above the engine-idle power of {} ({:.0f} W)", d.name, c.engine_idle_w));
  }
  const double budget = d.tdp_w - c.engine_idle_w;
  const double bf16_peak = d.peak_flops(DType::kBf16);
  const auto bf16_it = d.energy_per_flop.find("bf16");
  const double e_bf16 = bf16_it != d.energy_per_flop.end()
                            ? bf16_it->second
                            : kGemmDynamicShare * budget / (d.achievable_gemm_fraction.value_or(0.75) * bf16_peak);
  bool all_measured = d.engine_idle_w.has_value() && bf16_it != d.energy_per_flop.end() && d.energy_per_byte.has_value() &&
                      d.power_limited_clock_hz.has_value();
  for (std::size_t i = 0; i < c.energy_per_flop.size(); ++i) {
    const auto dt = static_cast<DType>(i);
    const auto it = d.energy_per_flop.find(dtype_name(dt == DType::kFp8Block ? DType::kFp8 : dt));  // the fp8 MMA work
    c.energy_per_flop[i] = it != d.energy_per_flop.end() ? it->second : e_bf16 * bf16_peak / d.peak_flops(dt);
  }
  c.energy_per_byte = d.energy_per_byte.value_or(kStreamDynamicShare * budget /
                                                 (d.achievable_hbm_fraction.value_or(0.85) * d.hbm_bandwidth));
  c.f_max_hz = d.boost_clock_hz;
  c.f_pl_hz = d.power_limited_clock_hz.value_or(kPowerLimitedClockShare * d.boost_clock_hz);
  c.node_overhead_w = d.node_overhead_w;
  c.measured = all_measured;
  c.basis = all_measured ? "measured (" + d.source + ": power)"
                         : "derived from TDP, idle, peaks and bandwidth by rules calibrated on the H200 (docs/power.md)";
  return c;
}

PowerModel::PowerModel(const DeviceSpec& d, PowerCoefficients c) : dev_(d), c_(std::move(c)) {
  for (std::size_t i = 0; i < peak_.size(); ++i) peak_[i] = d.peak_flops(static_cast<DType>(i));
}

PowerModel::OpPower PowerModel::apply(const Operator& op, SimTime ns) const {
  const OpWork w = op_work(op);
  const std::size_t dt = static_cast<std::size_t>(w.dtype);
  const double joules = c_.energy_per_flop[dt] * w.flops + c_.energy_per_byte * w.bytes;
  OpPower r{ns, joules};
  const bool clocked = op.cls == OpClass::kGemm || op.cls == OpClass::kAttentionPrefill ||
                       op.cls == OpClass::kAttentionDecode || op.cls == OpClass::kElementwise;
  if (!limited() || !clocked || ns <= 0 || joules <= 0) return r;
  const double t = to_seconds(ns);
  const double rc = w.flops / peak_[dt], rm = w.bytes / dev_.hbm_bandwidth;
  const double rho = rc + rm > 0 ? rc / (rc + rm) : 0.0;
  const bool power_limited_at_tdp = c_.engine_idle_w + joules / t >= kPowerLimitedAt * c_.tdp_w;
  const double energy_bound = joules / (c_.limit_w - c_.engine_idle_w);
  double t_new = t;
  if (c_.limit_w < c_.tdp_w) {
    t_new = std::max(t, energy_bound);
  } else if (power_limited_at_tdp) {
    const double fastest = t * (1.0 - rho + rho * c_.f_pl_hz / c_.f_max_hz);
    t_new = std::min(t, std::max(energy_bound, fastest));
  }
  r.ns = from_seconds(t_new);
  return r;
}

nlohmann::json PowerModel::describe() const {
  nlohmann::json e = nlohmann::json::object();
  for (std::size_t i = 0; i < c_.energy_per_flop.size(); ++i) {
    if (static_cast<DType>(i) == DType::kFp8Block) continue;  // fp8's
    e[dtype_name(static_cast<DType>(i))] = c_.energy_per_flop[i] * 1e12;
  }
  return {{"device", dev_.name},
          {"tdp_w", c_.tdp_w},
          {"limit_w", c_.limit_w},
          {"idle_w", c_.idle_w},
          {"engine_idle_w", c_.engine_idle_w},
          {"energy_per_flop_pj", e},
          {"energy_per_hbm_byte_pj", c_.energy_per_byte * 1e12},
          {"clock_mhz", {{"max", c_.f_max_hz / 1e6}, {"power_limited", c_.f_pl_hz / 1e6}}},
          {"basis", c_.basis}};
}

}  // namespace servesim
