#include "sim/kv/token_drop.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/kv/i_kv_manager.h"

namespace servesim {

TokenDropConfig TokenDropConfig::parse(Params& p) {
  TokenDropConfig c;
  const std::string policy = p.choice("policy", "window", {"h2o", "window"},
                                      "h2o (heavy hitters + recent window) or window (StreamingLLM: attention sinks + "
                                      "sliding window)");
  const std::int64_t budget = p.integer("budget", std::nullopt, "tokens of KV a decoding request keeps", 2, kMaxKvUnits);
  const std::int64_t sinks = p.integer("sink_tokens", 4, "window: leading attention-sink tokens kept (StreamingLLM uses 4)", 0, kMaxKvUnits);
  const double ratio = p.real("heavy_ratio", 0.5, "h2o: share of the budget kept as heavy hitters (the rest is the recent window)", 0.0, 1.0);
  if (p.doc_mode()) return c;
  c.policy = policy == "h2o" ? TokenDropPolicy::kH2o : TokenDropPolicy::kWindow;
  c.budget = budget;
  if (c.policy == TokenDropPolicy::kWindow) {
    if (sinks >= budget) bad_value(p.where("sink_tokens"), std::to_string(sinks), "less than budget (" + std::to_string(budget) + ")");
    c.sink_tokens = sinks;
  } else {
    c.heavy_tokens = static_cast<std::int64_t>(std::floor(ratio * static_cast<double>(budget)));
    if (c.heavy_tokens >= budget) {
      bad_value(p.where("heavy_ratio"), fmt::format("{}", ratio), "below 1, so that the recent window keeps at least one token");
    }
  }
  return c;
}

TokenDropConfig TokenDropConfig::parse_in(Params& kv) {
  const nlohmann::json j = kv.object("token_drop", "KV token dropping {policy: h2o|window, budget, sink_tokens, heavy_ratio} "
                                                   "(docs/kv_managers.md; absent: off)");
  if (kv.doc_mode() || !kv.has("token_drop")) return {};
  Params p(j, kv.where("token_drop"));
  const TokenDropConfig c = parse(p);
  p.finish();
  kv.set_resolved("token_drop", p.resolved());
  return c;
}

nlohmann::json TokenDropConfig::summary() const {
  if (!on()) return {{"policy", "none"}};
  return {{"policy", policy == TokenDropPolicy::kH2o ? "h2o" : "window"},
          {"budget", budget},
          {"sink_tokens", sink_tokens},
          {"heavy_tokens", heavy_tokens},
          {"recent_tokens", window()}};
}

std::int64_t kept_tokens(const TokenDropConfig& c, std::int64_t total, std::int64_t new_tokens) {
  if (!c.on() || new_tokens > 1) return total;
  return std::min(total, c.budget);
}

std::int64_t drop_end_after(const TokenDropConfig& c, std::int64_t before, std::int64_t total, std::int64_t new_tokens) {
  if (kept_tokens(c, total, new_tokens) == total) return before;
  return std::max(before, total - c.window());
}

}  // namespace servesim
