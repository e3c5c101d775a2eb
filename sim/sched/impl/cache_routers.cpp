// Cache-aware global router (prefix_aware), after SGLang's router ("cache_aware" policy)
// and llm-d's inference scheduler (weighted prefix-cache, queue and KV-utilisation scorers).
#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/sched/i_router.h"
#include "sim/sched/router_pick.h"

namespace servesim {
namespace {

// A bounded set of chained prefix-block keys, least recently touched evicted first.
// Invariants: size() <= the capacity of the last touch; a key's stamp in last_use_ is the
// stamp of its newest entry in order_; order_ holds stamps in increasing order, and an
// entry whose stamp differs from last_use_ is stale (skipped by eviction, dropped by
// compaction). Touching costs no list node per key.
class BlockLru {
 public:
  bool contains(std::uint64_t key) const { return last_use_.contains(key); }
  std::size_t size() const { return last_use_.size(); }

  void touch(std::uint64_t key, std::uint64_t stamp, std::size_t capacity) {
    last_use_[key] = stamp;
    order_.emplace_back(key, stamp);
    while (last_use_.size() > capacity) evict_oldest();
    if (order_.size() > 2 * last_use_.size() + 1024) compact();
  }

 private:
  void evict_oldest() {
    while (!order_.empty()) {
      const auto [key, stamp] = order_.front();
      order_.pop_front();
      auto it = last_use_.find(key);
      if (it != last_use_.end() && it->second == stamp) {
        last_use_.erase(it);
        return;
      }
    }
  }
  void compact() {
    std::deque<std::pair<std::uint64_t, std::uint64_t>> live;
    for (const auto& e : order_) {
      auto it = last_use_.find(e.first);
      if (it != last_use_.end() && it->second == e.second) live.push_back(e);
    }
    order_ = std::move(live);
  }

  absl::flat_hash_map<std::uint64_t, std::uint64_t> last_use_;  // key -> stamp of its last touch
  std::deque<std::pair<std::uint64_t, std::uint64_t>> order_;   // touches, oldest first
};

// The memory's bound when max_blocks is 0 and a candidate's KV capacity is unknown (0):
// llm-d's default LRU capacity per server (500k tokens in 16-token blocks).
constexpr std::int64_t kFallbackMaxBlocks = 31250;

// Contract:
// - Hit. The prefix hit of candidate i for request r, in tokens, is
//     hit_i = min(prompt, max(view_i.prefix_hit(r), m_i * prefix_unit))
//   where m_i is the number of r's leading prefix blocks (spec.prefix_ids, chained as a
//   radix path: block k's key covers blocks 0..k) that the router remembers routing to i.
//   Its rate is hit_i / prompt (0 for an empty prompt). The memory makes requests that
//   share a prefix follow each other before the first one's blocks reach the cache.
// - Memory. After every decision, whatever the mode or branch, all of r's prefix blocks
//   (those covering its output too: a session's next turn starts with them) are recorded
//   for the chosen candidate, deepest first, so that least-recently-used eviction drops a
//   path's tail before its root. Each candidate keeps at most max_blocks keys; max_blocks 0
//   means the candidate's KV capacity in prefix units (kv_capacity_tokens / prefix_unit,
//   at least 1; 31250 when the capacity is unknown). Requests without prefix ids record
//   nothing and match nothing in memory (the replica's own cache still counts).
// - mode "cache_aware" (SGLang's router): with o_i the outstanding requests, the load is
//   imbalanced when max(o) - min(o) > balance_abs_threshold AND
//   max(o) > min(o) * balance_rel_threshold; then r goes to the fewest outstanding.
//   Otherwise the candidate with the highest hit (ties: fewer outstanding, then lowest
//   index) gets r if its rate >= cache_threshold; else r goes, by on_miss, to the
//   candidate with the fewest remembered blocks ("smallest_tree"; ties: fewer outstanding,
//   then lowest index) or to the fewest outstanding ("least_load").
// - mode "weighted" (llm-d's scorers and max-score picker): r goes to the highest
//   prefix_weight * rate_i + queue_weight * q_i + kv_weight * (1 - kv_used_fraction_i),
//   q_i = (max(o) - o_i) / (max(o) - min(o)), or 1 when all o are equal. Ties: lowest index.
// - Deterministic: no random draws; every tie has a stated rule.
class PrefixAwareRouter final : public IRouter {
 public:
  struct Config {
    bool weighted = false;
    double cache_threshold = 0.5;
    std::int64_t balance_abs_threshold = 32;
    double balance_rel_threshold = 1.1;
    bool miss_to_smallest_tree = true;
    double prefix_weight = 3;
    double queue_weight = 2;
    double kv_weight = 2;
    std::int64_t max_blocks = 0;

    static Config parse(Params& p) {
      Config c;
      c.weighted = p.choice("mode", "cache_aware", {"cache_aware", "weighted"},
                            "cache_aware: SGLang router's rule (balance check, then best prefix match above "
                            "cache_threshold); weighted: llm-d's weighted sum of prefix, queue and KV scores") ==
                   "weighted";
      // Each mode declares only its own keys, so a key of the other mode is rejected
      // rather than silently ignored; doc mode documents both.
      if (!c.weighted || p.doc_mode()) {
        c.cache_threshold = p.real("cache_threshold", 0.5,
                                   "cache_aware: least prefix hit rate (hit tokens / prompt tokens) for which the "
                                   "best-matching replica is chosen",
                                   0.0, 1.0);
        c.balance_abs_threshold = p.integer("balance_abs_threshold", 32,
                                            "cache_aware: load is imbalanced when max - min outstanding exceeds this "
                                            "(and the relative test holds)",
                                            0);
        c.balance_rel_threshold = p.real("balance_rel_threshold", 1.1,
                                         "cache_aware: load is imbalanced when max outstanding > min * this (and the "
                                         "absolute test holds)",
                                         0.0);
        c.miss_to_smallest_tree = p.choice("on_miss", "smallest_tree", {"smallest_tree", "least_load"},
                                           "cache_aware: below cache_threshold, the replica with the fewest "
                                           "remembered prefix blocks, or the fewest waiting + running") ==
                                  "smallest_tree";
      }
      if (c.weighted || p.doc_mode()) {
        c.prefix_weight = p.real("prefix_weight", 3.0, "weighted: weight of the prefix hit rate", 0.0);
        c.queue_weight = p.real("queue_weight", 2.0,
                                "weighted: weight of the queue score (max - own) / (max - min) outstanding", 0.0);
        c.kv_weight = p.real("kv_weight", 2.0, "weighted: weight of 1 - KV used fraction", 0.0);
      }
      c.max_blocks = p.integer("max_blocks", 0,
                               "prefix blocks remembered per replica, least recently routed dropped first (0: the "
                               "replica's KV capacity in prefix units)",
                               0);
      return c;
    }
  };

  PrefixAwareRouter(const Config& c, const RouterDeps& deps)
      : c_(c), memory_(static_cast<std::size_t>(std::max(deps.num_replicas, 1))) {}

  std::int32_t route(const Request& r, std::span<const ReplicaView> replicas) override {
    SERVESIM_ASSERT(!replicas.empty());
    if (memory_.size() < replicas.size()) memory_.resize(replicas.size());
    chain_keys(r.spec);
    const std::size_t n = replicas.size();
    hits_.assign(n, 0);
    const std::int64_t prompt = r.spec.prompt_tokens;
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t remembered = matched_blocks(memory_[i]) * static_cast<std::int64_t>(r.spec.prefix_unit);
      hits_[i] = std::min(prompt, std::max(replicas[i].prefix_hit(r), remembered));
    }
    const std::int32_t chosen = c_.weighted ? pick_weighted(replicas, prompt) : pick_cache_aware(replicas, prompt);
    record(chosen, replicas[static_cast<std::size_t>(chosen)], r.spec.prefix_unit);
    return chosen;
  }

 private:
  // keys_[k] identifies blocks 0..k of the spec's prefix ids (all of them).
  void chain_keys(const RequestSpec& s) {
    keys_.clear();
    if (s.prefix_unit <= 0) return;
    std::uint64_t h = mix64(0x7072'6566'6978'7274ULL, static_cast<std::uint64_t>(s.prefix_unit));
    for (std::uint64_t id : s.prefix_ids) {
      h = mix64(h, id);
      keys_.push_back(h);
    }
  }

  std::int64_t matched_blocks(const BlockLru& lru) const {
    std::int64_t m = 0;
    for (std::uint64_t k : keys_) {
      if (!lru.contains(k)) break;
      ++m;
    }
    return m;
  }

  std::int32_t pick_cache_aware(std::span<const ReplicaView> replicas, std::int64_t prompt) const {
    std::int64_t max_o = replicas[0].outstanding();
    std::int64_t min_o = max_o;
    for (const ReplicaView& v : replicas) {
      max_o = std::max(max_o, v.outstanding());
      min_o = std::min(min_o, v.outstanding());
    }
    const bool imbalanced = max_o - min_o > c_.balance_abs_threshold &&
                            static_cast<double>(max_o) > static_cast<double>(min_o) * c_.balance_rel_threshold;
    if (imbalanced) return least_outstanding(replicas);

    std::size_t best = 0;
    for (std::size_t i = 1; i < replicas.size(); ++i) {
      const bool fewer = replicas[i].outstanding() < replicas[best].outstanding();
      if (hits_[i] > hits_[best] || (hits_[i] == hits_[best] && fewer)) best = i;
    }
    const double rate = prompt > 0 ? static_cast<double>(hits_[best]) / static_cast<double>(prompt) : 0.0;
    if (rate >= c_.cache_threshold) return static_cast<std::int32_t>(best);
    if (!c_.miss_to_smallest_tree) return least_outstanding(replicas);
    std::size_t smallest = 0;
    for (std::size_t i = 1; i < replicas.size(); ++i) {
      const std::size_t a = memory_[i].size();
      const std::size_t b = memory_[smallest].size();
      if (a < b || (a == b && replicas[i].outstanding() < replicas[smallest].outstanding())) smallest = i;
    }
    return static_cast<std::int32_t>(smallest);
  }

  std::int32_t pick_weighted(std::span<const ReplicaView> replicas, std::int64_t prompt) const {
    std::int64_t max_o = replicas[0].outstanding();
    std::int64_t min_o = max_o;
    for (const ReplicaView& v : replicas) {
      max_o = std::max(max_o, v.outstanding());
      min_o = std::min(min_o, v.outstanding());
    }
    std::size_t best = 0;
    double best_score = 0;
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      const ReplicaView& v = replicas[i];
      const double rate = prompt > 0 ? static_cast<double>(hits_[i]) / static_cast<double>(prompt) : 0.0;
      const double queue = max_o == min_o ? 1.0
                                          : static_cast<double>(max_o - v.outstanding()) /
                                                static_cast<double>(max_o - min_o);
      const double score =
          c_.prefix_weight * rate + c_.queue_weight * queue + c_.kv_weight * (1.0 - v.load.kv_used_fraction);
      if (i == 0 || score > best_score) {
        best = i;
        best_score = score;
      }
    }
    return static_cast<std::int32_t>(best);
  }

  void record(std::int32_t chosen, const ReplicaView& view, std::int32_t unit) {
    if (keys_.empty()) return;
    std::int64_t cap = c_.max_blocks;
    if (cap == 0) cap = view.kv_capacity_tokens > 0 ? std::max<std::int64_t>(1, view.kv_capacity_tokens / unit)
                                                    : kFallbackMaxBlocks;
    BlockLru& lru = memory_[static_cast<std::size_t>(chosen)];
    for (auto it = keys_.rbegin(); it != keys_.rend(); ++it) lru.touch(*it, ++stamp_, static_cast<std::size_t>(cap));
  }

  Config c_;
  std::vector<BlockLru> memory_;  // per candidate index
  std::uint64_t stamp_ = 0;
  std::vector<std::uint64_t> keys_;  // scratch: the current request's chained block keys
  std::vector<std::int64_t> hits_;   // scratch: hit tokens per candidate
};

}  // namespace

SERVESIM_REGISTER(RouterRegistry, PrefixAwareRouter, "prefix_aware",
                  "cache-aware: follow the longest cached or routed prefix unless load is imbalanced (SGLang), "
                  "or a weighted prefix/queue/KV score (llm-d)")

}  // namespace servesim
