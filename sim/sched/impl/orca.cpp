// Orca's iteration-level scheduling (Yu et al., OSDI 2022, §4.2 and Algorithm 1).
// Contract: each step (iteration),
//  1. Every running request runs one iteration: the rest of its known tokens, which after
//     its first iteration is one decode token. Prompts are never chunked.
//  2. Then waiting requests join in arrival order (FCFS) while the batch holds fewer than
//     max_batch_size requests and the step stays within max_step_tokens; the first that
//     does not fit stops admission (head-of-line).
//  3. Admission reserves KV for the request's maximum length at once: prompt + max_tokens
//     (Orca's worst-case reservation: the slots for the whole output are held from the
//     first iteration); a request whose reservation does not fit waits. With the
//     reservation a running request never runs short of KV, so nothing is preempted (a
//     request adopted from another replica without a reservation grows step by step, and
//     if that fails the newest running request is recomputed).
//  4. A request whose prompt exceeds max_step_tokens, or whose reservation exceeds the KV
//     capacity, is rejected.
#include <algorithm>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class OrcaScheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t max_batch_size = 0;
    std::int64_t max_step_tokens = 0;
    std::int64_t max_tokens = 0;
    // Admissions keep a step within max_step_tokens; decodes alone are one token a request.
    StepBudgets exports() const { return {std::max(max_step_tokens, max_batch_size), max_batch_size}; }
    static Config parse(Params& p) {
      Config c;
      c.max_batch_size = p.integer("max_batch_size", 256, "most requests in the batch (Orca's max batch size)", 1, kMaxStepSeqs);
      c.max_step_tokens = p.integer("max_step_tokens", 8192,
                                    "most tokens of one iteration (bounds the activation memory; a whole prompt must fit)", 1,
                                    kMaxStepTokens);
      c.max_tokens = parse_max_tokens(p);
      return c;
    }
  };

  OrcaScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_batch_size), c_(c) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    std::int64_t tokens = 0;
    for (std::size_t i = 0; i < running_.size(); ++i) {
      Request* r = running_[i];
      const std::int64_t want = r->num_tokens() - r->num_computed;
      if (want <= 0) continue;
      if (!allocate_or_preempt(r, r->num_tokens(), PreemptMode::kRecompute, plan)) break;
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(want), r->num_computed});
      tokens += want;
    }
    while (plan.preempted.empty() && !waiting_.empty() && !full()) {
      Request* r = waiting_.front();
      const std::int64_t resident = resident_on_admit(*r);
      const std::int64_t want = r->num_tokens() - resident;
      if (tokens + want > c_.max_step_tokens) break;
      if (!kv_.allocate(*r, reservation(*r, c_.max_tokens), plan.kv_work)) break;
      waiting_.pop_front();
      admit(r, now, resident, plan, want);
      tokens += want;
    }
    plan.num_tokens = tokens;
  }

 private:
  bool accepts(const Request& r) const override {
    return r.spec.prompt_tokens <= c_.max_step_tokens && reservation(r, c_.max_tokens) <= kv_.capacity_tokens();
  }

  Config c_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, OrcaScheduler, "orca",
                  "Orca iteration-level scheduling: FCFS, whole prompts, KV reserved for each request's maximum length")

}  // namespace servesim
