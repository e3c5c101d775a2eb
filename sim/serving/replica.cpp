#include "sim/serving/replica.h"

#include <algorithm>

#include "sim/core/error.h"

namespace servesim {

Replica::Replica(std::int32_t id, ReplicaContext ctx, std::unique_ptr<IKvManager> kv, std::unique_ptr<IScheduler> sched)
    : id_(id),
      ctx_(std::move(ctx)),
      spec_rng_(Rng::for_component(ctx_.exec.seed, "speculative/" + std::to_string(id))),
      kv_(std::move(kv)),
      sched_(std::move(sched)),
      exec_(ctx_.exec) {
  const ParallelDegrees& d = ctx_.exec.plan.degrees();
  if (d.pp > 1) {
    pipe_.emplace(d.pp);
    ring_.resize(static_cast<std::size_t>(d.micro_batches));
  }
}

void Replica::on_arrival(Request* r) {
  interrupt();
  if (r->replica < 0) r->replica = id_;
  auto pinned = r->spec.session >= 0 ? pins_.find(r->spec.session) : pins_.end();
  if (!sched_->add(r)) {
    r->reject();
    ctx_.metrics.on_reject(*r);
    ctx_.owner.on_released(r);
    if (pinned != pins_.end()) {
      unpin(r->spec.session);
      wake();  // room for requests waiting for it
    }
    return;
  }
  if (pinned != pins_.end() && pinned->second.next == nullptr) {
    pinned->second.next = r;
    handed_.push_back(r->spec.session);
  }
  wake();
}

void Replica::pin(Request* r) {
  if (pins_.count(r->spec.session)) unpin(r->spec.session);  // a session's calls run one after another
  Pin& p = pins_[r->spec.session];
  p.holder = std::make_unique<Request>(*r);
  r->kv_slot = -1;  // the holder owns the slot now
  const std::int64_t session = r->spec.session;
  p.expiry = ctx_.queue.schedule_in(r->spec.kv_ttl, EventPriority::kTransfer, [this, session] {
    pins_.at(session).expiry = 0;
    interrupt();
    unpin(session);
    wake();  // room for requests waiting for it
  });
}

void Replica::unpin(std::int64_t session) {
  auto it = pins_.find(session);
  SERVESIM_ASSERT(it != pins_.end());
  if (it->second.expiry != 0) ctx_.queue.cancel(it->second.expiry);
  kv_->free(*it->second.holder);
  pins_.erase(it);
  std::erase(handed_, session);
}

void Replica::adopt(Request* r) {
  interrupt();
  sched_->adopt(r);
  wake();
}

void Replica::wake() {
  if (pipe_) {
    request_start();
    return;
  }
  if (state_ != State::kIdle) return;
  state_ = State::kStartPending;
  ctx_.queue.schedule_at(ctx_.queue.now(), EventPriority::kStepStart, [this] { start_step(); });
}

ReplicaLoad Replica::load() const {
  const KvUsage u = kv_->usage();
  return ReplicaLoad{static_cast<std::int64_t>(sched_->num_waiting()), static_cast<std::int64_t>(sched_->num_running()),
                     u.capacity_tokens > 0 ? static_cast<double>(u.used_tokens) / static_cast<double>(u.capacity_tokens) : 0.0};
}

SimTime Replica::cost_step(const StepPlan& plan) {
  return exec_.cost_step(plan, KvLayout{kv_->paged_layout(), kv_->kernel_block_size(), kv_->token_drop()});
}

void Replica::draw_acceptance(StepPlan& plan) {
  if (!ctx_.speculative) return;
  for (ScheduledSeq& s : plan.seqs) {
    if (s.draft > 0) s.accepted = draw_accepted(ctx_.speculative->acceptance, s.draft, spec_rng_);
  }
}

void Replica::start_step() {
  sched_->schedule(ctx_.queue.now(), plan_);
  draw_acceptance(plan_);
  if (plan_.seqs.empty()) {
    state_ = State::kIdle;
    // Nothing runnable while requests wait would be a deadlock; admission rejects requests
    // that can never fit, so with nothing running every waiting request fits, unless KV
    // placed for requests still in flight holds the room (their adoption wakes us).
    // Pinned KV (a time-to-live) also holds room until it expires (its expiry wakes us).
    SERVESIM_ASSERT(sched_->num_running() > 0 || sched_->num_waiting() == 0 || ctx_.owner.holds_moving_kv(*this) ||
                    !pins_.empty());
    return;
  }
  state_ = State::kBusy;
  step_start_ = ctx_.queue.now();
  const std::array<SimTime, 8> before = trace_ ? exec_.ns_by_class() : std::array<SimTime, 8>{};
  const SimTime dt = std::max<SimTime>(1, cost_step(plan_));
  if (trace_) {
    for (const Request* r : plan_.preempted) trace_->on_preempted(id_, r->spec.id, step_start_);
    trace_step(plan_, step_start_, step_start_ + dt, before, false);
  }
  ctx_.metrics.on_step(exec_.step_seqs(), plan_.num_tokens, dt);
  ++stats_.steps;
  stats_.tokens += plan_.num_tokens;
  stats_.seqs += exec_.step_seqs();
  const bool merge = ctx_.fast_forward && !ctx_.speculative && !exec_.draws_routing() && !exec_.overlaps() &&
                     !exec_.host_offloads() && !exec_.shards_attention() && ctx_.owner.may_merge_steps(*this);
  run_k_ = 0;
  run_max_ = 0;
  ends_.assign(1, ctx_.queue.now() + dt);
  const SimTime end = merge ? plan_fast_forward(ctx_.queue.now() + dt) : ctx_.queue.now() + dt;
  end_event_ = ctx_.queue.schedule_at(end, EventPriority::kIterationEnd, [this] { on_run_event(); });
}

SimTime Replica::plan_fast_forward(SimTime end) {
  run_k_ = 0;
  run_max_ = 0;
  ends_.assign(1, end);
  applied_ = 0;
  allocated_ = 0;
  std::int64_t extra = sched_->repeatable_decode_steps(plan_);
  if (extra <= 0) return end;
  ff_reqs_.clear();
  for (const ScheduledSeq& s : plan_.seqs) ff_reqs_.push_back(s.req);
  extra = kv_->work_free_decode_steps(ff_reqs_, extra);
  if (extra <= 0) return end;
  // Every step until the first request would finish may join the run: a change at this
  // replica (sync, interrupt) cuts it where step-by-step execution would see it. The steps
  // are priced in growing chunks (kFirstChunk, then doubling), each ending in an event that
  // only extends the run, so a run cut early did not price steps that never ran.
  run_max_ = static_cast<std::size_t>(extra);
  if (charges_.size() < run_max_) charges_.resize(run_max_);
  merged_dt_.resize(run_max_);
  extend_run(kFirstChunk);
  return ends_.back();
}

void Replica::extend_run(std::size_t steps) {
  const std::size_t k = std::min(run_max_, run_k_ + steps);
  SimTime end = ends_.back();
  for (std::size_t i = run_k_; i < k; ++i) {
    const SimTime dt = std::max<SimTime>(1, exec_.cost_repeated_decode_step(&charges_[i]));
    merged_dt_[i] = dt;
    end += dt;
    ends_.push_back(end);
  }
  run_k_ = k;
}

void Replica::on_run_event() {
  if (run_k_ < run_max_) {
    // The run goes on: price its next chunk (twice the steps priced so far).
    extend_run(run_k_);
    end_event_ = ctx_.queue.schedule_at(ends_.back(), EventPriority::kIterationEnd, [this] { on_run_event(); });
    return;
  }
  end_step();
}

bool Replica::ended(SimTime e) const {
  const SimTime now = ctx_.queue.now();
  return e < now || (e == now && ctx_.queue.current_priority() > EventPriority::kIterationEnd);
}

void Replica::apply_run(std::size_t n) {
  SERVESIM_ASSERT(n <= run_k_);
  // Merged step i starts when step i - 1 ends: steps 1..n have started.
  if (n > allocated_) {
    ff_tokens_.clear();
    for (const ScheduledSeq& s : plan_.seqs) ff_tokens_.push_back(s.context + 1 + static_cast<std::int64_t>(allocated_));
    kv_->allocate_decode_steps(ff_reqs_, ff_tokens_, static_cast<std::int64_t>(n - allocated_));
    allocated_ = n;
  }
  if (n <= applied_) return;
  // Steps applied_..n-1 ended: every request decodes one token per step.
  const auto count = static_cast<std::int64_t>(plan_.seqs.size());
  for (std::size_t i = applied_; i < n; ++i) {
    for (const ScheduledSeq& s : plan_.seqs) {
      const bool sampled = s.req->advance(1, ends_[i]);
      SERVESIM_ASSERT(sampled);
      if (i == 0) ctx_.metrics.on_token(*s.req);
    }
    if (i > 0) ctx_.metrics.on_tokens(ends_[i] - ends_[i - 1], count);
  }
  for (const ScheduledSeq& s : plan_.seqs) kv_->commit(*s.req);
  applied_ = n;
}

void Replica::sync() {
  if (state_ != State::kBusy || run_k_ == 0) return;
  std::size_t n = applied_;
  while (n < run_k_ && ended(ends_[n])) ++n;
  apply_run(n);
}

std::int64_t Replica::ended_energy_nj() const {
  std::int64_t e = exec_.dynamic_energy_nj();
  if (pipe_) {
    for (std::size_t i = 0; i < count_; ++i) e -= ring_[(head_ + i) % ring_.size()].energy_nj;
    return e;
  }
  if (state_ != State::kBusy) return e;
  // A step priced by cost_step() was accounted at once: not counted while it runs. In a
  // merged run, ends_[0] ends that first step and ends_[i + 1] merged step i, whose charges
  // are accounted only at the run's end.
  if (run_k_ == 0 || applied_ == 0) return e - exec_.last_step_energy_nj();
  for (std::size_t i = 0; i + 1 < applied_; ++i) e += exec_.charge_energy_nj(charges_[i]);
  return e;
}

void Replica::interrupt() {
  if (state_ != State::kBusy || run_k_ == 0) return;
  sync();
  // Step applied_ is in progress: it becomes the last; the merged steps after it never run.
  run_max_ = applied_;
  if (applied_ == run_k_) return;  // the event at its end is already scheduled
  run_k_ = applied_;
  ends_.resize(run_k_ + 1);
  ctx_.queue.cancel(end_event_);
  end_event_ = ctx_.queue.schedule_at(ends_[run_k_], EventPriority::kIterationEnd, [this] { on_run_event(); });
}

void Replica::trace_step(const StepPlan& plan, SimTime start, SimTime end, const std::array<SimTime, 8>& before,
                         bool merged) {
  StepTrace t;
  t.replica = id_;
  t.start = start;
  t.end = end;
  t.merged = merged;
  t.plan = &plan;
  for (const ScheduledSeq& s : plan.seqs) {
    ++t.seqs;
    const std::int64_t tokens = merged ? 1 : s.new_tokens;
    t.tokens += tokens;
    if (!merged && ((s.new_tokens > 1 && s.draft == 0) || s.context < s.req->spec.prompt_tokens)) {
      ++t.prefill_seqs;
      t.prefill_tokens += tokens;
    }
  }
  const std::array<SimTime, 8>& now = exec_.ns_by_class();
  for (std::size_t c = 0; c < now.size(); ++c) t.ns_by_class[c] = now[c] - before[c];
  trace_->on_step(t);
}

void Replica::end_step() {
  if (run_k_ > 0) {
    // Steps before the last, and the last one's KV; then its breakdown and step metrics.
    apply_run(run_k_);
    for (std::size_t i = 0; i < run_k_; ++i) {
      const std::array<SimTime, 8> before = trace_ ? exec_.ns_by_class() : std::array<SimTime, 8>{};
      exec_.account(charges_[i]);
      if (trace_) trace_step(plan_, ends_[i], ends_[i + 1], before, true);
      ctx_.metrics.on_step(exec_.step_seqs(), plan_.num_tokens, merged_dt_[i]);
      ++stats_.steps;
      stats_.tokens += plan_.num_tokens;
      stats_.seqs += exec_.step_seqs();
    }
    const auto merged = static_cast<std::int64_t>(run_k_);
    for (ScheduledSeq& s : plan_.seqs) s.context += merged;
    merged_steps_ += merged;
    run_k_ = 0;
    run_max_ = 0;
  }
  const SimTime now = ctx_.queue.now();
  last_step_ = now - step_start_;
  stats_.busy += last_step_;
  finish_step(plan_);
  start_step();
}

void Replica::finish_step(const StepPlan& plan) {
  const SimTime now = ctx_.queue.now();
  sched_->update(now, plan, events_);
  for (Request* r : events_.sampled) {
    if (ctx_.prefill_only && r->state == RequestState::kRunning && r->num_generated == 1) {
      // Prompt done on a prefill replica: the request leaves with its KV; its first token
      // reaches the user when decoding starts elsewhere.
      sched_->detach(r);
      r->hand_off();
      ++stats_.prefilled;
      ctx_.owner.on_prefilled(*this, r);
      continue;
    }
    ctx_.metrics.on_token(*r);
  }
  for (std::size_t i = 0; i < handed_.size();) {  // pins whose next request has been admitted
    const std::int64_t s = handed_[i];
    if (pins_.at(s).next->first_scheduled >= 0) {
      unpin(s);  // removes s from handed_
    } else {
      ++i;
    }
  }
  for (Request* r : events_.finished) {
    if (r->kv_slot >= 0) pin(r);  // finished with a KV time-to-live (apply_step kept the slot)
    ctx_.metrics.on_finish(*r);
    ctx_.owner.on_released(r);
  }
  ctx_.owner.on_step_end(*this);
}

void Replica::request_start() {
  if (start_pending_ || count_ >= ring_.size()) return;
  start_pending_ = true;
  if (state_ == State::kIdle) state_ = State::kStartPending;
  const SimTime at = std::max(ctx_.queue.now(), pipe_->stage_free(0));
  ctx_.queue.schedule_at(at, EventPriority::kStepStart, [this] { start_micro_batch(); });
}

void Replica::start_micro_batch() {
  start_pending_ = false;
  const SimTime now = ctx_.queue.now();
  flying_.clear();
  for (std::size_t i = 0; i < count_; ++i) {
    for (const ScheduledSeq& s : ring_[(head_ + i) % ring_.size()].plan.seqs) flying_.push_back(s.req);
  }
  MicroBatch& mb = ring_[(head_ + count_) % ring_.size()];
  sched_->schedule_around(now, mb.plan, flying_);
  draw_acceptance(mb.plan);
  if (mb.plan.seqs.empty()) {
    if (count_ > 0) return;  // the next completion retries
    state_ = State::kIdle;
    SERVESIM_ASSERT(sched_->num_running() > 0 || sched_->num_waiting() == 0 || ctx_.owner.holds_moving_kv(*this) ||
                    !pins_.empty());
    return;
  }
  if (count_ == 0) last_done_ = now;  // the pipeline was empty: busy time restarts here
  state_ = State::kBusy;
  const std::array<SimTime, 8> before = trace_ ? exec_.ns_by_class() : std::array<SimTime, 8>{};
  cost_step(mb.plan);
  mb.start = now;
  mb.energy_nj = exec_.last_step_energy_nj();
  const PipelineTimeline::Pass pass = pipe_->enter(now, exec_.stage_ns(), exec_.handoff_ns());
  ++count_;
  if (trace_) {
    for (const Request* r : mb.plan.preempted) trace_->on_preempted(id_, r->spec.id, now);
    trace_step(mb.plan, now, pass.done, before, false);
  }
  ++stats_.steps;
  stats_.tokens += mb.plan.num_tokens;
  stats_.seqs += exec_.step_seqs();
  // Micro-batches leave the last stage in the order they entered (FIFO stages), so the
  // completion events come in ring order.
  ctx_.queue.schedule_at(std::max(pass.done, now + 1), EventPriority::kIterationEnd, [this] { finish_micro_batch(); });
  request_start();
}

void Replica::finish_micro_batch() {
  SERVESIM_ASSERT(count_ > 0);
  MicroBatch& mb = ring_[head_];
  head_ = (head_ + 1) % ring_.size();
  --count_;
  const SimTime now = ctx_.queue.now();
  // Busy time is the union of the micro-batches' flights: starts and ends both come in
  // ring order, so each adds what lies after the previous end.
  const SimTime added = now - std::max(mb.start, last_done_);
  last_done_ = now;
  last_step_ = now - mb.start;
  stats_.busy += added;
  ctx_.metrics.on_step(static_cast<std::int64_t>(mb.plan.seqs.size()), mb.plan.num_tokens, added);
  finish_step(mb.plan);
  if (count_ == 0 && !start_pending_) state_ = State::kIdle;
  request_start();
}

}  // namespace servesim
