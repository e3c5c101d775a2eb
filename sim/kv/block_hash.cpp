#include <algorithm>

#include "sim/core/rng.h"
#include "sim/kv/i_kv_manager.h"

namespace servesim {

std::int64_t BlockHasher::covered_tokens(const RequestSpec& s) {
  if (s.prefix_unit <= 0 || s.prefix_ids.empty()) return 0;
  const std::int64_t unit = s.prefix_unit;
  const auto ids = static_cast<std::int64_t>(s.prefix_ids.size());
  const std::int64_t prompt_units = (static_cast<std::int64_t>(s.prompt_tokens) + unit - 1) / unit;
  // As many ids as the prompt needs (or fewer): they describe the prompt only, and a last
  // partial unit stops at the prompt's end (what follows is this request's own output).
  if (ids <= prompt_units) return std::min<std::int64_t>(ids * unit, s.prompt_tokens);
  // More: they go on over the output tokens (a multi-turn session's context).
  return std::min<std::int64_t>(ids * unit, static_cast<std::int64_t>(s.prompt_tokens) + s.output_tokens);
}

namespace {
// Block `index`'s hash from its parent's: the prefix ids its tokens span while the spec's
// first `covered` tokens describe it, else content only this request has.
std::uint64_t hash_block(const RequestSpec& s, std::int64_t covered, std::int64_t block_size, std::int64_t index,
                         std::uint64_t parent) {
  const std::int64_t begin = index * block_size;
  const std::int64_t end = begin + block_size;
  if (s.prefix_unit > 0 && end <= covered) {
    const std::int64_t first_unit = begin / s.prefix_unit;
    const std::int64_t last_unit = (end - 1) / s.prefix_unit;
    std::uint64_t h = mix64(parent, static_cast<std::uint64_t>(begin % s.prefix_unit) + 1);
    for (std::int64_t u = first_unit; u <= last_unit; ++u) h = mix64(h, s.prefix_ids[static_cast<std::size_t>(u)]);
    return h;
  }
  return mix64(mix64(parent, 0x5eed5eed5eed5eedULL ^ static_cast<std::uint64_t>(s.id)), static_cast<std::uint64_t>(index));
}
}  // namespace

std::uint64_t BlockHasher::block_hash(const Request& r, std::int64_t index, std::uint64_t parent) const {
  return hash_block(r.spec, covered_tokens(r.spec), block_size_, index, parent);
}

void BlockHasher::extend(const Request& r, std::int64_t count, std::vector<std::uint64_t>& hashes) const {
  const std::int64_t covered = covered_tokens(r.spec);
  std::uint64_t parent = hashes.empty() ? 0 : hashes.back();
  for (auto i = static_cast<std::int64_t>(hashes.size()); i < count; ++i) {
    parent = hash_block(r.spec, covered, block_size_, i, parent);
    hashes.push_back(parent);
  }
}

}  // namespace servesim
