// vLLM v1's scheduler: one token budget per step; running requests first (each catches its
// computed tokens up with its known tokens, so prefill and decode share a step), then
// waiting requests in arrival order while budget, max_num_seqs and KV memory allow.
// When a running request cannot get KV blocks, the most recently admitted running request
// is preempted (it returns to the front of the waiting queue): by recompute (its KV is
// dropped, num_computed returns to 0), or with preemption_mode "swap" by swapping its KV
// out to host memory (it resumes with its computed tokens after a swap-in copy; when the
// swap space is full the manager falls back to recompute). A waiting
// request that does not fit blocks the ones behind it (head-of-line blocking). With
// chunked prefill a prompt may be split over steps; without it a prompt must fit whole.
#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class VllmV1Scheduler final : public QueueScheduler {
 public:
  using Config = BudgetConfig;

  VllmV1Scheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_num_seqs), c_(c) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    schedule_budget(now, plan, c_.rules);
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override { return pure_decode_repeats(plan); }
  bool speculates() const override { return true; }

 private:
  bool accepts(const Request& r) const override {
    return c_.rules.chunked_prefill || r.spec.prompt_tokens <= c_.rules.max_tokens;
  }

  Config c_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, VllmV1Scheduler, "vllm_v1",
                  "vLLM v1: token budget, running first, chunked prefill, preemption of the newest (recompute or swap)")

}  // namespace servesim
