// Nexus's intra-GPU prefill/decode disaggregation (Shi et al. 2025, arXiv 2507.06608): the
// decode batch and a prefill chunk run side by side on one GPU with a dynamic SM partition.
// Contract: each step,
//  1. Running requests that decode come first, in admission order, one token each. When
//     one cannot get a KV slot, the newest running request is preempted (recompute, or swap
//     with preemption_mode "swap") and returns to the front of the waiting queue; a step
//     that preempted admits nobody.
//  2. Then the prefill stream: admitted requests whose prompt is partly done, in admission
//     order, then the waiting queue (FCFS) while max_num_seqs allows, each taking
//     min(rest of its prompt, prefill_chunk left) tokens; the step's prefill tokens never
//     exceed prefill_chunk, whatever the number of decodes.
//  3. Admission allocates KV for the request's whole known tokens at once; a request that
//     does not fit blocks the queue.
//  4. The plan asks the executor to co-locate (StepPlan::colocate_tpot_ns): a step with both
//     streams runs them side by side on SM shares s and 1 - s chosen per step by
//     sim/serving/colocate.h's rule (the smallest decode share that meets tpot_target, or
//     more where that balances the streams); a step with one stream runs it on the whole GPU.
#include <limits>

#include "sim/core/error.h"
#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class NexusScheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t prefill_chunk = 0;
    std::int64_t max_num_seqs = 0;
    SimTime tpot_target = 0;
    double sm_grid = 0;
    PreemptMode preemption_mode = PreemptMode::kRecompute;
    StepBudgets exports() const { return {max_num_seqs + prefill_chunk, max_num_seqs}; }
    static Config parse(Params& p) {
      Config c;
      c.prefill_chunk = p.integer("prefill_chunk", 512, "most prompt tokens of one step's prefill stream, all requests together", 1, kMaxStepTokens);
      c.max_num_seqs = p.integer("max_num_seqs", 128, "most requests running at once", 1, kMaxStepSeqs);
      c.tpot_target = p.duration("tpot_target", "50ms", "the decode stream's per-step target: the smallest SM share that meets it goes to decode", 1);
      c.sm_grid = p.real("sm_grid", 0.05, "step of the SM-share grid the partition is chosen on (shares g, 2g, ..., 1 - g)", 0.01, 0.5);
      c.preemption_mode = parse_preemption_mode(p);
      return c;
    }
  };

  NexusScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_num_seqs), c_(c) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    std::int64_t decodes = 0, prefill = 0;
    bool preempted_any = false;
    // 1. The decode stream.
    decodes = schedule_decodes(std::numeric_limits<std::int64_t>::max(), c_.preemption_mode, plan, preempted_any);
    // 2. The prefill stream: partial prompts of admitted requests (KV already allocated)...
    for (Request* r : running_) {
      if (decoding(*r) || prefill >= c_.prefill_chunk) continue;
      const std::int64_t n = std::min(r->num_tokens() - r->num_computed, c_.prefill_chunk - prefill);
      const bool held = kv_.allocate(*r, r->num_tokens(), plan.kv_work);
      SERVESIM_ASSERT(held);
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(n), r->num_computed});
      prefill += n;
    }
    // ... then new requests, FCFS, while nothing was preempted.
    while (!preempted_any && !waiting_.empty() && prefill < c_.prefill_chunk && !full()) {
      Request* r = waiting_.front();
      const std::int64_t resident = resident_on_admit(*r);
      const std::int64_t n = std::min(r->num_tokens() - resident, c_.prefill_chunk - prefill);
      if (n <= 0) break;
      if (!kv_.allocate(*r, r->num_tokens(), plan.kv_work)) break;  // head-of-line blocking
      waiting_.pop_front();
      admit(r, now, resident, plan, n);
      prefill += n;
    }
    plan.num_tokens = decodes + prefill;
    plan.colocate_tpot_ns = static_cast<double>(c_.tpot_target);
    plan.colocate_grid = c_.sm_grid;
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override { return pure_decode_repeats(plan); }

 private:
  Config c_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, NexusScheduler, "nexus",
                  "Nexus intra-GPU disaggregation: the decode batch and a prefill chunk side by side on SM shares chosen per step")

}  // namespace servesim
