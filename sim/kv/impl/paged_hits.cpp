// The paged KV manager (paged_kv.h): the prefix-cache lookup of a request's leading blocks,
// on the device (the index for shareable blocks, the request's chain for its own), then in
// an offload tier while loading a block back is cheaper than recomputing it.
#include <algorithm>

#include "sim/kv/impl/paged_kv.h"

namespace servesim {

PagedKvManager::Hits PagedKvManager::collect_hits(const Request& r) const {
  // At least one token must be computed to produce logits: never the whole sequence.
  const std::int64_t max_blocks = (r.num_tokens() - 1) / c_.block_size;
  // The blocks that matched at this manager's last lookup of r still match up to the
  // first one evicted since (its hash no longer there); only the rest is probed again. None
  // was evicted while no block at or beyond r's floor was (paged_kv.h: free stamps).
  std::int64_t i = 0;
  auto& hit = r.hit_blocks;
  // The floor: a block free now goes at its stamp, a referenced one at a stamp yet to come.
  std::uint64_t floor = frees_ + 1;
  auto lower_floor = [&](const BlockState& s) {
    if (s.ref == 0) floor = std::min(floor, s.freed);
  };
  if (r.hit_owner == this) {
    const auto n = std::min<std::int64_t>(static_cast<std::int64_t>(hit.size()), max_blocks);
    if (n > 0) hash_of(r, n - 1);  // r's hashes at this block size, n of them at least
    const std::uint64_t* h = r.block_hashes.data();
    if (r.hit_floor > evicted_stamp_) {
      i = n;
      floor = r.hit_floor;
    }
    for (; i < n; ++i) {
      if (i + 8 < n) __builtin_prefetch(&st_[static_cast<std::size_t>(hit[static_cast<std::size_t>(i + 8)])]);
      const BlockState& s = st_[static_cast<std::size_t>(hit[static_cast<std::size_t>(i)])];  // a hit: handed out
      if (!s.cached() || s.hash != h[i]) break;
      lower_floor(s);
    }
  }
  hit.resize(static_cast<std::size_t>(i));
  const std::int64_t own = own_blocks_from(r);
  for (; i < std::min(max_blocks, own); ++i) {
    const std::int32_t b = find_cached(hash_of(r, i));
    if (b < 0) break;
    hit.push_back(b);
    lower_floor(st_[static_cast<std::size_t>(b)]);
  }
  if (i >= own && i < max_blocks) {  // r's own blocks: its chain's entries that still hold their hashes
    const BlockChains::Chain* c = chains_.find(hash_of(r, own));
    for (; c != nullptr && i < max_blocks; ++i) {
      const auto k = static_cast<std::size_t>(i - own);
      const std::int32_t b = k < c->blocks.size() ? c->blocks[k] : -1;
      if (b < 0 || !holds(b, hash_of(r, i))) break;
      hit.push_back(b);
      lower_floor(st_[static_cast<std::size_t>(b)]);
    }
  }
  r.hit_owner = this;
  r.hit_floor = floor;
  Hits out{i, i};
  if (!tiers_.enabled()) return out;
  for (; i < max_blocks; ++i) {
    const int tier = tiers_.find(hash_of(r, i));
    if (tier < 0 || !tiers_.worth_loading(tier)) break;
  }
  out.total = i;
  return out;
}

}  // namespace servesim
