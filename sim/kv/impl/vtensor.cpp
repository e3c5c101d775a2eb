// vTensor (Xu et al., 2024; GLake's GLakeServe): a virtual tensor per sequence and layer
// (K and V), one base pointer each (no block table in the kernel: contiguous attention),
// backed by 2 MiB physical chunks from a pool created at start (so growing costs map calls,
// never an allocation). A CPU-side manager extends tensors asynchronously within a grace
// window: each running sequence keeps `extend_ahead` tokens of mapped room, mapped in the
// background; only prefill and prefix reuse wait for their mappings.
// Prefix reuse: computed blocks of `prefix_block` tokens enter a prefix tree (a radix tree
// with one-block edges, LRU eviction of unreferenced leaves). A new request that matches m
// cached tokens maps the matched full chunks into its own tensor (shared physical pages,
// map calls only) and copies the matched tokens of a partly matched chunk (a device-to-
// device copy). A multi-turn session's next turn matches its earlier context this way.
// Evicted blocks spill to the offload tiers when configured, and load back on a later hit
// when loading is cheaper than recomputing.
//
// Invariants (check_invariants): the base's, the tree's, and: every tree node holds the
// chunk group its block lives in; holds equal the nodes per group; a live sequence's path
// is pinned once by it; the reclaimable count equals the groups that only unpinned nodes
// hold.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/kv/offload_tiers.h"
#include "sim/kv/prefix_tree.h"
#include "sim/kv/vmm_base.h"

namespace servesim {
namespace {

class VTensorKvManager final : public VmmKvBase {
 public:
  struct Config {
    double chunk_size = 0;
    std::string chunk_where;
    std::int32_t prefix_block = 16;
    bool prefix_caching = true;
    std::int64_t extend_ahead = 0;
    bool overlap_mapping = true;
    double swap_space = 0;
    std::int64_t num_groups_override = 0;
    OffloadConfig offload;
    static Config parse(Params& p) {
      Config c;
      c.chunk_size = p.bytes("chunk_size", "2MiB", "physical chunk size (a multiple of the 2MiB VMM granularity)");
      c.chunk_where = p.where("chunk_size");
      constexpr double kGranule = 2.0 * 1024 * 1024;
      if (!p.doc_mode() && (c.chunk_size < kGranule || c.chunk_size / kGranule != static_cast<double>(static_cast<std::int64_t>(c.chunk_size / kGranule)))) {
        bad_value(c.chunk_where, nlohmann::json(c.chunk_size).dump(), "a positive multiple of 2MiB (cuMemCreate's granularity)");
      }
      c.prefix_block = static_cast<std::int32_t>(p.integer("prefix_block", 16, "tokens per prefix-tree block (match granularity)", 1, 4096));
      c.prefix_caching = p.boolean("enable_prefix_caching", true, "reuse cached prefixes through the prefix tree");
      c.extend_ahead = p.integer("extend_ahead", 256, "grace window: tokens of mapped room kept ahead of each sequence", 0);
      c.overlap_mapping = p.boolean("overlap_mapping", true, "extend tensors in the background, overlapping compute");
      c.swap_space = p.bytes("swap_space", "4GiB", "host memory for requests preempted by swap");
      c.num_groups_override =
          p.integer("num_chunk_groups_override", 0, "use this many chunk groups instead of the memory plan (0: off)", 0, kMaxKvUnits);
      c.offload = OffloadConfig::parse(p);
      return c;
    }
  };

  VTensorKvManager(const Config& c, const KvDeps& deps)
      : VmmKvBase(deps, VmmGeometry::make(deps, c.chunk_size, c.num_groups_override, c.prefix_block, c.chunk_where),
                  c.swap_space, c.overlap_mapping),
        c_(c),
        hasher_(c.prefix_block),
        tiers_(c.offload, deps, deps.kv_bytes_per_token * c.prefix_block, c.prefix_block, 1),
        blocks_per_group_(geo_.group_tokens / c.prefix_block) {}

  std::int64_t cached_prefix(const Request& r) const override {
    if (!c_.prefix_caching || r.kv_slot >= 0) return 0;
    const Match m = match(r);
    return static_cast<std::int64_t>(m.nodes.size() + m.tier_hashes.size()) * c_.prefix_block;
  }

  void commit(Request& r) override {
    if (!c_.prefix_caching || r.kv_slot < 0) return;
    const Slot& s = slots_[static_cast<std::size_t>(r.kv_slot)];
    std::vector<std::int32_t>& path = path_of(r.kv_slot);
    const std::int64_t full = std::min(r.num_computed, s.tokens) / c_.prefix_block;
    std::int32_t parent = path.empty() ? -1 : path.back();
    std::uint64_t parent_hash = parent < 0 ? 0 : tree_.node(parent).hash;
    for (auto i = static_cast<std::int64_t>(path.size()); i < full; ++i) {
      const std::uint64_t h = hasher_.block_hash(r, i, parent_hash);
      std::int32_t n = tree_.find(h);
      if (n < 0) {
        const std::int32_t g = s.groups[static_cast<std::size_t>(i / blocks_per_group_)];
        with_group(g, [&] { hold(g); });
        n = tree_.insert(h, parent, g);
      }
      pin(n);
      tree_.touch(n);
      path.push_back(n);
      parent = n;
      parent_hash = h;
    }
  }

  nlohmann::json summary() const override {
    nlohmann::json j = kv_common_summary("vtensor", usage(), counters_);
    j["chunk_bytes"] = geo_.page_bytes;
    j["chunks_per_group"] = geo_.buffers;
    j["tokens_per_chunk"] = geo_.group_tokens;
    j["num_chunk_groups"] = geo_.num_groups;
    j["prefix_block"] = c_.prefix_block;
    j["extend_ahead"] = c_.extend_ahead;
    j["tree_nodes"] = tree_.size();
    j["shared_chunk_maps"] = shared_maps_;
    j["swap_space_bytes"] = swap_.capacity_bytes();
    j["offload_tiers"] = tiers_.summary();
    return j;
  }

  KvUsage usage() const override {
    KvUsage u = VmmKvBase::usage();
    u.cached_tokens = (tree_.size() - tree_.pinned()) * c_.prefix_block;
    return u;
  }

  void check_invariants() const override {
    check_base_invariants();
    tree_.check_invariants();
    tiers_.check_invariants();
    const auto n = static_cast<std::size_t>(geo_.num_groups);
    std::vector<std::int32_t> holders(n, 0), pinned(n, 0);
    for (const PrefixNode& x : tree_.nodes()) {
      if (!x.alive) continue;
      SERVESIM_ASSERT(x.payload >= 0 && static_cast<std::size_t>(x.payload) < n);
      ++holders[static_cast<std::size_t>(x.payload)];
      if (x.pins > 0) ++pinned[static_cast<std::size_t>(x.payload)];
    }
    std::int64_t reclaimable = 0;
    for (std::size_t g = 0; g < n; ++g) {
      SERVESIM_ASSERT(holders[g] == holds(static_cast<std::int32_t>(g)));
      SERVESIM_ASSERT(pinned[g] == pinned_holds_[g]);
      reclaimable += is_reclaimable(static_cast<std::int32_t>(g)) ? 1 : 0;
    }
    SERVESIM_ASSERT(reclaimable == reclaimable_);
    // Each live sequence pins its path once; pins equal the paths through a node.
    std::vector<std::int32_t> pins(tree_.nodes().size(), 0);
    for (std::size_t s = 0; s < slots_.size(); ++s) {
      const auto& path = s < paths_.size() ? paths_[s] : std::vector<std::int32_t>{};
      if (!slots_[s].live) {
        SERVESIM_ASSERT(path.empty() && slots_[s].groups.empty());
        continue;
      }
      SERVESIM_ASSERT(static_cast<std::int64_t>(path.size()) * c_.prefix_block <= slots_[s].tokens);
      for (std::size_t i = 0; i < path.size(); ++i) {
        SERVESIM_ASSERT(tree_.node(path[i]).alive && tree_.node(path[i]).parent == (i == 0 ? -1 : path[i - 1]));
        ++pins[static_cast<std::size_t>(path[i])];
      }
    }
    for (std::size_t i = 0; i < tree_.nodes().size(); ++i) {
      if (tree_.nodes()[i].alive) SERVESIM_ASSERT(pins[i] == tree_.nodes()[i].pins);
    }
  }

 protected:
  bool admit(Request& r, std::int64_t total, KvStepWork& work) override {
    Match m;
    if (c_.prefix_caching) m = match(r);
    const auto dev_blocks = static_cast<std::int64_t>(m.nodes.size());
    const std::int64_t shared = dev_blocks / blocks_per_group_;  // fully matched chunks: mapped, not copied
    const std::int64_t copied = (dev_blocks - shared * blocks_per_group_) * c_.prefix_block;
    // Pin the match first so reclaiming memory cannot evict it; undo when short.
    for (auto n : m.nodes) pin(n);
    const std::int64_t fresh = ceil_div(total, geo_.group_tokens) - shared;
    if (fresh > available_groups()) {
      for (auto it = m.nodes.rbegin(); it != m.nodes.rend(); ++it) unpin(*it);
      return false;
    }
    // Tier hits load before evictions spill anything that could push them down a tier.
    for (auto h : m.tier_hashes) tiers_.load(h, work, counters_);
    const bool room = ensure_free(fresh, work);
    SERVESIM_ASSERT(room);
    const std::int32_t s = new_slot();
    r.kv_slot = s;
    for (std::int64_t c = 0; c < shared; ++c) {
      const std::int32_t g = tree_.node(m.nodes[static_cast<std::size_t>((c + 1) * blocks_per_group_ - 1)]).payload;
      with_group(g, [&] { attach(s, g); });
    }
    map_calls(shared, true, work);
    shared_maps_ += shared;
    const bool ok = grow(s, total, true, work);
    SERVESIM_ASSERT(ok);
    if (copied > 0) {
      work.cow_bytes += static_cast<double>(copied) * bytes_per_token_;
      work.cow_chunks += geo_.buffers;
      counters_.cow_bytes += static_cast<double>(copied) * bytes_per_token_;
    }
    for (auto n : m.nodes) tree_.touch(n);
    path_of(s) = m.nodes;
    const auto hit_tokens = static_cast<std::int64_t>(m.nodes.size() + m.tier_hashes.size()) * c_.prefix_block;
    counters_.prefix_lookup_tokens += r.num_tokens();
    counters_.prefix_hit_tokens += hit_tokens;
    counters_.offload_hit_tokens += static_cast<std::int64_t>(m.tier_hashes.size()) * c_.prefix_block;
    return true;
  }

  std::int64_t reclaimable_groups() const override { return reclaimable_; }

  void reclaim(std::int64_t n, KvStepWork& work) override {
    const std::int64_t target = free_groups() + n;
    const std::int64_t before = free_groups();
    while (free_groups() < target) {
      const PrefixNode x = tree_.evict_lru();
      tiers_.spill(x.hash, work, counters_);
      ++counters_.cache_evictions;
      with_group(x.payload, [&] { unhold(x.payload); });
    }
    unmap_calls(free_groups() - before, false, work);  // background: see vattention.cpp
  }

  void on_release(std::int32_t s) override {
    std::vector<std::int32_t>& path = path_of(s);
    for (auto it = path.rbegin(); it != path.rend(); ++it) unpin(*it);
    path.clear();
    Slot& sl = slots_[static_cast<std::size_t>(s)];
    const std::int64_t free_before = free_groups();
    while (!sl.groups.empty()) {
      const std::int32_t g = sl.groups.back();
      with_group(g, [&] { detach(s, g); });  // pages the prefix tree holds stay mapped
    }
    if (free_groups() > free_before) unmap_calls(free_groups() - free_before, false, pending_);
    retire_slot(s);
  }

  void on_fork(std::int32_t parent_slot, std::int32_t child_slot) override {
    std::vector<std::int32_t> path = path_of(parent_slot);
    for (auto n : path) pin(n);
    path_of(child_slot) = std::move(path);
  }

  std::int64_t ahead_tokens() const override { return c_.extend_ahead; }

 private:
  struct Match {
    std::vector<std::int32_t> nodes;          // device hits, root first
    std::vector<std::uint64_t> tier_hashes;   // then blocks found in an offload tier
  };

  Match match(const Request& r) const {
    Match m;
    // At least one token must be computed to produce logits: never the whole sequence.
    const std::int64_t max_blocks = (r.num_tokens() - 1) / c_.prefix_block;
    std::uint64_t parent = 0;
    std::int64_t i = 0;
    for (; i < max_blocks; ++i) {
      const std::uint64_t h = hasher_.block_hash(r, i, parent);
      const std::int32_t n = tree_.find(h);
      if (n < 0) break;
      m.nodes.push_back(n);
      parent = h;
    }
    if (!tiers_.enabled()) return m;
    for (; i < max_blocks; ++i) {
      const std::uint64_t h = hasher_.block_hash(r, i, parent);
      const int tier = tiers_.find(h);
      if (tier < 0 || !tiers_.worth_loading(tier)) break;
      m.tier_hashes.push_back(h);
      parent = h;
    }
    return m;
  }

  std::vector<std::int32_t>& path_of(std::int32_t s) {
    if (paths_.size() <= static_cast<std::size_t>(s)) paths_.resize(static_cast<std::size_t>(s) + 1);
    return paths_[static_cast<std::size_t>(s)];
  }

  // A group only unpinned prefix-tree nodes hold: evicting them frees it.
  bool is_reclaimable(std::int32_t g) const {
    return slot_refs(g) == 0 && holds(g) > 0 && pinned_holds_[static_cast<std::size_t>(g)] == 0;
  }
  template <class F>
  void with_group(std::int32_t g, F&& change) {
    const bool before = is_reclaimable(g);
    change();
    reclaimable_ += (is_reclaimable(g) ? 1 : 0) - (before ? 1 : 0);
  }
  void pin(std::int32_t n) {
    const std::int32_t g = tree_.node(n).payload;
    with_group(g, [&] {
      if (tree_.node(n).pins == 0) ++pinned_holds_[static_cast<std::size_t>(g)];
      tree_.pin(n);
    });
  }
  void unpin(std::int32_t n) {
    const std::int32_t g = tree_.node(n).payload;
    with_group(g, [&] {
      tree_.unpin(n);
      if (tree_.node(n).pins == 0) --pinned_holds_[static_cast<std::size_t>(g)];
    });
  }

  Config c_;
  BlockHasher hasher_;
  OffloadTiers tiers_;
  const std::int64_t blocks_per_group_;
  PrefixTree tree_;
  std::vector<std::vector<std::int32_t>> paths_;  // per slot: the tree nodes of its committed blocks
  std::vector<std::int32_t> pinned_holds_ = std::vector<std::int32_t>(static_cast<std::size_t>(geo_.num_groups), 0);
  std::int64_t reclaimable_ = 0;
  std::int64_t shared_maps_ = 0;
};

}  // namespace

SERVESIM_REGISTER(KvManagerRegistry, VTensorKvManager, "vtensor",
                  "vTensor: virtual tensor per sequence on a 2MiB chunk pool, async extension, radix-tree prefix reuse, offload")

}  // namespace servesim
