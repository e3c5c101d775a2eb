#pragma once
// Expert routing of one step: how many token copies each routed expert receives, and the
// expert-parallel shard that receives the most (it sets the MoE layer's time). Contract:
// - draw_expert_tokens() is a pure function of the generator's state: the same seed gives
//   the same loads. Each of `copies` token copies (tokens x top-k) picks expert i with
//   probability p[i], independently (top-k's "distinct experts" is not enforced). Up to
//   kExactDraws copies are drawn one by one; above that each expert's count is the normal
//   approximation of its binomial (mean c p, variance c p (1 - p)), rounded, at least 0.
// - slowest_shard(): experts are placed contiguously, num_experts / ep on each EP rank.
//   A rank's grouped expert GEMM reads the weights of its active experts (those that
//   received any copy) and computes its copies, so under a roofline its time is
//   max(active x weight time, copies x FLOP time); the slowest rank's time is then
//   max(max active x weight time, max copies x FLOP time). It returns both maxima (they
//   may come from different ranks) and the rank with the most copies (the lowest on a tie).
#include <cstdint>
#include <span>
#include <vector>

#include "sim/core/rng.h"

namespace servesim {

inline constexpr std::int64_t kExactDraws = 16384;

// p: probabilities (sum 1); cdf: their running sums (the last is 1).
void draw_expert_tokens(Rng& rng, std::span<const double> p, std::span<const double> cdf, std::int64_t copies,
                        std::vector<std::int64_t>& out);

struct ShardLoad {
  std::int32_t rank = 0;          // the rank with the most copies
  std::int64_t copies = 0;        // its copies (the most any rank received)
  std::int64_t active_experts = 0;  // the most active experts on any rank
};
ShardLoad slowest_shard(std::span<const std::int64_t> expert_tokens, std::int32_t ep);

}  // namespace servesim
