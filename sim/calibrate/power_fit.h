#pragma once
// Fitting a device's power-model coefficients (sim/cost/power_model.h) from steady-kernel
// power measurements (calibration/power/measure_power.py's CSV). Contract:
// - engine idle = the mean of the `idle` rows (an engine's context open, no kernel);
// - the dynamic power of every other row with random data and a working set at least twice
//   the L2 (so the counted HBM bytes really cross HBM) is fitted as
//   P - P0 = sum_dtype e_flop[dtype] * FLOP/s + e_byte * byte/s, non-negative, minimising
//   relative errors (least_squares.h); rows with zeros or tiny values (data-dependent power)
//   and L2-resident rows are reported but not fitted;
// - held-out checks: the decode-like rows (kind skinny_gemm) and the copies are each
//   predicted by a fit without them;
// - the power-limited clock is the mean SM clock of the fitted GEMM rows that hit the
//   software power cap (throttle reason 0x4);
// - clock check: for each kernel measured with random and with zero data (one power limit,
//   two clocks), the measured time ratio against power_model's rule 1 - rho + rho * f1/f2.
#include <map>
#include <string>
#include <vector>

#include "sim/calibrate/csv_table.h"
#include "sim/hardware/device_spec.h"

namespace servesim::calib {

struct PowerRow {
  std::string workload, kind, dtype, data;
  double flops = 0, bytes = 0, seconds = 0, power_w = 0, clock_hz = 0;
  bool capped = false;      // throttled by the software power cap
  bool fitted = false;      // used in the fit
  double predicted_w = 0;   // by the full fit
  double held_out_w = 0;    // by the fit without the row's group (0: not held out)
};

struct ClockCheck {
  std::string workload;
  double measured_ratio = 0, predicted_ratio = 0;  // t(slower clock) / t(faster clock)
};

struct PowerFit {
  double engine_idle_w = 0;
  std::map<std::string, double> energy_per_flop;  // J per FLOP by dtype name
  double energy_per_byte = 0;
  double power_limited_clock_hz = 0;
  std::vector<PowerRow> rows;
  std::vector<ClockCheck> clock_checks;
  double fit_mean_abs_error = 0;       // relative, over fitted rows
  double held_out_mean_abs_error = 0;  // relative, over held-out rows
};

PowerFit fit_power(const CsvTable& table, const DeviceSpec& device);

}  // namespace servesim::calib
