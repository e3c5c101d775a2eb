#include "sim/sched/queue_scheduler.h"

#include <algorithm>

#include "sim/core/error.h"
#include "sim/sched/step_update.h"

namespace servesim {

PreemptMode parse_preemption_mode(Params& p) {
  return p.choice("preemption_mode", "recompute", {"recompute", "swap"},
                  "preempted requests drop their KV (recompute) or swap it to host memory") == "swap"
             ? PreemptMode::kSwap
             : PreemptMode::kRecompute;
}

BudgetConfig BudgetConfig::parse(Params& p) {
  BudgetConfig c;
  c.rules.max_tokens = p.integer("max_num_batched_tokens", 8192, "token budget of one step", 1, kMaxStepTokens);
  c.max_num_seqs = p.integer("max_num_seqs", 256, "most requests running at once", 1, kMaxStepSeqs);
  c.rules.chunked_prefill = p.boolean("enable_chunked_prefill", true, "split long prompts over several steps");
  c.rules.long_prefill_token_threshold =
      p.integer("long_prefill_token_threshold", 0, "cap on new tokens of one request per step (0: off)", 0);
  c.rules.preemption_mode = parse_preemption_mode(p);
  return c;
}

std::int64_t parse_max_tokens(Params& p) {
  return p.integer("max_tokens", 0,
                   "output tokens each request reserves KV for at admission (0: its own output length; a longer output "
                   "reserves its length)",
                   0, kMaxStepTokens);
}

std::int64_t QueueScheduler::reservation(const Request& r, std::int64_t max_tokens) const {
  const std::int64_t out = std::max<std::int64_t>(max_tokens, r.spec.output_tokens);
  std::int64_t n = r.spec.prompt_tokens + out;
  if (max_model_len_ > 0) n = std::min(n, std::max(max_model_len_, r.total_tokens()));
  return n;
}

bool QueueScheduler::admissible(const Request& r) const {
  if ((max_model_len_ > 0 && r.total_tokens() > max_model_len_) || r.total_tokens() > kv_.capacity_tokens()) return false;
  return accepts(r);
}

bool QueueScheduler::add(Request* r) {
  if (!admissible(*r)) return false;
  r->state = RequestState::kWaiting;
  waiting_.push_back(r);
  return true;
}

void QueueScheduler::update(SimTime now, const StepPlan& plan, StepEvents& events) {
  if (apply_step(now, plan, kv_, events)) {
    running_.erase(std::remove_if(running_.begin(), running_.end(),
                                  [](const Request* r) { return r->state == RequestState::kFinished; }),
                   running_.end());
  }
}

void QueueScheduler::adopt(Request* r) {
  SERVESIM_ASSERT(r->kv_slot >= 0 && r->num_computed > 0);
  r->state = RequestState::kRunning;
  running_.push_back(r);
}

void QueueScheduler::detach(Request* r) {
  const auto it = std::find(running_.begin(), running_.end(), r);
  SERVESIM_ASSERT(it != running_.end());
  running_.erase(it);
}

void QueueScheduler::schedule_around(SimTime now, StepPlan& plan, std::span<Request* const> in_flight) {
  if (in_flight.empty()) {
    schedule(now, plan);
    return;
  }
  flight_sorted_.assign(in_flight.begin(), in_flight.end());
  std::sort(flight_sorted_.begin(), flight_sorted_.end());
  hidden_.clear();
  visible_.clear();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < running_.size(); ++i) {
    Request* r = running_[i];
    if (std::binary_search(flight_sorted_.begin(), flight_sorted_.end(), r)) {
      hidden_.emplace_back(i, r);
    } else {
      visible_.emplace_back(r, i);
      running_[kept++] = r;
    }
  }
  SERVESIM_ASSERT(hidden_.size() == in_flight.size());
  running_.resize(kept);
  schedule(now, plan);
  // Back in: each hidden request before the first request that stood after it (requests
  // admitted by this step stood after all of them).
  std::sort(visible_.begin(), visible_.end());
  merged_.clear();
  std::size_t h = 0;
  for (Request* r : running_) {
    const auto it = std::lower_bound(visible_.begin(), visible_.end(), std::pair<const Request*, std::size_t>{r, 0});
    const std::size_t was = it != visible_.end() && it->first == r ? it->second : SIZE_MAX;
    while (h < hidden_.size() && hidden_[h].first < was) merged_.push_back(hidden_[h++].second);
    merged_.push_back(r);
  }
  while (h < hidden_.size()) merged_.push_back(hidden_[h++].second);
  running_.swap(merged_);
  hidden_.clear();
}

void QueueScheduler::preempt(Request* r, PreemptMode mode, StepPlan& plan) {
  r->preempt(kv_.preempt(*r, mode, plan.kv_work));  // tokens kept in host memory (0: recompute)
  plan.preempted.push_back(r);
  requeue(r);
}

std::int64_t QueueScheduler::schedule_decodes(std::int64_t limit, PreemptMode mode, StepPlan& plan, bool& preempted_any) {
  std::int64_t n = 0;
  for (std::size_t i = 0; i < running_.size() && n < limit; ++i) {
    Request* r = running_[i];
    if (!decoding(*r)) continue;
    const std::size_t before = plan.preempted.size();
    const bool ok = allocate_or_preempt(r, r->num_tokens(), mode, plan);
    preempted_any = preempted_any || plan.preempted.size() > before;
    if (!ok) break;
    plan.seqs.push_back(ScheduledSeq{r, 1, r->num_computed});
    ++n;
  }
  return n;
}

bool QueueScheduler::allocate_or_preempt(Request* r, std::int64_t total, PreemptMode mode, StepPlan& plan) {
  for (;;) {
    if (kv_.allocate(*r, total, plan.kv_work)) return true;
    Request* victim = running_.back();
    running_.pop_back();
    SERVESIM_ASSERT(std::none_of(plan.seqs.begin(), plan.seqs.end(), [victim](const ScheduledSeq& s) { return s.req == victim; }));
    preempt(victim, mode, plan);
    if (victim == r) return false;
  }
}

std::int64_t QueueScheduler::resident_on_admit(const Request& r) const {
  const std::int64_t swapped = kv_.swapped_tokens(r);
  if (swapped > 0) return swapped;
  return r.num_computed == 0 ? kv_.cached_prefix(r) : 0;
}

bool QueueScheduler::waiting_stays_out() const {
  return waiting_.empty() || BlockHasher::covered_tokens(waiting_.front()->spec) == 0;
}

std::int64_t QueueScheduler::pure_decode_repeats(const StepPlan& plan, bool waiting_stays_out) const {
  if ((num_waiting() > 0 && !waiting_stays_out) || !plan.preempted.empty() || plan.seqs.size() != running_.size()) return 0;
  std::int64_t k = INT64_MAX;
  for (const ScheduledSeq& s : plan.seqs) {
    const Request* r = s.req;
    // The step that ends a prompt samples the first token and is never merged.
    if (s.new_tokens != 1 || s.context + 1 != r->num_tokens() || r->num_generated == 0) return 0;
    k = std::min<std::int64_t>(k, static_cast<std::int64_t>(r->spec.output_tokens) - r->num_generated - 1);
  }
  return std::max<std::int64_t>(0, k);
}

std::int64_t QueueScheduler::free_blocks() const {
  const KvUsage u = kv_.usage();
  return (u.capacity_tokens - u.used_tokens) / kv_.kernel_block_size();
}

void QueueScheduler::admit(Request* r, SimTime now, std::int64_t resident, StepPlan& plan, std::int64_t new_tokens) {
  r->admit(now, resident, resident);
  running_.push_back(r);
  if (new_tokens > 0) plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(new_tokens), resident});
}

void QueueScheduler::schedule_budget(SimTime now, StepPlan& plan, const BudgetRules& c) {
  std::int64_t budget = c.max_tokens;
  bool preempted_any = false;

  // 1. Running requests, in running order.
  for (std::size_t i = 0; i < running_.size() && budget > 0;) {
    Request* r = running_[i];
    std::int64_t want = r->num_tokens() - r->num_computed;
    if (spec_tokens_ > 0 && decoding(*r)) want += std::min<std::int64_t>(spec_tokens_, r->spec.output_tokens - r->num_generated - 1);
    if (c.long_prefill_token_threshold > 0) want = std::min(want, c.long_prefill_token_threshold);
    want = std::min(want, budget);
    if (want <= 0) {
      ++i;
      continue;
    }
    // When blocks run short, the last running request (possibly r) goes.
    const std::size_t before = plan.preempted.size();
    const bool scheduled = allocate_or_preempt(r, r->num_computed + want, c.preemption_mode, plan);
    preempted_any = preempted_any || plan.preempted.size() > before;
    if (!scheduled) break;
    const auto draft = static_cast<std::int32_t>(spec_tokens_ > 0 && decoding(*r) ? want - 1 : 0);
    plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(want), r->num_computed, draft, 0});
    budget -= want;
    ++i;
  }

  // 2. Waiting requests, unless this step had to preempt.
  while (!preempted_any && num_waiting() > 0 && budget > 0 && !full()) {
    Request* r = next_waiting();
    if (r == nullptr) break;  // the subclass holds every waiting request back this step
    // A request preempted by swap resumes with its computed tokens (copied back in).
    const std::int64_t cached = resident_on_admit(*r);
    std::int64_t want = r->num_tokens() - cached;
    if (!c.chunked_prefill && want > budget) break;  // whole prompt must fit: head-of-line
    if (c.long_prefill_token_threshold > 0) want = std::min(want, c.long_prefill_token_threshold);
    want = std::min(want, budget);
    if (!kv_.allocate(*r, cached + want, plan.kv_work)) break;  // head-of-line blocking
    take_waiting(r);
    admit(r, now, cached, plan, want);
    budget -= want;
  }
  plan.num_tokens += c.max_tokens - budget;
}

}  // namespace servesim
