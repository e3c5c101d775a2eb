#include "sim/serving/context_parallel.h"

#include <algorithm>

#include "sim/core/error.h"

namespace servesim {

void shard_context(std::span<const SeqAttention> seqs, std::int64_t num_decode, std::int32_t cp,
                   std::vector<SeqAttention>& out) {
  SERVESIM_ASSERT(cp >= 1);
  out.clear();
  auto share = [cp](std::int64_t n) { return (n + cp - 1) / cp; };
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const SeqAttention& s = seqs[i];
    const bool decode = static_cast<std::int64_t>(i) < num_decode;
    out.push_back(SeqAttention{static_cast<std::int32_t>(decode ? s.q : share(s.q)),
                               static_cast<std::int32_t>(share(s.context))});
  }
}

SimTime ring_attention_ns(SimTime rounds, SimTime sends, std::int32_t cp) {
  if (cp <= 1) return rounds + sends;
  return rounds + sends - std::min(rounds * (cp - 1) / cp, sends);
}

}  // namespace servesim
