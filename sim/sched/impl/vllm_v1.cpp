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
// With queue_order "program" (Continuum's program-aware order) a request joins the waiting
// queue by its agent program's arrival (the first call's; a request outside a program by
// its own), then its own arrival, then id: a program's returning call goes ahead of every
// call of later programs (FCFS over programs, not calls). Preempted requests still return
// to the front.
#include <iterator>
#include <tuple>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class VllmV1Scheduler final : public QueueScheduler {
 public:
  struct Config {
    BudgetConfig budget;
    bool program_order = false;
    StepBudgets exports() const { return budget.exports(); }
    static Config parse(Params& p) {
      Config c;
      c.budget = BudgetConfig::parse(p);
      if (p.has("queue_order") || p.doc_mode()) {  // absent: arrival, and not in the resolved config
        c.program_order = p.choice("queue_order", "arrival", {"arrival", "program"},
                                   "waiting order: arrival (vLLM's FCFS) or program (Continuum: by the agent program's "
                                   "arrival, so a program's next call goes ahead of later programs)") == "program";
      }
      return c;
    }
  };

  VllmV1Scheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.budget.max_num_seqs), c_(c) {}

  bool add(Request* r) override {
    if (!c_.program_order) return QueueScheduler::add(r);
    if (!admissible(*r)) return false;
    r->state = RequestState::kWaiting;
    // After the last request that goes first (a scan from the back: new programs arrive last).
    auto it = waiting_.end();
    while (it != waiting_.begin() && program_first(*r, **std::prev(it))) --it;
    waiting_.insert(it, r);
    return true;
  }

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    schedule_budget(now, plan, c_.budget.rules);
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override {
    // Waiting requests are offered in order, the head first (arrival or program order):
    // one that stays out keeps the batch as it is (waiting_stays_out()).
    return pure_decode_repeats(plan, waiting_stays_out());
  }
  bool speculates() const override { return true; }

 private:
  bool accepts(const Request& r) const override {
    return c_.budget.rules.chunked_prefill || r.spec.prompt_tokens <= c_.budget.rules.max_tokens;
  }
  // Whether a goes before b in program order: (program arrival, arrival, id).
  static bool program_first(const Request& a, const Request& b) {
    const auto key = [](const Request& x) {
      return std::tuple(x.spec.program_arrival >= 0 ? x.spec.program_arrival : x.spec.arrival, x.spec.arrival, x.spec.id);
    };
    return key(a) < key(b);
  }

  Config c_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, VllmV1Scheduler, "vllm_v1",
                  "vLLM v1: token budget, running first, chunked prefill, preemption of the newest (recompute or swap)")

}  // namespace servesim
