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
//    and is loaded back on a later hit when loading is cheaper than recomputing.
// Attention reads KV through the block table (paged kernels: the cost model applies its
// paged_decode_factor).
//
// Invariants (check_invariants):
//  - block 0 is the null block: never free, never allocated; a block is in the free queue
//    exactly when its reference count is 0; free + distinct referenced == num_blocks - 1;
//  - reference counts equal the number of live tables holding each block, and no table
//    holds a block twice; every cached hash maps to a block that carries that hash;
//  - a table holds ceil(tokens / block_size) blocks and its blocks' fills match its tokens;
//    it only grows while it lives (append-only, except copy-on-write of the last block).
#include <algorithm>
#include <absl/container/flat_hash_map.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/kv/free_block_queue.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/kv/offload_tiers.h"
#include "sim/kv/swap_space.h"

namespace servesim {
namespace {

class PagedKvManager final : public IKvManager {
 public:
  struct Config {
    std::int32_t block_size = 16;
    bool prefix_caching = true;
    std::int64_t num_blocks_override = 0;
    double swap_space = 0;
    bool coalesced_swap = false;
    bool swap_reuse = false;
    OffloadConfig offload;
    static Config parse(Params& p) {
      Config c;
      c.block_size = static_cast<std::int32_t>(p.integer("block_size", 16, "tokens per KV block", 1, 4096));
      c.prefix_caching = p.boolean("enable_prefix_caching", true, "reuse computed blocks by chained prefix hashes");
      c.num_blocks_override = p.integer("num_gpu_blocks_override", 0, "use this many blocks instead of the memory plan (0: off)", 0, kMaxKvUnits);
      c.swap_space = p.bytes("swap_space", "4GiB", "host memory for requests preempted by swap (vLLM's --swap-space default)");
      c.coalesced_swap = p.choice("swap_copy", "per_block", {"per_block", "coalesced"},
                                  "swap copies: one per block per layer and K/V (vLLM) or one per buffer (FastSwitch's "
                                  "block groups)") == "coalesced";
      c.swap_reuse = (p.has("swap_reuse") || p.doc_mode()) &&  // absent: off, and not in the resolved config
                     p.boolean("swap_reuse", false, "FastSwitch's KV reuse: swapped-in blocks' host copies stay valid; a later swap-out copies only the others");
      c.offload = OffloadConfig::parse(p);
      return c;
    }
  };

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
    const auto nb = static_cast<std::size_t>(num_blocks_);
    ref_.assign(nb, 0);
    fill_.assign(nb, 0);
    hash_.assign(nb, 0);
    has_hash_.assign(nb, 0);
    free_.reset(nb);
    for (std::int32_t b = 1; b < num_blocks_; ++b) push_back_free(b);
  }

  bool paged_layout() const override { return true; }
  std::int32_t kernel_block_size() const override { return c_.block_size; }
  std::int64_t capacity_tokens() const override { return (num_blocks_ - 1) * c_.block_size; }

  std::int64_t cached_prefix(const Request& r) const override {
    if (!c_.prefix_caching || r.kv_slot >= 0) return 0;
    Hits h;
    collect_hits(r, h);
    return static_cast<std::int64_t>(h.hashes.size()) * c_.block_size;
  }

  bool allocate(Request& r, std::int64_t total_tokens, KvStepWork& work) override {
    if (r.kv_slot >= 0) return grow(tables_[r.kv_slot], total_tokens, work);
    if (swap_.tokens(r.spec.id) > 0) return resume_swapped(r, total_tokens, work);
    // First allocation of a request: claim its cached prefix, then grow like a live one.
    Hits hits;
    if (c_.prefix_caching) collect_hits(r, hits);
    const auto dev_hits = static_cast<std::int64_t>(hits.blocks.size());
    const std::int64_t need = std::max<std::int64_t>(0, ceil_div(total_tokens, c_.block_size) - dev_hits);
    // Hit blocks that sit in the free queue stop being free when touched.
    std::int64_t hits_free = 0;
    for (auto b : hits.blocks) hits_free += free_.contains(b) ? 1 : 0;
    if (need > free_.size() - hits_free) return false;
    {
      r.kv_slot = new_slot();
      Table& t = tables_[r.kv_slot];
      for (std::size_t i = 0; i < hits.blocks.size(); ++i) {
        touch(hits.blocks[i]);
        t.blocks.push_back(hits.blocks[i]);
      }
      t.hashes.assign(hits.hashes.begin(), hits.hashes.begin() + dev_hits);  // full and already cached
      // Blocks found in an offload tier: fresh device blocks, filled by a copy back (loaded
      // before the new blocks' evictions spill anything that could push them down a tier).
      // commit() registers their hashes once the step has run.
      for (std::size_t i = hits.blocks.size(); i < hits.hashes.size(); ++i) tiers_.load(hits.hashes[i], work, counters_);
      for (std::size_t i = hits.blocks.size(); i < hits.hashes.size(); ++i) {
        const std::int32_t b = pop_free(work);
        t.blocks.push_back(b);
        set_fill(b, c_.block_size);
      }
      const auto hit_tokens = static_cast<std::int64_t>(hits.hashes.size()) * c_.block_size;
      t.tokens = hit_tokens;
      counters_.prefix_lookup_tokens += r.num_tokens();
      counters_.prefix_hit_tokens += hit_tokens;
      counters_.offload_hit_tokens += hit_tokens - dev_hits * c_.block_size;
    }
    const bool grown = grow(tables_[r.kv_slot], total_tokens, work);
    SERVESIM_ASSERT(grown);  // the check above counted every block it takes
    return grown;
  }

  void commit(Request& r) override {
    if (!c_.prefix_caching || r.kv_slot < 0) return;
    Table& t = tables_[r.kv_slot];
    const std::int64_t full = std::min<std::int64_t>(r.num_computed / c_.block_size, static_cast<std::int64_t>(t.blocks.size()));
    for (auto i = static_cast<std::int64_t>(t.hashes.size()); i < full; ++i) {
      const std::uint64_t h = hash_of(r, i);
      t.hashes.push_back(h);
      const std::int32_t b = t.blocks[static_cast<std::size_t>(i)];
      if (has_hash_[b]) continue;
      // One probe: a new entry, or a stale one taken over; a live identical block cached
      // elsewhere stays the one.
      const auto [it, inserted] = cached_.try_emplace(h, b);
      if (!inserted) {
        const std::int32_t other = it->second;
        if (has_hash_[other] && hash_[other] == h) continue;
        it->second = b;
      }
      hash_[b] = h;
      has_hash_[b] = 1;
    }
  }

  bool fork(const Request& parent, Request& child, KvStepWork& /*work*/) override {
    SERVESIM_ASSERT(parent.kv_slot >= 0 && child.kv_slot < 0);
    const std::int32_t s = new_slot();
    Table& c = tables_[s];
    const Table& p = tables_[parent.kv_slot];
    c.blocks = p.blocks;
    c.hashes = p.hashes;
    c.tokens = p.tokens;
    for (auto b : c.blocks) ++ref_[b];  // shared: nothing copied until someone appends (copy-on-write)
    child.kv_slot = s;
    return true;
  }

  std::int64_t work_free_decode_steps(std::span<Request* const> reqs, std::int64_t max_steps) const override {
    // Evicting a cached block may spill it to an offload tier (a copy): no multi-step then.
    if (tiers_.enabled()) return 0;
    for (const Request* r : reqs) {
      if (r->kv_slot < 0) return 0;
      const Table& t = tables_[r->kv_slot];
      // Appending to a shared, partly filled last block would copy it first.
      if (!t.blocks.empty() && t.tokens % c_.block_size != 0 && ref_[t.blocks.back()] > 1) return 0;
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

  void allocate_decode_steps(std::span<Request* const> reqs, std::span<const std::int64_t> tokens, std::int64_t steps) override {
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
    for (const auto& [j, i] : pops_) tables_[reqs[i]->kv_slot].blocks.push_back(pop_free(unused));
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      Table& t = tables_[reqs[i]->kv_slot];
      const std::int64_t total = t.tokens + steps;
      for (auto b = t.tokens / bs; b < static_cast<std::int64_t>(t.blocks.size()); ++b) {
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

  void free(Request& r) override { release(r); }

  std::int64_t preempt(Request& r, PreemptMode mode, KvStepWork& work) override {
    SERVESIM_ASSERT(r.kv_slot >= 0);
    const std::int64_t kept = std::min(r.num_computed, tables_[r.kv_slot].tokens);
    if (mode == PreemptMode::kSwap && kept > 0) {
      std::vector<std::uint64_t> full;  // reuse: the full blocks' hashes name their host copies
      for (std::int64_t i = 0; c_.swap_reuse && i < kept / c_.block_size; ++i) full.push_back(hash_of(r, i));
      const std::int64_t copied = swap_.put_blocks(r.spec.id, kept, ceil_div(kept, c_.block_size), block_bytes_, std::move(full));
      if (copied >= 0) {
        const double bytes = static_cast<double>(copied) * block_bytes_;
        work.swap_out_bytes += bytes;
        work.swap_out_chunks += copied > 0 ? swap_chunks(copied) : 0;
        counters_.swap_out_bytes += bytes;
        ++counters_.preemptions_swap;
        release(r);
        return kept;
      }
    }
    // Recompute: blocks return to the free queue (cached ones stay hits).
    ++counters_.preemptions_recompute;
    release(r);
    return 0;
  }

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
    return j;
  }

  void check_invariants() const override {
    std::int64_t free_seen = 0, free_cached = 0;
    std::vector<std::uint8_t> seen(static_cast<std::size_t>(num_blocks_), 0);
    for (std::int32_t b = free_.front(); b != -1; b = free_.next(b)) {
      SERVESIM_ASSERT(b != 0);
      SERVESIM_ASSERT(ref_[b] == 0);
      SERVESIM_ASSERT(!seen[b]);
      seen[b] = 1;
      ++free_seen;
      free_cached += has_hash_[b] ? 1 : 0;
    }
    SERVESIM_ASSERT(free_seen == free_.size());
    SERVESIM_ASSERT(free_cached == free_cached_);
    SERVESIM_ASSERT(ref_[0] == 0 && !free_.contains(0));
    std::int64_t referenced = 0, fill = 0;
    for (std::int64_t b = 1; b < num_blocks_; ++b) {
      SERVESIM_ASSERT((ref_[b] == 0) == free_.contains(b));
      SERVESIM_ASSERT(fill_[b] >= 0 && fill_[b] <= c_.block_size);
      if (ref_[b] > 0) {
        ++referenced;
        fill += fill_[b];
      }
    }
    SERVESIM_ASSERT(free_.size() + referenced == num_blocks_ - 1);
    SERVESIM_ASSERT(fill == live_fill_);
    // Every block carrying a hash is the index's block for it (the index may hold stale entries).
    for (std::int32_t b = 1; b < num_blocks_; ++b) {
      if (has_hash_[b]) SERVESIM_ASSERT(find_cached(hash_[b]) == b);
    }
    std::vector<std::int32_t> refs(static_cast<std::size_t>(num_blocks_), 0);
    for (const Table& t : tables_) {
      if (!t.live) {
        SERVESIM_ASSERT(t.blocks.empty());
        continue;
      }
      SERVESIM_ASSERT(static_cast<std::int64_t>(t.blocks.size()) == ceil_div(t.tokens, c_.block_size));
      SERVESIM_ASSERT(t.hashes.size() <= t.blocks.size());
      std::vector<std::int32_t> sorted = t.blocks;
      std::sort(sorted.begin(), sorted.end());
      SERVESIM_ASSERT(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());  // none held twice
      for (std::size_t i = 0; i < t.blocks.size(); ++i) {
        const std::int32_t b = t.blocks[i];
        SERVESIM_ASSERT(b != 0);
        ++refs[b];
        const std::int64_t want = std::min<std::int64_t>(c_.block_size, t.tokens - static_cast<std::int64_t>(i) * c_.block_size);
        SERVESIM_ASSERT(fill_[b] >= want);  // a shared block holds at least what each holder wrote
      }
    }
    for (std::int64_t b = 1; b < num_blocks_; ++b) SERVESIM_ASSERT(refs[b] == ref_[b]);
    swap_.check_invariants();
    tiers_.check_invariants();
  }

 private:
  struct Table {
    std::vector<std::int32_t> blocks;
    std::vector<std::uint64_t> hashes;  // of the leading full, committed blocks
    std::int64_t tokens = 0;            // token slots held (computed plus this step's)
    bool live = false;
  };
  struct Hits {
    std::vector<std::uint64_t> hashes;  // device hits first, then offload-tier hits
    std::vector<std::int32_t> blocks;   // device hits
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
    while (static_cast<std::int64_t>(v.size()) <= i) {
      v.push_back(hasher_.block_hash(r, static_cast<std::int64_t>(v.size()), v.empty() ? 0 : v.back()));
    }
    return v[static_cast<std::size_t>(i)];
  }

  void collect_hits(const Request& r, Hits& out) const {
    // At least one token must be computed to produce logits: never the whole sequence.
    const std::int64_t max_blocks = (r.num_tokens() - 1) / c_.block_size;
    // The blocks that matched at this manager's last lookup of r still match up to the
    // first one evicted since (its hash no longer there); only the rest is probed again.
    std::int64_t i = 0;
    if (r.hit_owner == this) {
      const auto n = std::min<std::int64_t>(static_cast<std::int64_t>(r.hit_blocks.size()), max_blocks);
      for (; i < n; ++i) {
        const std::int32_t b = r.hit_blocks[static_cast<std::size_t>(i)];
        const std::uint64_t h = hash_of(r, i);
        if (!has_hash_[b] || hash_[b] != h) break;
        out.hashes.push_back(h);
        out.blocks.push_back(b);
      }
    }
    for (; i < max_blocks; ++i) {
      const std::uint64_t h = hash_of(r, i);
      const std::int32_t b = find_cached(h);
      if (b < 0) break;
      out.hashes.push_back(h);
      out.blocks.push_back(b);
    }
    r.hit_owner = this;
    r.hit_blocks = out.blocks;
    if (!tiers_.enabled()) return;
    for (; i < max_blocks; ++i) {
      const std::uint64_t h = hash_of(r, i);
      const int tier = tiers_.find(h);
      if (tier < 0 || !tiers_.worth_loading(tier)) break;
      out.hashes.push_back(h);
    }
  }

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
  bool grow(Table& t, std::int64_t total_tokens, KvStepWork& work) {
    const auto have = static_cast<std::int64_t>(t.blocks.size());
    const bool cow = have > 0 && t.tokens % c_.block_size != 0 && total_tokens > t.tokens && ref_[t.blocks.back()] > 1;
    const std::int64_t need = std::max<std::int64_t>(0, ceil_div(total_tokens, c_.block_size) - have) + (cow ? 1 : 0);
    if (need > free_.size()) return false;
    if (cow) {
      const std::int32_t old = t.blocks.back();
      const std::int32_t b = pop_free(work);
      set_fill(b, fill_[old]);
      work.cow_bytes += fill_[old] * bytes_per_token_;
      work.cow_chunks += buffers_;
      counters_.cow_bytes += fill_[old] * bytes_per_token_;
      t.blocks.back() = b;
      unref(old);
    }
    while (static_cast<std::int64_t>(t.blocks.size()) < ceil_div(total_tokens, c_.block_size)) t.blocks.push_back(pop_free(work));
    if (total_tokens > t.tokens) {
      for (auto i = t.tokens / c_.block_size; i < static_cast<std::int64_t>(t.blocks.size()); ++i) {
        set_fill(t.blocks[static_cast<std::size_t>(i)], std::min<std::int64_t>(c_.block_size, total_tokens - i * c_.block_size));
      }
      t.tokens = total_tokens;
    }
    account(t);
    return true;
  }

  // sum over m = 1..x of ceil(m / block_size)
  std::int64_t blocks_prefix_sum(std::int64_t x) const {
    const std::int64_t bs = c_.block_size, q = x / bs, r = x % bs;
    return bs * q * (q + 1) / 2 + r * (q + 1);
  }

  void account(const Table& t) {
    step_blocks_ += static_cast<std::int64_t>(t.blocks.size());
    step_tokens_ += t.tokens;
    const double allocated = static_cast<double>(num_blocks_ - 1 - free_.size()) * block_bytes_;
    if (allocated > counters_.peak_allocated_bytes) {
      counters_.peak_allocated_bytes = allocated;
      counters_.used_bytes_at_peak = static_cast<double>(live_fill_) * bytes_per_token_;
    }
  }

  std::int32_t new_slot() {
    if (free_slots_.empty()) {
      free_slots_.push_back(static_cast<std::int32_t>(tables_.size()));
      tables_.emplace_back();
    }
    const std::int32_t s = free_slots_.back();
    free_slots_.pop_back();
    tables_[s].live = true;
    tables_[s].tokens = 0;
    return s;
  }

  void release(Request& r) {
    SERVESIM_ASSERT(r.kv_slot >= 0);
    Table& t = tables_[r.kv_slot];
    // Tail blocks first into the free queue: they are the least likely to be shared, so
    // they are evicted first (vLLM frees in reverse order).
    for (auto it = t.blocks.rbegin(); it != t.blocks.rend(); ++it) unref(*it);
    t.blocks.clear();
    t.hashes.clear();
    t.tokens = 0;
    t.live = false;
    free_slots_.push_back(r.kv_slot);
    r.kv_slot = -1;
  }

  void set_fill(std::int32_t b, std::int64_t f) {
    if (ref_[b] > 0) live_fill_ += f - fill_[b];
    fill_[b] = f;
  }

  void unref(std::int32_t b) {
    SERVESIM_ASSERT(ref_[b] > 0);
    if (--ref_[b] == 0) {
      live_fill_ -= fill_[b];
      push_back_free(b);
    }
  }

  void touch(std::int32_t b) {
    if (free_.contains(b)) unlink_free(b);
    if (ref_[b]++ == 0) live_fill_ += fill_[b];
  }

  std::int32_t pop_free(KvStepWork& work) {
    SERVESIM_ASSERT(free_.front() != -1);
    const std::int32_t b = free_.front();
    unlink_free(b);
    if (has_hash_[b]) {  // reusing a cached block evicts its hash (spilled to an offload tier if any)
      // The index entry goes stale instead of being erased (find_cached checks); stale
      // entries are swept once they outnumber the blocks four to one, so the sweep costs O(1) per eviction.
      tiers_.spill(hash_[b], work, counters_);
      has_hash_[b] = 0;
      ++counters_.cache_evictions;
      if (++stale_ > 4 * num_blocks_) {
        absl::erase_if(cached_, [this](const auto& e) { return !has_hash_[e.second] || hash_[e.second] != e.first; });
        stale_ = 0;
      }
    }
    ref_[b] = 1;
    fill_[b] = 0;
    ++counters_.units_allocated;
    return b;
  }

  // The block caching hash h, or -1 (an index entry whose block was evicted is stale).
  std::int32_t find_cached(std::uint64_t h) const {
    const auto it = cached_.find(h);
    if (it == cached_.end()) return -1;
    const std::int32_t b = it->second;
    return has_hash_[b] && hash_[b] == h ? b : -1;
  }

  void push_back_free(std::int32_t b) {
    free_.push_back(b);
    free_cached_ += has_hash_[b] ? 1 : 0;
  }

  void unlink_free(std::int32_t b) {
    free_.remove(b);
    free_cached_ -= has_hash_[b] ? 1 : 0;
  }

  Config c_;
  BlockHasher hasher_;
  double bytes_per_token_ = 0;
  std::int64_t buffers_ = 0;
  double block_bytes_ = 0;
  std::int64_t num_blocks_ = 0;
  std::vector<std::int32_t> ref_;
  std::vector<std::int64_t> fill_;  // tokens written in each block (kept while cached)
  std::vector<std::uint64_t> hash_;
  std::vector<std::uint8_t> has_hash_;
  FreeBlockQueue free_;  // free blocks in eviction order
  std::int64_t free_cached_ = 0;  // free blocks that still carry a hash
  std::int64_t live_fill_ = 0;    // tokens written in referenced blocks
  // Open addressing, no node per entry: this index is touched for every block that fills.
  absl::flat_hash_map<std::uint64_t, std::int32_t> cached_;  // hash -> block, entries of evicted blocks stale
  std::int64_t stale_ = 0;  // evictions since the last sweep of stale entries
  std::vector<Table> tables_;
  std::vector<std::int32_t> free_slots_;
  SwapSpace swap_;
  OffloadTiers tiers_;
  mutable KvCounters counters_;
  std::int64_t step_blocks_ = 0;  // blocks held, summed over (sequence, step) pairs
  std::int64_t step_tokens_ = 0;  // tokens held, same sum
  std::vector<std::pair<std::int64_t, std::size_t>> pops_;  // (step, request) of bulk block pops
};

}  // namespace

SERVESIM_REGISTER(KvManagerRegistry, PagedKvManager, "paged",
                  "vLLM paged KV: fixed blocks, LRU free queue, prefix caching, copy-on-write forks, swap, offload tiers")

}  // namespace servesim
