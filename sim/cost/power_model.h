#pragma once
// Device power: what an operator draws, and what a power limit does to its time.
// Contract:
// - A device draws its engine-idle power P0 whenever a serving engine holds it (context
//   open, clocks up), plus, while a kernel runs, dynamic power E/t where the kernel's
//   dynamic energy is E = e_flop(dtype) * FLOPs + e_byte * HBM bytes (op_work()). Energy
//   per operation does not depend on the clock: the H200 measurements
//   (calibration/data/h200/power.csv) give the same J/FLOP between 1440 and 1980 MHz.
// - The cost models' times hold at the device's TDP, the limit their data was measured
//   under. apply() with the limit at TDP returns every time unchanged.
// - Below TDP, a kernel whose power P0 + E/t exceeds the limit L is slowed until it fits:
//   t' = E / (L - P0) (its energy is the same, spread over a longer time). The device
//   lowers its clock for that; how much of a memory-bound kernel's power follows the SM
//   clock was not measured (the lease forbids setting limits), so memory-bound kernels
//   are slowed in proportion to their excess power too (docs/power.md).
// - Above TDP (power variants such as the H200 at 1000 W), a kernel that was power-limited
//   at TDP (P0 + E/t >= 97 % of TDP) ran at f_pl, the clock such kernels settle at; it
//   speeds up to max(E / (L - P0), t * (1 - rho + rho * f_pl / f_max)), where rho =
//   rc / (rc + rm) is its clock-bound share (rc, rm: its compute and memory roofline
//   times): never faster than the full clock allows. Other kernels are unchanged.
// - Coefficients come from the device profile's "power" section where measured, else
//   from rules calibrated on the H200 measurement (power_model.cpp); coefficients()
//   says which.
#include <array>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/time.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/operator.h"

namespace servesim {

struct PowerCoefficients {
  double tdp_w = 0;
  double limit_w = 0;        // the power limit in force (nvidia-smi -pl)
  double idle_w = 0;         // no process on the device
  double engine_idle_w = 0;  // P0: engine context open, no kernel running
  std::array<double, kNumDTypes> energy_per_flop{};  // J per FLOP, indexed by DType
  double energy_per_byte = 0;               // J per HBM byte
  double f_max_hz = 0, f_pl_hz = 0;
  std::optional<double> node_overhead_w;  // non-GPU node power per GPU (device profile), if known
  bool measured = false;  // every coefficient from the profile (else some derived)
  std::string basis;      // where the coefficients came from, for outputs
};

// The coefficients of `d` under `limit_w` (0: its TDP); `where` names the setting in errors.
PowerCoefficients power_coefficients(const DeviceSpec& d, double limit_w, const std::string& where);

class PowerModel {
 public:
  PowerModel(const DeviceSpec& d, PowerCoefficients c);

  struct OpPower {
    SimTime ns = 0;       // time of one execution under the limit
    double joules = 0;    // dynamic energy of one execution (on one device)
  };
  OpPower apply(const Operator& op, SimTime ns) const;

  const PowerCoefficients& coefficients() const { return c_; }
  bool limited() const { return c_.limit_w != c_.tdp_w; }
  nlohmann::json describe() const;

 private:
  const DeviceSpec& dev_;
  PowerCoefficients c_;
  std::array<double, kNumDTypes> peak_{};  // FLOP/s by DType
};

}  // namespace servesim
