// vLLM v0's scheduler (vllm/core/scheduler.py as of v0.6, block manager v1 semantics).
// Contract: each step, without chunked prefill (the v0 default),
//  1. Prefill first: when no request is swapped out, waiting requests are admitted in
//     arrival order (FCFS) with their whole prompt while the prompts fit the token budget
//     (max_num_batched_tokens), the running set stays within max_num_seqs, and KV for the
//     request's known tokens can be allocated leaving at least watermark x all blocks free
//     (v0's admission watermark; waived when nothing runs). The first that does not fit
//     stops admission. A step that admitted anybody is all prefill.
//  2. Otherwise the step is all decode: every running request, in admission order, takes
//     one token; one that cannot get a KV slot preempts the newest running request, by
//     recompute (back to the front of the waiting queue) or by swap (into the swapped
//     queue; recompute when the swap space is full).
//  3. Then, if nothing was preempted in this step, swapped requests are swapped back in
//     (FCFS, same watermark) and decode in the same step.
// With enable_chunked_prefill (v0's _schedule_chunked_prefill): running requests first in
// admission order, each catching up min(rest, budget left) tokens (decodes and prompt
// chunks in one step), then swapped requests, then waiting ones with a chunk of their
// prompt, the last two only if nothing was preempted.
// Admission allocates KV for every known token of the request (v0 allocates the whole
// prompt's blocks at once). A prompt longer than the budget (without chunking), or one
// that cannot fit above the watermark, is rejected.
#include <algorithm>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class VllmV0Scheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t max_num_batched_tokens = 0;
    std::int64_t max_num_seqs = 0;
    bool chunked_prefill = false;
    double watermark = 0;
    PreemptMode preemption_mode = PreemptMode::kRecompute;
    StepBudgets exports() const { return {max_num_batched_tokens, max_num_seqs}; }
    static Config parse(Params& p) {
      Config c;
      c.max_num_batched_tokens = p.integer("max_num_batched_tokens", 8192, "token budget of one step", 1, kMaxStepTokens);
      c.max_num_seqs = p.integer("max_num_seqs", 256, "most requests running at once", 1, kMaxStepSeqs);
      c.chunked_prefill = p.boolean("enable_chunked_prefill", false, "mix decodes and prompt chunks in one step");
      c.watermark = p.real("watermark", 0.01, "fraction of KV blocks an admission must leave free (v0 block manager)", 0.0, 1.0);
      c.preemption_mode = parse_preemption_mode(p);
      return c;
    }
  };

  VllmV0Scheduler(const Config& c, const SchedulerDeps& deps)
      : QueueScheduler(deps, c.max_num_seqs),
        c_(c),
        watermark_blocks_(static_cast<std::int64_t>(c.watermark * static_cast<double>(deps.kv.capacity_tokens() / deps.kv.kernel_block_size()))) {}

  std::size_t num_waiting() const override { return waiting_.size() + swapped_.size(); }

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    std::int64_t used = 0;
    if (c_.chunked_prefill) {
      used = run_running(plan, used);
      if (plan.preempted.empty()) {
        used = swap_in(now, plan, used);
        used = admit_prefills(now, plan, used);
      }
    } else {
      if (swapped_.empty()) used = admit_prefills(now, plan, used);
      if (plan.seqs.empty()) {
        used = run_running(plan, used);
        if (plan.preempted.empty()) used = swap_in(now, plan, used);
      }
    }
    plan.num_tokens = used;
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override {
    return pure_decode_repeats(plan);  // num_waiting() counts the swapped queue
  }

 private:
  bool accepts(const Request& r) const override {
    if (!c_.chunked_prefill && r.spec.prompt_tokens > c_.max_num_batched_tokens) return false;
    return blocks_for(r.spec.prompt_tokens) <= kv_.capacity_tokens() / kv_.kernel_block_size() - watermark_blocks_;
  }
  void requeue(Request* r) override {
    if (kv_.swapped_tokens(*r) > 0) {
      swapped_.push_back(r);
    } else {
      waiting_.push_front(r);
    }
  }
  // Whether r's known tokens can be allocated above the watermark.
  bool above_watermark(const Request& r) const {
    return running_.empty() || free_blocks() - blocks_for(r.num_tokens()) >= watermark_blocks_;
  }

  std::int64_t run_running(StepPlan& plan, std::int64_t used) {
    for (std::size_t i = 0; i < running_.size() && used < c_.max_num_batched_tokens; ++i) {
      Request* r = running_[i];
      const std::int64_t want = std::min(r->num_tokens() - r->num_computed, c_.max_num_batched_tokens - used);
      if (!allocate_or_preempt(r, r->num_computed + want, c_.preemption_mode, plan)) break;
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(want), r->num_computed});
      used += want;
    }
    return used;
  }

  std::int64_t swap_in(SimTime now, StepPlan& plan, std::int64_t used) {
    while (!swapped_.empty() && !full() && used < c_.max_num_batched_tokens) {
      Request* r = swapped_.front();
      const std::int64_t resident = kv_.swapped_tokens(*r);
      const std::int64_t want = std::min(r->num_tokens() - resident, c_.max_num_batched_tokens - used);
      if (!above_watermark(*r) || !kv_.allocate(*r, r->num_tokens(), plan.kv_work)) break;
      swapped_.pop_front();
      admit(r, now, resident, plan, want);
      used += want;
    }
    return used;
  }

  std::int64_t admit_prefills(SimTime now, StepPlan& plan, std::int64_t used) {
    while (!waiting_.empty() && !full() && used < c_.max_num_batched_tokens) {
      Request* r = waiting_.front();
      const std::int64_t resident = resident_on_admit(*r);
      std::int64_t want = r->num_tokens() - resident;
      if (!c_.chunked_prefill && want > c_.max_num_batched_tokens - used) break;
      want = std::min(want, c_.max_num_batched_tokens - used);
      if (!above_watermark(*r) || !kv_.allocate(*r, r->num_tokens(), plan.kv_work)) break;
      waiting_.pop_front();
      admit(r, now, resident, plan, want);
      used += want;
    }
    return used;
  }

  Config c_;
  std::int64_t watermark_blocks_;
  std::deque<Request*> swapped_;  // preempted by swap, FCFS
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, VllmV0Scheduler, "vllm_v0",
                  "vLLM v0: prefill-first steps (all prefill or all decode unless chunked), admission watermark, "
                  "swapped queue, preemption of the newest by recompute or swap")

}  // namespace servesim
