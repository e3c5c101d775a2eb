// The paged KV manager (paged_kv.h): its multi-step decode allocation and its invariant checks.
#include <algorithm>
#include <vector>

#include "sim/kv/impl/paged_kv.h"

namespace servesim {

std::int64_t PagedKvManager::work_free_decode_steps(std::span<Request* const> reqs, std::int64_t max_steps) const {
  // Evicting a cached block may spill it to an offload tier (a copy): no multi-step then.
  if (tiers_.enabled() || c_.drop.on()) return 0;  // (dropping: blocks freed as windows slide)
  for (const Request* r : reqs) {
    if (r->kv_slot < 0) return 0;
    const Table& t = tables_[r->kv_slot];
    // Appending to a shared, partly filled last block would copy it first.
    if (!t.blocks.empty() && t.tokens % c_.block_size != 0 && st_[t.blocks.back()].ref > 1) return 0;
  }
  // Step j takes a fresh block for r when r's tokens before it fill whole blocks: first at
  // j0 = blocks * block_size - tokens + 1, then every block_size steps. The blocks that
  // steps 1..J take grow with J, so the largest J that fits is found by bisection.
  auto blocks_needed = [&](std::int64_t steps) {
    std::int64_t n = 0;
    for (const Request* r : reqs) {
      const Table& t = tables_[r->kv_slot];
      const std::int64_t j0 = static_cast<std::int64_t>(t.blocks.size()) * c_.block_size - t.tokens + 1;
      if (j0 <= steps) n += 1 + (steps - j0) / c_.block_size;
    }
    return n;
  };
  if (blocks_needed(max_steps) <= free_.size()) return max_steps;
  std::int64_t lo = 0, hi = max_steps;  // blocks_needed(lo) fits, blocks_needed(hi) does not
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (blocks_needed(mid) <= free_.size() ? lo : hi) = mid;
  }
  return lo;
}

void PagedKvManager::allocate_decode_steps(std::span<Request* const> reqs, std::span<const std::int64_t> tokens, std::int64_t steps) {
  // The step-by-step calls take a fresh block for request i at step j when its tokens
  // before the step fill its blocks: first at j0 = blocks * block_size - tokens + 1, then
  // every block_size steps. Blocks are popped in the (j, i) order those calls would pop
  // them (so evictions happen in the same order); fills, counters and the peak follow in
  // closed form.
  const std::int64_t bs = c_.block_size;
  pops_.clear();
  std::int64_t live_before = live_fill_;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const Table& t = tables_[reqs[i]->kv_slot];
    SERVESIM_ASSERT(t.tokens == tokens[i]);
    const auto have = static_cast<std::int64_t>(t.blocks.size());
    for (std::int64_t j = have * bs - t.tokens + 1; j <= steps; j += bs) pops_.emplace_back(j, i);
    // sum over j = 1..steps of the blocks held after step j, and of the tokens
    const std::int64_t j1 = std::min(steps, have * bs - t.tokens);  // steps that fit the blocks held
    step_blocks_ += have * j1 + (blocks_prefix_sum(t.tokens + steps) - blocks_prefix_sum(t.tokens + j1));
    step_tokens_ += steps * t.tokens + steps * (steps + 1) / 2;
  }
  std::sort(pops_.begin(), pops_.end());
  KvStepWork unused;  // work_free_decode_steps allowed these steps: no copies
  popped_.clear();
  pop_free_n(static_cast<std::int64_t>(pops_.size()), popped_, unused);
  // A fresh block's fill is set as it joins its table (its state was just touched by the pop);
  // then each table's open last block, the only one held before that takes tokens.
  for (std::size_t k = 0; k < pops_.size(); ++k) {
    Table& t = tables_[reqs[pops_[k].second]->kv_slot];
    const auto b = static_cast<std::int64_t>(t.blocks.size());
    t.blocks.push_back(popped_[k]);
    set_fill(popped_[k], std::min<std::int64_t>(bs, t.tokens + steps - b * bs));
  }
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    Table& t = tables_[reqs[i]->kv_slot];
    const std::int64_t total = t.tokens + steps;
    if (t.tokens % bs != 0) {  // the open block: the one holding the token t.tokens - 1
      const auto b = t.tokens / bs;
      set_fill(t.blocks[static_cast<std::size_t>(b)], std::min<std::int64_t>(bs, total - b * bs));
    }
    t.tokens = total;
  }
  // The peak moves only when blocks are taken; the step-by-step calls record it right
  // after the last pop (j*, i*), when requests up to i* have grown j* tokens and the
  // others j* - 1.
  if (!pops_.empty()) {
    const double allocated = static_cast<double>(num_blocks_ - 1 - free_.size()) * block_bytes_;
    if (allocated > counters_.peak_allocated_bytes) {
      const auto [js, is] = pops_.back();
      const auto n = static_cast<std::int64_t>(reqs.size());
      const auto ii = static_cast<std::int64_t>(is);
      const std::int64_t live = live_before + js * (ii + 1) + (js - 1) * (n - ii - 1);
      counters_.peak_allocated_bytes = allocated;
      counters_.used_bytes_at_peak = static_cast<double>(live) * bytes_per_token_;
    }
  }
}

void PagedKvManager::check_invariants() const {
  // Blocks [handed, num_blocks) were never handed out: free, at the queue's front in id
  // order, with no per-block entries yet.
  const std::int32_t handed = free_.handed_out();
  SERVESIM_ASSERT(handed >= 1 && handed <= num_blocks_);
  SERVESIM_ASSERT(st_.size() == static_cast<std::size_t>(handed));
  std::int64_t free_seen = 0, free_cached = 0;
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(handed), 0);
  std::int32_t b = free_.front();
  for (std::int32_t want = handed; want < num_blocks_; ++want, b = free_.next(b)) SERVESIM_ASSERT(b == want);
  free_seen += num_blocks_ - handed;
  std::uint64_t stamp = evicted_stamp_;  // stamps rise along the queue, past the last evicted
  for (; b != -1; b = free_.next(b)) {
    SERVESIM_ASSERT(b != 0 && b < handed);
    SERVESIM_ASSERT(st_[b].ref == 0);
    SERVESIM_ASSERT(st_[b].freed > stamp && st_[b].freed <= frees_);
    stamp = st_[b].freed;
    SERVESIM_ASSERT(!seen[b]);
    seen[b] = 1;
    ++free_seen;
    free_cached += st_[b].cached() ? 1 : 0;
  }
  SERVESIM_ASSERT(free_seen == free_.size());
  SERVESIM_ASSERT(free_cached == free_cached_);
  SERVESIM_ASSERT(st_[0].ref == 0 && !free_.contains(0));
  std::int64_t referenced = 0, fill = 0;
  for (std::int32_t b = 1; b < handed; ++b) {
    SERVESIM_ASSERT((st_[b].ref == 0) == free_.contains(b));
    SERVESIM_ASSERT(st_[b].fill >= 0 && st_[b].fill <= c_.block_size);
    if (st_[b].ref > 0) {
      ++referenced;
      fill += st_[b].fill;
    }
  }
  SERVESIM_ASSERT(free_.size() + referenced == num_blocks_ - 1);
  SERVESIM_ASSERT(fill == live_fill_);
  // The index holds exactly the blocks carrying a shareable hash, each under its hash at its
  // slot; every other block carrying a hash is in its chain, at one position, and a chain in
  // use counts its carriers and is found by its key.
  std::size_t carrying = 0;
  std::vector<std::int64_t> chained(chains_.size(), 0);
  for (std::int32_t b = 1; b < handed; ++b) {
    if (st_[b].slot == kChained) {
      const auto id = static_cast<std::size_t>(st_[b].chain);
      const BlockChains::Chain& c = chains_.at(st_[b].chain);
      SERVESIM_ASSERT(id < chains_.size() && c.held > 0);
      SERVESIM_ASSERT(std::count(c.blocks.begin(), c.blocks.end(), b) == 1);
      ++chained[id];
      continue;
    }
    if (st_[b].slot == kOrphan) {  // a finished request's own block: free, found by nothing
      SERVESIM_ASSERT(st_[b].ref == 0);
      continue;
    }
    if (!st_[b].cached()) continue;
    ++carrying;
    SERVESIM_ASSERT(find_cached(st_[b].hash) == b);
  }
  SERVESIM_ASSERT(index_.check_invariants(block_key(), [this](std::int32_t b) { return st_[b].slot; }) == carrying);
  for (std::size_t id = 0; id < chains_.size(); ++id) SERVESIM_ASSERT(chained[id] == chains_.at(static_cast<std::int32_t>(id)).held);
  chains_.check_invariants();
  // Deferring tables: live, deferring, one per key, found under their key.
  for (const auto& [key, slot] : deferring_) {
    const Table& t = tables_[static_cast<std::size_t>(slot)];
    SERVESIM_ASSERT(t.live && t.defer == 1 && t.own_key == key);
  }
  for (const Table& t : tables_) SERVESIM_ASSERT(t.pending_from < 0 || (t.live && t.defer == 1 && t.pending_from <= t.hashed));
  std::vector<std::int32_t> refs(static_cast<std::size_t>(handed), 0);
  for (const Table& t : tables_) {
    if (!t.live) {
      SERVESIM_ASSERT(t.blocks.empty());
      continue;
    }
    SERVESIM_ASSERT(static_cast<std::int64_t>(t.blocks.size()) == ceil_div(t.tokens, c_.block_size));
    for (const std::int32_t b : t.heavy) {
      SERVESIM_ASSERT(b > 0 && b < handed);
      ++refs[b];
    }
    SERVESIM_ASSERT(static_cast<std::int64_t>(t.heavy.size()) == (t.drop_end > 0 ? c_.drop.heavy_blocks(c_.block_size) : 0));
    SERVESIM_ASSERT(t.hashed <= static_cast<std::int64_t>(t.blocks.size()));
    std::vector<std::int32_t> sorted = t.blocks;
    std::erase(sorted, 0);  // null entries of dropped blocks
    sorted.insert(sorted.end(), t.heavy.begin(), t.heavy.end());
    std::sort(sorted.begin(), sorted.end());
    SERVESIM_ASSERT(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());  // none held twice
    for (std::size_t i = 0; i < t.blocks.size(); ++i) {
      const std::int32_t b = t.blocks[i];
      const auto first = static_cast<std::int64_t>(i) * c_.block_size;
      SERVESIM_ASSERT(b != 0 || (first >= c_.drop.pinned() && first + c_.block_size <= t.drop_end));  // null: wholly dropped
      if (b == 0) continue;
      SERVESIM_ASSERT(b < handed);
      ++refs[b];
      const std::int64_t want = std::min<std::int64_t>(c_.block_size, t.tokens - static_cast<std::int64_t>(i) * c_.block_size);
      SERVESIM_ASSERT(st_[b].fill >= want);  // a shared block holds at least what each holder wrote
    }
  }
  for (std::int32_t b = 1; b < handed; ++b) SERVESIM_ASSERT(refs[b] == st_[b].ref);
  swap_.check_invariants();
  tiers_.check_invariants();
}

}  // namespace servesim
