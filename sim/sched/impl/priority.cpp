// vLLM's priority scheduling policy (v1's `--scheduling-policy priority` on the v1 step,
// with v0's `_schedule_priority_preemption` of running requests for a waiting one).
// Contract:
//  1. A lower `priority` value is more urgent (vLLM's convention); ties go to the earlier
//     arrival, then the lower id.
//  2. The waiting queue is kept in that order; a preempted request re-enters it by its
//     priority, not at the front.
//  3. The running list is kept in that order too, so vLLM v1's step (token budget, running
//     requests first, chunked prefill, head-of-line blocking; see vllm_v1.cpp) serves the
//     most urgent first, and KV shortage preempts the last running request: the least
//     urgent, latest arrival.
//  4. Before the step, while the most urgent waiting request cannot get the KV blocks of
//     its next chunk and the last running request is strictly less urgent, that running
//     request is preempted (recompute, or swap with preemption_mode "swap").
//  5. A request's priority is its priority now: a request with a priority trace (the
//     workload's priority changes, FastSwitch's dynamic priorities) takes the trace's value
//     at the step's start, and both queues are re-ordered then, so a request whose priority
//     rose preempts by rule 4 one that fell.
#include <algorithm>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class PriorityScheduler final : public QueueScheduler {
 private:
  // Rule 5: the priority now (the one at the last step's start).
  std::int32_t priority(const Request* r) const {
    return r->spec.priority_trace ? r->spec.priority_trace->at(now_, r->spec.priority) : r->spec.priority;
  }
  auto urgent() const {
    return [this](const Request* a, const Request* b) { return more_urgent(a, b); };
  }
  // Rule 1.
  bool more_urgent(const Request* a, const Request* b) const {
    const std::int32_t pa = priority(a), pb = priority(b);
    if (pa != pb) return pa < pb;
    if (a->spec.arrival != b->spec.arrival) return a->spec.arrival < b->spec.arrival;
    return a->spec.id < b->spec.id;
  }

 public:
  using Config = BudgetConfig;

  PriorityScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_num_seqs), c_(c) {}

  bool add(Request* r) override {
    if (!admissible(*r)) return false;
    dynamic_ = dynamic_ || r->spec.priority_trace != nullptr;
    r->state = RequestState::kWaiting;
    requeue(r);
    return true;
  }

  void adopt(Request* r) override {
    QueueScheduler::adopt(r);
    dynamic_ = dynamic_ || r->spec.priority_trace != nullptr;
    std::stable_sort(running_.begin(), running_.end(), urgent());
  }

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    now_ = now;
    if (dynamic_) {  // rule 5: priorities as of now
      std::stable_sort(waiting_.begin(), waiting_.end(), urgent());
      std::stable_sort(running_.begin(), running_.end(), urgent());
    }
    while (!waiting_.empty() && !running_.empty() && priority(waiting_.front()) < priority(running_.back()) &&
           blocks_short(*waiting_.front())) {
      Request* victim = running_.back();
      running_.pop_back();
      preempt(victim, c_.rules.preemption_mode, plan);
    }
    schedule_budget(now, plan, c_.rules);
    std::stable_sort(running_.begin(), running_.end(), urgent());
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override { return pure_decode_repeats(plan); }
  bool speculates() const override { return true; }

 private:
  bool accepts(const Request& r) const override {
    return c_.rules.chunked_prefill || r.spec.prompt_tokens <= c_.rules.max_tokens;
  }
  void requeue(Request* r) override { waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), r, urgent()), r); }


  // Whether r's next chunk needs more new blocks than are free (cached prefix blocks are
  // shared, swapped-out ones are copied back into new blocks).
  bool blocks_short(const Request& r) const {
    const std::int64_t swapped = kv_.swapped_tokens(r);
    const std::int64_t resident = swapped > 0 ? swapped : resident_on_admit(r);
    std::int64_t want = r.num_tokens() - resident;
    if (c_.rules.long_prefill_token_threshold > 0) want = std::min(want, c_.rules.long_prefill_token_threshold);
    want = std::min(want, c_.rules.max_tokens);
    const std::int64_t need = blocks_for(resident + want) - (swapped > 0 ? 0 : blocks_for(resident));
    return need > free_blocks();
  }

  Config c_;
  SimTime now_ = 0;
  bool dynamic_ = false;  // some request's priority changes over time
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, PriorityScheduler, "priority",
                  "vLLM priority policy: waiting and running ordered by (priority, arrival); the least urgent is preempted, "
                  "also to make room for a more urgent waiting request")

}  // namespace servesim
