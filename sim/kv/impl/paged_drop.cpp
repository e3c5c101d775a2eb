// The paged KV manager (paged_kv.h) under KV token dropping (token_drop.h): a table's
// growth when entries behind the kept window hold the null block, and H2O's heavy-hitter
// blocks.
#include <algorithm>

#include "sim/kv/impl/paged_kv.h"

namespace servesim {

bool PagedKvManager::grow_dropping(Table& t, std::int64_t total_tokens, std::int64_t new_tokens, KvStepWork& work) {
  const std::int64_t bs = c_.block_size;
  const auto have = static_cast<std::int64_t>(t.blocks.size());
  const std::int64_t entries = std::max(have, ceil_div(total_tokens, bs));
  // Token dropping: entries wholly in the dropped positions, [null_lo, drop_to), hold no
  // block: existing ones are released (those held by r alone become free), new ones are
  // null from the start; H2O's first drop takes its heavy-hitter blocks.
  const std::int64_t drop_end = drop_end_after(c_.drop, t.drop_end, total_tokens, new_tokens);
  const std::int64_t null_lo = c_.drop.null_entries_end(bs, 0);
  const std::int64_t drop_from = c_.drop.null_entries_end(bs, t.drop_end), drop_to = c_.drop.null_entries_end(bs, drop_end);
  auto dropped = [&](std::int64_t i) { return i >= null_lo && i < drop_to; };
  const bool cow = have > 0 && t.tokens % bs != 0 && total_tokens > t.tokens && !dropped(have - 1) && st_[t.blocks.back()].ref > 1;
  std::int64_t need = cow ? 1 : 0, released = 0;
  for (auto i = have; i < entries; ++i) need += dropped(i) ? 0 : 1;
  for (auto i = drop_from; i < std::min(drop_to, have); ++i) released += st_[t.blocks[static_cast<std::size_t>(i)]].ref == 1 ? 1 : 0;
  const bool take_heavy = drop_end > t.drop_end && t.heavy.empty() && c_.drop.heavy_tokens > 0;
  need += take_heavy ? c_.drop.heavy_blocks(bs) : 0;
  if (need > free_.size() + released) return false;
  for (auto i = drop_from; i < std::min(drop_to, have); ++i) {
    std::int32_t& b = t.blocks[static_cast<std::size_t>(i)];
    if (b != 0) unref(b);
    b = 0;
  }
  if (take_heavy) take_heavy_blocks(t, work);
  t.drop_end = drop_end;
  if (cow) copy_last_block(t, work);
  while (static_cast<std::int64_t>(t.blocks.size()) < entries) {
    t.blocks.push_back(dropped(static_cast<std::int64_t>(t.blocks.size())) ? 0 : pop_free(work));
  }
  if (total_tokens > t.tokens) {
    for (auto i = t.tokens / bs; i < static_cast<std::int64_t>(t.blocks.size()); ++i) {
      const std::int32_t b = t.blocks[static_cast<std::size_t>(i)];
      if (b != 0) set_fill(b, std::min<std::int64_t>(bs, total_tokens - i * bs));
    }
    t.tokens = total_tokens;
  }
  account(t);
  return true;
}

// H2O's first drop gathers the heavy hitters into blocks of their own (one copy).
void PagedKvManager::take_heavy_blocks(Table& t, KvStepWork& work) {
  const std::int64_t h = c_.drop.heavy_tokens;
  for (std::int64_t j = 0; j < c_.drop.heavy_blocks(c_.block_size); ++j) {
    t.heavy.push_back(pop_free(work));
    set_fill(t.heavy.back(), std::min<std::int64_t>(c_.block_size, h - j * c_.block_size));
  }
  work.cow_bytes += static_cast<double>(h) * bytes_per_token_;
  work.cow_chunks += buffers_;
  counters_.cow_bytes += static_cast<double>(h) * bytes_per_token_;
}

}  // namespace servesim
