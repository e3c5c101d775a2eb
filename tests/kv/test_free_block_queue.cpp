// FreeBlockQueue (sim/kv/free_block_queue.h): never-used blocks first in id order, then freed
// blocks in the order they were freed; a block taken back from the middle leaves the others'
// order unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <vector>

#include "sim/core/rng.h"
#include "sim/kv/free_block_queue.h"

namespace servesim {
namespace {

std::vector<std::int32_t> all(const FreeBlockQueue& q) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(q.size()) + 1, -7);
  out.resize(static_cast<std::size_t>(q.front_n(q.size() + 1, out.data())));
  return out;
}

TEST(FreeBlockQueue, FreshBlocksFirstThenFreedInOrderAndATakenBackBlockLeavesTheOrder) {
  FreeBlockQueue q;
  q.reset(1, 5);  // blocks 1..4, never used
  EXPECT_EQ(q.size(), 4);
  EXPECT_EQ(q.pop_front(), 1);
  EXPECT_EQ(q.pop_front(), 2);
  EXPECT_EQ(q.handed_out(), 3);
  EXPECT_FALSE(q.contains(1));
  EXPECT_TRUE(q.contains(3));
  q.push_back(2);  // freed: behind the never-used 3 and 4
  q.push_back(1);
  EXPECT_EQ(all(q), (std::vector<std::int32_t>{3, 4, 2, 1}));
  EXPECT_EQ(q.next(4), 2);
  EXPECT_EQ(q.next(2), 1);
  EXPECT_EQ(q.next(1), -1);
  q.remove(2);  // a prefix hit revives block 2: 3, 4, 1 remain in order
  EXPECT_FALSE(q.contains(2));
  EXPECT_EQ(q.size(), 3);
  EXPECT_EQ(q.next(4), 1);
  EXPECT_EQ(all(q), (std::vector<std::int32_t>{3, 4, 1}));
  EXPECT_EQ(q.pop_front(), 3);
  EXPECT_EQ(q.pop_front(), 4);
  EXPECT_EQ(q.front(), 1);
  q.push_back(2);  // freed again: behind 1
  q.remove(1);     // the front taken back: 2 is the front
  EXPECT_EQ(q.front(), 2);
  EXPECT_EQ(q.pop_front(), 2);
  EXPECT_EQ(q.size(), 0);
  EXPECT_EQ(q.front(), -1);
}

// A front block that stays while blocks behind it are freed and revived over and over: the
// holes they leave are dropped (the queue's memory stays bounded) and the order is kept.
TEST(FreeBlockQueue, HolesBehindAStayingFrontAreDroppedAndTheOrderKept) {
  FreeBlockQueue q;
  q.reset(1, 5);
  for (int i = 0; i < 4; ++i) q.pop_front();  // blocks 1..4 handed out
  q.push_back(1);                             // the front, for the whole test
  for (int i = 0; i < 1000; ++i) {
    q.push_back(2);
    q.push_back(3);
    q.remove(2);  // a hole behind 1, then 3 behind it
    q.remove(3);
  }
  // Listed: 1 alone; holes beyond 1 + 64 are compacted away at the next push, and the
  // consumed front never exceeds half the entries: well under 2 * (1 + 64 + 2) + 64.
  EXPECT_LE(q.footprint(), 200u);
  q.push_back(4);
  q.push_back(2);
  q.remove(4);
  EXPECT_EQ(all(q), (std::vector<std::int32_t>{1, 2}));
  EXPECT_EQ(q.next(1), 2);
  EXPECT_EQ(q.pop_front(), 1);
  EXPECT_EQ(q.pop_front(), 2);
  EXPECT_EQ(q.size(), 0);
}

// Many takes, frees and revivals (enough to compact the entries taken back and the consumed
// front many times): the queue answers as a linked list in eviction order would.
TEST(FreeBlockQueue, MatchesALinkedListUnderRandomTakesFreesAndRevivals) {
  constexpr std::int32_t kBlocks = 300;
  FreeBlockQueue q;
  q.reset(1, kBlocks);
  std::list<std::int32_t> model;
  for (std::int32_t b = 1; b < kBlocks; ++b) model.push_back(b);
  std::vector<std::int32_t> held;  // handed out
  Rng rng(11);
  for (int step = 0; step < 200000; ++step) {
    const auto op = rng.uniform_int(0, 2);
    if (op == 0 && !model.empty()) {
      const std::int32_t b = q.pop_front();
      ASSERT_EQ(b, model.front());
      model.pop_front();
      held.push_back(b);
    } else if (op == 1 && !held.empty()) {
      const auto i = static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(held.size()) - 1));
      q.push_back(held[i]);
      model.push_back(held[i]);
      held[i] = held.back();
      held.pop_back();
    } else if (op == 2 && !model.empty()) {
      // Revive a freed (handed-out) block from anywhere in the queue.
      std::vector<std::int32_t> listed;
      for (const std::int32_t b : model) {
        if (b < q.handed_out()) listed.push_back(b);
      }
      if (listed.empty()) continue;
      const std::int32_t b = listed[static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(listed.size()) - 1))];
      q.remove(b);
      model.remove(b);
      held.push_back(b);
    }
    ASSERT_EQ(q.size(), static_cast<std::int64_t>(model.size()));
    ASSERT_EQ(q.front(), model.empty() ? -1 : model.front());
    if (step % 97 == 0) {
      ASSERT_EQ(all(q), std::vector<std::int32_t>(model.begin(), model.end()));
      for (std::int32_t b = 1; b < q.handed_out(); ++b) {
        ASSERT_EQ(q.contains(b), std::find(model.begin(), model.end(), b) != model.end());
      }
      std::int32_t b = q.front();
      for (const std::int32_t want : model) {
        ASSERT_EQ(b, want);
        b = q.next(b);
      }
      ASSERT_EQ(b, -1);
    }
  }
}

}  // namespace
}  // namespace servesim
