#pragma once
// How the executor shapes a step for context parallelism (parallel.cp) and attention data
// parallelism (parallel.attention = dp); docs/parallelism.md derives both. Contract:
// - shard_context(): one CP rank's view of the step's attention. Each rank holds 1/cp of
//   every sequence's tokens and KV (zig-zag chunks, so causal work is balanced). A prefill
//   sequence (q new tokens on c cached) becomes one ring round: this rank's ceil(q / cp)
//   queries against one rank's block, whose c / cp cached tokens (ceil) make the round's
//   attended pairs (q/cp)(c/cp) + (q/cp)^2 / 2, 1/cp^2 of the whole sequence's; cp rounds
//   make the rank's 1/cp share. A decode sequence (one query on c) becomes one query on its
//   ceil(c / cp) tokens held here: every rank attends all decode queries on its share.
// - ring_attention_ns(rounds, sends, cp): a layer's cp rounds of compute r each and cp - 1
//   KV-block sends x each, a send overlapped with the round before it (double buffering):
//   r + (cp - 1) max(r, x) per layer. Given the sums over a stage's layers (rounds = L cp r,
//   sends = L (cp - 1) x) that is rounds + sends - min(rounds (cp - 1) / cp, sends).
// - dp_rank(): attention DP places a request on rank id mod dp for its life (its KV is
//   there), as a round-robin front end does.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/core/time.h"
#include "sim/model/operator.h"

namespace servesim {

// `seqs` (decode sequences first, the first num_decode of them) as one of `cp` ranks sees
// them, into `out` (same order).
void shard_context(std::span<const SeqAttention> seqs, std::int64_t num_decode, std::int32_t cp,
                   std::vector<SeqAttention>& out);

// A stage's ring attention: its rounds' and its KV sends' summed times -> the overlapped time.
SimTime ring_attention_ns(SimTime rounds, SimTime sends, std::int32_t cp);

inline std::int32_t dp_rank(std::int64_t request_id, std::int32_t dp) {
  return static_cast<std::int32_t>(request_id % dp);
}

}  // namespace servesim
