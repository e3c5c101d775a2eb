// vAttention (Prabhu et al., ASPLOS'25): per-layer contiguous virtual K and V tensors for
// every request slot, physical pages mapped on demand through the CUDA virtual-memory API.
//  - Pages of 2 MiB (what cuMemCreate allocates), or 64/128/256 KiB with vAttention's
//    modified driver; a page group is one page in each of the 2 x layers buffers, so growing
//    a request by one group costs 2 x layers map calls, each costed per call (not per byte).
//  - Decode pages are mapped ahead in the background (the step pays only what does not hide
//    behind compute); prefill pages are mapped synchronously. overlap_mapping=false is
//    vAttention's `_sync` variant.
//  - Deferred reclamation: a finished request's slot keeps its pages mapped; a new request
//    takes the idle slot that best fits its prompt (the smallest holding enough pages, else
//    the largest). Pages are unmapped from idle slots, least recently idle first, only when
//    free pages run out (in the background: a physical page can be mapped at its new
//    address before it leaves the old one).
//  - Internal fragmentation: each buffer wastes what its last page does not fill.
//  - No prefix caching (the paper's system has none); attention uses contiguous kernels.
//
// Invariants (check_invariants): the base's (groups conserved, none mapped twice, free
// exactly when unmapped, fills consistent) plus: an idle slot maps only groups no other slot
// maps, and the idle set lists exactly the idle slots with pages.
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/kv/vmm_base.h"

namespace servesim {
namespace {

class VAttentionKvManager final : public VmmKvBase {
 public:
  struct Config {
    double page_size = 0;
    std::string page_where;
    bool overlap_mapping = true;
    bool deferred_reclamation = true;
    double swap_space = 0;
    std::int64_t num_groups_override = 0;
    static Config parse(Params& p) {
      Config c;
      c.page_size = p.bytes("page_size", "2MiB",
                            "physical page size: 2MiB (stock CUDA driver), or 64KiB, 128KiB, 256KiB (vAttention's driver)");
      c.page_where = p.where("page_size");
      constexpr double kKiB = 1024.0;
      if (!p.doc_mode() && c.page_size != 64 * kKiB && c.page_size != 128 * kKiB && c.page_size != 256 * kKiB &&
          c.page_size != 2048 * kKiB) {
        bad_value(c.page_where, fmt::format("{:.0f} bytes", c.page_size), "one of 64KiB, 128KiB, 256KiB, 2MiB (vAttention's page sizes)");
      }
      c.overlap_mapping = p.boolean("overlap_mapping", true, "map decode pages in the background, overlapping compute");
      c.deferred_reclamation =
          p.boolean("deferred_reclamation", true, "keep a finished request's pages mapped for the next request (best fit)");
      c.swap_space = p.bytes("swap_space", "4GiB", "host memory for requests preempted by swap");
      c.num_groups_override =
          p.integer("num_page_groups_override", 0, "use this many page groups instead of the memory plan (0: off)", 0, kMaxKvUnits);
      return c;
    }
  };

  VAttentionKvManager(const Config& c, const KvDeps& deps)
      : VmmKvBase(deps, VmmGeometry::make(deps, c.page_size, c.num_groups_override, 1, c.page_where), c.swap_space,
                  c.overlap_mapping),
        c_(c) {}

  std::int64_t cached_prefix(const Request& /*r*/) const override { return 0; }
  void commit(Request& /*r*/) override {}

  nlohmann::json summary() const override {
    nlohmann::json j = kv_common_summary("vattention", usage(), counters_);
    j["page_bytes"] = geo_.page_bytes;
    j["pages_per_group"] = geo_.buffers;
    j["tokens_per_page"] = geo_.group_tokens;
    j["num_page_groups"] = geo_.num_groups;
    j["overlap_mapping"] = c_.overlap_mapping;
    j["deferred_reclamation"] = c_.deferred_reclamation;
    j["idle_slot_reuses"] = reuses_;
    j["idle_groups_reused"] = groups_reused_;
    j["swap_space_bytes"] = swap_.capacity_bytes();
    return j;
  }

  void check_invariants() const override {
    check_base_invariants();
    std::int64_t idle_groups = 0;
    std::size_t idle_slots = 0;
    for (std::size_t s = 0; s < slots_.size(); ++s) {
      const Slot& sl = slots_[s];
      if (sl.live || sl.groups.empty()) continue;
      ++idle_slots;
      SERVESIM_ASSERT(c_.deferred_reclamation);
      SERVESIM_ASSERT(idle_.count({sl.idle_seq, static_cast<std::int32_t>(s)}) == 1);
      for (auto g : sl.groups) SERVESIM_ASSERT(slot_refs(g) == 1 && holds(g) == 0);
      idle_groups += static_cast<std::int64_t>(sl.groups.size());
    }
    SERVESIM_ASSERT(idle_slots == idle_.size() && idle_groups == idle_groups_);
  }

 protected:
  bool admit(Request& r, std::int64_t total, KvStepWork& work) override {
    // Best fit on the prompt: the idle slot with the fewest pages that still hold it,
    // else the one with the most (it saves the most mapping).
    const std::int64_t want = ceil_div(std::max<std::int64_t>(r.spec.prompt_tokens, total), geo_.group_tokens);
    auto best = idle_.end();
    std::size_t best_size = 0;
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      const std::size_t n = slots_[static_cast<std::size_t>(it->second)].groups.size();
      const bool fits = static_cast<std::int64_t>(n) >= want;
      if (best == idle_.end()) {
        best = it;
        best_size = n;
        continue;
      }
      const bool best_fits = static_cast<std::int64_t>(best_size) >= want;
      if ((fits && (!best_fits || n < best_size)) || (!fits && !best_fits && n > best_size)) {
        best = it;
        best_size = n;
      }
    }
    const std::int64_t need = ceil_div(total, geo_.group_tokens) - static_cast<std::int64_t>(best_size);
    // Reachable once `best` is taken: the others' idle pages and live slots' surplus.
    if (need > available_groups() - static_cast<std::int64_t>(best_size)) return false;

    std::int32_t s;
    if (best != idle_.end()) {
      s = best->second;
      idle_.erase(best);
      idle_groups_ -= static_cast<std::int64_t>(best_size);
      set_live(s, true);
      slots_[static_cast<std::size_t>(s)].idle_seq = -1;
      ++reuses_;
      groups_reused_ += static_cast<std::int64_t>(best_size);
    } else {
      s = new_slot();
    }
    r.kv_slot = s;
    const bool ok = grow(s, total, true, work);  // prefill pages: synchronous
    SERVESIM_ASSERT(ok);
    return true;
  }

  std::int64_t reclaimable_groups() const override { return idle_groups_; }

  void reclaim(std::int64_t n, KvStepWork& work) override {
    std::int64_t freed = 0;
    while (freed < n) {
      SERVESIM_ASSERT(!idle_.empty());
      const std::int32_t s = idle_.begin()->second;  // least recently idle
      Slot& sl = slots_[static_cast<std::size_t>(s)];
      while (freed < n && !sl.groups.empty()) {
        detach(s, sl.groups.back());  // from the tail: the slot keeps a usable head
        --idle_groups_;
        ++freed;
      }
      if (sl.groups.empty()) {
        idle_.erase(idle_.begin());
        retire_slot(s);
      }
    }
    // A physical page may be mapped at a new address before it leaves the old one: the
    // unmaps are background work, the new mappings are what the step waits for.
    unmap_calls(freed, false, work);
  }

  void on_release(std::int32_t s) override {
    Slot& sl = slots_[static_cast<std::size_t>(s)];
    // Pages shared with another slot (a fork) cannot be handed to a new request.
    std::int64_t unmapped = 0;
    for (std::size_t i = sl.groups.size(); i-- > 0;) {
      const std::int32_t g = sl.groups[i];
      if (!c_.deferred_reclamation || slot_refs(g) > 1) {
        detach(s, g);
        ++unmapped;
      }
    }
    if (unmapped > 0) unmap_calls(unmapped, false, pending_);  // background thread
    sl.tokens = 0;
    if (sl.groups.empty()) {
      retire_slot(s);
      return;
    }
    sl.idle_seq = idle_clock_++;
    idle_.insert({sl.idle_seq, s});
    idle_groups_ += static_cast<std::int64_t>(sl.groups.size());
  }

 private:
  Config c_;
  std::set<std::pair<std::int64_t, std::int32_t>> idle_;  // (idle_seq, slot): oldest first
  std::int64_t idle_groups_ = 0;
  std::int64_t idle_clock_ = 0;
  std::int64_t reuses_ = 0, groups_reused_ = 0;
};

}  // namespace

SERVESIM_REGISTER(KvManagerRegistry, VAttentionKvManager, "vattention",
                  "vAttention: contiguous virtual KV per layer, pages mapped on demand (2MiB or 64-256KiB), overlap, deferred reclamation")

}  // namespace servesim
