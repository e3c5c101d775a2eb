#pragma once
// Host memory that holds the KV of requests preempted by swap (vLLM's --swap-space).
// Contract: a request has at most one record; the bytes held never exceed the capacity;
// put() that does not fit changes nothing; take() removes the record it returns.
// Reuse of host KV (FastSwitch; enable_reuse): the host copy of a record's full blocks,
// named by their prefix-cache hashes, stays valid after take() (the swap-in copies it
// back, it does not move it) while room allows; put_blocks() then copies only the blocks
// with no valid host copy (a later swap-out of the same request or of a later turn with
// the same context), taking the reused copies into its record. Kept copies count against
// the capacity and are dropped least recently kept first when a record needs their room.
#include <cstdint>
#include <iterator>
#include <list>
#include <map>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "sim/core/error.h"
#include "sim/workload/request.h"

namespace servesim {

class SwapSpace {
 public:
  struct Record {
    std::int64_t tokens = 0;
    double bytes = 0;
    std::vector<std::uint64_t> hashes;  // reuse: hashes of its full blocks
  };

  explicit SwapSpace(double capacity_bytes) : capacity_(capacity_bytes) {}

  bool put(RequestId id, std::int64_t tokens, double bytes) {
    SERVESIM_ASSERT(records_.find(id) == records_.end());
    if (tokens <= 0 || used_ + bytes > capacity_) return false;
    records_.emplace(id, Record{tokens, bytes, {}});
    used_ += bytes;
    return true;
  }
  std::int64_t tokens(RequestId id) const {
    auto it = records_.find(id);
    return it == records_.end() ? 0 : it->second.tokens;
  }
  Record take(RequestId id) {
    auto it = records_.find(id);
    SERVESIM_ASSERT(it != records_.end());
    Record r = std::move(it->second);
    records_.erase(it);
    used_ -= r.bytes;
    if (records_.empty()) used_ = 0;  // no drift from floating-point sums
    for (const std::uint64_t h : r.hashes) keep(h);  // the host copy stays valid
    return r;
  }

  // Reuse of host KV: block_bytes per full block (0: off, the default).
  void enable_reuse(double block_bytes) { block_bytes_ = block_bytes; }
  bool reuses() const { return block_bytes_ > 0; }
  // Swaps out `tokens` tokens in `blocks` blocks of block_bytes, the first hashes.size() of
  // them full blocks with those hashes (empty without reuse). Returns how many blocks must
  // be copied (those with no valid host copy), or -1 when the record does not fit even
  // after dropping every kept copy it does not reuse (nothing changed then).
  std::int64_t put_blocks(RequestId id, std::int64_t tokens, std::int64_t blocks, double block_bytes,
                          std::vector<std::uint64_t> hashes) {
    const double bytes = static_cast<double>(blocks) * block_bytes;
    if (tokens <= 0 || used_ + bytes > capacity_) return -1;
    std::int64_t reused = 0;
    for (const std::uint64_t h : hashes) {
      const auto it = kept_.find(h);
      if (it == kept_.end()) continue;
      order_.erase(it->second);
      kept_.erase(it);
      ++reused;
    }
    while (used_ + bytes + kept_bytes() > capacity_ * (1 + 1e-12)) {  // drop the oldest kept copies
      kept_.erase(order_.front());
      order_.pop_front();
    }
    const bool ok = put(id, tokens, bytes);
    SERVESIM_ASSERT(ok);
    records_[id].hashes = std::move(hashes);
    reused_bytes_ += static_cast<double>(reused) * block_bytes;
    return blocks - reused;
  }
  // Bytes a swap-out did not copy because a valid host copy was there (reuse).
  double reused_bytes() const { return reused_bytes_; }
  double kept_bytes() const { return static_cast<double>(kept_.size()) * block_bytes_; }
  double capacity_bytes() const { return capacity_; }
  double used_bytes() const { return used_; }
  std::size_t size() const { return records_.size(); }

  void check_invariants() const {
    double sum = 0;
    for (const auto& [id, r] : records_) {
      SERVESIM_ASSERT(r.tokens > 0 && r.bytes > 0);
      sum += r.bytes;
    }
    SERVESIM_ASSERT(sum + kept_bytes() <= capacity_ * (1 + 1e-9));
    SERVESIM_ASSERT(sum <= used_ * (1 + 1e-9) + 1e-6 && used_ <= sum * (1 + 1e-9) + 1e-6);
    SERVESIM_ASSERT(kept_.size() == order_.size() && (reuses() || kept_.empty()));
  }

 private:
  // A host copy made valid by take(): most recently kept last; room is made where a
  // record needs it.
  void keep(std::uint64_t h) {
    if (!reuses()) return;
    const auto it = kept_.find(h);
    if (it != kept_.end()) order_.erase(it->second);
    order_.push_back(h);
    kept_[h] = std::prev(order_.end());
  }

  double capacity_;
  double used_ = 0;
  std::map<RequestId, Record> records_;
  double block_bytes_ = 0;  // reuse: bytes of one kept block (0: off)
  std::list<std::uint64_t> order_;  // kept copies, least recently kept first
  absl::flat_hash_map<std::uint64_t, std::list<std::uint64_t>::iterator> kept_;
  double reused_bytes_ = 0;
};

}  // namespace servesim
