#include "sim/parallel/expert_routing.h"

#include <algorithm>
#include <cmath>

#include "sim/core/error.h"

namespace servesim {

void draw_expert_tokens(Rng& rng, std::span<const double> p, std::span<const double> cdf, std::int64_t copies,
                        std::vector<std::int64_t>& out) {
  out.assign(p.size(), 0);
  if (copies <= kExactDraws) {
    for (std::int64_t c = 0; c < copies; ++c) {
      const double u = rng.uniform01();
      const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
      const std::size_t i = std::min<std::size_t>(static_cast<std::size_t>(it - cdf.begin()), p.size() - 1);
      ++out[i];
    }
    return;
  }
  const double n = static_cast<double>(copies);
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double mean = n * p[i];
    const double sd = std::sqrt(n * p[i] * (1.0 - p[i]));
    out[i] = std::max<std::int64_t>(0, std::llround(rng.normal(mean, sd)));
  }
}

ShardLoad slowest_shard(std::span<const std::int64_t> expert_tokens, std::int32_t ep) {
  SERVESIM_ASSERT(ep >= 1 && expert_tokens.size() % static_cast<std::size_t>(ep) == 0);
  const std::size_t per = expert_tokens.size() / static_cast<std::size_t>(ep);
  ShardLoad worst;
  worst.copies = -1;
  for (std::int32_t r = 0; r < ep; ++r) {
    std::int64_t copies = 0, active = 0;
    for (std::size_t e = static_cast<std::size_t>(r) * per; e < static_cast<std::size_t>(r + 1) * per; ++e) {
      copies += expert_tokens[e];
      active += expert_tokens[e] > 0 ? 1 : 0;
    }
    if (copies > worst.copies) {
      worst.rank = r;
      worst.copies = copies;
    }
    worst.active_experts = std::max(worst.active_experts, active);
  }
  return worst;
}

}  // namespace servesim
