// The paged KV manager (paged_kv.h): a request's own blocks (beyond what its prefix ids
// describe: their hashes mix in its id, so only the request itself can find them again) —
// their chains, and their registration deferred to the table's release.
//
// Deferral. Registering an own block (hash it, join its chain) is needed only for the
// request itself to find the block again, which it can do only after its table is released
// (re-admitted after preemption, back on this replica after a move). So a table may defer
// it: commit() marks the blocks committed, and release registers them in position order,
// as commit() would have; a finished request's blocks are never looked up again, so they
// become orphans (kOrphan: cached, counted and evicted as any cached block, in no index or
// chain). A table defers only while nothing could observe the difference (defers_own): no
// offload tier (a spill carries the block's hash), no token dropping, no fork, no chain of
// the request's key yet (no block carries one of its own hashes), and no other table of the
// same key deferring (two tables of one request id: the first is registered at once when
// the second appears, so the order commit() would have registered them in is kept).
#include "sim/kv/impl/paged_kv.h"

namespace servesim {

void PagedKvManager::chain_block(const Request& r, Table& t, std::int64_t own, std::int64_t i, std::int32_t b) {
  const std::uint64_t key = hash_of(r, own);
  if (t.chain < 0 || chains_.at(t.chain).held == 0 || chains_.at(t.chain).key != key) t.chain = chains_.acquire(key);
  BlockChains::Chain& c = chains_.at(t.chain);
  const auto k = static_cast<std::size_t>(i - own);
  BlockState& s = st_[static_cast<std::size_t>(b)];
  if (k < c.blocks.size()) {
    if (c.blocks[k] >= 0 && holds(c.blocks[k], s.hash)) {
      s.slot = -1;
      return;
    }
    c.blocks[k] = b;
  } else {  // usually the next position (blocks fill in order)
    while (c.blocks.size() < k) c.blocks.push_back(-1);
    c.blocks.push_back(b);
  }
  s.slot = kChained;
  s.chain = t.chain;
  ++c.held;
}

bool PagedKvManager::defers_own(const Request& r, Table& t, std::int64_t own) {
  t.defer = 0;
  if (tiers_.enabled() || c_.drop.on()) return false;
  const std::uint64_t key = hash_of(r, own);
  if (chains_.find(key) != nullptr) return false;
  const auto [it, added] = deferring_.try_emplace(key, r.kv_slot);
  if (!added) {
    // Another table of this key defers: its blocks were committed first, so they are
    // registered now, before this table's; neither defers from here on. Same key, same
    // own hashes: r's serve for both.
    Table& other = tables_[static_cast<std::size_t>(it->second)];
    register_pending(r, other);
    other.defer = 0;
    deferring_.erase(it);
    return false;
  }
  t.defer = 1;
  t.own_key = key;
  return true;
}

void PagedKvManager::register_pending(const Request& r, Table& t) {
  if (t.pending_from < 0) return;
  const std::int64_t own = own_blocks_from(r);
  for (auto i = t.pending_from; i < t.hashed; ++i) {
    const std::int32_t b = t.blocks[static_cast<std::size_t>(i)];
    BlockState& s = st_[static_cast<std::size_t>(b)];
    if (s.cached()) continue;
    s.hash = hash_of(r, i);
    chain_block(r, t, own, i, b);
  }
  t.pending_from = -1;
}

void PagedKvManager::settle_pending(const Request& r, Table& t) {
  if (t.defer != 1) return;
  deferring_.erase(t.own_key);
  if (!r.done()) {
    register_pending(r, t);
    return;
  }
  for (auto i = t.pending_from; i >= 0 && i < t.hashed; ++i) {
    BlockState& s = st_[static_cast<std::size_t>(t.blocks[static_cast<std::size_t>(i)])];
    SERVESIM_ASSERT(!s.cached());  // committed while deferring: carried no hash (no hit list holds it)
    s.slot = kOrphan;
    s.hash = 0;  // matches no lookup
  }
  t.pending_from = -1;
}

std::int64_t PagedKvManager::preempt(Request& r, PreemptMode mode, KvStepWork& work) {
  SERVESIM_ASSERT(r.kv_slot >= 0);
  const std::int64_t kept = std::min(r.num_computed, tables_[r.kv_slot].tokens);
  const bool dropped = tables_[r.kv_slot].drop_end > c_.drop.pinned();  // swap keeps whole prefixes only
  if (mode == PreemptMode::kSwap && kept > 0 && !dropped) {
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

}  // namespace servesim
