#pragma once
// The paged KV pool's chains: for blocks whose content only their own request knows (their
// hashes mix in its id), a chain per request keyed by the hash of its first such block, and
// per position from it the block last given that position's hash (-1: none). Whether an
// entry is still valid (its block still carries the hash) is the caller's to check; the
// chains count their carriers (`held`) and a chain is recycled when none is left. Contract:
// acquire() returns the chain of a key, creating it when absent; release() is called once
// per carrier that loses its hash, never more than it acquired; ids of recycled chains are
// reused (lowest-cost: the last freed first), so they are stable only while held > 0.
#include <cstdint>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "sim/core/error.h"

namespace servesim {

class BlockChains {
 public:
  struct Chain {
    std::uint64_t key = 0;             // the hash of its first block
    std::vector<std::int32_t> blocks;  // per position from that block: the block last given its hash (-1: none)
    std::int64_t held = 0;             // blocks carrying one of its hashes (0: not in use)
  };

  // The chain of `key`, or nullptr.
  const Chain* find(std::uint64_t key) const {
    const auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &chains_[static_cast<std::size_t>(it->second)];
  }
  // The id of the chain of `key`, created (empty, held 0) when absent.
  std::int32_t acquire(std::uint64_t key) {
    auto [it, added] = by_key_.try_emplace(key, -1);
    if (added) {
      if (free_.empty()) {
        it->second = static_cast<std::int32_t>(chains_.size());
        chains_.emplace_back();
      } else {
        it->second = free_.back();
        free_.pop_back();
      }
      chains_[static_cast<std::size_t>(it->second)].key = key;
    }
    return it->second;
  }
  Chain& at(std::int32_t id) { return chains_[static_cast<std::size_t>(id)]; }
  const Chain& at(std::int32_t id) const { return chains_[static_cast<std::size_t>(id)]; }
  std::size_t size() const { return chains_.size(); }
  // One carrier of chain `id` lost its hash; the last one recycles the chain.
  void release(std::int32_t id) {
    Chain& c = at(id);
    SERVESIM_ASSERT(c.held > 0);
    if (--c.held > 0) return;
    by_key_.erase(c.key);
    c.blocks.clear();
    free_.push_back(id);
  }
  // Every chain in use is found by its key; the others are listed as free.
  void check_invariants() const {
    std::size_t in_use = 0;
    for (const Chain& c : chains_) {
      if (c.held == 0) continue;
      ++in_use;
      SERVESIM_ASSERT(find(c.key) == &c);
    }
    SERVESIM_ASSERT(in_use == by_key_.size() && in_use + free_.size() == chains_.size());
  }

 private:
  std::vector<Chain> chains_;
  std::vector<std::int32_t> free_;  // ids of recycled chains
  absl::flat_hash_map<std::uint64_t, std::int32_t> by_key_;
};

}  // namespace servesim
