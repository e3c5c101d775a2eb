#pragma once
// Compute/communication overlap inside one step (engine.overlap). Contract:
// - The engine splits the step's batch in two halves (a and b, about equal tokens) and
//   prices each half's per-layer operators alone: compute-bound C (GEMMs, element-wise,
//   prefill attention), memory-bound M (decode attention) and network-bound R (the
//   collectives), each summed over the stage's layers.
// - tokenweave (TokenWeave): per layer, half b's compute runs beside half a's all-reduce and
//   half a's next compute beside half b's all-reduce; compute sharing the device with a
//   collective runs on the SMs the collective leaves, 1 / (1 - sm_share) times as long.
//   Over L layers: max(X_b k, R_a) + max(X_a k, R_b) + (X_a + R_b) / L, with X = C + M and
//   k = 1 / (1 - sm_share) (the last term: the first compute and the last all-reduce of the
//   step, which nothing hides).
// - nanoflow (NanoFlow): the two nano-batches' compute-, memory- and network-bound operators
//   overlap, sharing SMs and HBM bandwidth: max(C, M, R) + contention x (C + M + R -
//   max(C, M, R)), with C, M, R summed over both halves (contention 0: perfect overlap, 1:
//   none).
// - The engine runs the split only when it is faster than the whole batch (a small decode
//   batch split in two reads its weights twice): the caller takes the minimum.
#include <cstdint>

#include "sim/core/time.h"

namespace servesim {

enum class OverlapMode : std::uint8_t { kNone, kTokenWeave, kNanoFlow };

struct OverlapConfig {
  OverlapMode mode = OverlapMode::kNone;
  double sm_share = 0;    // tokenweave: SMs a collective takes from the compute beside it
  double contention = 0;  // nanoflow: the share of the hidden work that still costs time
};

struct HalfCost {
  SimTime compute = 0;  // C
  SimTime memory = 0;   // M
  SimTime network = 0;  // R
};

// The overlapped time of the layers of one stage, by the contract above.
SimTime overlapped_layers_ns(const OverlapConfig& c, const HalfCost& a, const HalfCost& b, std::int64_t layers);

}  // namespace servesim
