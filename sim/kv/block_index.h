#pragma once
// The paged KV pool's prefix-cache index: block hash -> the one block carrying it (vLLM's
// cached_block_hash_to_block). Open addressing with linear probing, at most half full, no
// tombstones. An entry is 8 bytes: the block and a 32-bit tag of its hash (the top half of
// h * 2^64/golden ratio, whose top bits are also the home slot); the full hash is the
// caller's (`key(block)`), read only when a tag matches. Each block remembers the slot its
// entry sits in, so evicting a block's hash costs no probe: the entry is erased where it is
// and the entries after it in its run shift back (their blocks are told their new slots).
// Contract: a hash is held at most once and a block at most once; key(b) is the hash b was
// inserted under while b is held; the caller keeps, per block, the slot that insert()
// returned and that `moved(block, slot)` reports later, and passes it to erase(). Entries
// only move inside insert() and erase().
#include <bit>
#include <cstdint>
#include <vector>

#include "sim/core/error.h"

namespace servesim {

class BlockIndex {
 public:
  // The block holding hash h, or -1.
  template <class Key>
  std::int32_t find(std::uint64_t h, Key&& key) const {
    if (slots_.empty()) return -1;
    const std::uint32_t t = tag(h);
    for (std::size_t i = home(t);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.block < 0) return -1;
      if (s.tag == t && key(s.block) == h) return s.block;
    }
  }

  // Adds h -> b unless h is held already. Returns b's slot, or -1 when h was held (by
  // another block, which stays). One probe either way.
  template <class Key, class Moved>
  std::int32_t insert(std::uint64_t h, std::int32_t b, Key&& key, Moved&& moved) {
    if (2 * (size_ + 1) > slots_.size()) grow(moved);
    const std::uint32_t t = tag(h);
    std::size_t i = home(t);
    for (; slots_[i].block >= 0; i = (i + 1) & mask_) {
      if (slots_[i].tag == t && key(slots_[i].block) == h) return -1;
    }
    slots_[i] = Slot{t, b};
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
      if (((i - home(slots_[i].tag)) & mask_) >= ((i - gap) & mask_)) {
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
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(tag(h))]);
  }
  void prefetch_slot(std::int32_t slot) const { __builtin_prefetch(&slots_[static_cast<std::size_t>(slot)]); }

  // Each entry's tag is its key's, it is reachable from its home (no empty slot between),
  // and `slot_of(block)` is its slot; returns the number of entries.
  template <class Key, class SlotOf>
  std::size_t check_invariants(Key&& key, SlotOf&& slot_of) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].block < 0) continue;
      ++n;
      SERVESIM_ASSERT(slots_[i].tag == tag(key(slots_[i].block)));
      SERVESIM_ASSERT(slot_of(slots_[i].block) == static_cast<std::int32_t>(i));
      for (std::size_t j = home(slots_[i].tag); j != i; j = (j + 1) & mask_) SERVESIM_ASSERT(slots_[j].block >= 0);
    }
    SERVESIM_ASSERT(n == size_ && 2 * size_ <= slots_.size());
    return n;
  }

 private:
  struct Slot {
    std::uint32_t tag = 0;
    std::int32_t block = -1;  // -1: empty
  };

  static std::uint32_t tag(std::uint64_t h) { return static_cast<std::uint32_t>((h * 0x9e3779b97f4a7c15ULL) >> 32); }
  std::size_t home(std::uint32_t t) const { return static_cast<std::size_t>(t >> shift_); }

  template <class Moved>
  void grow(Moved&& moved) {
    std::vector<Slot> old = std::move(slots_);
    const std::size_t cap = old.empty() ? 64 : 2 * old.size();
    SERVESIM_ASSERT(cap <= (std::size_t{1} << 32));  // homes come from 32-bit tags
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    shift_ = 32 - std::countr_zero(cap);
    for (const Slot& s : old) {
      if (s.block < 0) continue;
      std::size_t i = home(s.tag);
      while (slots_[i].block >= 0) i = (i + 1) & mask_;
      slots_[i] = s;
      moved(s.block, static_cast<std::int32_t>(i));
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  int shift_ = 32;
  std::size_t size_ = 0;
};

}  // namespace servesim
