#pragma once
// Intra-GPU prefill/decode co-location (the `nexus` scheduler; Nexus, Shi et al. 2025,
// arXiv 2507.06608). Contract:
// - A co-located step runs two streams side by side on one device: the decode stream (the
//   step's one-token sequences) on an SM share s and the prefill stream (its prompt chunks)
//   on 1 - s. Each stream's per-layer operators are priced by the pool's cost model on the
//   whole device (time t), then split into a compute part t f and a memory part t (1 - f),
//   f = F/P / (F/P + B/W) from the operator's FLOPs F and bytes B (op_work, the roofline's
//   counting rules) at the device's peak P for its dtype and HBM bandwidth W. With the
//   calibrated model the measured t is split by the roofline's ratio of the same operator.
//   Operators with neither FLOPs nor bytes (page maps, CPU) are all memory part (f = 0),
//   so the SM share does not stretch them.
// - Under share s an operator takes t f / s + t (1 - f) / min(1, b): the compute part runs
//   on a fraction s of the SMs (linear in SMs, no saturation), the memory part at the
//   bandwidth share b the stream gets.
// - HBM bandwidth is shared in proportion to demand: a stream that alone would spend a
//   fraction u = M / (C + M) of its time memory-bound draws u of the device's bandwidth;
//   when u_decode + u_prefill <= 1 both get what they ask (b = 1), otherwise each gets
//   u / (u_decode + u_prefill) of the bandwidth, b = 1 / (u_decode + u_prefill) of its
//   demand.
// - The partition rule (choose_partition): s runs over the grid {g, 2g, ..., 1 - g}.
//   s_T is the smallest share whose decode stream meets the TPOT target, s_B the share that
//   minimizes the step, max(decode(s), prefill(1 - s)) (the smallest on ties); the decode
//   stream gets max(s_T, s_B): never less than the target needs, and otherwise the share
//   that balances the two streams. When no share meets the target, the largest, 1 - g.
//   Nexus itself searches the partition greedily with its own latency model and adds
//   hysteresis; this rule is ours (docs/schedulers.md).
// - The step lasts max(decode(s), prefill(1 - s)): both streams end before the next step
//   is formed (the prefill chunk is the scheduler's, kept small so the decode stream sets
//   the pace).
#include <cstdint>

#include "sim/core/time.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/operator.h"

namespace servesim {

// One stream's per-layer work on the whole device, split by the roofline (ns).
struct StreamWork {
  double compute_ns = 0;
  double memory_ns = 0;
};

// The compute fraction f of an operator (contract above).
double compute_fraction(const Operator& op, const DeviceSpec& dev);
// Adds an operator priced at `ns` on the whole device to the stream's work.
void add_operator(StreamWork& w, const Operator& op, double ns, const DeviceSpec& dev);
// The bandwidth share b each stream gets (contract above).
double hbm_share(const StreamWork& decode, const StreamWork& prefill);
// The stream's time on SM share s with bandwidth share b.
double stream_ns(const StreamWork& w, double sm_share, double bw_share);

struct Partition {
  double decode_share = 1;
  SimTime decode_ns = 0;
  SimTime prefill_ns = 0;
  SimTime step_ns() const { return decode_ns > prefill_ns ? decode_ns : prefill_ns; }
};
// The rule above, for a TPOT target (ns) and a grid step g (0 < g <= 0.5).
Partition choose_partition(const StreamWork& decode, const StreamWork& prefill, double tpot_target_ns, double grid);

}  // namespace servesim
