#include "sim/serving/colocate.h"

#include <algorithm>
#include <cmath>

namespace servesim {

double compute_fraction(const Operator& op, const DeviceSpec& dev) {
  const OpWork w = op_work(op);
  const double peak = dev.peak_flops(w.dtype);
  const double tc = peak > 0 ? w.flops / peak : 0.0;
  const double tm = dev.hbm_bandwidth > 0 ? w.bytes / dev.hbm_bandwidth : 0.0;
  return tc + tm > 0 ? tc / (tc + tm) : 0.0;
}

void add_operator(StreamWork& w, const Operator& op, double ns, const DeviceSpec& dev) {
  const double f = compute_fraction(op, dev);
  w.compute_ns += ns * f;
  w.memory_ns += ns * (1 - f);
}

double hbm_share(const StreamWork& decode, const StreamWork& prefill) {
  const auto demand = [](const StreamWork& s) {
    const double t = s.compute_ns + s.memory_ns;
    return t > 0 ? s.memory_ns / t : 0.0;
  };
  const double total = demand(decode) + demand(prefill);
  return total <= 1 ? 1.0 : 1.0 / total;
}

double stream_ns(const StreamWork& w, double sm_share, double bw_share) {
  return w.compute_ns / sm_share + w.memory_ns / std::min(1.0, bw_share);
}

Partition choose_partition(const StreamWork& decode, const StreamWork& prefill, double tpot_target_ns, double grid) {
  const double b = hbm_share(decode, prefill);
  const auto steps = static_cast<int>(std::lround(1.0 / grid));
  int target = -1, balance = 1;
  double best = 0;
  for (int i = 1; i < steps; ++i) {
    const double s = i * grid;
    const double d = stream_ns(decode, s, b);
    const double step = std::max(d, stream_ns(prefill, 1 - s, b));
    if (target < 0 && d <= tpot_target_ns) target = i;
    if (i == 1 || step < best) {
      best = step;
      balance = i;
    }
  }
  const int pick = target < 0 ? steps - 1 : std::max(target, balance);
  Partition p;
  p.decode_share = pick * grid;
  p.decode_ns = std::llround(stream_ns(decode, p.decode_share, b));
  p.prefill_ns = std::llround(stream_ns(prefill, 1 - p.decode_share, b));
  return p;
}

}  // namespace servesim
