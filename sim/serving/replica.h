#pragma once
// A replica: one copy of the model on its devices, with its own scheduler, KV manager and
// executor, in a pool of the cluster. Contract: one event per step. A step's time is the
// executor's (operators of the batch under the plan, KV work, CPU time). Requests change
// state only at step boundaries. An idle replica that receives work starts its next step
// at the same instant, after every arrival and transfer of that instant (EventPriority
// kStepStart), so requests arriving together form one batch.
//
// The owner (the cluster) hears of every request that leaves: finished or rejected
// (on_released), and, on a prefill-role replica, prefilled (on_prefilled: the prompt is
// done and the first token sampled; the request is detached from the scheduler with its KV
// still held here until the owner frees it). After each step the owner may act on the
// replica (on_step_end: e.g. place KV of waiting hand-offs) before the next one forms.
//
// Multi-step advance with a per-replica horizon: when the scheduler and the KV manager say
// the batch will repeat as pure decodes for k more steps (until its first request would
// finish), the replica prices those steps and schedules one event at the end of the last.
// The steps' effects are applied lazily: sync() brings the replica to the current instant
// exactly as step-by-step execution would have it there (tokens of the steps that ended,
// KV of the steps that started, as seen by an event of the current priority), and
// interrupt() also cuts the run after the step in progress, so a change made now (a request
// routed here, KV placed or adopted) is seen by the next step, as step by step. The owner
// calls sync() before reading a replica and interrupt() before changing it; results are
// byte-identical with the advance on or off.
//
// KV time-to-live (Continuum): a request that finishes with spec.kv_ttl > 0 hands its KV
// slot to a pin the replica holds (the blocks stay referenced, so they are neither free nor
// evictable) until the TTL expires or the session's next request, routed here, has been
// admitted (it then shares the blocks as prefix hits); then the KV is freed as usual (to
// the evictable prefix cache). Pinned KV takes room: a waiting request may wait for a pin
// to expire.
//
// Pipeline parallelism (pp > 1): the replica keeps up to degrees().micro_batches
// micro-batches in flight through its stages (PipelineTimeline), as vLLM's virtual engines
// and TensorRT-LLM do. A micro-batch is a step formed by the scheduler from the requests not
// in flight (IScheduler::schedule_around), when the first stage is free and fewer than
// micro_batches are in flight; its stage times are the executor's stage_ns(). Events: one
// start event per micro-batch (kStepStart, at the instant the first stage frees, or at an
// arrival or completion after it) and one completion event when it leaves the last stage
// (kIterationEnd), where its requests advance exactly as at the end of a step. The
// multi-step advance is off for pp > 1 (micro-batches interleave, so the batch never
// repeats as a whole); with micro_batches == 1 a step traverses every stage in turn.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "sim/core/event_queue.h"
#include "sim/metrics/metrics.h"
#include "sim/sched/i_router.h"
#include "sim/sched/i_scheduler.h"
#include "sim/serving/executor.h"
#include "sim/serving/i_trace_sink.h"
#include "sim/serving/pipeline.h"
#include "sim/serving/speculative.h"

namespace servesim {

class Replica;

class IReplicaOwner {
 public:
  virtual ~IReplicaOwner() = default;
  virtual void on_released(Request* r) = 0;  // finished or rejected: the owner may reuse r
  virtual void on_prefilled(Replica& from, Request* r) = 0;
  virtual void on_step_end(Replica& rep) = 0;
  // False while the owner has work waiting for this replica that a merged run of steps
  // could hide (a KV placement retried at every step end).
  virtual bool may_merge_steps(const Replica& rep) const = 0;
  // Whether KV moving between replicas holds room here: KV placed for requests on their way
  // in, or KV of requests this replica handed off that has not left yet (back-pressure).
  // The replica may then sit idle with requests waiting; the move's end wakes it.
  virtual bool holds_moving_kv(const Replica& rep) const = 0;
};

struct ReplicaContext {
  EventQueue& queue;
  MetricsCollector& metrics;
  IReplicaOwner& owner;
  ExecutorContext exec;
  std::int32_t pool = 0;
  bool prefill_only = false;  // a prefill-role replica: requests leave after their first token
  // Advance several identical decode steps in one event when scheduler and KV manager allow
  // it (same results as step by step; see Replica::plan_fast_forward).
  bool fast_forward = true;
  // Speculative decoding (null: off; the scheduler was given its k): each verify step's
  // accepted proposals are drawn when the step starts, from the replica's own stream. The
  // multi-step advance is off then (no two verify steps are alike).
  const SpeculativeConfig* speculative = nullptr;
};

// Per-replica totals, for per-pool outputs.
struct ReplicaStats {
  std::int64_t steps = 0;
  SimTime busy = 0;
  std::int64_t tokens = 0;
  std::int64_t prefilled = 0;  // requests handed off after their prompt (prefill role)
  std::int64_t seqs = 0;       // sequences summed over steps
  // busy: time a step (pp > 1: at least one micro-batch) was in progress.
};

class Replica {
 public:
  Replica(std::int32_t id, ReplicaContext ctx, std::unique_ptr<IKvManager> kv, std::unique_ptr<IScheduler> sched);

  // A request routed here.
  void on_arrival(Request* r);
  // A request whose KV the owner placed here and moved in: it joins the running set.
  void adopt(Request* r);
  ReplicaLoad load() const;
  std::int32_t id() const { return id_; }
  std::int32_t pool() const { return ctx_.pool; }
  IKvManager& kv() { return *kv_; }
  const IKvManager& kv() const { return *kv_; }
  IScheduler& scheduler() { return *sched_; }
  const CostBreakdown& breakdown() const { return exec_.breakdown(); }
  Executor& executor() { return exec_; }
  // Dynamic energy (nJ, one device) of the steps that have ENDED by now, whether steps ran
  // one by one or merged (call sync() first); a step in progress is not counted yet.
  std::int64_t ended_energy_nj() const;
  const ReplicaStats& stats() const { return stats_; }
  bool idle() const { return state_ == State::kIdle; }
  // True while a step runs (between its start and end events).
  bool in_step() const { return state_ == State::kBusy; }
  // Duration of the step that just ended (valid in the owner's callbacks).
  SimTime last_step_duration() const { return last_step_; }
  // The step time for `plan` (exposed for tests and tools). Accounts the step's cost breakdown.
  SimTime cost_step(const StepPlan& plan);
  // Steps merged into single events by the multi-step advance (steps that ran).
  std::int64_t merged_steps() const { return merged_steps_; }
  // Wakes an idle replica (work was placed on it by the owner).
  void wake();
  // See the header comment: bring the merged run's effects up to now; and cut it after the
  // step in progress.
  void sync();
  void interrupt();
  // The timeline observer (null: none); see i_trace_sink.h.
  void set_trace(ITraceSink* trace) { trace_ = trace; }
  // The pipeline's stages (null when pp == 1): the time each stage held micro-batches.
  const PipelineTimeline* pipeline() const { return pipe_ ? &*pipe_ : nullptr; }

 private:
  enum class State : std::uint8_t { kIdle, kStartPending, kBusy };
  void start_step();
  void end_step();
  // Multi-step advance: after the step in plan_ has been costed (it ends at `end`), plan
  // how many further identical decode steps run in the same event and price them (their
  // breakdown deferred). Returns the end time of the last one.
  SimTime plan_fast_forward(SimTime end);
  // Prices up to `steps` more merged steps of the run (at most run_max_ in all).
  void extend_run(std::size_t steps);
  // The event at the end of the run's last priced step: extends the run or ends it.
  void on_run_event();
  // Applies the run's steps [applied_, n): KV of merged steps up to n, tokens of steps < n.
  void apply_run(std::size_t n);
  // True when an event at the current instant and priority comes after a step ending at e.
  bool ended(SimTime e) const;
  // Reports a step to trace_: [start, end], its operator time since `before` (ns_by_class).
  void trace_step(const StepPlan& plan, SimTime start, SimTime end, const std::array<SimTime, 8>& before, bool merged);
  // The end of a step (or micro-batch) `plan`: the scheduler applies it, tokens and
  // finished requests are reported, the owner acts.
  void finish_step(const StepPlan& plan);
  // KV time-to-live: pin a finished request's KV; free a pin (its expiry, or its session's
  // next request admitted).
  void pin(Request* r);
  void unpin(std::int64_t session);
  struct Pin {
    std::unique_ptr<Request> holder;  // owns the KV slot
    EventId expiry = 0;
    Request* next = nullptr;  // the session's next request, routed here (unpinned once admitted)
  };
  std::map<std::int64_t, Pin> pins_;       // by session
  std::vector<std::int64_t> handed_;       // sessions whose next request has arrived
  // Pipeline (pp > 1): see the header comment.
  void request_start();
  void start_micro_batch();
  void finish_micro_batch();
  struct MicroBatch {
    StepPlan plan;
    SimTime start = 0;
    std::int64_t energy_nj = 0;  // its dynamic energy (counted once it has ended)
  };

  // Speculative decoding: draws the accepted proposals of the plan's verify sequences.
  void draw_acceptance(StepPlan& plan);

  std::int32_t id_;
  ReplicaContext ctx_;
  Rng spec_rng_;
  std::unique_ptr<IKvManager> kv_;
  std::unique_ptr<IScheduler> sched_;
  Executor exec_;
  ITraceSink* trace_ = nullptr;
  State state_ = State::kIdle;
  StepPlan plan_;
  StepEvents events_;
  std::vector<Request*> ff_reqs_;
  std::vector<std::int64_t> ff_tokens_;
  // The run in progress: step 0 (formed by the scheduler) and run_k_ merged steps;
  // ends_[i] is the end of step i; charges_[i - 1] the deferred breakdown of merged step i.
  static constexpr std::size_t kFirstChunk = 8;
  std::size_t run_k_ = 0;    // merged steps priced (the run ends after step run_k_ unless extended)
  std::size_t run_max_ = 0;  // merged steps the run may reach
  std::vector<SimTime> ends_;
  std::vector<Executor::Charge> charges_;
  std::vector<SimTime> merged_dt_;
  std::size_t applied_ = 0;    // steps of the run whose tokens are applied (< run_k_)
  std::size_t allocated_ = 0;  // merged steps whose KV is allocated
  EventId end_event_ = 0;
  std::int64_t merged_steps_ = 0;
  SimTime step_start_ = 0;
  SimTime last_step_ = 0;
  ReplicaStats stats_;
  // Pipeline: the stages, the micro-batches in flight (a ring, oldest at head_), the
  // requests they hold, whether a start event is pending, and the last completion.
  std::optional<PipelineTimeline> pipe_;
  std::vector<MicroBatch> ring_;
  std::size_t head_ = 0, count_ = 0;
  std::vector<Request*> flying_;
  bool start_pending_ = false;
  SimTime last_done_ = 0;
};

}  // namespace servesim
