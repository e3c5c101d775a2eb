// Property test: every manager, driven by random admit / grow / fork / free / preempt /
// resume sequences (a seeded RNG), keeps every invariant after every step:
//  - its own check_invariants() (units conserved, nothing mapped twice, free exactly when
//    unreferenced, fills and tables consistent, prefix tree and tiers consistent);
//  - capacity never exceeded;
//  - a failed allocate or fork changes nothing (state, counters, the step's work);
//  - a preempted request holds nothing afterwards, keeps at most what it had computed in
//    swap, and restarts with that state;
//  - freeing everything returns every unit;
//  - the same seed gives the same result.
#include <gtest/gtest.h>

#include <deque>

#include "sim/core/rng.h"
#include "tests/kv/kv_test_util.h"

namespace servesim {
namespace {
using namespace kvtest;

constexpr double kBlock = 16 * kTokenBytes;  // 256 KiB
constexpr double kGroup2M = 8 * 2 * kMiB;    // 1024 tokens
constexpr double kGroup64K = 8 * 64 * 1024.0;

struct Case {
  const char* name;
  nlohmann::json kv;
  double kv_bytes;
};

std::vector<Case> cases() {
  return {
      {"paged", {{"impl", "paged"}}, 300 * kBlock},
      {"paged_offload_swap",
       {{"impl", "paged"},
        {"offload_cpu_capacity", 40 * kBlock},
        {"offload_ssd_capacity", 80 * kBlock},
        {"offload_load_policy", "always"},
        {"swap_space", 60 * kBlock},
        {"swap_copy", "coalesced"}},
       300 * kBlock},
      {"paged_no_prefix_caching", {{"impl", "paged"}, {"enable_prefix_caching", false}, {"block_size", 32}}, 150 * 2 * kBlock},
      {"paged_swap_reuse", {{"impl", "paged"}, {"swap_space", 30 * kBlock}, {"swap_reuse", true}}, 300 * kBlock},
      {"vattention_2MiB", {{"impl", "vattention"}, {"swap_space", 3 * kGroup2M}}, 6 * kGroup2M},
      {"vattention_64KiB_no_deferral", {{"impl", "vattention"}, {"page_size", "64KiB"}, {"deferred_reclamation", false}},
       150 * kGroup64K},
      {"vattention_sync", {{"impl", "vattention"}, {"page_size", "256KiB"}, {"overlap_mapping", false}}, 40 * 8 * 256 * 1024.0},
      {"vtensor", {{"impl", "vtensor"}, {"extend_ahead", 128}, {"swap_space", 3 * kGroup2M}}, 6 * kGroup2M},
      {"vtensor_offload",
       {{"impl", "vtensor"}, {"offload_cpu_capacity", 100 * kBlock}, {"offload_load_policy", "always"}, {"prefix_block", 32}},
       5 * kGroup2M},
  };
}

struct Snapshot {
  KvUsage u;
  KvCounters c;
  KvStepWork w;
};
Snapshot snap(const IKvManager& kv, const KvStepWork& w) { return {kv.usage(), kv.counters(), w}; }
void expect_same(const Snapshot& a, const Snapshot& b, const char* what) {
  EXPECT_EQ(a.u.used_tokens, b.u.used_tokens) << what;
  EXPECT_EQ(a.u.cached_tokens, b.u.cached_tokens) << what;
  EXPECT_EQ(a.u.allocated_bytes, b.u.allocated_bytes) << what;
  EXPECT_EQ(a.u.used_bytes, b.u.used_bytes) << what;
  EXPECT_EQ(a.u.cached_bytes, b.u.cached_bytes) << what;
  EXPECT_EQ(a.u.units_in_use, b.u.units_in_use) << what;
  EXPECT_EQ(a.c.units_allocated, b.c.units_allocated) << what;
  EXPECT_EQ(a.c.pages_mapped, b.c.pages_mapped) << what;
  EXPECT_EQ(a.c.pages_unmapped, b.c.pages_unmapped) << what;
  EXPECT_EQ(a.c.prefix_hit_tokens, b.c.prefix_hit_tokens) << what;
  EXPECT_EQ(a.c.cache_evictions, b.c.cache_evictions) << what;
  EXPECT_EQ(a.c.load_bytes, b.c.load_bytes) << what;
  EXPECT_EQ(a.w.sync_map_calls, b.w.sync_map_calls) << what;
  EXPECT_EQ(a.w.async_map_calls, b.w.async_map_calls) << what;
  EXPECT_EQ(a.w.spill_bytes, b.w.spill_bytes) << what;
  EXPECT_EQ(a.w.load_bytes, b.w.load_bytes) << what;
  EXPECT_EQ(a.w.cow_bytes, b.w.cow_bytes) << what;
  EXPECT_EQ(a.w.swap_in_bytes, b.w.swap_in_bytes) << what;
}

class Driver {
 public:
  Driver(IKvManager& kv, std::uint64_t seed) : kv_(kv), rng_(seed) {}

  void step() {
    const double x = rng_.uniform01();
    if (x < 0.25) {
      arrive();
    } else if (x < 0.60) {
      run_one();
    } else if (x < 0.68) {
      fork_one();
    } else if (x < 0.74) {
      abort_one();
    } else if (x < 0.84) {
      preempt_one();
    } else {
      resume_one();
    }
    check();
  }

  void drain() {
    while (!running_.empty()) {
      kv_.free(*running_.back());
      running_.pop_back();
      check();
    }
    // Swapped requests come back (memory is free now) and leave.
    for (Request* r : waiting_) {
      if (kv_.swapped_tokens(*r) == 0) continue;
      KvStepWork w;
      ASSERT_TRUE(kv_.allocate(*r, r->num_computed + 1, w)) << "a swapped request cannot come back to an empty device";
      EXPECT_GT(w.swap_in_bytes, 0.0);
      kv_.free(*r);
      check();
    }
    waiting_.clear();
    const KvUsage u = kv_.usage();
    EXPECT_EQ(u.allocated_bytes, 0.0) << "a free returns everything";
    EXPECT_EQ(u.used_bytes, 0.0);
    EXPECT_EQ(u.used_tokens, 0);
  }

  std::int64_t admissions = 0, failures = 0, forks = 0, preemptions = 0, swaps = 0, resumes = 0, finished = 0;

 private:
  std::int32_t len(std::int32_t lo, std::int32_t hi) { return static_cast<std::int32_t>(rng_.uniform_int(lo, hi)); }

  Request& make() {
    Request& r = all_.emplace_back();
    r.spec.id = next_id_++;
    const double kind = rng_.uniform01();
    r.spec.prefix_unit = 16;
    if (kind < 0.3 && !done_.empty()) {
      // Next turn of an earlier conversation: its prompt and output, then a new message.
      const RequestSpec& prev = done_[static_cast<std::size_t>(rng_.uniform_int(0, static_cast<std::int64_t>(done_.size()) - 1))];
      const std::int64_t history = static_cast<std::int64_t>(prev.prompt_tokens) + prev.output_tokens;
      r.spec.prompt_tokens = static_cast<std::int32_t>(std::min<std::int64_t>(history + len(1, 300), 4000));
      r.spec.prefix_ids.assign(prev.prefix_ids.begin(),
                               prev.prefix_ids.begin() + std::min<std::int64_t>(history / 16, static_cast<std::int64_t>(prev.prefix_ids.size())));
    } else if (kind < 0.7) {
      // A shared document (one of 4) as a prefix.
      const std::uint64_t doc = static_cast<std::uint64_t>(rng_.uniform_int(0, 3));
      const std::int32_t doc_units = 10 + static_cast<std::int32_t>(doc) * 7;
      for (std::int32_t u = 0; u < doc_units; ++u) r.spec.prefix_ids.push_back(mix64(doc + 77, static_cast<std::uint64_t>(u)));
      r.spec.prompt_tokens = doc_units * 16 + len(1, 400);
    } else {
      r.spec.prompt_tokens = len(1, 1500);
    }
    r.spec.output_tokens = len(1, 300);
    // Ids continue over the whole conversation so the next turn can reuse it.
    while (static_cast<std::int64_t>(r.spec.prefix_ids.size()) * 16 < static_cast<std::int64_t>(r.spec.prompt_tokens) + r.spec.output_tokens) {
      r.spec.prefix_ids.push_back(mix64(0xabcdef, static_cast<std::uint64_t>(r.spec.id) * 100000 + r.spec.prefix_ids.size()));
    }
    return r;
  }

  // Admission or re-admission as vllm_v1 does it, with a random chunk.
  bool admit_chunk(Request& r) {
    const std::int64_t swapped = kv_.swapped_tokens(r);
    const std::int64_t cached = swapped > 0 ? swapped : (r.num_computed == 0 ? kv_.cached_prefix(r) : 0);
    EXPECT_LT(cached, r.num_tokens());
    EXPECT_TRUE(swapped == 0 || swapped == r.num_computed);
    const std::int64_t want = std::min<std::int64_t>(r.num_tokens() - cached, len(1, 600));
    KvStepWork w;
    const Snapshot before = snap(kv_, w);
    if (!kv_.allocate(r, cached + want, w)) {
      expect_same(before, snap(kv_, w), "failed admission");
      EXPECT_EQ(r.kv_slot, -1);
      ++failures;
      return false;
    }
    if (swapped > 0) EXPECT_GT(w.swap_in_bytes, 0.0);
    EXPECT_EQ(kv_.swapped_tokens(r), 0);
    r.num_computed = cached + want;
    sample(r);
    ++admissions;
    return true;
  }

  void sample(Request& r) {
    if (r.num_computed >= r.num_tokens()) ++r.num_generated;
    kv_.commit(r);
  }

  void arrive() {
    Request& r = make();
    if (admit_chunk(r)) {
      finish_or_keep(r);
    } else {
      waiting_.push_back(&r);
    }
  }

  void finish_or_keep(Request& r) {
    if (r.num_generated >= r.spec.output_tokens) {
      kv_.free(r);
      EXPECT_EQ(r.kv_slot, -1);
      done_.push_back(r.spec);
      ++finished;
    } else {
      running_.push_back(&r);
    }
  }

  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_.uniform_int(0, static_cast<std::int64_t>(n) - 1)); }

  void run_one() {
    if (running_.empty()) return;
    const std::size_t i = pick(running_.size());
    Request& r = *running_[i];
    const std::int64_t want = std::min<std::int64_t>(r.num_tokens() - r.num_computed, len(1, 300));
    KvStepWork w;
    const Snapshot before = snap(kv_, w);
    if (!kv_.allocate(r, r.num_computed + want, w)) {
      expect_same(before, snap(kv_, w), "failed growth");
      ++failures;
      preempt_at(running_.size() - 1);  // the newest makes room, as vllm_v1 does
      return;
    }
    r.num_computed += want;
    sample(r);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    finish_or_keep(r);
  }

  void fork_one() {
    if (running_.empty()) return;
    Request& p = *running_[pick(running_.size())];
    Request& c = all_.emplace_back();
    c.spec = p.spec;
    c.spec.id = next_id_++;
    c.num_computed = p.num_computed;
    c.num_generated = p.num_generated;
    KvStepWork w;
    const Snapshot before = snap(kv_, w);
    if (!kv_.fork(p, c, w)) {
      expect_same(before, snap(kv_, w), "failed fork");
      EXPECT_EQ(c.kv_slot, -1);
      all_.pop_back();
      return;
    }
    EXPECT_GE(c.kv_slot, 0);
    ++forks;
    running_.push_back(&c);
  }

  void abort_one() {
    if (running_.empty()) return;
    const std::size_t i = pick(running_.size());
    kv_.free(*running_[i]);
    EXPECT_EQ(running_[i]->kv_slot, -1);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void preempt_at(std::size_t i) {
    Request& r = *running_[i];
    const PreemptMode mode = rng_.uniform01() < 0.5 ? PreemptMode::kSwap : PreemptMode::kRecompute;
    KvStepWork w;
    const std::int64_t computed = r.num_computed;
    const std::int64_t kept = kv_.preempt(r, mode, w);
    EXPECT_EQ(r.kv_slot, -1);
    EXPECT_GE(kept, 0);
    EXPECT_LE(kept, computed);
    if (mode == PreemptMode::kRecompute) EXPECT_EQ(kept, 0);
    EXPECT_EQ(kv_.swapped_tokens(r), kept);
    if (kept > 0) {
      EXPECT_GT(w.swap_out_bytes, 0.0);
      ++swaps;
    }
    r.num_computed = kept;
    ++r.preemptions;
    ++preemptions;
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    waiting_.insert(waiting_.begin(), &r);
  }

  void preempt_one() {
    if (!running_.empty()) preempt_at(pick(running_.size()));
  }

  void resume_one() {
    if (waiting_.empty()) return;
    Request& r = *waiting_.front();
    if (admit_chunk(r)) {
      waiting_.erase(waiting_.begin());
      ++resumes;
      finish_or_keep(r);
    }
  }

  void check() {
    kv_.check_invariants();
    const KvUsage u = kv_.usage();
    EXPECT_LE(u.used_tokens, u.capacity_tokens);
    EXPECT_GE(u.allocated_bytes, u.used_bytes);
  }

  IKvManager& kv_;
  Rng rng_;
  std::deque<Request> all_;
  std::vector<Request*> running_, waiting_;
  std::vector<RequestSpec> done_;
  RequestId next_id_ = 0;
};

TEST(KvProperty, RandomOperationsKeepEveryInvariant) {
  Env env;
  for (const Case& c : cases()) {
    for (std::uint64_t seed : {1, 2, 3}) {
      SCOPED_TRACE(std::string(c.name) + " seed " + std::to_string(seed));
      auto kv = env.build(c.kv, c.kv_bytes);
      Driver d(*kv, seed);
      for (int i = 0; i < 2500 && !testing::Test::HasFailure(); ++i) d.step();
      d.drain();
      // The run exercised the interesting paths.
      EXPECT_GT(d.admissions, 100);
      EXPECT_GT(d.failures, 0) << "memory never ran short";
      EXPECT_GT(d.forks, 0);
      EXPECT_GT(d.preemptions, 0);
      EXPECT_GT(d.finished, 0);
      EXPECT_GT(d.swaps, 0);
      EXPECT_GT(d.resumes, 0);
      const KvCounters& k = kv->counters();
      if (c.kv.value("enable_prefix_caching", true) && c.kv["impl"] != "vattention") EXPECT_GT(k.prefix_hit_tokens, 0);
      if (c.kv.contains("offload_cpu_capacity")) EXPECT_GT(k.offload_hit_tokens, 0);
      if (c.kv["impl"] != "paged") EXPECT_GT(k.pages_mapped, 0);
      if (HasFailure()) return;
    }
  }
}

TEST(KvProperty, SameSeedSameResult) {
  Env env;
  for (const Case& c : cases()) {
    std::string first;
    for (int rep = 0; rep < 2; ++rep) {
      auto kv = env.build(c.kv, c.kv_bytes);
      Driver d(*kv, 42);
      for (int i = 0; i < 800; ++i) d.step();
      const std::string s = kv->summary().dump();
      if (rep == 0) first = s; else EXPECT_EQ(s, first) << c.name;
    }
  }
}

}  // namespace
}  // namespace servesim
