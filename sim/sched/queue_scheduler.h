#pragma once
// The part every replica scheduler shares: a waiting queue and a running list in admission
// order, admission checks, the end of a step, cluster hand-offs, preemption and the
// multi-step advance rule. Contract (what the subclasses rely on):
// - add() rejects a request longer than the model's context or the whole KV capacity, or
//   one the subclass refuses (accepts()); otherwise it joins the back of waiting_.
// - update() applies the step (apply_step) and drops finished requests from running_.
// - preempt(r) frees r's KV (recompute, or swap when the mode asks and swap space has
//   room), records it in the plan and hands it to requeue() (default: front of waiting_).
// - allocate_or_preempt(r, total) preempts the newest running requests until r's KV grows
//   to `total`; it returns false when r itself had to go. Victims are never already in the
//   plan (callers build the plan from the front of running_ and victims leave from the back).
// - can_adopt() keeps the running list within max_running().
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "sim/sched/i_scheduler.h"

namespace servesim {

// The `preemption_mode` parameter ("recompute" or "swap"), declared once for every scheduler.
PreemptMode parse_preemption_mode(Params& p);

// The rules of vLLM v1's step (QueueScheduler::schedule_budget) and their parameters, shared
// by the schedulers built on it (vllm_v1, priority, vtc).
struct BudgetRules {
  std::int64_t max_tokens = 0;
  bool chunked_prefill = true;
  std::int64_t long_prefill_token_threshold = 0;  // 0: off
  PreemptMode preemption_mode = PreemptMode::kRecompute;
};
struct BudgetConfig {
  BudgetRules rules;
  std::int64_t max_num_seqs = 0;
  StepBudgets exports() const { return {rules.max_tokens, max_num_seqs}; }
  static BudgetConfig parse(Params& p);
};

// The `max_tokens` parameter of the worst-case-reservation schedulers (orca, static): the
// output length each request reserves KV for.
std::int64_t parse_max_tokens(Params& p);

class QueueScheduler : public IScheduler {
 public:
  QueueScheduler(const SchedulerDeps& deps, std::int64_t max_running)
      : kv_(deps.kv), max_model_len_(deps.max_model_len), max_running_(max_running), spec_tokens_(deps.spec_tokens) {}

  bool add(Request* r) override;
  void update(SimTime now, const StepPlan& plan, StepEvents& events) override;
  std::size_t num_waiting() const override { return waiting_.size(); }
  std::size_t num_running() const override { return running_.size(); }
  std::span<Request* const> running() const override { return running_; }
  void adopt(Request* r) override;
  bool can_adopt(std::size_t in_flight) const override {
    return static_cast<std::int64_t>(running_.size() + in_flight) < max_running_;
  }
  void detach(Request* r) override;
  // Hides the in-flight requests from running_ while schedule() runs, then puts them back
  // where they were (before the requests admitted after them).
  void schedule_around(SimTime now, StepPlan& plan, std::span<Request* const> in_flight) override;

 protected:
  // Whether r can ever run here: within the model's context and the KV capacity, and accepts(r).
  bool admissible(const Request& r) const;
  // Extra admission rule of the subclass (e.g. a prompt must fit one step's budget).
  virtual bool accepts(const Request& r) const {
    (void)r;
    return true;
  }
  // Where a preempted request goes (default: the front of the waiting queue).
  virtual void requeue(Request* r) { waiting_.push_front(r); }

  void preempt(Request* r, PreemptMode mode, StepPlan& plan);
  bool allocate_or_preempt(Request* r, std::int64_t total, PreemptMode mode, StepPlan& plan);
  // Stall-free decodes first: every decoding running request, in running order and while
  // fewer than `limit` are scheduled, gets one token (preempting the newest if its KV cannot
  // grow; the first that cannot be placed ends the pass). Returns the decodes scheduled;
  // `preempted_any` is set when a preemption happened.
  std::int64_t schedule_decodes(std::int64_t limit, PreemptMode mode, StepPlan& plan, bool& preempted_any);
  // Tokens a waiting request resumes with: its swapped-out KV, else its cached prefix
  // (first admission only; a recomputed request starts from 0 unless cached).
  std::int64_t resident_on_admit(const Request& r) const;
  // A request whose prompt (and any recomputed output) is done: one token left to process.
  static bool decoding(const Request& r) { return r.num_generated > 0 && r.num_tokens() - r.num_computed == 1; }
  // The multi-step advance rule shared by the token-budget schedulers: the batch repeats
  // while nothing waits, nothing was preempted, every running request is in it as a pure
  // decode, and nobody finishes (a request with g of n tokens can take n - g - 1 more steps).
  // With `waiting_stays_out` (FCFS schedulers, see waiting_stays_out()) requests may wait.
  std::int64_t pure_decode_repeats(const StepPlan& plan, bool waiting_stays_out = false) const;
  // For a scheduler that offers only the head of waiting_ each step (FCFS): whether a step
  // that was a pure decode of every running request (so it admitted no waiting request)
  // is followed by steps that admit none either, while nothing frees KV. Their decodes only
  // take blocks, and the head's cached prefix can only shrink (blocks evicted) unless a
  // running request registers a block hash that extends it; that cannot happen when the
  // head's block hashes are its own (no prefix ids: block_hash() seeds them with its id).
  // So the head's KV allocation (or its whole-prompt budget check) fails again.
  bool waiting_stays_out() const;
  // Free KV blocks now (live requests' blocks excluded; cached blocks count as free).
  std::int64_t free_blocks() const;
  std::int64_t blocks_for(std::int64_t tokens) const {
    const std::int64_t bs = kv_.kernel_block_size();
    return (tokens + bs - 1) / bs;
  }
  // Worst-case reservation: prompt plus max_tokens output tokens (0: the request's own output
  // length, as if every client set max_tokens exactly; a longer output reserves its length),
  // never beyond the model's context.
  std::int64_t reservation(const Request& r, std::int64_t max_tokens) const;
  bool full() const { return static_cast<std::int64_t>(running_.size() + hidden_.size()) >= max_running_; }
  void admit(Request* r, SimTime now, std::int64_t resident, StepPlan& plan, std::int64_t new_tokens);

  // vLLM v1's step (token budget; with spec_tokens_ > 0 a decoding request asks for 1 + k
  // tokens, k = min(spec_tokens_, its remaining output - 1), as vLLM v1 schedules a
  // request's spec tokens, cut by the budget like any other tokens; running requests first, each catching up with its known
  // tokens, preempting the newest on KV shortage; then waiting requests while budget,
  // seats and KV allow, none if the step preempted; head-of-line blocking). The waiting
  // order is the subclass's: next_waiting() names the candidate (null: admit no more this
  // step), take_waiting() removes it.
  // Adds to `plan` (the caller clears it first; preemptions already in it do not stop admission).
  void schedule_budget(SimTime now, StepPlan& plan, const BudgetRules& rules);
  virtual Request* next_waiting() { return waiting_.front(); }
  virtual void take_waiting(Request* r) {
    (void)r;
    waiting_.pop_front();
  }

  IKvManager& kv_;
  std::int64_t max_model_len_;
  std::int64_t max_running_;
  std::int32_t spec_tokens_;  // speculative proposals per decode step (schedule_budget; 0: off)
  std::deque<Request*> waiting_;
  std::vector<Request*> running_;  // admitted (holding KV), in admission order

 private:
  // schedule_around's scratch: the hidden requests (index in running_ before, request) and
  // the visible ones (request, index before), sorted by address for look-up only.
  std::vector<std::pair<std::size_t, Request*>> hidden_;
  std::vector<std::pair<const Request*, std::size_t>> visible_;
  std::vector<Request*> flight_sorted_, merged_;
};

}  // namespace servesim
