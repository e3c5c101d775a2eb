// Static batching as FasterTransformer serves it (FT's GptContextDecoder + GptDecoder loop,
// behind Triton's batcher): a batch is formed only when the previous one has ended.
// Contract:
//  1. With no batch in flight, a new batch takes waiting requests in arrival order (FCFS)
//     while it holds fewer than max_batch_size requests and the sum of their prompts stays
//     within max_batch_tokens; each reserves KV for its maximum length (prompt +
//     max_tokens, as FT allocates its cache for the longest sequence); the first that does
//     not fit ends the batch.
//  2. The batch's first step computes every prompt whole (the context phase); then every
//     step decodes one token for each request still generating.
//  3. No request joins a batch in flight: the batch runs until its longest request ends. A
//     request that ends earlier leaves (its KV is freed) but its slot is not refilled.
//  4. A request whose prompt exceeds max_batch_tokens, or whose reservation exceeds the KV
//     capacity, is rejected.
#include <algorithm>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class StaticBatchScheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t max_batch_size = 0;
    std::int64_t max_batch_tokens = 0;
    std::int64_t max_tokens = 0;
    // The context step holds at most max_batch_tokens; a decode step one token a request.
    StepBudgets exports() const { return {std::max(max_batch_tokens, max_batch_size), max_batch_size}; }
    static Config parse(Params& p) {
      Config c;
      c.max_batch_size = p.integer("max_batch_size", 32, "most requests in one batch", 1, kMaxStepSeqs);
      c.max_batch_tokens = p.integer("max_batch_tokens", 8192, "most prompt tokens of one batch (its context step)", 1, kMaxStepTokens);
      c.max_tokens = parse_max_tokens(p);
      return c;
    }
  };

  StaticBatchScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_batch_size), c_(c) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    std::int64_t tokens = 0;
    if (running_.empty()) {
      while (!waiting_.empty() && !full()) {
        Request* r = waiting_.front();
        const std::int64_t resident = resident_on_admit(*r);
        const std::int64_t want = r->num_tokens() - resident;
        if (tokens + want > c_.max_batch_tokens) break;
        if (!kv_.allocate(*r, reservation(*r, c_.max_tokens), plan.kv_work)) break;
        waiting_.pop_front();
        admit(r, now, resident, plan, want);
        tokens += want;
      }
    } else {
      for (std::size_t i = 0; i < running_.size(); ++i) {
        Request* r = running_[i];
        const std::int64_t want = r->num_tokens() - r->num_computed;
        // Reserved at admission; only a request adopted from another replica grows here.
        if (!allocate_or_preempt(r, r->num_tokens(), PreemptMode::kRecompute, plan)) break;
        plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(want), r->num_computed});
        tokens += want;
      }
    }
    plan.num_tokens = tokens;
  }

 private:
  bool accepts(const Request& r) const override {
    return r.spec.prompt_tokens <= c_.max_batch_tokens && reservation(r, c_.max_tokens) <= kv_.capacity_tokens();
  }

  Config c_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, StaticBatchScheduler, "static",
                  "FasterTransformer static batching: a batch forms when the last one ended and runs until its longest request ends")

}  // namespace servesim
