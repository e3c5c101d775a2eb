#pragma once
// vLLM's paged KV manager: fixed-size blocks from a pool, a reserved null block, a free
// queue in eviction order, and prefix caching by chained block hashes (a freed block keeps
// its hash and stays a cache hit until it is reused). Completed with:
//  - copy-on-write sharing for parallel sampling (fork): a child shares every block; the
//    first sequence to append into a shared, partly filled last block copies it first;
//  - preemption by recompute or by swap to host memory; a swap copies whole blocks, one
//    copy per block per layer and K/V buffer (vLLM's swap_blocks) or one per buffer when
//    blocks are coalesced (FastSwitch's block groups); with swap_reuse, full blocks whose
//    host copy is still valid (swap_space.h) are not copied out again;
//  - offload tiers: a cached block evicted from the device spills to CPU DRAM (then SSD)
//    and is loaded back on a later hit when loading is cheaper than recomputing;
//  - KV token dropping (token_drop.h): a decoding request keeps at most a budget of tokens;
//    blocks behind its window are freed (a table entry of 0: the null block, as vLLM's
//    sliding window), H2O's heavy hitters sit in blocks of their own. A table that dropped
//    tokens registers no more hashes: what it computes next attended to a reduced context,
//    so it is not the KV another request with that prefix would compute.
// Attention reads KV through the block table (paged kernels: the cost model applies its
// paged_decode_factor).
//
// Invariants (check_invariants):
//  - block 0 is the null block: never free, never allocated;
//  - a block is in the free queue exactly when its reference count is 0;
//  - free blocks + distinct referenced blocks == num_blocks - 1 (conservation);
//  - reference counts equal the number of live tables holding each block, and no table
//    holds a block twice;
//  - the index holds exactly the hashes of shareable blocks (those the request's prefix ids
//    describe) that blocks carry, each mapped to its block; a hash of a block known only to
//    its request sits in that request's chain (block_chains.h) at the block's position instead;
//  - a table holds ceil(tokens / block_size) entries and its blocks' fills match its tokens;
//    null entries only for blocks wholly dropped (past the pinned sinks, before drop_end);
//  - a table only grows while it lives (append-only, except copy-on-write of the last block
//    and the null entries of blocks dropped by token dropping).
#include <algorithm>
#include <span>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/kv/block_chains.h"
#include "sim/kv/block_index.h"
#include "sim/kv/free_block_queue.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/kv/offload_tiers.h"
#include "sim/kv/paged_config.h"
#include "sim/kv/swap_space.h"
#include "sim/kv/token_drop.h"

namespace servesim {

class PagedKvManager final : public IKvManager {
 public:
  using Config = PagedKvConfig;

  PagedKvManager(const Config& c, const KvDeps& deps)
      : c_(c),
        hasher_(c.block_size),
        bytes_per_token_(deps.kv_bytes_per_token),
        buffers_(deps.layers_per_device * (deps.model.attention == AttentionKind::kMla ? 1 : 2)),
        swap_(c.swap_space),
        tiers_(c.offload, deps, deps.kv_bytes_per_token * c.block_size, c.block_size, 1) {
    block_bytes_ = deps.kv_bytes_per_token * c.block_size;
    if (c.swap_reuse) swap_.enable_reuse(block_bytes_);
    std::int64_t n = c.num_blocks_override > 0 ? c.num_blocks_override
                                               : static_cast<std::int64_t>(deps.kv_bytes_available / block_bytes_);
    num_blocks_ = std::max<std::int64_t>(n, 1) + 1;  // + the null block
    // Blocks 1.. start free in id order; their per-block entries are created as they are
    // first handed out (pop_free), so a pool costs in proportion to the blocks it uses.
    st_.assign(1, BlockState{});
    free_.reset(1, num_blocks_);
  }

  bool paged_layout() const override { return true; }
  std::int32_t kernel_block_size() const override { return c_.block_size; }
  std::int64_t capacity_tokens() const override { return (num_blocks_ - 1) * c_.block_size; }
  const TokenDropConfig* token_drop() const override { return c_.drop.on() ? &c_.drop : nullptr; }

  std::int64_t cached_prefix(const Request& r) const override {
    if (!c_.prefix_caching || r.kv_slot >= 0) return 0;
    return collect_hits(r).total * c_.block_size;
  }

  bool allocate(Request& r, std::int64_t total_tokens, KvStepWork& work) override {
    const std::int64_t new_tokens = total_tokens - r.num_computed;
    if (r.kv_slot >= 0) return grow(tables_[r.kv_slot], total_tokens, new_tokens, work);
    if (swap_.tokens(r.spec.id) > 0) return resume_swapped(r, total_tokens, work);
    // First allocation of a request: claim its cached prefix, then grow like a live one.
    const Hits hits = c_.prefix_caching ? collect_hits(r) : Hits{};
    const std::int64_t dev_hits = hits.device;
    const std::span<const std::int32_t> hit_blocks(r.hit_blocks.data(), static_cast<std::size_t>(dev_hits));
    const std::int64_t need = std::max<std::int64_t>(0, ceil_div(total_tokens, c_.block_size) - dev_hits);
    // Hit blocks that sit in the free queue stop being free when touched; they are counted
    // only when their number can decide (need + dev_hits > free >= need).
    if (need > free_.size()) return false;
    if (need + dev_hits > free_.size()) {
      std::int64_t free_hits = 0;
      for (const std::int32_t b : hit_blocks) free_hits += st_[static_cast<std::size_t>(b)].ref == 0 ? 1 : 0;
      if (need > free_.size() - free_hits) return false;
    }
    {
      r.kv_slot = new_slot();
      Table& t = tables_[r.kv_slot];
      for (std::size_t i = 0; i < hit_blocks.size(); ++i) {
        if (i + 8 < hit_blocks.size()) {
          __builtin_prefetch(&st_[static_cast<std::size_t>(hit_blocks[i + 8])]);
          free_.prefetch(hit_blocks[i + 8]);
        }
        touch(hit_blocks[i]);
        t.blocks.push_back(hit_blocks[i]);
      }
      t.hashed = dev_hits;  // full and already cached
      // Blocks found in an offload tier: fresh device blocks, filled by a copy back (loaded
      // before the new blocks' evictions spill anything that could push them down a tier).
      // commit() registers their hashes once the step has run.
      for (auto i = dev_hits; i < hits.total; ++i) tiers_.load(hash_of(r, i), work, counters_);
      for (auto i = dev_hits; i < hits.total; ++i) {
        const std::int32_t b = pop_free(work);
        t.blocks.push_back(b);
        set_fill(b, c_.block_size);
      }
      const std::int64_t hit_tokens = hits.total * c_.block_size;
      t.tokens = hit_tokens;
      counters_.prefix_lookup_tokens += r.num_tokens();
      counters_.prefix_hit_tokens += hit_tokens;
      counters_.offload_hit_tokens += hit_tokens - dev_hits * c_.block_size;
    }
    const bool grown = grow(tables_[r.kv_slot], total_tokens, new_tokens, work);
    SERVESIM_ASSERT(grown);  // the check above counted every block it takes
    return grown;
  }

  void commit(Request& r) override {
    if (!c_.prefix_caching || r.kv_slot < 0) return;
    Table& t = tables_[r.kv_slot];
    // No block filled since the last commit (a decode step, 15 times in 16): nothing to do.
    if (r.num_computed < (t.hashed + 1) * c_.block_size) return;
    if (t.drop_end > c_.drop.pinned()) return;  // dropped tokens: later blocks are not shareable
    const std::int64_t full = std::min<std::int64_t>(r.num_computed / c_.block_size, static_cast<std::int64_t>(t.blocks.size()));
    const std::int64_t own = own_blocks_from(r);
    constexpr std::int64_t kAhead = 4;  // blocks whose index slots and state are fetched early
    for (auto i = t.hashed; i < full; ++i) {
      if (i >= own && (t.defer == 1 || (t.defer < 0 && defers_own(r, t, own)))) {  // registered when the table is released
        if (t.pending_from < 0) t.pending_from = i;
        t.hashed = full;
        break;
      }
      if (i + kAhead < full) {
        if (i + kAhead < own) index_.prefetch(hash_of(r, i + kAhead));
        __builtin_prefetch(&st_[static_cast<std::size_t>(t.blocks[static_cast<std::size_t>(i + kAhead)])]);
      }
      const std::uint64_t h = hash_of(r, i);
      t.hashed = i + 1;
      const std::int32_t b = t.blocks[static_cast<std::size_t>(i)];
      BlockState& s = st_[b];
      if (s.cached()) continue;
      s.hash = h;
      if (i >= own) {
        chain_block(r, t, own, i, b);
        continue;
      }
      // One probe: a new entry, or none when an identical block is cached (it stays the one).
      s.slot = index_.insert(h, b, block_key(), slot_moved());
    }
  }

  bool fork(const Request& parent, Request& child, KvStepWork& /*work*/) override {
    SERVESIM_ASSERT(parent.kv_slot >= 0 && child.kv_slot < 0);
    Table& pt = tables_[parent.kv_slot];
    if (pt.defer == 1) {  // shared blocks carry their hashes, as without deferral
      register_pending(parent, pt);
      deferring_.erase(pt.own_key);
    }
    pt.defer = 0;
    const std::int32_t s = new_slot();
    Table& c = tables_[s];
    c.defer = 0;
    const Table& p = tables_[parent.kv_slot];
    c.blocks = p.blocks;
    c.hashed = p.hashed;
    c.tokens = p.tokens;
    c.heavy = p.heavy;  // H2O's heavy blocks shared too (not copied on write: see docs/kv_managers.md)
    c.drop_end = p.drop_end;
    for (auto b : c.blocks) st_[b].ref += b != 0 ? 1 : 0;
    for (auto b : c.heavy) ++st_[b].ref;  // shared: nothing copied until someone appends (copy-on-write)
    child.kv_slot = s;
    return true;
  }

  std::int64_t work_free_decode_steps(std::span<Request* const> reqs, std::int64_t max_steps) const override;

  void allocate_decode_steps(std::span<Request* const> reqs, std::span<const std::int64_t> tokens, std::int64_t steps) override;

  void free(Request& r) override { release(r); }

  // Swap (whole blocks to host swap space) or recompute; in paged_own.cpp.
  std::int64_t preempt(Request& r, PreemptMode mode, KvStepWork& work) override;

  std::int64_t swapped_tokens(const Request& r) const override { return swap_.tokens(r.spec.id); }

  KvUsage usage() const override {
    KvUsage u;
    u.capacity_tokens = capacity_tokens();
    const std::int64_t used_blocks = num_blocks_ - 1 - free_.size();
    u.used_tokens = used_blocks * c_.block_size;
    u.cached_tokens = free_cached_ * c_.block_size;
    u.allocated_bytes = static_cast<double>(used_blocks) * block_bytes_;
    u.used_bytes = static_cast<double>(live_fill_) * bytes_per_token_;
    u.cached_bytes = static_cast<double>(free_cached_) * block_bytes_;
    u.units_in_use = used_blocks + free_cached_;
    return u;
  }

  const KvCounters& counters() const override {
    // Exact integer sums, so the order steps are accounted in cannot change them.
    counters_.step_allocated_bytes = static_cast<double>(step_blocks_) * block_bytes_;
    counters_.step_used_bytes = static_cast<double>(step_tokens_) * bytes_per_token_;
    return counters_;
  }

  nlohmann::json summary() const override {
    nlohmann::json j = kv_common_summary("paged", usage(), counters_);
    j["num_blocks"] = num_blocks_ - 1;
    j["block_size"] = c_.block_size;
    j["block_bytes"] = block_bytes_;
    j["swap_space_bytes"] = swap_.capacity_bytes();
    if (c_.swap_reuse) j["swap_reused_bytes"] = swap_.reused_bytes();
    j["offload_tiers"] = tiers_.summary();
    if (c_.drop.on()) j["token_drop"] = c_.drop.summary();
    return j;
  }

  void check_invariants() const override;

 private:
  struct Table {
    std::vector<std::int32_t> blocks;
    std::int64_t hashed = 0;            // leading full, committed blocks whose hashes are registered
    std::int64_t tokens = 0;            // token positions (computed plus this step's), dropped ones included
    std::vector<std::int32_t> heavy;    // token dropping: H2O's heavy-hitter blocks
    std::int64_t drop_end = 0;          // token dropping: positions [pinned, drop_end) dropped
    std::int32_t chain = -1;            // the chain its own blocks joined last (a hint: checked by key)
    // Deferred registration of its own blocks (defers_own): -1 undecided, 0 no, 1 yes; and
    // the first own position committed but not yet registered (-1: none).
    std::int8_t defer = -1;
    std::int64_t pending_from = -1;
    std::uint64_t own_key = 0;  // while deferring: the hash of its first own block (deferring_)
    bool live = false;
  };
  struct Hits {  // r's leading blocks found: on the device (r.hit_blocks), then in an offload tier
    std::int64_t device = 0, total = 0;
  };

  static std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

  std::int64_t swap_chunks(std::int64_t blocks) const { return c_.coalesced_swap ? buffers_ : blocks * buffers_; }

  // The chained hash of block i of r, computed once and kept on the request.
  std::uint64_t hash_of(const Request& r, std::int64_t i) const {
    if (r.block_hash_unit != c_.block_size) {
      r.block_hashes.clear();
      r.block_hash_unit = c_.block_size;
    }
    auto& v = r.block_hashes;
    if (static_cast<std::int64_t>(v.capacity()) <= i) {  // room for every block r can fill, at once
      const std::int64_t all = ceil_div(r.total_tokens(), c_.block_size);
      v.reserve(static_cast<std::size_t>(std::max(i + 1, all)));
    }
    // The blocks its prefix ids describe at once (each is registered when computed); its own
    // blocks one by one, as a request whose own blocks are never registered (paged_own.cpp)
    // needs no hash beyond its first own block's.
    if (static_cast<std::int64_t>(v.size()) <= i) hasher_.extend(r, std::max(i + 1, own_blocks_from(r)), v);
    return v[static_cast<std::size_t>(i)];
  }

  // r's cached prefix: leaves its device blocks in r.hit_blocks (their hashes are
  // r.block_hashes' first entries). In paged_hits.cpp.
  Hits collect_hits(const Request& r) const;

  bool resume_swapped(Request& r, std::int64_t total_tokens, KvStepWork& work) {
    const std::int64_t kept = swap_.tokens(r.spec.id);
    SERVESIM_ASSERT(total_tokens >= kept);
    const std::int64_t need = ceil_div(total_tokens, c_.block_size);
    if (need > free_.size()) return false;
    const SwapSpace::Record rec = swap_.take(r.spec.id);
    r.kv_slot = new_slot();
    Table& t = tables_[r.kv_slot];
    for (std::int64_t i = 0; i < need; ++i) {
      const std::int32_t b = pop_free(work);
      t.blocks.push_back(b);
      set_fill(b, std::min<std::int64_t>(c_.block_size, total_tokens - i * c_.block_size));
    }
    t.tokens = total_tokens;
    work.swap_in_bytes += rec.bytes;
    work.swap_in_chunks += swap_chunks(ceil_div(rec.tokens, c_.block_size));
    counters_.swap_in_bytes += rec.bytes;
    account(t);
    return true;
  }

  // A live request's table grows to `total_tokens` (the path every running request takes
  // each step): fresh blocks from the free queue, copy-on-write of a shared partial block.
  bool grow(Table& t, std::int64_t total_tokens, std::int64_t new_tokens, KvStepWork& work) {
    return c_.drop.on() ? grow_dropping(t, total_tokens, new_tokens, work) : grow_kept(t, total_tokens, work);
  }
  // grow() with token dropping (paged_drop.cpp): null entries and H2O's heavy-hitter blocks.
  bool grow_dropping(Table& t, std::int64_t total_tokens, std::int64_t new_tokens, KvStepWork& work);
  void take_heavy_blocks(Table& t, KvStepWork& work);

  // grow() without token dropping (no null entries, no heavy blocks): the same steps.
  bool grow_kept(Table& t, std::int64_t total_tokens, KvStepWork& work) {
    const std::int64_t bs = c_.block_size;
    const auto have = static_cast<std::int64_t>(t.blocks.size());
    if (total_tokens > t.tokens && total_tokens <= have * bs && st_[t.blocks.back()].ref == 1) {
      // The new tokens fit the last block, which only this table holds (a decode step,
      // block_size - 1 times in block_size): no block taken, no copy, only its fill moves
      // (the table holds ceil(tokens / block_size) blocks, so the last is the only one open).
      set_fill(t.blocks.back(), total_tokens - (have - 1) * bs);
      t.tokens = total_tokens;
      account(t);
      return true;
    }
    const std::int64_t entries = std::max(have, ceil_div(total_tokens, bs));
    const bool cow = have > 0 && t.tokens % bs != 0 && total_tokens > t.tokens && st_[t.blocks.back()].ref > 1;
    if ((cow ? 1 : 0) + entries - have > free_.size()) return false;
    if (cow) copy_last_block(t, work);
    pop_free_n(entries - static_cast<std::int64_t>(t.blocks.size()), t.blocks, work);
    if (total_tokens > t.tokens) {
      for (auto i = t.tokens / bs; i < entries; ++i) set_fill(t.blocks[static_cast<std::size_t>(i)], std::min<std::int64_t>(bs, total_tokens - i * bs));
      t.tokens = total_tokens;
    }
    account(t);
    return true;
  }

  // Copy-on-write: the table's shared, partly filled last block is replaced by a copy.
  void copy_last_block(Table& t, KvStepWork& work) {
    const std::int32_t old = t.blocks.back();
    const std::int32_t b = pop_free(work);
    set_fill(b, st_[old].fill);
    work.cow_bytes += st_[old].fill * bytes_per_token_;
    work.cow_chunks += buffers_;
    counters_.cow_bytes += st_[old].fill * bytes_per_token_;
    t.blocks.back() = b;
    unref(old);
  }

  // sum over m = 1..x of ceil(m / block_size)
  std::int64_t blocks_prefix_sum(std::int64_t x) const {
    const std::int64_t bs = c_.block_size, q = x / bs, r = x % bs;
    return bs * q * (q + 1) / 2 + r * (q + 1);
  }

  void account(const Table& t) {
    // Blocks held and tokens kept (not a dropping table's null entries and dropped tokens).
    const std::int64_t nulls =
        c_.drop.on() ? c_.drop.null_entries_end(c_.block_size, t.drop_end) - c_.drop.null_entries_end(c_.block_size, 0) : 0;
    step_blocks_ += static_cast<std::int64_t>(t.blocks.size() + t.heavy.size()) - nulls;
    step_tokens_ += t.tokens - c_.drop.dropped_tokens(t.drop_end);
    const double allocated = static_cast<double>(num_blocks_ - 1 - free_.size()) * block_bytes_;
    if (allocated > counters_.peak_allocated_bytes) {
      counters_.peak_allocated_bytes = allocated;
      counters_.used_bytes_at_peak = static_cast<double>(live_fill_) * bytes_per_token_;
    }
  }

  std::int32_t new_slot() {
    std::int32_t s;
    if (!free_slots_.empty()) {
      s = free_slots_.back();
      free_slots_.pop_back();
    } else {
      s = static_cast<std::int32_t>(tables_.size());
      tables_.emplace_back();
    }
    tables_[s].live = true;
    tables_[s].tokens = 0;
    tables_[s].drop_end = c_.drop.pinned();
    tables_[s].chain = -1;
    tables_[s].defer = -1;
    tables_[s].pending_from = -1;
    return s;
  }

  void release(Request& r) {
    SERVESIM_ASSERT(r.kv_slot >= 0);
    Table& t = tables_[r.kv_slot];
    settle_pending(r, t);
    // Tail blocks first into the free queue: they are the least likely to be shared, so
    // they are evicted first (vLLM frees in reverse order).
    for (std::size_t i = t.blocks.size(); i-- > 0;) {
      if (i >= 8) {  // the state and queue entry of the block 8 further on (hints only)
        __builtin_prefetch(&st_[static_cast<std::size_t>(t.blocks[i - 8])]);
        free_.prefetch(t.blocks[i - 8]);
      }
      if (t.blocks[i] != 0) unref(t.blocks[i]);
    }
    for (const std::int32_t b : t.heavy) unref(b);
    t.heavy.clear();
    t.blocks.clear();
    t.hashed = 0;
    t.tokens = 0;
    t.live = false;
    free_slots_.push_back(r.kv_slot);
    r.kv_slot = -1;
  }

  void set_fill(std::int32_t b, std::int64_t f) {
    if (st_[b].ref > 0) live_fill_ += f - st_[b].fill;
    st_[b].fill = static_cast<std::int32_t>(f);
  }

  void unref(std::int32_t b) {
    SERVESIM_ASSERT(st_[b].ref > 0);
    if (--st_[b].ref == 0) {
      live_fill_ -= st_[b].fill;
      push_back_free(b);
    }
  }

  void touch(std::int32_t b) {
    if (st_[b].ref++ > 0) return;
    unlink_free(b);  // free exactly when unreferenced (check_invariants)
    live_fill_ += st_[b].fill;
  }

  std::int32_t pop_free(KvStepWork& work) {
    SERVESIM_ASSERT(free_.size() > 0);
    const std::int32_t b = free_.pop_front();
    if (static_cast<std::size_t>(b) == st_.size()) st_.emplace_back();  // first use of a never-used block
    BlockState& s = st_[b];
    if (s.cached()) {  // reusing a cached block evicts its hash (spilled to an offload tier if any)
      --free_cached_;
      if (tiers_.enabled()) tiers_.spill(s.hash, work, counters_);
      if (s.slot == kChained) {
        chains_.release(s.chain);
      } else if (s.slot != kOrphan) {
        index_.erase(s.slot, slot_moved());  // where the block's entry is: no probe
      }
      s.slot = -1;
      ++counters_.cache_evictions;
      evicted_stamp_ = s.freed;
    }
    prefetch_next_pops();
    s.ref = 1;
    s.fill = 0;
    ++counters_.units_allocated;
    return b;
  }

  // n pop_free() calls, the blocks appended to `out`. The n blocks are the queue's first n,
  // so their cache misses (state, then index entry) are started together, a batch at a time.
  void pop_free_n(std::int64_t n, std::vector<std::int32_t>& out, KvStepWork& work) {
    constexpr std::int64_t kBatch = 16;
    std::int32_t next[kBatch];
    while (n > 0) {
      const std::int64_t k = free_.front_n(std::min(n, kBatch), next);
      SERVESIM_ASSERT(k > 0);
      for (std::int64_t j = 0; j < k; ++j) {
        if (static_cast<std::size_t>(next[j]) < st_.size()) __builtin_prefetch(&st_[static_cast<std::size_t>(next[j])]);
      }
      for (std::int64_t j = 0; j < k; ++j) {
        if (static_cast<std::size_t>(next[j]) < st_.size() && st_[static_cast<std::size_t>(next[j])].slot >= 0) {
          index_.prefetch_slot(st_[static_cast<std::size_t>(next[j])].slot);
        }
      }
      for (std::int64_t j = 0; j < k; ++j) out.push_back(pop_free(work));
      n -= k;
    }
  }

  // The next pops take the blocks at the queue's front in order: start their cache misses
  // now (the next block's index entry, its successor's state and links). Hints only.
  void prefetch_next_pops() const {
    std::int32_t front[2];
    const std::int64_t k = free_.front_n(2, front);
    const std::int32_t n1 = k > 0 ? front[0] : -1;
    if (n1 <= 0 || static_cast<std::size_t>(n1) >= st_.size()) return;  // none, or never used
    if (st_[n1].slot >= 0) index_.prefetch_slot(st_[n1].slot);
    const std::int32_t n2 = k > 1 ? front[1] : -1;
    if (n2 <= 0 || static_cast<std::size_t>(n2) >= st_.size()) return;
    __builtin_prefetch(&st_[static_cast<std::size_t>(n2)]);
    free_.prefetch(n2);
  }

  // The block caching shareable hash h (one in index_), or -1.
  std::int32_t find_cached(std::uint64_t h) const { return index_.find(h, block_key()); }

  // Blocks [own_blocks_from(r), ...) of r hold content its prefix ids do not describe: their
  // hashes mix in r's id (BlockHasher), so only r itself can look them up again (re-admitted
  // after preemption, or back on this replica after a move). They go to r's chain instead of
  // the index: a chain is keyed by the hash of r's first such block (which the later ones
  // extend) and holds, per position, the block last given that position's hash; an entry is
  // valid while that block still carries the hash (holds()), and a chain is dropped when no
  // block carries any of its hashes. A chain position then holds its hash's only carrier
  // exactly when the index would, at a sequential append instead of a random probe.
  std::int64_t own_blocks_from(const Request& r) const { return BlockHasher::covered_tokens(r.spec) / c_.block_size; }
  bool holds(std::int32_t b, std::uint64_t h) const {
    const BlockState& s = st_[static_cast<std::size_t>(b)];
    return s.slot == kChained && s.hash == h;
  }
  // Block b (table position i >= own, its hash set) joins r's chain unless another block
  // carries that hash already (then b carries none, as an index insert that finds it held).
  // In paged_own.cpp.
  void chain_block(const Request& r, Table& t, std::int64_t own, std::int64_t i, std::int32_t b);
  // Deferred registration of a request's own blocks (paged_own.cpp): whether table t (r's,
  // at r.kv_slot) defers it, decided once per table; registering t's pending blocks as
  // commit() would have; and, at release, settling them (registered, or orphaned when r has
  // finished).
  bool defers_own(const Request& r, Table& t, std::int64_t own);
  void register_pending(const Request& r, Table& t);
  void settle_pending(const Request& r, Table& t);
  void push_back_free(std::int32_t b) {
    st_[b].freed = ++frees_;
    free_.push_back(b);
    free_cached_ += st_[b].cached() ? 1 : 0;
  }

  void unlink_free(std::int32_t b) {
    free_.remove(b);
    free_cached_ -= st_[b].cached() ? 1 : 0;
  }

  Config c_;
  BlockHasher hasher_;
  double bytes_per_token_ = 0;
  std::int64_t buffers_ = 0;
  double block_bytes_ = 0;
  std::int64_t num_blocks_ = 0;
  // Per-block state in one entry (a block's bookkeeping touches one cache line), for the
  // blocks handed out so far (free_.handed_out(); the others are free and untouched: no
  // reference, fill or hash).
  struct BlockState {
    std::uint64_t hash = 0;  // while cached()
    std::int32_t ref = 0;
    std::int32_t fill = 0;   // tokens written (kept while cached)
    std::int32_t slot = -1;  // its entry in index_; kChained: in chains_.at(chain); kOrphan; -1: carries no hash
    std::int32_t chain = -1;  // while slot == kChained
    std::uint64_t freed = 0;  // its stamp when last appended to the free queue (frees_)
    bool cached() const { return slot != -1; }
  };
  static constexpr std::int32_t kChained = -2;
  // A free block of a finished request's own content, cached (it counts as such and its
  // reuse is an eviction) but in no index or chain: nothing can look it up again.
  static constexpr std::int32_t kOrphan = -3;
  std::vector<BlockState> st_;
  struct SlotMoved {  // tells a block its index entry's new slot when the index moves it
    std::vector<BlockState>& st;
    void operator()(std::int32_t b, std::int32_t slot) const { st[static_cast<std::size_t>(b)].slot = slot; }
  };
  SlotMoved slot_moved() { return SlotMoved{st_}; }
  struct BlockKey {  // the hash a block is held in the index under
    const std::vector<BlockState>& st;
    std::uint64_t operator()(std::int32_t b) const { return st[static_cast<std::size_t>(b)].hash; }
  };
  BlockKey block_key() const { return BlockKey{st_}; }
  FreeBlockQueue free_;  // free blocks in eviction order
  std::int64_t free_cached_ = 0;  // free blocks that still carry a hash
  // Free stamps: the blocks appended to the free queue so far, and the stamp of the last
  // block evicted. A block loses its hash only when evicted (orphans never carried one:
  // paged_own.cpp), and the queue appends at the back and pops the front, so blocks are
  // evicted in rising stamp order: a remembered hit list whose blocks can only be evicted at
  // stamp r.hit_floor or later is whole while evicted_stamp_ < r.hit_floor (collect_hits).
  std::uint64_t frees_ = 0;
  std::uint64_t evicted_stamp_ = 0;
  std::int64_t live_fill_ = 0;    // tokens written in referenced blocks
  // hash -> the block carrying it, for every block that carries one (touched for every
  // block that fills and every one evicted: see block_index.h).
  BlockIndex index_;
  // The chains of blocks known only to their requests (own_blocks_from).
  BlockChains chains_;
  // The tables deferring their own blocks' registration, by own key (at most one per key).
  absl::flat_hash_map<std::uint64_t, std::int32_t> deferring_;
  std::vector<Table> tables_;
  std::vector<std::int32_t> free_slots_;
  SwapSpace swap_;
  OffloadTiers tiers_;
  mutable KvCounters counters_;
  std::int64_t step_blocks_ = 0;  // blocks held, summed over (sequence, step) pairs
  std::int64_t step_tokens_ = 0;  // tokens held, same sum
  std::vector<std::pair<std::int64_t, std::size_t>> pops_;  // (step, request) of bulk block pops
  std::vector<std::int32_t> popped_;                        // their blocks, in that order
};

}  // namespace servesim
