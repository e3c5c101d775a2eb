#pragma once
// Per-request records and run aggregates, with the definitions of DESIGN.md:
//   TTFT = first token - arrival; TPOT = (last token - first token) / (output tokens - 1)
//   (requests with one output token have no TPOT); ITL = every gap between consecutive
//   output tokens; E2E = last token - arrival; queueing = first scheduled - arrival.
//   Throughput is over the measured window [first arrival, last completion].
//   Goodput = requests per second that meet every SLO given.
//   Job completion time (closed-loop agent programs / chat sessions) = last token of the
//   program's last call - arrival of its first call.
// A preempted request keeps one record; its restarts are counted in `preemptions`.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/time.h"
#include "sim/metrics/stats.h"
#include "sim/workload/request.h"

namespace servesim {

// One per request, held until the end of the run (5M requests: about 0.5 GB), so fields are
// ordered to leave no padding: the 8-byte ones, then the 4-byte ones, then the flag.
struct RequestRecord {
  RequestId id = 0;
  SimTime arrival = 0;
  SimTime first_scheduled = -1;
  SimTime first_token = -1;
  SimTime last_token = -1;
  std::int64_t cached_prefix_tokens = 0;
  SimTime kv_transfer_ns = 0;        // hand-off to adoption, summed over its moves
  double kv_transfer_bytes = 0;
  std::int64_t session = -1;  // session / agent program (RequestSpec::session)
  std::int32_t replica = -1;
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;
  std::int32_t preemptions = 0;
  std::int32_t client = 0;
  std::int32_t priority = 0;
  std::int32_t decode_replica = -1;  // the replica it moved to last (disaggregation, migration); -1: none
  std::int32_t migrations = 0;
  std::int32_t call = -1;     // index within a closed-loop session, -1: not closed-loop
  bool rejected = false;

  SimTime ttft() const { return first_token - arrival; }
  SimTime e2e() const { return last_token - arrival; }
  SimTime queueing() const { return first_scheduled - arrival; }
  bool has_tpot() const { return output_tokens > 1; }
  double tpot_ns() const { return static_cast<double>(last_token - first_token) / (output_tokens - 1); }
};

struct Slo {
  SimTime ttft = 0;  // 0: not set
  SimTime tpot = 0;
  SimTime e2e = 0;
  bool any() const { return ttft > 0 || tpot > 0 || e2e > 0; }
  bool met(const RequestRecord& r) const;
};

struct TimeSample {
  SimTime time = 0;
  std::int32_t replica = 0;
  std::int64_t waiting = 0;
  std::int64_t running = 0;
  std::int64_t kv_used_tokens = 0;
  std::int64_t kv_capacity_tokens = 0;
  // KV manager state (KvUsage) and cumulative counters (KvCounters) at this time.
  double kv_allocated_bytes = 0;  // physical KV memory held by live requests
  double kv_used_bytes = 0;       // KV content of live requests
  double kv_cached_bytes = 0;     // physical KV memory held for reuse by no live request
  std::int64_t kv_prefix_lookup_tokens = 0;
  std::int64_t kv_prefix_hit_tokens = 0;
  std::int64_t kv_pages_mapped = 0;
  double kv_exposed_map_s = 0;    // page mapping on the critical path, so far
  double kv_swap_bytes = 0;       // swapped out + in, so far
  double energy_j = 0;            // the replica's GPUs' energy so far (sim/serving/energy.h)
  double kv_offload_bytes = 0;    // spilled to + loaded from offload tiers, so far
  std::int64_t kv_preemptions = 0;
};

// Returns free heap pages to the system (glibc keeps freed blocks resident otherwise).
void release_free_memory();

// An append-only sequence in chunks of its own allocation: growing never copies (a growing
// vector briefly holds two copies), and take() moves it into one vector chunk by chunk,
// handing each chunk's pages back to the system (release_free_memory) as it goes, so a run
// of millions of requests peaks at one copy of its records plus one chunk. Chunks double
// from kFirstChunk to kChunk elements, and a log of at most kChunk elements is handed over
// without returning pages (under a megabyte: nothing to gain for the peak), so the short
// runs of a plan search (hundreds of records, thousands of runs) neither zero a full chunk
// nor have the whole heap's free pages faulted back in after each run.
template <typename T>
class ChunkedLog {
 public:
  static constexpr std::size_t kFirstChunk = 256;
  static constexpr std::size_t kChunk = 8192;
  static constexpr std::size_t capacity(std::size_t c) { return c >= 5 ? kChunk : kFirstChunk << c; }
  static_assert((kFirstChunk << 5) == kChunk);
  void push_back(const T& v) {
    if (chunks_.empty() || used_ == capacity(chunks_.size() - 1)) {
      chunks_.push_back(std::make_unique<T[]>(capacity(chunks_.size())));
      used_ = 0;
    }
    chunks_.back()[used_++] = v;
    ++size_;
  }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& front() const { return chunks_.front()[0]; }
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t c = 0; c < chunks_.size(); ++c) {
      const std::size_t n = c + 1 == chunks_.size() ? used_ : capacity(c);
      for (std::size_t i = 0; i < n; ++i) f(chunks_[c][i]);
    }
  }
  std::vector<T> take() {
    std::vector<T> out;
    out.reserve(size_);
    const bool release = size_ > kChunk;
    for (std::size_t c = 0; c < chunks_.size(); ++c) {
      const std::size_t n = c + 1 == chunks_.size() ? used_ : capacity(c);
      out.insert(out.end(), chunks_[c].get(), chunks_[c].get() + n);
      chunks_[c].reset();
      if (release) release_free_memory();
    }
    chunks_.clear();
    used_ = size_ = 0;
    return out;
  }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  std::size_t used_ = 0;  // elements in the last chunk
  std::size_t size_ = 0;
};

class MetricsCollector {
 public:
  void on_token(const Request& r);  // after r sampled a token (r.last_token, r.prev_token set)
  // `count` requests sampled a token `gap` after their previous one (multi-step advance).
  void on_tokens(SimTime gap, std::int64_t count) { itl_.add(gap, count); }
  void on_finish(const Request& r);
  void on_reject(const Request& r);
  void on_step(std::int64_t num_seqs, std::int64_t num_tokens, SimTime duration);
  void add_sample(const TimeSample& s) { samples_.push_back(s); }

  std::size_t num_records() const { return records_.size(); }
  std::size_t num_samples() const { return samples_.size(); }
  // Hand the records and samples over at the end of a run, as vectors; the peak is one
  // copy plus a chunk (ChunkedLog::take).
  std::vector<RequestRecord> take_records() { return records_.take(); }
  std::vector<TimeSample> take_samples() { return samples_.take(); }
  // Aggregates; times in seconds. `slo` may be empty.
  nlohmann::json summary(const Slo& slo) const;

 private:
  void add_client_summary(nlohmann::json& j) const;
  void add_program_summary(nlohmann::json& j) const;

  ChunkedLog<RequestRecord> records_;
  ChunkedLog<TimeSample> samples_;
  LogHistogram itl_;
  std::int64_t steps_ = 0;
  std::int64_t step_tokens_ = 0;
  std::int64_t step_seqs_ = 0;
  SimTime busy_ = 0;
};

}  // namespace servesim
