// Sarathi-Serve's stall-free batching (Agrawal et al., OSDI 2024; sarathi-serve's
// SarathiScheduler on its vLLM v0 base).
// Contract: each step,
//  1. Running requests that decode come first, in admission order, one token each; they
//     never stall behind a prompt. When one cannot get a KV slot, the newest running
//     request is preempted (recompute, or swap with preemption_mode "swap") and goes back
//     to the front of the waiting queue; a step that preempted admits nobody.
//  2. Then admitted requests whose prompt is partly done, in admission order, then the
//     waiting queue (FCFS) while max_num_seqs allows: each takes a prefill chunk of
//     min(rest of its prompt, chunk_size, budget left) tokens.
//  3. The step's tokens never exceed token_budget. With tile_size > 1 a chunk that does
//     not end its prompt is cut so the step's token count is a multiple of tile_size (tile
//     quantization: a partial tile costs a full one), unless no boundary is within reach;
//     token_budget must be a multiple of it.
//  4. Admission allocates KV for the request's whole known tokens at once (vLLM v0's block
//     manager, on which Sarathi-Serve runs); a request that does not fit blocks the queue.
#include <algorithm>

#include "sim/core/error.h"
#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class SarathiScheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t token_budget = 0;
    std::int64_t chunk_size = 0;
    std::int64_t tile_size = 0;
    std::int64_t max_num_seqs = 0;
    PreemptMode preemption_mode = PreemptMode::kRecompute;
    StepBudgets exports() const { return {token_budget, max_num_seqs}; }
    static Config parse(Params& p) {
      Config c;
      c.token_budget = p.integer("token_budget", 512, "tokens of one step, decodes and prefill chunks together (Sarathi's token budget)", 1, kMaxStepTokens);
      c.chunk_size = p.integer("chunk_size", 0, "most prefill tokens of one request in one step (0: the token budget)", 0, kMaxStepTokens);
      c.tile_size = p.integer("tile_size", 128, "GEMM tile the step's token count is aligned to when a prompt is cut (1: no alignment)", 1, 4096);
      c.max_num_seqs = p.integer("max_num_seqs", 128, "most requests running at once", 1, kMaxStepSeqs);
      c.preemption_mode = parse_preemption_mode(p);
      if (!p.doc_mode() && c.token_budget % c.tile_size != 0) {
        bad_value(p.where("token_budget"), std::to_string(c.token_budget),
                  "a multiple of tile_size (" + std::to_string(c.tile_size) + ")");
      }
      return c;
    }
  };

  SarathiScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.max_num_seqs), c_(c) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    std::int64_t used = 0;
    bool preempted_any = false;
    // 1. Decodes first.
    used = schedule_decodes(c_.token_budget, c_.preemption_mode, plan, preempted_any);
    // 2. Partial prompts of admitted requests (their KV is already allocated).
    for (Request* r : running_) {
      if (decoding(*r) || used >= c_.token_budget) continue;
      const std::int64_t n = chunk(r->num_tokens() - r->num_computed, used);
      if (n == 0) break;
      const bool held = kv_.allocate(*r, r->num_tokens(), plan.kv_work);
      SERVESIM_ASSERT(held);
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(n), r->num_computed});
      used += n;
    }
    // 3. New requests, FCFS, while nothing was preempted.
    while (!preempted_any && !waiting_.empty() && used < c_.token_budget && !full()) {
      Request* r = waiting_.front();
      const std::int64_t resident = resident_on_admit(*r);
      const std::int64_t n = chunk(r->num_tokens() - resident, used);
      if (n == 0) break;
      if (!kv_.allocate(*r, r->num_tokens(), plan.kv_work)) break;  // head-of-line blocking
      waiting_.pop_front();
      admit(r, now, resident, plan, n);
      used += n;
    }
    plan.num_tokens = used;
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override { return pure_decode_repeats(plan); }

 private:
  // Tokens of a prompt with `rest` tokens left that join a step already holding `used`.
  std::int64_t chunk(std::int64_t rest, std::int64_t used) const {
    const std::int64_t cap = c_.chunk_size > 0 ? std::min(c_.chunk_size, c_.token_budget - used) : c_.token_budget - used;
    if (rest <= cap) return rest;  // the prompt ends in this step: no alignment needed
    const std::int64_t aligned = (used + cap) / c_.tile_size * c_.tile_size - used;
    // No tile boundary within reach (a chunk_size under the tile): the chunk goes unaligned
    // rather than never.
    return aligned > 0 ? aligned : cap;
  }

  Config c_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, SarathiScheduler, "sarathi",
                  "Sarathi-Serve stall-free batching: decodes first, then prefill chunks up to a tile-aligned token budget")

}  // namespace servesim
