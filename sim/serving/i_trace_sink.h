#pragma once
// An observer of a simulation's steps, preemptions and KV transfers, for timelines
// (`servesim run --timeline`; sim/report/chrome_trace.h).
//
// Contract:
// - Optional: the simulation holds a pointer that is null unless a caller passes one in
//   RunControl::trace; with none, the hooks cost one pointer test per step and per transfer.
// - Observing never changes a run: same events, same results, byte for byte.
// - on_step is called once per step that ran, on every replica, including each step of a
//   merged run of repeated decode steps (the multi-step advance): those are reported when
//   the run's last event fires, so they may arrive after events of later instants on other
//   replicas; a sink must not assume global time order across replicas. Per replica, steps
//   arrive in time order.
// - The StepTrace's plan is valid only during the call.
#include <array>
#include <cstdint>

#include "sim/core/time.h"
#include "sim/sched/i_scheduler.h"

namespace servesim {

struct StepTrace {
  std::int32_t replica = 0;
  SimTime start = 0, end = 0;
  std::int64_t seqs = 0;            // sequences in the batch
  std::int64_t tokens = 0;          // tokens computed, all sequences together
  std::int64_t prefill_seqs = 0;    // sequences still in their prompt (chunked prefill)
  std::int64_t prefill_tokens = 0;  // prompt tokens computed by them
  std::array<SimTime, 8> ns_by_class{};  // operator time of this step by OpClass (critical-path sum)
  bool merged = false;              // a repeated decode step of a merged run
  const StepPlan* plan = nullptr;   // the batch (for merged steps: the run's first step's plan)
};

struct KvTransferTrace {
  enum class Kind : std::uint8_t { kHandOff, kMigrationRound, kMigrationFinal };
  Kind kind = Kind::kHandOff;
  RequestId request = 0;
  std::int32_t src = -1, dst = -1;  // replica ids
  double bytes = 0;
  SimTime start = 0, end = 0;       // the copy (after the KV was placed at dst)
};

class ITraceSink {
 public:
  virtual ~ITraceSink() = default;
  virtual void on_step(const StepTrace& step) = 0;
  // `id` was preempted on `replica` while the step starting at `at` was formed.
  virtual void on_preempted(std::int32_t replica, RequestId id, SimTime at) = 0;
  virtual void on_kv_transfer(const KvTransferTrace& t) = 0;
};

}  // namespace servesim
