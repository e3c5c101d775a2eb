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
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/time.h"
#include "sim/metrics/stats.h"
#include "sim/workload/request.h"

namespace servesim {

struct RequestRecord {
  RequestId id = 0;
  std::int32_t replica = -1;
  SimTime arrival = 0;
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;
  SimTime first_scheduled = -1;
  SimTime first_token = -1;
  SimTime last_token = -1;
  std::int32_t preemptions = 0;
  std::int64_t cached_prefix_tokens = 0;
  bool rejected = false;
  std::int32_t client = 0;
  std::int32_t priority = 0;
  std::int32_t decode_replica = -1;  // the replica it moved to last (disaggregation, migration); -1: none
  std::int32_t migrations = 0;
  SimTime kv_transfer_ns = 0;        // hand-off to adoption, summed over its moves
  double kv_transfer_bytes = 0;
  std::int64_t session = -1;  // session / agent program (RequestSpec::session)
  std::int32_t call = -1;     // index within a closed-loop session, -1: not closed-loop

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

class MetricsCollector {
 public:
  void on_token(const Request& r);  // after r sampled a token (r.last_token, r.prev_token set)
  // `count` requests sampled a token `gap` after their previous one (multi-step advance).
  void on_tokens(SimTime gap, std::int64_t count) { itl_.add(gap, count); }
  void on_finish(const Request& r);
  void on_reject(const Request& r);
  void on_step(std::int64_t num_seqs, std::int64_t num_tokens, SimTime duration);
  void add_sample(const TimeSample& s) { samples_.push_back(s); }

  const std::vector<RequestRecord>& records() const { return records_; }
  const std::vector<TimeSample>& samples() const { return samples_; }
  // Hand the records and samples over at the end of a run (no copy).
  std::vector<RequestRecord> take_records() { return std::move(records_); }
  std::vector<TimeSample> take_samples() { return std::move(samples_); }
  // Aggregates; times in seconds. `slo` may be empty.
  nlohmann::json summary(const Slo& slo) const;

 private:
  void add_client_summary(nlohmann::json& j) const;
  void add_program_summary(nlohmann::json& j) const;

  std::vector<RequestRecord> records_;
  std::vector<TimeSample> samples_;
  LogHistogram itl_;
  std::int64_t steps_ = 0;
  std::int64_t step_tokens_ = 0;
  std::int64_t step_seqs_ = 0;
  SimTime busy_ = 0;
};

}  // namespace servesim
