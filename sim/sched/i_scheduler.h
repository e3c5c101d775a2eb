#pragma once
// Replica schedulers: batch formation for one step. Contract:
// - add() hands over a request that arrived at this replica; the scheduler owns its queueing.
// - schedule() forms the next step: which requests run and how many new tokens each
//   computes, within the scheduler's budgets, allocating KV through the KV manager.
//   It may preempt running requests (reported in the output); it must never schedule
//   a request whose KV allocation failed.
// - schedule_around() is schedule() beside pipeline micro-batches still in flight: the
//   requests of `in_flight` (all in the running set) are neither scheduled nor preempted,
//   and still count toward the running budget (max_num_seqs and alike); the running order
//   they had is kept. With `in_flight` empty it is schedule().
// - update() applies a finished step: advances num_computed, samples tokens, finishes
//   requests (freeing their KV) and reports what happened through StepEvents.
// - A scheduler keeps no pointers to requests it has reported finished or rejected.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/core/registry.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/workload/request.h"

namespace servesim {

// Upper bounds of a step's budgets (declared ranges of every scheduler's parameters): far
// beyond any engine (vLLM runs up to thousands of sequences and ~10^5 tokens a step), and
// low enough that per-step arithmetic and the memory plan's activation sizing cannot overflow.
inline constexpr std::int64_t kMaxStepTokens = std::int64_t{1} << 30;
inline constexpr std::int64_t kMaxStepSeqs = std::int64_t{1} << 24;

struct ScheduledSeq {
  Request* req = nullptr;
  std::int32_t new_tokens = 0;
  std::int64_t context = 0;  // tokens already computed (cached) before this step
  // Speculative decoding (sim/serving/speculative.h): proposals verified in this step
  // (new_tokens = 1 + draft) and, drawn by the engine when the step starts, how many of
  // them are accepted.
  std::int32_t draft = 0;
  std::int32_t accepted = 0;
};

struct StepPlan {
  std::vector<ScheduledSeq> seqs;
  std::vector<Request*> preempted;  // preempted while forming this step
  KvStepWork kv_work;
  std::int64_t num_tokens = 0;
  // Intra-GPU prefill/decode co-location (the nexus scheduler; sim/serving/colocate.h): the
  // decode stream's TPOT target in ns (0: the step runs as one batch) and the SM-share grid.
  double colocate_tpot_ns = 0;
  double colocate_grid = 0;
  void clear() {
    seqs.clear();
    preempted.clear();
    kv_work.clear();
    num_tokens = 0;
    colocate_tpot_ns = 0;
    colocate_grid = 0;
  }
};

// What a step did to requests, for metrics.
struct StepEvents {
  std::vector<Request*> sampled;   // requests that produced one token at the step's end
  std::vector<Request*> finished;  // requests that completed (also in sampled)
  void clear() {
    sampled.clear();
    finished.clear();
  }
};

// A scheduler's budgets for one step, whatever its own keys are called. Every scheduler's
// Config declares `StepBudgets exports() const`; the memory plan sizes the activation peak
// from them before the scheduler is built.
struct StepBudgets {
  std::int64_t max_tokens = 0;  // tokens computed in one step, all sequences together
  std::int64_t max_seqs = 0;    // sequences in one step
};
inline StepBudgets step_budgets(const ComponentConfig& c) { return std::any_cast<StepBudgets>(c.exports); }

struct SchedulerDeps {
  IKvManager& kv;
  std::int64_t max_model_len = 0;
  // Speculative decoding: proposals per decode step (0: off). Only a scheduler whose
  // speculates() is true may be given one.
  std::int32_t spec_tokens = 0;
};

class IScheduler {
 public:
  virtual ~IScheduler() = default;
  // Returns false and takes nothing when r can never run here (longer than the model's
  // context or than the whole KV capacity); the caller records it as rejected.
  virtual bool add(Request* r) = 0;
  virtual void schedule(SimTime now, StepPlan& plan) = 0;
  virtual void schedule_around(SimTime now, StepPlan& plan, std::span<Request* const> in_flight) = 0;
  virtual void update(SimTime now, const StepPlan& plan, StepEvents& events) = 0;
  // Whether it schedules speculative decode steps when SchedulerDeps::spec_tokens > 0: a
  // decoding request computes 1 + k tokens (k capped by its remaining output and the
  // step's budget), with ScheduledSeq::draft = k.
  virtual bool speculates() const { return false; }
  virtual std::size_t num_waiting() const = 0;
  virtual std::size_t num_running() const = 0;
  bool has_work() const { return num_waiting() + num_running() > 0; }

  // Disaggregation and migration. detach(r): r (running, its prompt done) leaves this
  // scheduler between steps; its KV stays allocated in the KV manager (the caller frees it
  // once the KV has moved). The scheduler keeps no pointer to r afterwards.
  // adopt(r): r arrives with its KV already resident here (r.kv_slot >= 0, num_computed
  // tokens) and joins the running set at once, as a decoding request (a decode engine
  // schedules a request whose KV it has received). can_adopt(n): whether n more adopted
  // requests (placed, still in flight) plus this one would stay within the running budget;
  // the cluster places KV only then, so adoption never overfills the running set.
  virtual void adopt(Request* r) = 0;
  virtual bool can_adopt(std::size_t in_flight) const = 0;
  virtual void detach(Request* r) = 0;
  // The admitted requests (holding KV), in admission order (read-only; for the balancer).
  virtual std::span<Request* const> running() const = 0;

  // Multi-step advance (DESIGN: "when nothing can change the batch for k iterations, the
  // replica may advance k iterations at once"). For the step `plan` just formed: how many
  // further steps the scheduler would form exactly this batch again, every sequence one
  // decode token further, provided nothing arrives and KV allocation succeeds, with no
  // request finishing before the last of them. The engine then advances the requests of
  // those steps itself (num_computed and num_generated + 1 per step) and calls update()
  // for the last one only. 0 (the default): never.
  virtual std::int64_t repeatable_decode_steps(const StepPlan& plan) const {
    (void)plan;
    return 0;
  }
};

template <>
struct InterfaceName<IScheduler> {
  static constexpr const char* value = "scheduler";
};
using SchedulerRegistry = Registry<IScheduler, const SchedulerDeps&>;

}  // namespace servesim
