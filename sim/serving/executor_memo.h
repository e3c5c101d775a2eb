#pragma once
// The executor's memo of operator prices: an operator the replica has priced before is
// not priced again. Contract:
// - Exact: the key holds, bit for bit, every field of the Operator a cost model or the
//   power model may read except the label-like ones no model reads (name, stage, repeat,
//   overlap), and the cost model's predict() is pure (i_cost_model.h), so a hit returns
//   exactly what pricing the operator again would.
// - Only GEMMs, collectives, copies and page maps are memoised (memoisable()); never an
//   attention operator (its per-sequence pairs are not in the key) or any operator whose
//   attention span is not empty.
// - The memo belongs to one executor (one replica, one thread); clear() it when what prices
//   operators changes (the power model). It forgets everything beyond kMaxEntries so its
//   memory stays bounded whatever the run's shapes.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <absl/container/flat_hash_map.h>

#include "sim/core/time.h"
#include "sim/model/operator.h"

namespace servesim {

// One memoised price.
struct OperatorPrice {
  SimTime ns = 0;          // one execution, under the power limit
  std::int64_t nj = 0;     // its dynamic energy
  std::string_view source;
  std::size_t slot = SIZE_MAX;  // the executor's index of `source` (set on first use)
};

class OperatorMemo {
 public:
  using Price = OperatorPrice;
  static constexpr std::size_t kMaxEntries = 1 << 12;  // at most ~2 MB

  // The classes whose fitted lookups cost more than a memo probe (grids, curves); element-
  // wise and CPU operators go to the cost model directly (arithmetic only in every model).
  static bool memoisable(const Operator& op) {
    const bool costly = op.cls == OpClass::kGemm || op.cls == OpClass::kCollective || op.cls == OpClass::kCopy ||
                        op.cls == OpClass::kPageMap;
    return costly && op.attn.seqs.empty();
  }
  Price* find(const Operator& op) {
    auto it = prices_.find(key(op));
    return it == prices_.end() ? nullptr : &it->second;
  }
  Price& insert(const Operator& op, const Price& p) {
    if (prices_.size() >= kMaxEntries) prices_.clear();
    return prices_.try_emplace(key(op), p).first->second;
  }
  void clear() { prices_.clear(); }

 private:
  using Key = std::array<std::uint64_t, 34>;
  static std::uint64_t w(double v) { return std::bit_cast<std::uint64_t>(v); }
  static std::uint64_t w(std::int64_t v) { return static_cast<std::uint64_t>(v); }
  static Key key(const Operator& op) {
    const AttentionShape& a = op.attn;
    return Key{static_cast<std::uint64_t>(op.cls),
               w(op.gemm.m), w(op.gemm.n), w(op.gemm.k), w(op.gemm.groups), static_cast<std::uint64_t>(op.gemm.dtype),
               static_cast<std::uint64_t>(a.heads), static_cast<std::uint64_t>(a.kv_heads),
               static_cast<std::uint64_t>(a.head_dim), static_cast<std::uint64_t>(a.v_head_dim),
               static_cast<std::uint64_t>(a.dtype) | static_cast<std::uint64_t>(a.kv_dtype) << 8 |
                   static_cast<std::uint64_t>(a.paged) << 16,
               w(a.kv_bytes_per_token), static_cast<std::uint64_t>(a.block_size), w(a.window), w(a.num_seqs),
               w(a.sum_q), w(a.sum_kv), w(a.sum_q_kv), w(a.max_kv),
               static_cast<std::uint64_t>(op.coll.kind) | static_cast<std::uint64_t>(op.copy.kind) << 8 |
                   static_cast<std::uint64_t>(op.copy.pinned) << 16,
               w(op.coll.bytes), static_cast<std::uint64_t>(op.coll.ranks), w(op.coll.link_bandwidth),
               w(op.coll.link_latency_s), w(op.copy.bytes), w(op.copy.chunks),
               w(op.bytes), w(op.flops), w(op.items), w(op.page_bytes), w(op.cpu_seconds),
               w(op.cpu_tokens), w(op.cpu_kv_tokens), w(op.gpu_seconds)};
  }
  // Hashes the words that tell one step's operators apart (sizes); equality compares them all.
  struct Hash {
    std::size_t operator()(const Key& k) const {
      // Doubles of round sizes have zero low bits: mix high bits down at every step and at
      // the end (murmur3's finaliser), as the table picks slots by the low bits.
      std::uint64_t h = k[0];
      for (const std::size_t i : {1, 2, 3, 5, 20, 24, 26, 27, 28}) {
        h = (h ^ k[i] ^ (k[i] >> 29)) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 32;
      }
      h = (h ^ (h >> 33)) * 0xFF51AFD7ED558CCDULL;
      h = (h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53ULL;
      return static_cast<std::size_t>(h ^ (h >> 33));
    }
  };
  absl::flat_hash_map<Key, Price, Hash> prices_;
};

}  // namespace servesim
