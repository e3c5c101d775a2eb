#pragma once
// The content of a growing conversation (multi-turn chat, agent programs) as prefix ids
// (RequestSpec::prefix_ids in units of `unit` tokens): each request's prompt is the whole
// conversation so far plus new tokens, so its KV can be reused from the previous request.
// Contract of extend(total): ids cover the next request's prompt AND output (`total`
// tokens; BlockHasher continues ids over the output, which is the next request's context);
// a unit lying wholly inside the earlier conversation (`history` tokens) keeps its id; the
// rest get new ids unique to this conversation (from `salt`), except, in the first request,
// units wholly inside the first `shared_tokens` (a system prompt), whose ids are the same in
// every conversation (from `shared_salt`).
#include <cstdint>
#include <vector>

#include "sim/core/rng.h"

namespace servesim {

struct Conversation {
  std::int64_t history = 0;          // tokens of the conversation so far
  std::vector<std::uint64_t> ids;    // prefix ids of the conversation so far
  std::uint64_t salt = 0, counter = 0;

  void extend(std::int64_t total, std::int64_t unit, std::int64_t shared_tokens, std::uint64_t shared_salt) {
    const bool first = history == 0;
    ids.resize(static_cast<std::size_t>(history / unit));
    while (static_cast<std::int64_t>(ids.size()) * unit < total) {
      const auto u = static_cast<std::int64_t>(ids.size());
      if (first && (u + 1) * unit <= shared_tokens) {
        ids.push_back(mix64(shared_salt, static_cast<std::uint64_t>(u)));
      } else {
        ids.push_back(mix64(salt, counter++));
      }
    }
    history = total;
  }
};

}  // namespace servesim
