#include "sim/serving/overlap.h"

#include <algorithm>
#include <cmath>

namespace servesim {

SimTime overlapped_layers_ns(const OverlapConfig& c, const HalfCost& a, const HalfCost& b, std::int64_t layers) {
  if (c.mode == OverlapMode::kTokenWeave) {
    const double k = 1.0 / (1.0 - c.sm_share);
    const double xa = static_cast<double>(a.compute + a.memory);
    const double xb = static_cast<double>(b.compute + b.memory);
    const double t = std::max(xb * k, static_cast<double>(a.network)) + std::max(xa * k, static_cast<double>(b.network)) +
                     (xa + static_cast<double>(b.network)) / static_cast<double>(std::max<std::int64_t>(1, layers));
    return std::llround(t);
  }
  const double cc = static_cast<double>(a.compute + b.compute);
  const double mm = static_cast<double>(a.memory + b.memory);
  const double rr = static_cast<double>(a.network + b.network);
  const double top = std::max({cc, mm, rr});
  return std::llround(top + c.contention * (cc + mm + rr - top));
}

}  // namespace servesim
