#pragma once
// The physical lower bound of an operator on a device: no kernel finishes before its FLOPs
// at the device's dense peak for that dtype, nor before the bytes it must move at the
// bandwidth of the path they take. Contract:
// - PhysicalBound::seconds() is a lower bound by construction: peak rates (not achievable
//   fractions), the fewest bytes the operator can move (weights and activations read once
//   at the compute dtype; attention reads the KV once; an all-reduce moves at least
//   (n-1)/n of its buffer per rank, the in-switch (NVLS) reduction's volume; a copy its
//   bytes once), no latency terms. Operators with no device work (page maps, CPU) give 0.
// - It is non-decreasing in every size of the operator (m, n, k, tokens, context, bytes).
// - Every cost model's answer is at least this bound (the composite applies it to fitted
//   answers, whose extrapolation could otherwise run past the hardware's limits).
// - The device's rates are read once at construction (no lookups on the hot path).
#include <array>

#include "sim/hardware/device_spec.h"
#include "sim/model/operator.h"

namespace servesim {

class PhysicalBound {
 public:
  explicit PhysicalBound(const DeviceSpec& dev);
  double seconds(const Operator& op) const;

 private:
  double peak(DType d) const { return peak_[static_cast<std::size_t>(d)]; }
  std::array<double, kNumDTypes> peak_{};  // dense peak FLOP/s by DType
  double hbm_ = 0, intra_ = 0, host_ = 0;
};

}  // namespace servesim
