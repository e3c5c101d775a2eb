#include "sim/serving/replica.h"

#include <algorithm>

#include "sim/core/error.h"

namespace servesim {

Replica::Replica(std::int32_t id, ReplicaContext ctx, std::unique_ptr<IKvManager> kv, std::unique_ptr<IScheduler> sched)
    : id_(id), ctx_(std::move(ctx)), kv_(std::move(kv)), sched_(std::move(sched)), exec_(ctx_.exec) {}

void Replica::on_arrival(Request* r) {
  if (r->replica < 0) r->replica = id_;
  if (!sched_->add(r)) {
    r->reject();
    ctx_.metrics.on_reject(*r);
    ctx_.owner.on_released(r);
    return;
  }
  wake();
}

void Replica::adopt(Request* r) {
  sched_->adopt(r);
  wake();
}

void Replica::wake() {
  if (state_ != State::kIdle) return;
  state_ = State::kStartPending;
  ctx_.queue.schedule_at(ctx_.queue.now(), EventPriority::kStepStart, [this] { start_step(); });
}

std::int64_t Replica::merged_steps_ended(const Request& r, SimTime now, bool including_now) const {
  if (ff_ends_.empty()) return 0;
  if (std::none_of(plan_.seqs.begin(), plan_.seqs.end(), [&](const ScheduledSeq& s) { return s.req == &r; })) return 0;
  std::int64_t n = 0;
  for (SimTime e : ff_ends_) n += (e < now || (including_now && e == now)) ? 1 : 0;
  return n;
}

ReplicaLoad Replica::load() const {
  const KvUsage u = kv_->usage();
  return ReplicaLoad{static_cast<std::int64_t>(sched_->num_waiting()), static_cast<std::int64_t>(sched_->num_running()),
                     u.capacity_tokens > 0 ? static_cast<double>(u.used_tokens) / static_cast<double>(u.capacity_tokens) : 0.0};
}

SimTime Replica::cost_step(const StepPlan& plan) {
  return exec_.cost_step(plan, KvLayout{kv_->paged_layout(), kv_->kernel_block_size()});
}

void Replica::start_step() {
  sched_->schedule(ctx_.queue.now(), plan_);
  if (plan_.seqs.empty()) {
    state_ = State::kIdle;
    // Nothing runnable while requests wait would be a deadlock; admission rejects requests
    // that can never fit, so with nothing running every waiting request fits, unless KV
    // placed for requests still in flight holds the room (their adoption wakes us).
    SERVESIM_ASSERT(sched_->num_running() > 0 || sched_->num_waiting() == 0 || ctx_.owner.holds_moving_kv(*this));
    return;
  }
  state_ = State::kBusy;
  step_start_ = ctx_.queue.now();
  const SimTime dt = std::max<SimTime>(1, cost_step(plan_));
  ctx_.metrics.on_step(exec_.step_seqs(), plan_.num_tokens, dt);
  ++stats_.steps;
  stats_.tokens += plan_.num_tokens;
  stats_.seqs += exec_.step_seqs();
  const bool merge = ctx_.fast_forward && ctx_.owner.may_merge_steps(*this);
  const SimTime end = merge ? plan_fast_forward(ctx_.queue.now() + dt) : ctx_.queue.now() + dt;
  ctx_.queue.schedule_at(end, EventPriority::kIterationEnd, [this] { end_step(); });
}

SimTime Replica::plan_fast_forward(SimTime end) {
  ff_ends_.clear();
  std::int64_t extra = sched_->repeatable_decode_steps(plan_);
  if (extra <= 0) return end;
  ff_reqs_.clear();
  for (const ScheduledSeq& s : plan_.seqs) ff_reqs_.push_back(s.req);
  extra = kv_->work_free_decode_steps(ff_reqs_, extra);
  // A step may be merged only if the one before it ends strictly before the next pending
  // event (an arrival at that instant would join the next batch), so no event can observe
  // the merged steps' requests half-way.
  const SimTime horizon = ctx_.queue.next_time();
  while (static_cast<std::int64_t>(ff_ends_.size()) < extra && end < horizon) {
    ff_ends_.push_back(end);
    const SimTime dt = std::max<SimTime>(1, exec_.cost_repeated_decode_step());
    ctx_.metrics.on_step(exec_.step_seqs(), plan_.num_tokens, dt);
    ++stats_.steps;
    stats_.tokens += plan_.num_tokens;
    stats_.seqs += exec_.step_seqs();
    end += dt;
  }
  // The merged steps' KV allocations, as the scheduler would make them step by step.
  const auto merged = static_cast<std::int64_t>(ff_ends_.size());
  if (merged > 0) {
    ff_tokens_.clear();
    for (const ScheduledSeq& s : plan_.seqs) ff_tokens_.push_back(s.context + 1);
    kv_->allocate_decode_steps(ff_reqs_, ff_tokens_, merged);
  }
  merged_steps_ += merged;
  return end;
}

void Replica::end_step() {
  if (!ff_ends_.empty()) {
    // Steps merged before the last: every request decodes one token per step.
    const auto n = static_cast<std::int64_t>(plan_.seqs.size());
    for (std::size_t i = 0; i < ff_ends_.size(); ++i) {
      for (const ScheduledSeq& s : plan_.seqs) {
        Request* r = s.req;
        const bool sampled = r->advance(1, ff_ends_[i]);
        SERVESIM_ASSERT(sampled);
        if (i == 0) ctx_.metrics.on_token(*r);
      }
      if (i > 0) ctx_.metrics.on_tokens(ff_ends_[i] - ff_ends_[i - 1], n);
    }
    const auto merged = static_cast<std::int64_t>(ff_ends_.size());
    for (ScheduledSeq& s : plan_.seqs) {
      kv_->commit(*s.req);
      s.context += merged;
    }
    ff_ends_.clear();
  }
  const SimTime now = ctx_.queue.now();
  last_step_ = now - step_start_;
  stats_.busy += last_step_;
  sched_->update(now, plan_, events_);
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
  for (Request* r : events_.finished) {
    ctx_.metrics.on_finish(*r);
    ctx_.owner.on_released(r);
  }
  ctx_.owner.on_step_end(*this);
  start_step();
}

}  // namespace servesim
