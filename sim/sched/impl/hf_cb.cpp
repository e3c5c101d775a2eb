// Hugging Face transformers continuous batching, FIFO scheduler (transformers 5.17
// `FIFOScheduler`, as documented in calibration/data/groundtruth/README.md). Per step:
//  1. Candidates in order: every admitted request that is decoding (its prompt is done),
//     then admitted requests whose prompt is partly prefilled, then the waiting queue
//     (FIFO). Admitted requests keep their admission order.
//  2. Before each candidate: when free KV blocks < safety_margin x all blocks and something
//     is already scheduled, only decoding requests may still join (the step stops at the
//     first other candidate).
//  3. A decode takes 1 token; a prompt takes min(remaining prompt, remaining budget)
//     tokens, so prefill is chunked to fill the token budget exactly; the remainder runs
//     in later steps, before new requests.
//  4. KV blocks are allocated lazily for this step's tokens. A candidate whose allocation
//     fails is skipped (the step stops if no block is free at all).
//  5. The step ends when the token budget or the request budget is used up.
//  6. If nothing could be scheduled while requests are admitted, the newest admitted
//     request is evicted (soft reset: its KV is dropped and it is recomputed later from
//     prompt + generated tokens; it goes back to the front of the waiting queue), newest
//     first, until something fits.
// After the step every request whose prompt is complete samples one token; finished
// requests free their blocks at once.
//
// Differences from the engine, on purpose: HF allocates ((need + 1) / block + 1) blocks
// when a request needs `need` more slots, one block more than ceil(need / block) when
// need is within one token of a block multiple; we allocate the exact ceil. This moves the
// safety-margin threshold by at most one block per request and never changes a batch
// unless the cache is within a few blocks of the margin.
#include <algorithm>
#include <vector>

#include "sim/core/error.h"
#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class HfCbScheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t max_batch_tokens = 0;
    std::int64_t max_requests_per_batch = 0;
    double safety_margin = 0;
    StepBudgets exports() const { return {max_batch_tokens, max_requests_per_batch}; }
    static Config parse(Params& p) {
      Config c;
      c.max_batch_tokens = p.integer("max_batch_tokens", 8192, "token budget of one step (transformers: max_batch_tokens)", 1, kMaxStepTokens);
      c.max_requests_per_batch =
          p.integer("max_requests_per_batch", 1024, "most requests in one step (transformers: max_requests_per_batch)", 1, kMaxStepSeqs);
      c.safety_margin = p.real("safety_margin", 0.15,
                               "fraction of KV blocks under which free space admits no new prompt into a non-empty step "
                               "(transformers FIFOScheduler safety_margin)",
                               0.0, 1.0);
      return c;
    }
  };

  HfCbScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_requests_per_batch), c_(c) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    form_step(now, plan);
    // Nothing fits although requests hold KV: evict the newest admitted request and retry.
    while (plan.seqs.empty() && !running_.empty()) {
      Request* victim = running_.back();
      running_.pop_back();
      preempt(victim, PreemptMode::kRecompute, plan);
      form_step(now, plan);
    }
  }

  // The same batch forms again under the shared pure-decode rule: the safety margin only
  // ever holds back non-decoding candidates, and nothing waits.
  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override { return pure_decode_repeats(plan); }

 private:
  void form_step(SimTime now, StepPlan& plan) {
    const std::int64_t num_blocks = kv_.capacity_tokens() / kv_.kernel_block_size();
    const double margin_blocks = c_.safety_margin * static_cast<double>(num_blocks);
    std::int64_t budget = c_.max_batch_tokens;

    candidates_.clear();
    for (Request* r : running_) {
      if (decoding(*r)) candidates_.push_back(r);
    }
    for (Request* r : running_) {
      if (!decoding(*r)) candidates_.push_back(r);
    }
    const std::size_t num_admitted = candidates_.size();
    for (Request* r : waiting_) candidates_.push_back(r);

    std::size_t taken_from_waiting = 0;
    for (std::size_t i = 0; i < candidates_.size(); ++i) {
      if (budget == 0 || static_cast<std::int64_t>(plan.seqs.size()) >= c_.max_requests_per_batch) break;
      Request* r = candidates_[i];
      const bool from_waiting = i >= num_admitted;
      if (!plan.seqs.empty() && !decoding(*r) && static_cast<double>(free_blocks()) < margin_blocks) break;
      const std::int64_t want = std::min(r->num_tokens() - r->num_computed, budget);
      SERVESIM_ASSERT(want > 0);
      if (!kv_.allocate(*r, r->num_computed + want, plan.kv_work)) {
        if (free_blocks() == 0) break;
        continue;  // skipped; a skipped waiting request keeps its place in the queue
      }
      if (from_waiting) {
        r->admit(now, r->num_computed, 0);
        running_.push_back(r);
        ++taken_from_waiting;
      }
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(want), r->num_computed});
      budget -= want;
    }
    if (taken_from_waiting > 0) {
      waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(),
                                    [](const Request* r) { return r->state == RequestState::kRunning; }),
                     waiting_.end());
    }
    plan.num_tokens = c_.max_batch_tokens - budget;
  }

  Config c_;
  std::vector<Request*> candidates_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, HfCbScheduler, "hf_cb",
                  "transformers continuous batching FIFO: decodes, then split prefills, then waiting; chunked prefill to the "
                  "token budget; KV safety margin; newest-first eviction by recompute")

}  // namespace servesim
