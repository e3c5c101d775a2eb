#pragma once
// The paged KV pool's prefix-cache index: block hash -> the one block carrying it (vLLM's
// cached_block_hash_to_block). Open addressing with linear probing over (hash, block)
// entries, at most half full, no tombstones. Each block remembers the slot its entry sits
// in, so evicting a block's hash costs no probe: the entry is erased where it is and the
// entries after it in its run shift back (their blocks are told their new slots).
// Contract: a hash is held at most once and a block at most once; the caller keeps, per
// block, the slot that insert() returned and that `moved(block, slot)` reports later
// (-1: none), and passes it to erase(). Entries only move inside insert() and erase().
#include <bit>
#include <cstdint>
#include <vector>

#include "sim/core/error.h"

namespace servesim {

class BlockIndex {
 public:
  // The block holding hash h, or -1.
  std::int32_t find(std::uint64_t h) const {
    if (slots_.empty()) return -1;
    for (std::size_t i = home(h);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.block < 0) return -1;
      if (s.hash == h) return s.block;
    }
  }

  // Adds h -> b unless h is held already. Returns b's slot, or -1 when h was held (by
  // another block, which stays). One probe either way.
  template <class Moved>
  std::int32_t insert(std::uint64_t h, std::int32_t b, Moved&& moved) {
    if (2 * (size_ + 1) > slots_.size()) grow(moved);
    std::size_t i = home(h);
    for (; slots_[i].block >= 0; i = (i + 1) & mask_) {
      if (slots_[i].hash == h) return -1;
    }
    slots_[i] = Slot{h, b};
    ++size_;
    return static_cast<std::int32_t>(i);
  }

  // Removes the entry at `slot` (backward-shift deletion: an entry after it in the run that
  // may move into the gap without passing its home does, and so on).
  template <class Moved>
  void erase(std::int32_t slot, Moved&& moved) {
    auto gap = static_cast<std::size_t>(slot);
    SERVESIM_ASSERT(gap < slots_.size() && slots_[gap].block >= 0);
    for (std::size_t i = (gap + 1) & mask_; slots_[i].block >= 0; i = (i + 1) & mask_) {
      // The entry at i may fill the gap when its home is not in (gap, i] (cyclically).
      if (((i - home(slots_[i].hash)) & mask_) >= ((i - gap) & mask_)) {
        slots_[gap] = slots_[i];
        moved(slots_[gap].block, static_cast<std::int32_t>(gap));
        gap = i;
      }
    }
    slots_[gap].block = -1;
    --size_;
  }

  std::size_t size() const { return size_; }

  // Cache hints (no effect on contents): where a probe for h starts; an entry's slot.
  void prefetch(std::uint64_t h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(h)]);
  }
  void prefetch_slot(std::int32_t slot) const { __builtin_prefetch(&slots_[static_cast<std::size_t>(slot)]); }

  // Each entry is reachable from its home (no empty slot between) and `slot_of(block)` is
  // its slot; returns the number of entries.
  template <class SlotOf>
  std::size_t check_invariants(SlotOf&& slot_of) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].block < 0) continue;
      ++n;
      SERVESIM_ASSERT(slot_of(slots_[i].block) == static_cast<std::int32_t>(i));
      for (std::size_t j = home(slots_[i].hash); j != i; j = (j + 1) & mask_) SERVESIM_ASSERT(slots_[j].block >= 0);
    }
    SERVESIM_ASSERT(n == size_ && 2 * size_ <= slots_.size());
    return n;
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::int32_t block = -1;  // -1: empty
  };

  // Fibonacci hashing: the top bits of h times 2^64 / golden ratio.
  std::size_t home(std::uint64_t h) const { return static_cast<std::size_t>((h * 0x9e3779b97f4a7c15ULL) >> shift_); }

  template <class Moved>
  void grow(Moved&& moved) {
    std::vector<Slot> old = std::move(slots_);
    const std::size_t cap = old.empty() ? 64 : 2 * old.size();
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    shift_ = 64 - std::countr_zero(cap);
    for (const Slot& s : old) {
      if (s.block < 0) continue;
      std::size_t i = home(s.hash);
      while (slots_[i].block >= 0) i = (i + 1) & mask_;
      slots_[i] = s;
      moved(s.block, static_cast<std::int32_t>(i));
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  int shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace servesim
