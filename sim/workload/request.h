#pragma once
// Requests. A RequestSpec is what a trace or generator says; a Request is its live state in
// the cluster. Contract: num_computed counts KV-resident tokens the model has processed;
// a request samples a new token each time num_computed reaches num_tokens(); after a
// recompute preemption num_computed returns to 0 and the request keeps one record.
// Its state changes only through the lifecycle methods below (admit, preempt, advance,
// finish, hand_off, adopt, reject), at step boundaries or cluster events:
//   waiting --admit--> running --advance--> ... --finish--> finished
//   running --preempt--> waiting (KV dropped, or kept in swap space)
//   running --hand_off--> transferring (KV moving to another replica: disaggregation,
//   migration) --adopt--> waiting at the new replica, its KV already resident there
//   waiting --reject--> rejected (can never run)
#include <cstdint>
#include <vector>

#include "sim/core/time.h"

namespace servesim {

using RequestId = std::int64_t;

// A priority that changes over time (FastSwitch's priority changes): from times[i] until
// times[i + 1] the priority is priorities[i]; before times[0], the request's own. With
// period > 0 the trace repeats every period (its times lie in [0, period)). Times ascend.
struct PriorityTrace {
  std::vector<SimTime> times;
  std::vector<std::int32_t> priorities;
  SimTime period = 0;
  std::int32_t at(SimTime t, std::int32_t initial) const {
    if (period > 0) t %= period;
    std::int32_t p = initial;
    for (std::size_t i = 0; i < times.size() && times[i] <= t; ++i) p = priorities[i];
    return p;
  }
};

struct RequestSpec {
  RequestId id = 0;
  SimTime arrival = 0;
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;
  // Content of the prompt in units of `prefix_unit` tokens: equal ids at equal positions
  // mean an identical (shareable) prefix, as Mooncake's hash_ids (512-token blocks).
  std::vector<std::uint64_t> prefix_ids;
  std::int32_t prefix_unit = 0;
  std::int64_t session = -1;  // multi-turn session, -1: none
  std::int32_t priority = 0;  // lower is more urgent (vLLM's convention); at arrival, see below
  // How the priority changes after arrival (null: never). Owned by the workload, which
  // outlives its requests; read by the `priority` scheduler at each step.
  const PriorityTrace* priority_trace = nullptr;
  std::int32_t client = 0;    // who sent it (fairness schedulers, per-client metrics)
  // Closed-loop workloads (agent programs, chat sessions waiting for replies): the index of
  // this request within its session (agent program), -1: not closed-loop.
  std::int32_t call = -1;
  // Agent programs: the arrival of the program's first call (Continuum's program-aware
  // queue order); -1: not part of a program.
  SimTime program_arrival = -1;
  // Continuum's KV time-to-live: after this request finishes, its replica keeps (pins) its KV
  // for this long, or until the session's next request is admitted there; 0: freed at once
  // (vLLM: to the evictable prefix cache).
  SimTime kv_ttl = 0;
};

enum class RequestState : std::uint8_t { kWaiting, kRunning, kTransferring, kFinished, kRejected };

struct Request {
  RequestSpec spec;
  RequestState state = RequestState::kWaiting;
  std::int64_t num_computed = 0;
  std::int32_t num_generated = 0;
  std::int32_t preemptions = 0;
  std::int32_t replica = -1;
  std::int32_t kv_slot = -1;             // the KV manager's handle, -1: holds nothing
  std::int64_t cached_prefix_tokens = 0; // prompt tokens served from the prefix cache (first admission)
  SimTime first_scheduled = -1;
  SimTime first_token = -1;
  SimTime last_token = -1;
  SimTime prev_token = -1;  // the token before last_token (for inter-token latency)
  SimTime finished = -1;
  // Cluster: the replica it last moved to (-1: it never left `replica`, where it was routed),
  // and the KV moved between replicas (disaggregation hand-off and live migrations).
  std::int32_t decode_replica = -1;
  std::int32_t migrations = 0;
  // Scratch of the KV manager that last looked this request's prefix up: the prefix-cache
  // hashes of its blocks (computed once per block size, as vLLM keeps them on the request)
  // and the cached blocks that matched, so a request waiting for room is neither re-hashed
  // nor re-probed at every step (hit_floor: the least free-queue stamp at which one of
  // those blocks can be evicted, paged_kv.h). Never part of results.
  mutable std::vector<std::uint64_t> block_hashes;
  mutable std::int32_t block_hash_unit = 0;
  mutable std::vector<std::int32_t> hit_blocks;
  mutable const void* hit_owner = nullptr;
  mutable std::uint64_t hit_floor = 0;
  SimTime kv_transfer_ns = 0;       // time from hand-off to adoption, summed
  double kv_transfer_bytes = 0;

  // Lifecycle (the only code that changes the fields above, besides the KV manager's
  // kv_slot and the engine's multi-step advance of num_computed/num_generated).
  // Admission into a running batch with `resident` tokens already in KV (prefix hit,
  // swapped-in or adopted KV). The first admission sets first_scheduled and the cached prefix.
  void admit(SimTime now, std::int64_t resident, std::int64_t cached_prefix) {
    if (first_scheduled < 0) {
      first_scheduled = now;
      cached_prefix_tokens = cached_prefix;
    }
    num_computed = resident;
    state = RequestState::kRunning;
  }
  // Preempted: `kept` tokens stay in swap space (0: recompute from scratch).
  void preempt(std::int64_t kept) {
    num_computed = kept;
    ++preemptions;
    state = RequestState::kWaiting;
  }
  // A step computed n more tokens; returns true when that completes the known tokens, so
  // the request samples one output token at `now`.
  bool advance(std::int64_t n, SimTime now) {
    num_computed += n;
    if (num_computed < num_tokens()) return false;
    sample_token(now);
    return true;
  }
  void sample_token(SimTime now) { sample_tokens(1, now); }
  // n tokens at once (a speculative verify step): they reach the user together, so the
  // inter-token gap is the one before them.
  void sample_tokens(std::int32_t n, SimTime now) {
    num_generated += n;
    if (first_token < 0) first_token = now;
    prev_token = last_token;
    last_token = now;
  }
  // A speculative verify step of a decoding request (one token pending): the pending token
  // and the `accepted` proposals enter the KV, and accepted + 1 tokens are sampled at `now`.
  void advance_speculative(std::int32_t accepted, SimTime now) {
    num_computed += 1 + accepted;
    sample_tokens(1 + accepted, now);
  }
  bool done() const { return num_generated >= spec.output_tokens; }
  void finish(SimTime now) {
    state = RequestState::kFinished;
    finished = now;
  }
  void reject() { state = RequestState::kRejected; }
  // Leaves its replica with its KV (the transfer starts); adopt() ends the transfer at the
  // replica `to`. A disaggregated hand-off happens right after the prompt sampled the first
  // token: that token reaches the user only when decoding starts, so TTFT includes the
  // transfer (first_token moves to the adoption time).
  void hand_off() { state = RequestState::kTransferring; }
  void adopt(std::int32_t to, SimTime now, SimTime started, double bytes, bool first_token_moves) {
    kv_transfer_ns += now - started;
    kv_transfer_bytes += bytes;
    if (first_token_moves) {
      first_token = now;
      last_token = now;
      prev_token = -1;
    }
    decode_replica = to;
    state = RequestState::kWaiting;
  }

  std::int64_t num_tokens() const { return static_cast<std::int64_t>(spec.prompt_tokens) + num_generated; }
  std::int64_t total_tokens() const { return static_cast<std::int64_t>(spec.prompt_tokens) + spec.output_tokens; }
  std::int32_t current_replica() const { return decode_replica >= 0 ? decode_replica : replica; }
};

}  // namespace servesim
