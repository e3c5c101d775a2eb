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
// ratio) and its tag the top 32. G is odd, so h = ((home << 58) + k) * G^-1 has that home,
// and for k < 2^32 they all share one tag (told apart by their full hashes).
constexpr std::uint64_t kG = 0x9e3779b97f4a7c15ULL;
constexpr std::uint64_t inverse(std::uint64_t a) {
  std::uint64_t x = a;  // Newton: each step doubles the correct low bits (a * a == 1 mod 8)
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}
static_assert(kG * inverse(kG) == 1);
constexpr std::uint64_t homed(std::uint64_t home, std::uint64_t k = 0) { return ((home << 58) + k) * inverse(kG); }

struct Caller {  // what the caller keeps: each block's slot and hash
  BlockIndex ix;
  std::vector<std::int32_t> slot = std::vector<std::int32_t>(100, -1);
  std::vector<std::uint64_t> hash = std::vector<std::uint64_t>(100, 0);
  auto moved() {
    return [this](std::int32_t b, std::int32_t s) { slot[static_cast<std::size_t>(b)] = s; };
  }
  auto key() const {
    return [this](std::int32_t b) { return hash[static_cast<std::size_t>(b)]; };
  }
  std::int32_t insert(std::uint64_t h, std::int32_t b) {
    const std::int32_t s = ix.insert(h, b, key(), moved());
    if (s >= 0) hash[static_cast<std::size_t>(b)] = h;
    slot[static_cast<std::size_t>(b)] = s;
    return s;
  }
  void erase(std::int32_t b) {
    ix.erase(slot[static_cast<std::size_t>(b)], moved());
    slot[static_cast<std::size_t>(b)] = -1;
  }
  std::int32_t find(std::uint64_t h) const { return ix.find(h, key()); }
  std::size_t check() const {
    return ix.check_invariants(key(), [this](std::int32_t b) { return slot[static_cast<std::size_t>(b)]; });
  }
};

TEST(BlockIndex, AHashHeldOnceTheFirstBlockStays) {
  Caller c;
  EXPECT_GE(c.insert(111, 1), 0);
  EXPECT_EQ(c.insert(111, 2), -1);  // block 2 with the same content: not registered
  EXPECT_EQ(c.find(111), 1);
  EXPECT_EQ(c.find(222), -1);
  EXPECT_EQ(c.check(), 1u);
}

TEST(BlockIndex, EraseShiftsTheRunBackAndReportsTheMovedSlots) {
  Caller c;
  // A and B are homed at 5 (one tag), C at 6: A takes 5, B the next free slot 6, C then 7.
  const std::uint64_t a = homed(5, 0), b = homed(5, 1), h = homed(6);
  EXPECT_EQ(c.insert(a, 1), 5);
  EXPECT_EQ(c.insert(b, 2), 6);
  EXPECT_EQ(c.insert(h, 3), 7);
  EXPECT_EQ(c.find(b), 2);  // same tag as A: the full hash decides
  // Erasing A opens 5: B (home 5) moves in, which opens 6 for C (home 6); 7 becomes empty.
  c.erase(1);
  EXPECT_EQ(c.slot[2], 5);
  EXPECT_EQ(c.slot[3], 6);
  EXPECT_EQ(c.find(a), -1);
  EXPECT_EQ(c.find(b), 2);
  EXPECT_EQ(c.find(h), 3);
  EXPECT_EQ(c.check(), 2u);
}

TEST(BlockIndex, AnEntryNeverMovesBeforeItsHome) {
  Caller c;
  // A homed at 5 sits at 5, D homed at 6 at 6; erasing A leaves D at 6 (moving it to 5 would
  // put it before its home, where a probe from 6 never looks).
  EXPECT_EQ(c.insert(homed(5), 1), 5);
  EXPECT_EQ(c.insert(homed(6), 4), 6);
  c.erase(1);
  EXPECT_EQ(c.slot[4], 6);
  EXPECT_EQ(c.find(homed(6)), 4);
}

TEST(BlockIndex, RunsWrapAroundTheEnd) {
  Caller c;
  // Three hashes homed at the last slot (63): slots 63, 0, 1. Erasing the first shifts the
  // others back across the end: 63 and 0.
  EXPECT_EQ(c.insert(homed(63, 0), 1), 63);
  EXPECT_EQ(c.insert(homed(63, 1), 2), 0);
  EXPECT_EQ(c.insert(homed(63, 2), 3), 1);
  c.erase(1);
  EXPECT_EQ(c.slot[2], 63);
  EXPECT_EQ(c.slot[3], 0);
  EXPECT_EQ(c.find(homed(63, 2)), 3);
  EXPECT_EQ(c.check(), 2u);
}

TEST(BlockIndex, RandomInsertsAndErasesMatchAMap) {
  // Against std::map through growth (64 slots and up) and many erasures; a third of the
  // hashes share tags with others.
  Caller c;
  c.slot.assign(2000, -1);
  c.hash.assign(2000, 0);
  std::map<std::uint64_t, std::int32_t> ref;
  std::mt19937_64 rng(7);
  auto pick_hash = [&] {
    const std::uint64_t k = rng() % 3000;  // repeats and clustered homes
    return k % 3 == 0 ? homed(k % 64, k) : k;
  };
  for (int step = 0; step < 20000; ++step) {
    const auto b = static_cast<std::int32_t>(rng() % 2000);
    if (c.slot[static_cast<std::size_t>(b)] >= 0) {
      ref.erase(c.hash[static_cast<std::size_t>(b)]);
      c.erase(b);
    } else {
      const std::uint64_t h = pick_hash();
      const bool fresh = ref.emplace(h, b).second;
      EXPECT_EQ(c.insert(h, b) >= 0, fresh);
    }
    if (step % 997 == 0) EXPECT_EQ(c.check(), ref.size());
  }
  EXPECT_EQ(c.check(), ref.size());
  for (int i = 0; i < 5000; ++i) {
    const std::uint64_t h = pick_hash();
    const auto it = ref.find(h);
    EXPECT_EQ(c.find(h), it == ref.end() ? -1 : it->second);
  }
}

}  // namespace
}  // namespace servesim
