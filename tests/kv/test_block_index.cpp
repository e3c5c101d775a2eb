// The paged pool's prefix-cache index (sim/kv/block_index.h): one block per hash, erase at a
// known slot with backward shift, slots reported to the caller as entries move.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "sim/kv/block_index.h"

namespace servesim {
namespace {

// The index starts at 64 slots; a hash's home is the top 6 bits of h * G (G = 2^64 / golden
// ratio). G is odd, so h = (k << 58) * G^-1 has home k.
constexpr std::uint64_t kG = 0x9e3779b97f4a7c15ULL;
constexpr std::uint64_t inverse(std::uint64_t a) {
  std::uint64_t x = a;  // Newton: each step doubles the correct low bits (a * a == 1 mod 8)
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}
static_assert(kG * inverse(kG) == 1);
// The k-th hash homed at slot `home` (distinct for distinct k < 2^58).
constexpr std::uint64_t homed(std::uint64_t home, std::uint64_t k = 0) { return ((home << 58) + k) * inverse(kG); }

struct Slots {  // what the caller keeps: each block's slot
  std::vector<std::int32_t> of = std::vector<std::int32_t>(100, -1);
  auto moved() {
    return [this](std::int32_t b, std::int32_t s) { of[static_cast<std::size_t>(b)] = s; };
  }
};

TEST(BlockIndex, AHashHeldOnceTheFirstBlockStays) {
  BlockIndex ix;
  Slots s;
  s.of[1] = ix.insert(111, 1, s.moved());
  EXPECT_GE(s.of[1], 0);
  EXPECT_EQ(ix.insert(111, 2, s.moved()), -1);  // block 2 with the same content: not registered
  EXPECT_EQ(ix.find(111), 1);
  EXPECT_EQ(ix.find(222), -1);
  EXPECT_EQ(ix.size(), 1u);
}

TEST(BlockIndex, EraseShiftsTheRunBackAndReportsTheMovedSlots) {
  BlockIndex ix;
  Slots s;
  // A and B are homed at 5, C at 6: A takes 5, B the next free slot 6, C then 7.
  const std::uint64_t a = homed(5, 0), b = homed(5, 1), c = homed(6);
  s.of[1] = ix.insert(a, 1, s.moved());
  s.of[2] = ix.insert(b, 2, s.moved());
  s.of[3] = ix.insert(c, 3, s.moved());
  EXPECT_EQ(s.of[1], 5);
  EXPECT_EQ(s.of[2], 6);
  EXPECT_EQ(s.of[3], 7);
  // Erasing A opens 5: B (home 5) moves in, which opens 6 for C (home 6); 7 becomes empty.
  ix.erase(s.of[1], s.moved());
  s.of[1] = -1;
  EXPECT_EQ(s.of[2], 5);
  EXPECT_EQ(s.of[3], 6);
  EXPECT_EQ(ix.find(a), -1);
  EXPECT_EQ(ix.find(b), 2);
  EXPECT_EQ(ix.find(c), 3);
  EXPECT_EQ(ix.check_invariants([&](std::int32_t blk) { return s.of[static_cast<std::size_t>(blk)]; }), 2u);
}

TEST(BlockIndex, AnEntryNeverMovesBeforeItsHome) {
  BlockIndex ix;
  Slots s;
  // A homed at 5 sits at 5, D homed at 6 at 6; erasing A leaves D at 6 (moving it to 5 would
  // put it before its home, where a probe from 6 never looks).
  const std::uint64_t a = homed(5), d = homed(6);
  s.of[1] = ix.insert(a, 1, s.moved());
  s.of[4] = ix.insert(d, 4, s.moved());
  ix.erase(s.of[1], s.moved());
  EXPECT_EQ(s.of[4], 6);
  EXPECT_EQ(ix.find(d), 4);
}

TEST(BlockIndex, RunsWrapAroundTheEnd) {
  BlockIndex ix;
  Slots s;
  // Three hashes homed at the last slot (63): slots 63, 0, 1. Erasing the first shifts the
  // others back across the end: 63 and 0.
  s.of[1] = ix.insert(homed(63, 0), 1, s.moved());
  s.of[2] = ix.insert(homed(63, 1), 2, s.moved());
  s.of[3] = ix.insert(homed(63, 2), 3, s.moved());
  EXPECT_EQ(s.of[2], 0);
  EXPECT_EQ(s.of[3], 1);
  ix.erase(s.of[1], s.moved());
  EXPECT_EQ(s.of[2], 63);
  EXPECT_EQ(s.of[3], 0);
  EXPECT_EQ(ix.find(homed(63, 2)), 3);
}

TEST(BlockIndex, RandomInsertsAndErasesMatchAMap) {
  // Against std::map through growth (64 slots and up) and many erasures.
  BlockIndex ix;
  std::vector<std::int32_t> slot_of(2000, -1);
  auto moved = [&](std::int32_t b, std::int32_t sl) { slot_of[static_cast<std::size_t>(b)] = sl; };
  std::map<std::uint64_t, std::int32_t> ref;
  std::vector<std::uint64_t> hash_of(2000, 0);
  std::mt19937_64 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const auto b = static_cast<std::int32_t>(rng() % 2000);
    if (slot_of[static_cast<std::size_t>(b)] >= 0) {
      ix.erase(slot_of[static_cast<std::size_t>(b)], moved);
      slot_of[static_cast<std::size_t>(b)] = -1;
      ref.erase(hash_of[static_cast<std::size_t>(b)]);
    } else {
      const std::uint64_t h = rng() % 3000;  // small keys: repeats and clustered homes
      const std::int32_t sl = ix.insert(h, b, moved);
      const bool fresh = ref.emplace(h, b).second;
      EXPECT_EQ(sl >= 0, fresh);
      slot_of[static_cast<std::size_t>(b)] = sl;
      hash_of[static_cast<std::size_t>(b)] = h;
    }
    if (step % 997 == 0) {
      EXPECT_EQ(ix.check_invariants([&](std::int32_t blk) { return slot_of[static_cast<std::size_t>(blk)]; }), ref.size());
    }
  }
  for (std::uint64_t h = 0; h < 3000; ++h) {
    const auto it = ref.find(h);
    EXPECT_EQ(ix.find(h), it == ref.end() ? -1 : it->second);
  }
}

}  // namespace
}  // namespace servesim
