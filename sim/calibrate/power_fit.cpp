#include "sim/calibrate/power_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "sim/calibrate/least_squares.h"
#include "sim/core/error.h"

namespace servesim::calib {
namespace {

std::vector<PowerRow> read_rows(const CsvTable& t) {
  const std::size_t workload = t.col("workload"), kind = t.col("kind"), dtype = t.col("dtype"), data = t.col("data"),
                    flops = t.col("flops"), bytes = t.col("bytes"), time = t.col("time_per_iter_us"),
                    power = t.col("power_mean_w"), clock = t.col("sm_clock_mean_mhz"), reasons = t.col("throttle_reasons");
  std::vector<PowerRow> rows;
  for (std::size_t i = 0; i < t.num_rows(); ++i) {
    PowerRow r;
    r.workload = t.cell(i, workload);
    r.kind = t.cell(i, kind);
    r.dtype = t.cell(i, dtype);
    r.data = t.cell(i, data);
    r.flops = t.number(i, flops);
    r.bytes = t.number(i, bytes);
    r.seconds = t.number(i, time) * 1e-6;
    r.power_w = t.positive(i, power);
    r.clock_hz = t.positive(i, clock) * 1e6;
    const std::string& why = t.cell(i, reasons);
    char* end = nullptr;
    const unsigned long long bits = std::strtoull(why.c_str(), &end, 16);
    if (why.empty() || end != why.c_str() + why.size()) bad_value(t.where(i, reasons), why, "hexadecimal NVML throttle reasons");
    r.capped = (bits & 0x4ULL) != 0;
    if (r.kind != "idle" && !(r.seconds > 0)) bad_value(t.where(i, time), t.cell(i, time), "a positive time per iteration");
    if (r.kind != "idle") (void)parse_dtype(r.dtype, t.where(i, dtype));
    rows.push_back(std::move(r));
  }
  return rows;
}

// Fits the rows selected by `use` (dynamic power over P0); returns dtype -> J/FLOP and J/byte.
struct Coefs {
  std::map<std::string, double> e_flop;
  double e_byte = 0;
  double dynamic_w(const PowerRow& r) const {
    const auto it = e_flop.find(r.dtype);
    return (it == e_flop.end() ? 0.0 : it->second) * r.flops / r.seconds + e_byte * r.bytes / r.seconds;
  }
};

Coefs fit_rows(const std::vector<PowerRow>& rows, double p0, const std::function<bool(const PowerRow&)>& use) {
  std::vector<std::string> dtypes;
  for (const auto& r : rows) {
    if (use(r) && r.flops > 0 && std::find(dtypes.begin(), dtypes.end(), r.dtype) == dtypes.end()) dtypes.push_back(r.dtype);
  }
  std::vector<const PowerRow*> sel;
  for (const auto& r : rows) {
    if (use(r)) sel.push_back(&r);
  }
  Coefs c;
  if (sel.empty()) return c;
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(sel.size()), static_cast<Eigen::Index>(dtypes.size() + 1));
  Eigen::VectorXd y(static_cast<Eigen::Index>(sel.size()));
  for (std::size_t i = 0; i < sel.size(); ++i) {
    const PowerRow& r = *sel[i];
    const auto row = static_cast<Eigen::Index>(i);
    const auto d = std::find(dtypes.begin(), dtypes.end(), r.dtype) - dtypes.begin();
    if (r.flops > 0) X(row, d) = r.flops / r.seconds * 1e-12;  // TFLOP/s: J/FLOP in pJ
    X(row, static_cast<Eigen::Index>(dtypes.size())) = r.bytes / r.seconds * 1e-12;
    y(row) = r.power_w - p0;
  }
  const std::vector<double> x = fit_relative_nonneg(X, y);
  for (std::size_t d = 0; d < dtypes.size(); ++d) c.e_flop[dtypes[d]] = x[d] * 1e-12;
  c.e_byte = x[dtypes.size()] * 1e-12;
  return c;
}

}  // namespace

PowerFit fit_power(const CsvTable& table, const DeviceSpec& device) {
  PowerFit f;
  f.rows = read_rows(table);
  double idle_sum = 0;
  int idle_n = 0;
  for (const auto& r : f.rows) {
    if (r.kind == "idle") {
      idle_sum += r.power_w;
      ++idle_n;
    }
  }
  if (idle_n == 0) bad_value(table.path() + ": kind", "(no idle row)", "at least one row of kind idle (engine idle power)");
  f.engine_idle_w = idle_sum / idle_n;
  const double l2 = device.l2_capacity;
  auto eligible = [&](const PowerRow& r) { return r.kind != "idle" && r.data == "random" && r.bytes >= 2 * l2 && r.power_w > f.engine_idle_w; };
  for (auto& r : f.rows) r.fitted = eligible(r);
  const Coefs all = fit_rows(f.rows, f.engine_idle_w, [](const PowerRow& r) { return r.fitted; });
  if (all.e_flop.empty() && all.e_byte == 0) bad_value(table.path(), "(no usable rows)", "kernel rows with random data beyond the L2");
  f.energy_per_flop = all.e_flop;
  f.energy_per_byte = all.e_byte;
  double err = 0, held_err = 0;
  int n = 0, held_n = 0;
  for (const std::string group : {"skinny_gemm", "copy"}) {
    const Coefs without = fit_rows(f.rows, f.engine_idle_w, [&](const PowerRow& r) { return r.fitted && r.kind != group; });
    for (auto& r : f.rows) {
      if (r.fitted && r.kind == group) {
        r.held_out_w = f.engine_idle_w + without.dynamic_w(r);
        held_err += std::abs(r.held_out_w - r.power_w) / r.power_w;
        ++held_n;
      }
    }
  }
  double clock_sum = 0;
  int clock_n = 0;
  for (auto& r : f.rows) {
    if (r.kind == "idle") continue;
    r.predicted_w = f.engine_idle_w + all.dynamic_w(r);
    if (r.fitted) {
      err += std::abs(r.predicted_w - r.power_w) / r.power_w;
      ++n;
      if (r.kind == "gemm" && r.capped) {
        clock_sum += r.clock_hz;
        ++clock_n;
      }
    }
  }
  f.fit_mean_abs_error = n ? err / n : 0;
  f.held_out_mean_abs_error = held_n ? held_err / held_n : 0;
  f.power_limited_clock_hz = clock_n ? clock_sum / clock_n : device.boost_clock_hz;
  // The clock rule: the same kernel at two clocks (random vs zero data under one limit).
  for (const auto& slow : f.rows) {
    if (slow.data != "random" || slow.kind == "idle") continue;
    for (const auto& fast : f.rows) {
      if (fast.workload != slow.workload || fast.data != "zeros" || !(fast.clock_hz > slow.clock_hz)) continue;
      const double rc = slow.flops / device.peak_flops(parse_dtype(slow.dtype, "dtype"));
      const double rm = slow.bytes / device.hbm_bandwidth;
      const double rho = rc / (rc + rm);
      f.clock_checks.push_back({slow.workload, slow.seconds / fast.seconds, 1.0 - rho + rho * fast.clock_hz / slow.clock_hz});
    }
  }
  return f;
}

}  // namespace servesim::calib
