#pragma once
// KV token dropping (the paged manager's optional `token_drop` object): a per-request KV budget B,
// kept by H2O (heavy hitters + a recent window, Zhang et al., NeurIPS'23) or by
// StreamingLLM's sliding window with attention sinks (Xiao et al., ICLR'24).
// Contract (the paged manager and the executor both follow it, through these functions):
// - A step that computes several tokens of a request (a prompt chunk, a recompute) holds
//   them all: prefill attends with full attention, as both papers' reference code does.
// - A decode step (one token) leaves the request at most B tokens, the new one included;
//   its attention reads those tokens only (attended_context).
// - Kept tokens: `window` keeps the first sink_tokens positions and the latest B - sinks;
//   `h2o` keeps floor(heavy_ratio * B) heavy hitters (wherever they are) and the latest
//   B - heavy. The recent window lives in the request's own position-aligned blocks: a
//   block wholly behind the window (and past the sinks) is freed. H2O's heavy hitters are
//   compacted into ceil(heavy / block_size) blocks of their own, filled by one copy at the
//   request's first drop (later heavy-hitter changes overwrite them in place).
// - Which tokens are heavy hitters matters only to accuracy, which is not modelled.
#include <algorithm>
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/params.h"

namespace servesim {

enum class TokenDropPolicy : std::uint8_t { kNone, kH2o, kWindow };

struct TokenDropConfig {
  TokenDropPolicy policy = TokenDropPolicy::kNone;
  std::int64_t budget = 0;       // B: tokens a decoding request keeps
  std::int64_t sink_tokens = 0;  // window: leading positions always kept
  std::int64_t heavy_tokens = 0; // h2o: heavy hitters kept
  bool on() const { return policy != TokenDropPolicy::kNone; }
  // Positions kept at the start of the request's own blocks (window's sinks; h2o: none).
  std::int64_t pinned() const { return policy == TokenDropPolicy::kWindow ? sink_tokens : 0; }
  // Length of the recent window: B - sinks (window) or B - heavy (h2o).
  std::int64_t window() const { return budget - pinned() - heavy_tokens; }
  // With blocks of `bs` tokens and positions [pinned, drop_end) dropped: the end of the
  // block entries wholly dropped (they start at ceil(pinned / bs)).
  std::int64_t null_entries_end(std::int64_t bs, std::int64_t drop_end) const {
    return std::max((pinned() + bs - 1) / bs, drop_end / bs);
  }
  std::int64_t heavy_blocks(std::int64_t bs) const { return (heavy_tokens + bs - 1) / bs; }
  // Tokens no longer kept (H2O's heavy hitters among the dropped positions are kept).
  std::int64_t dropped_tokens(std::int64_t drop_end) const {
    return drop_end > pinned() ? drop_end - pinned() - heavy_tokens : 0;
  }
  // The keys of a `token_drop` object: policy, budget, sink_tokens, heavy_ratio.
  static TokenDropConfig parse(Params& p);
  // The optional `token_drop` object of a KV manager's params `kv` (absent: off, and the
  // resolved config does not list it).
  static TokenDropConfig parse_in(Params& kv);
  nlohmann::json summary() const;
};

// Tokens a request holds after a step that grows it to `total` tokens by `new_tokens`.
std::int64_t kept_tokens(const TokenDropConfig& c, std::int64_t total, std::int64_t new_tokens);

// Context a step's attention reads besides its own new tokens (`context` computed before).
inline std::int64_t attended_context(const TokenDropConfig& c, std::int64_t context, std::int64_t new_tokens) {
  return kept_tokens(c, context + new_tokens, new_tokens) - new_tokens;
}

// End of the dropped positions [pinned, drop_end) after that step (`before`: the end
// before it; == pinned() while nothing has been dropped). Never moves back.
std::int64_t drop_end_after(const TokenDropConfig& c, std::int64_t before, std::int64_t total, std::int64_t new_tokens);

}  // namespace servesim
