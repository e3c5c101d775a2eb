// BlockChains (sim/kv/block_chains.h): a chain per key, its carriers counted, recycled when
// the last one is released, its id reused.
#include <gtest/gtest.h>

#include "sim/kv/block_chains.h"

namespace servesim {
namespace {

TEST(BlockChains, AChainLivesWhileItHasCarriersAndItsIdIsReused) {
  BlockChains c;
  EXPECT_EQ(c.find(7), nullptr);
  const std::int32_t a = c.acquire(7);
  EXPECT_EQ(c.acquire(7), a);  // the same key: the same chain
  const std::int32_t b = c.acquire(9);
  EXPECT_NE(a, b);
  c.at(a).blocks = {3, 5};
  c.at(a).held = 2;
  c.at(b).held = 1;
  c.check_invariants();
  c.release(a);  // one of two carriers left: still found, entries kept
  ASSERT_NE(c.find(7), nullptr);
  EXPECT_EQ(c.find(7)->blocks.size(), 2u);
  c.release(a);  // the last: gone, its entries cleared, its id free
  EXPECT_EQ(c.find(7), nullptr);
  c.check_invariants();
  const std::int32_t d = c.acquire(11);
  EXPECT_EQ(d, a);  // recycled
  EXPECT_TRUE(c.at(d).blocks.empty());
  EXPECT_EQ(c.at(d).key, 11u);
  EXPECT_EQ(c.size(), 2u);
}

}  // namespace
}  // namespace servesim
