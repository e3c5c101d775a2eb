#pragma once
// The executor's memo of operator prices: an operator the replica has priced before is
// not priced again. Contract:
// - Exact: the key holds, bit for bit, every field of the Operator a cost model or the
//   power model may read except the label-like ones no model reads (name, stage, repeat,
//   overlap), and the cost model's predict() is pure (i_cost_model.h), so a hit returns
//   exactly what pricing the operator again would. An operator whose words outside its
//   class's own shape all hold a default Operator's values is looked up by its class's words
//   alone (short_key(): 6 words instead of 41, the common case); that is the same key.
// - Only GEMMs, collectives, copies and page maps are memoised (memoisable()); never an
//   attention operator (its per-sequence pairs are not in the key) or any operator whose
//   attention span is not empty.
// - A memo serves one cost model under one power model, in one thread: the replicas of a
//   pool share one per power model they run under (OperatorMemos), so a shape one replica
//   priced is a hit for all; an executor without a pool's memos owns one and clear()s it when
//   its power model changes. A memo forgets everything beyond kMaxEntries so its memory
//   stays bounded whatever the run's shapes; as hits are exact, when it forgets (and which
//   replica priced an entry first) changes no result.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "sim/core/time.h"
#include "sim/model/operator.h"

namespace servesim {

// A step-shape memo: the prices of a full step's operators other than its
// attention and KV work (kv_work_operators), in the order the plan emits them, in two
// sequences: the last stage's operators (StagePart::kLast: the LM head and sampling) for
// steps of one num_logits, the others for steps of one num_tokens. The plan's contract
// (i_parallel_plan.h) makes each sequence a function of its count and the replica's
// constants when no context parallelism, attention DP, drafter or routing draw is in play
// (the executor asks only then), so a hit answers exactly what pricing the operators one by
// one would, without a memo probe per operator. Prices are x repeat. One serves the
// executors of a pool under one power model and over one set of links (the collectives'
// shapes carry them; OperatorMemo::shapes) and forgets everything beyond kMaxEntries,
// which changes no result.
struct StepShapePrice {
  SimTime ns = 0;        // x repeat
  std::int64_t nj = 0;   // x repeat
  std::string_view source;
};

class StepShapeMemo {
 public:
  using Price = StepShapePrice;
  static constexpr std::size_t kMaxEntries = 1 << 11;

  enum Part : std::int64_t { kByTokens = 0, kByLogits = 1 };

  const std::vector<Price>* find(Part part, std::int64_t count) const {
    auto it = prices_.find(std::pair{static_cast<std::int64_t>(part), count});
    return it == prices_.end() ? nullptr : &it->second;
  }
  // An empty entry to fill, valid until the next insert() or clear().
  std::vector<Price>& insert(Part part, std::int64_t count) {
    if (prices_.size() >= kMaxEntries) prices_.clear();
    std::vector<Price>& v = prices_[std::pair{static_cast<std::int64_t>(part), count}];
    v.clear();
    return v;
  }
  void clear() { prices_.clear(); }

 private:
  absl::flat_hash_map<std::pair<std::int64_t, std::int64_t>, std::vector<Price>> prices_;
};

// One memoised price.
struct OperatorPrice {
  SimTime ns = 0;          // one execution, under the power limit
  std::int64_t nj = 0;     // its dynamic energy
  std::string_view source;
};

class OperatorMemo {
 public:
  using Price = OperatorPrice;
  static constexpr std::size_t kMaxEntries = 1 << 12;  // at most ~2 MB

  // The classes whose fitted lookups cost more than a memo probe (grids, curves); element-
  // wise and CPU operators go to the cost model directly (arithmetic only in every model).
  static bool memoisable(const Operator& op) {
    const bool costly = op.cls == OpClass::kGemm || op.cls == OpClass::kCollective || op.cls == OpClass::kCopy ||
                        op.cls == OpClass::kPageMap || op.moe.ep > 0;  // a MoE part: a fused-layer lookup
    return costly && op.attn.seqs.empty();
  }
  Price* find(const Operator& op) {
    ShortKey k;
    if (short_key(op, k)) {
      auto it = short_.find(k);
      return it == short_.end() ? nullptr : &it->second;
    }
    auto it = prices_.find(key(op));
    return it == prices_.end() ? nullptr : &it->second;
  }
  Price& insert(const Operator& op, const Price& p) {
    if (short_.size() + prices_.size() >= kMaxEntries) clear();
    ShortKey k;
    if (short_key(op, k)) return short_.try_emplace(k, p).first->second;
    return prices_.try_emplace(key(op), p).first->second;
  }
  void clear() {
    short_.clear();
    prices_.clear();
  }

  // The step-shape memo of the executors over `links` (PlanLinks' six words, bit for bit);
  // stays where it is for the memo's life. clear() leaves these alone; clear_shapes() empties them.
  using LinksKey = std::array<std::uint64_t, 6>;
  StepShapeMemo& shapes(const LinksKey& links) {
    auto& m = shapes_[links];
    if (!m) m = std::make_unique<StepShapeMemo>();
    return *m;
  }
  void clear_shapes() {
    for (auto& [links, m] : shapes_) m->clear();
  }

 private:
  using Key = std::array<std::uint64_t, 41>;
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
               w(op.cpu_tokens), w(op.cpu_kv_tokens), w(op.gpu_seconds),
               w(op.moe.hidden), w(op.moe.inter),
               static_cast<std::uint64_t>(static_cast<std::uint32_t>(op.moe.topk)) |
                   static_cast<std::uint64_t>(static_cast<std::uint32_t>(op.moe.local_experts)) << 32,
               static_cast<std::uint64_t>(static_cast<std::uint32_t>(op.moe.ep)) |
                   static_cast<std::uint64_t>(static_cast<std::uint8_t>(op.moe.part)) << 32 |
                   static_cast<std::uint64_t>(op.moe.weight_dtype) << 40 | static_cast<std::uint64_t>(op.moe.act_dtype) << 48 |
                   static_cast<std::uint64_t>(op.moe.mxfp4) << 56,
               w(op.moe.copies), w(op.moe.active), w(op.moe.per_expert)};
  }
  static bool default_moe(const MoeLayerShape& m) {
    const MoeLayerShape d;
    return m.hidden == d.hidden && m.inter == d.inter && m.topk == d.topk && m.local_experts == d.local_experts &&
           m.ep == d.ep && m.part == d.part && m.weight_dtype == d.weight_dtype && m.act_dtype == d.act_dtype && m.mxfp4 == d.mxfp4 &&
           w(m.copies) == w(d.copies) && m.active == d.active && m.per_expert == d.per_expert;
  }

  // The short key: the class and its own shape's words (as in key()), for an operator whose
  // other key words all hold a default Operator's values, bit for bit (what the plans' GEMMs
  // and collectives and the KV work's copies and page maps carry). Such an operator's full
  // key is a function of its short key, and whether an operator has one depends only on
  // its key words, so the two maps together answer exactly as one map of full keys would.
  using ShortKey = std::array<std::uint64_t, 6>;
  static bool default_gemm(const GemmShape& g) {
    const GemmShape d;
    return g.m == d.m && g.n == d.n && g.k == d.k && g.groups == d.groups && g.dtype == d.dtype;
  }
  static bool default_attention(const AttentionShape& a) {
    const AttentionShape d;
    return a.heads == d.heads && a.kv_heads == d.kv_heads && a.head_dim == d.head_dim && a.v_head_dim == d.v_head_dim &&
           a.dtype == d.dtype && a.kv_dtype == d.kv_dtype && a.paged == d.paged &&
           w(a.kv_bytes_per_token) == w(d.kv_bytes_per_token) && a.block_size == d.block_size && a.window == d.window &&
           a.num_seqs == d.num_seqs && a.sum_q == d.sum_q && a.sum_kv == d.sum_kv && w(a.sum_q_kv) == w(d.sum_q_kv) &&
           a.max_kv == d.max_kv;
  }
  static bool default_collective(const CollectiveShape& c) {
    const CollectiveShape d;
    return c.kind == d.kind && w(c.bytes) == w(d.bytes) && c.ranks == d.ranks && w(c.link_bandwidth) == w(d.link_bandwidth) &&
           w(c.link_latency_s) == w(d.link_latency_s);
  }
  static bool default_copy(const CopyShape& c) {
    const CopyShape d;
    return c.kind == d.kind && w(c.bytes) == w(d.bytes) && c.chunks == d.chunks && c.pinned == d.pinned;
  }
  // The words after the shapes; `page_map` leaves out the two a page map keys on.
  static bool default_rest(const Operator& op, bool page_map) {
    const Operator d;
    return default_moe(op.moe) && w(op.bytes) == w(d.bytes) && w(op.flops) == w(d.flops) && w(op.cpu_seconds) == w(d.cpu_seconds) &&
           op.cpu_tokens == d.cpu_tokens && op.cpu_kv_tokens == d.cpu_kv_tokens && w(op.gpu_seconds) == w(d.gpu_seconds) &&
           (page_map || (op.items == d.items && w(op.page_bytes) == w(d.page_bytes)));
  }
  static bool short_key(const Operator& op, ShortKey& k) {
    const auto cls = static_cast<std::uint64_t>(op.cls);
    switch (op.cls) {
      case OpClass::kGemm:
        if (!default_attention(op.attn) || !default_collective(op.coll) || !default_copy(op.copy) || !default_rest(op, false)) return false;
        k = ShortKey{cls, w(op.gemm.m), w(op.gemm.n), w(op.gemm.k), w(op.gemm.groups), static_cast<std::uint64_t>(op.gemm.dtype)};
        return true;
      case OpClass::kCollective:
        if (!default_gemm(op.gemm) || !default_attention(op.attn) || !default_copy(op.copy) || !default_rest(op, false)) return false;
        k = ShortKey{cls | static_cast<std::uint64_t>(op.coll.kind) << 8, w(op.coll.bytes), static_cast<std::uint64_t>(op.coll.ranks),
                     w(op.coll.link_bandwidth), w(op.coll.link_latency_s), 0};
        return true;
      case OpClass::kCopy:
        if (!default_gemm(op.gemm) || !default_attention(op.attn) || !default_collective(op.coll) || !default_rest(op, false)) return false;
        k = ShortKey{cls | static_cast<std::uint64_t>(op.copy.kind) << 8 | static_cast<std::uint64_t>(op.copy.pinned) << 16,
                     w(op.copy.bytes), w(op.copy.chunks), 0, 0, 0};
        return true;
      case OpClass::kPageMap:
        if (!default_gemm(op.gemm) || !default_attention(op.attn) || !default_collective(op.coll) || !default_copy(op.copy) ||
            !default_rest(op, true)) {
          return false;
        }
        k = ShortKey{cls, w(op.items), w(op.page_bytes), 0, 0, 0};
        return true;
      default:
        return false;
    }
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
  struct ShortEq {  // word by word, inline (std::array's == calls memcmp)
    bool operator()(const ShortKey& a, const ShortKey& b) const {
      return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
    }
  };
  absl::flat_hash_map<ShortKey, Price, absl::Hash<ShortKey>, ShortEq> short_;  // operators with a short key
  absl::flat_hash_map<Key, Price, Hash> prices_;  // the others
  absl::flat_hash_map<LinksKey, std::unique_ptr<StepShapeMemo>> shapes_;
};

// A pool's memos: one per power model its replicas run under (the pool's, and the capped
// one under a power cap), shared by the pool's executors (one cost model, one thread).
class OperatorMemos {
 public:
  OperatorMemo& for_power(const void* power_model) {
    auto& m = memos_[power_model];
    if (!m) m = std::make_unique<OperatorMemo>();
    return *m;
  }

 private:
  absl::flat_hash_map<const void*, std::unique_ptr<OperatorMemo>> memos_;
};

}  // namespace servesim
