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
#include <algorithm>
#include <deque>

#include "sim/core/error.h"
#include "sim/sched/i_scheduler.h"
#include "sim/sched/step_update.h"

namespace servesim {
namespace {

class VllmV1Scheduler final : public IScheduler {
 public:
  struct Config {
    std::int64_t max_num_batched_tokens = 0;
    std::int64_t max_num_seqs = 0;
    bool chunked_prefill = true;
    std::int64_t long_prefill_token_threshold = 0;
    PreemptMode preemption_mode = PreemptMode::kRecompute;
    StepBudgets exports() const { return {max_num_batched_tokens, max_num_seqs}; }
    static Config parse(Params& p) {
      Config c;
      c.max_num_batched_tokens = p.integer("max_num_batched_tokens", 8192, "token budget of one step", 1, kMaxStepTokens);
      c.max_num_seqs = p.integer("max_num_seqs", 256, "most requests running at once", 1, kMaxStepSeqs);
      c.chunked_prefill = p.boolean("enable_chunked_prefill", true, "split long prompts over several steps");
      c.long_prefill_token_threshold =
          p.integer("long_prefill_token_threshold", 0, "cap on new tokens of one request per step (0: off)", 0);
      c.preemption_mode = p.choice("preemption_mode", "recompute", {"recompute", "swap"},
                                   "preempted requests drop their KV (recompute) or swap it to host memory") == "swap"
                              ? PreemptMode::kSwap
                              : PreemptMode::kRecompute;
      return c;
    }
  };

  VllmV1Scheduler(const Config& c, const SchedulerDeps& deps) : c_(c), kv_(deps.kv), max_model_len_(deps.max_model_len) {}

  bool add(Request* r) override {
    if ((max_model_len_ > 0 && r->total_tokens() > max_model_len_) || r->total_tokens() > kv_.capacity_tokens()) {
      return false;
    }
    if (!c_.chunked_prefill && r->spec.prompt_tokens > c_.max_num_batched_tokens) return false;
    r->state = RequestState::kWaiting;
    waiting_.push_back(r);
    return true;
  }

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    std::int64_t budget = c_.max_num_batched_tokens;
    bool preempted_any = false;

    // 1. Running requests, in admission order.
    for (std::size_t i = 0; i < running_.size() && budget > 0;) {
      Request* r = running_[i];
      std::int64_t want = r->num_tokens() - r->num_computed;
      if (c_.long_prefill_token_threshold > 0) want = std::min(want, c_.long_prefill_token_threshold);
      want = std::min(want, budget);
      if (want <= 0) {
        ++i;
        continue;
      }
      bool scheduled = false;
      for (;;) {
        if (kv_.allocate(*r, r->num_computed + want, plan.kv_work)) {
          scheduled = true;
          break;
        }
        // Preempt the most recently admitted running request (possibly r itself).
        Request* victim = running_.back();
        running_.pop_back();
        preempt(victim, plan);
        preempted_any = true;
        if (victim == r) break;
      }
      if (!scheduled) break;
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(want), r->num_computed});
      budget -= want;
      ++i;
    }

    // 2. Waiting requests, unless this step had to preempt.
    while (!preempted_any && !waiting_.empty() && budget > 0 &&
           static_cast<std::int64_t>(running_.size()) < c_.max_num_seqs) {
      Request* r = waiting_.front();
      // A request preempted by swap resumes with its computed tokens (copied back in).
      const std::int64_t swapped = kv_.swapped_tokens(*r);
      const std::int64_t cached = swapped > 0 ? swapped : (r->num_computed == 0 ? kv_.cached_prefix(*r) : 0);
      std::int64_t want = r->num_tokens() - cached;
      if (!c_.chunked_prefill && want > budget) break;  // whole prompt must fit: head-of-line
      if (c_.long_prefill_token_threshold > 0) want = std::min(want, c_.long_prefill_token_threshold);
      want = std::min(want, budget);
      if (!kv_.allocate(*r, cached + want, plan.kv_work)) break;  // head-of-line blocking
      waiting_.pop_front();
      r->admit(now, cached, cached);
      running_.push_back(r);
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(want), cached});
      budget -= want;
    }
    plan.num_tokens = c_.max_num_batched_tokens - budget;
  }

  void update(SimTime now, const StepPlan& plan, StepEvents& events) override {
    if (apply_step(now, plan, kv_, events)) {
      running_.erase(std::remove_if(running_.begin(), running_.end(),
                                    [](const Request* r) { return r->state == RequestState::kFinished; }),
                     running_.end());
    }
  }

  std::size_t num_waiting() const override { return waiting_.size(); }
  std::size_t num_running() const override { return running_.size(); }

  std::span<Request* const> running() const override { return running_; }

  void adopt(Request* r) override {
    SERVESIM_ASSERT(r->kv_slot >= 0 && r->num_computed > 0);
    r->state = RequestState::kRunning;
    running_.push_back(r);
  }
  bool can_adopt(std::size_t in_flight) const override {
    return static_cast<std::int64_t>(running_.size() + in_flight) < c_.max_num_seqs;
  }

  void detach(Request* r) override {
    const auto it = std::find(running_.begin(), running_.end(), r);
    SERVESIM_ASSERT(it != running_.end());
    running_.erase(it);
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override {
    // The batch repeats while nothing waits (no admission, no swapped request to resume),
    // every running request is in it as a pure decode, and nobody finishes: the request
    // that has generated g of n tokens can take n - g - 1 more steps before its last.
    if (!waiting_.empty() || !plan.preempted.empty() || plan.seqs.size() != running_.size()) return 0;
    std::int64_t k = INT64_MAX;
    for (const ScheduledSeq& s : plan.seqs) {
      const Request* r = s.req;
      // A pure decode: one new token after the first output token (the step that ends a
      // prompt samples the first token and is never merged).
      if (s.new_tokens != 1 || s.context + 1 != r->num_tokens() || r->num_generated == 0) return 0;
      k = std::min<std::int64_t>(k, static_cast<std::int64_t>(r->spec.output_tokens) - r->num_generated - 1);
    }
    return std::max<std::int64_t>(0, k);
  }

 private:
  void preempt(Request* r, StepPlan& plan) {
    r->preempt(kv_.preempt(*r, c_.preemption_mode, plan.kv_work));  // tokens kept in host memory (0: recompute)
    waiting_.push_front(r);
    plan.preempted.push_back(r);
    // A request already placed in this step's batch cannot be the victim: victims come
    // from the back of running_, and the batch is built from the front.
  }

  Config c_;
  IKvManager& kv_;
  std::int64_t max_model_len_;
  std::deque<Request*> waiting_;
  std::vector<Request*> running_;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, VllmV1Scheduler, "vllm_v1",
                  "vLLM v1: token budget, running first, chunked prefill, preemption of the newest (recompute or swap)")

}  // namespace servesim
