// TensorRT-LLM's in-flight batching (batch manager: CapacityScheduler then
// MicroBatchScheduler, as documented for TensorRT-LLM 0.12-0.16).
// Contract: each step,
//  1. Capacity (which requests may hold KV), policy capacity_scheduler_policy:
//     - GUARANTEED_NO_EVICT: a waiting request is started (FCFS) only if the KV blocks of
//       every started request's maximum length (prompt + output) plus its own fit the
//       cache; a started request therefore always finds its blocks and is never evicted.
//       KV is still allocated step by step; the reservation is bookkeeping.
//     - MAX_UTILIZATION: a waiting request starts when this step's tokens fit; when a
//       generation request cannot get its block, the most recently started request is
//       paused (its KV freed; it restarts its context later, as a recompute).
//     Either way the first waiting request that cannot start stops admission, and at most
//     max_batch_size requests are started.
//  2. Micro-batch: generation requests first, one token each, in start order; then
//     context requests (started ones with prompt left, then new ones) within
//     max_num_tokens. Without enable_chunked_context a context runs whole and one that
//     does not fit the tokens left waits; with it, a context that does not fit takes a
//     chunk of the tokens left rounded down to the KV block size (TensorRT-LLM's chunk
//     unit is tokens_per_block; with less than a block left, the tokens left).
//  3. A prompt longer than max_num_tokens without chunking is rejected.
#include <algorithm>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class TrtllmScheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t max_batch_size = 0;
    std::int64_t max_num_tokens = 0;
    bool chunked_context = false;
    bool no_evict = true;
    StepBudgets exports() const { return {max_num_tokens, max_batch_size}; }
    static Config parse(Params& p) {
      Config c;
      c.max_batch_size = p.integer("max_batch_size", 256, "most requests started at once", 1, kMaxStepSeqs);
      c.max_num_tokens = p.integer("max_num_tokens", 8192, "tokens of one step (context and generation together)", 1, kMaxStepTokens);
      c.chunked_context = p.boolean("enable_chunked_context", false, "split a context that does not fit the step, in KV-block units");
      c.no_evict = p.choice("capacity_scheduler_policy", "GUARANTEED_NO_EVICT", {"GUARANTEED_NO_EVICT", "MAX_UTILIZATION"},
                            "start requests only when their whole length is guaranteed KV, or whenever this step fits "
                            "(pausing the newest on shortage)") == "GUARANTEED_NO_EVICT";
      return c;
    }
  };

  TrtllmScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_batch_size), c_(c) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    std::int64_t used = 0;
    // Generation requests.
    for (std::size_t i = 0; i < running_.size() && used < c_.max_num_tokens; ++i) {
      Request* r = running_[i];
      if (!decoding(*r)) continue;
      if (!allocate_or_preempt(r, r->num_tokens(), PreemptMode::kRecompute, plan)) break;
      plan.seqs.push_back(ScheduledSeq{r, 1, r->num_computed});
      ++used;
    }
    // Started contexts.
    for (Request* r : running_) {
      if (decoding(*r)) continue;
      const std::int64_t n = context_tokens(r->num_tokens() - r->num_computed, used);
      if (n == 0 || !kv_.allocate(*r, r->num_computed + n, plan.kv_work)) break;
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(n), r->num_computed});
      used += n;
    }
    // New requests.
    std::int64_t reserved = 0;
    if (c_.no_evict) {
      for (const Request* r : running_) reserved += blocks_for(r->total_tokens());
    }
    const std::int64_t total_blocks = kv_.capacity_tokens() / kv_.kernel_block_size();
    while (plan.preempted.empty() && !waiting_.empty() && !full()) {
      Request* r = waiting_.front();
      if (c_.no_evict && reserved + blocks_for(r->total_tokens()) > total_blocks) break;
      const std::int64_t resident = resident_on_admit(*r);
      const std::int64_t n = context_tokens(r->num_tokens() - resident, used);
      if (n == 0 || !kv_.allocate(*r, resident + n, plan.kv_work)) break;
      waiting_.pop_front();
      admit(r, now, resident, plan, n);
      used += n;
      reserved += blocks_for(r->total_tokens());
    }
    plan.num_tokens = used;
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override { return pure_decode_repeats(plan); }

 private:
  bool accepts(const Request& r) const override { return c_.chunked_context || r.spec.prompt_tokens <= c_.max_num_tokens; }

  // Tokens a context with `rest` tokens left computes in a step already holding `used`.
  std::int64_t context_tokens(std::int64_t rest, std::int64_t used) const {
    const std::int64_t left = c_.max_num_tokens - used;
    if (rest <= left) return rest;
    if (!c_.chunked_context) return 0;
    const std::int64_t blocks = left / kv_.kernel_block_size() * kv_.kernel_block_size();
    return blocks > 0 ? blocks : left;  // under one block left: an unaligned chunk, not none
  }

  Config c_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, TrtllmScheduler, "trtllm",
                  "TensorRT-LLM in-flight batching: max_num_tokens, max_batch_size, chunked context, capacity policies "
                  "GUARANTEED_NO_EVICT and MAX_UTILIZATION")

}  // namespace servesim
