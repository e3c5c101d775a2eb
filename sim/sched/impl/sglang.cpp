// SGLang's scheduler (python/sglang/srt/managers/scheduler.py and schedule_policy.py,
// v0.4, without mixed chunks or overlap).
// Contract: each step,
//  1. Prefill first: a step that can start any prompt work is a prefill (extend) step and
//     decodes wait for the next one. The request whose prompt is being chunked continues
//     first; then waiting requests in policy order: "fcfs" (arrival) or "lpm" (longest
//     cached prefix first, ties by arrival; SGLang falls back to FCFS when more than 128
//     requests wait).
//  2. New-token-ratio admission: a request joins only if its tokens to compute plus its
//     remaining output (clipped at clip_max_new_tokens) are fewer than the free plus
//     evictable KV tokens, less the running requests' remaining outputs x new_token_ratio
//     and less what this step already admitted (prompt + clipped output of each). The
//     first that does not fit stops admission.
//  3. A step's prompt tokens stay within max_prefill_tokens (the first request always
//     joins); a prompt that does not fit chunked_prefill_size tokens left is cut to them
//     and becomes the (single) chunked request; admission stops there.
//  4. At most max_running_requests hold KV. Without chunking, a prompt over
//     max_prefill_tokens is rejected; so is one whose prompt + output reach the KV capacity.
//  5. Otherwise the step decodes every running request one token. When a decode cannot
//     get KV, requests are retracted (recomputed later) in SGLang's order: fewest output
//     tokens first, then longest prompt; new_token_ratio resets to init_new_token_ratio.
//     Each decode step lowers new_token_ratio by (init - min) / new_token_ratio_decay_steps,
//     down to min_new_token_ratio.
#include <algorithm>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

constexpr std::size_t kLpmQueueLimit = 128;  // SGLang: longer queues are served FCFS

class SglangScheduler final : public QueueScheduler {
 public:
  struct Config {
    std::int64_t chunked_prefill_size = 0;
    std::int64_t max_prefill_tokens = 0;
    std::int64_t max_running_requests = 0;
    bool lpm = false;
    double init_ratio = 0, min_ratio = 0;
    std::int64_t decay_steps = 0;
    std::int64_t clip_max_new_tokens = 0;
    // A prefill step stays within the chunk (or, unchunked, max_prefill_tokens: longer prompts
    // are rejected); a decode step has one token per running request.
    StepBudgets exports() const {
      const std::int64_t prefill = chunked_prefill_size > 0 ? chunked_prefill_size : max_prefill_tokens;
      return {std::max(prefill, max_running_requests), max_running_requests};
    }
    static Config parse(Params& p) {
      Config c;
      c.chunked_prefill_size = p.integer("chunked_prefill_size", 8192, "most prompt tokens of one step before a prompt is cut (0: no chunking)", 0, kMaxStepTokens);
      c.max_prefill_tokens = p.integer("max_prefill_tokens", 16384, "prompt tokens of one prefill step (the first request always joins)", 1, kMaxStepTokens);
      c.max_running_requests = p.integer("max_running_requests", 256, "most requests holding KV", 1, kMaxStepSeqs);
      c.lpm = p.choice("schedule_policy", "fcfs", {"fcfs", "lpm"}, "waiting order: arrival, or longest cached prefix first") == "lpm";
      c.init_ratio = p.real("init_new_token_ratio", 0.7, "share of running requests' remaining output reserved at admission, after a retraction", 0.0, 1.0);
      c.min_ratio = p.real("min_new_token_ratio", 0.1, "floor the reserved share decays to", 0.0, 1.0);
      c.decay_steps = p.integer("new_token_ratio_decay_steps", 600, "decode steps over which the share decays from init to min", 1);
      c.clip_max_new_tokens = p.integer("clip_max_new_tokens", 4096, "remaining output counted per request at most", 1);
      return c;
    }
  };

  SglangScheduler(const Config& c, const SchedulerDeps& deps)
      : QueueScheduler(deps, c.max_running_requests), c_(c), ratio_(c.init_ratio) {}

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    prefill(now, plan);
    if (plan.seqs.empty()) decode(plan);
  }

  void detach(Request* r) override {
    if (r == chunked_) chunked_ = nullptr;
    QueueScheduler::detach(r);
  }

 private:
  bool accepts(const Request& r) const override {
    return r.total_tokens() < kv_.capacity_tokens() && (c_.chunked_prefill_size > 0 || r.spec.prompt_tokens <= c_.max_prefill_tokens);
  }
  std::int64_t clipped_rest(const Request& r) const {
    return std::min<std::int64_t>(r.spec.output_tokens - r.num_generated, c_.clip_max_new_tokens);
  }

  void prefill(SimTime now, StepPlan& plan) {
    const KvUsage u = kv_.usage();
    double offset = 0;  // KV tokens spoken for
    for (const Request* r : running_) {
      if (r != chunked_) offset += static_cast<double>(clipped_rest(*r)) * ratio_;
    }
    std::int64_t input_left = c_.max_prefill_tokens;
    std::int64_t chunk_left = c_.chunked_prefill_size > 0 ? c_.chunked_prefill_size : kMaxStepTokens;
    std::int64_t used = 0;
    // The chunked request goes on first.
    if (chunked_ != nullptr) {
      Request* r = chunked_;
      const std::int64_t rest = r->num_tokens() - r->num_computed;
      const std::int64_t n = std::min(rest, chunk_left);
      if (!kv_.allocate(*r, r->num_computed + n, plan.kv_work)) return;
      plan.seqs.push_back(ScheduledSeq{r, static_cast<std::int32_t>(n), r->num_computed});
      used += n;
      input_left -= n;
      chunk_left -= n;
      offset += static_cast<double>(rest + clipped_rest(*r));
      if (n < rest) {
        plan.num_tokens = used;
        return;  // still chunked: nothing else joins
      }
      chunked_ = nullptr;
    }
    if (c_.lpm && waiting_.size() <= kLpmQueueLimit) {
      std::stable_sort(waiting_.begin(), waiting_.end(),
                       [this](const Request* a, const Request* b) { return kv_.cached_prefix(*a) > kv_.cached_prefix(*b); });
    }
    while (!waiting_.empty() && !full()) {
      Request* r = waiting_.front();
      const std::int64_t resident = resident_on_admit(*r);
      const std::int64_t extend = r->num_tokens() - resident;
      const double rem_total = static_cast<double>(u.capacity_tokens - u.used_tokens) - offset;
      if (static_cast<double>(extend + clipped_rest(*r)) >= rem_total) break;
      if (extend >= input_left && !plan.seqs.empty()) break;
      if (chunk_left == 0) break;
      const std::int64_t n = std::min(extend, chunk_left);
      if (!kv_.allocate(*r, resident + n, plan.kv_work)) break;
      waiting_.pop_front();
      admit(r, now, resident, plan, n);
      used += n;
      input_left -= n;
      chunk_left -= n;
      offset += static_cast<double>(extend + clipped_rest(*r));
      if (n < extend) {
        chunked_ = r;
        break;
      }
    }
    plan.num_tokens = used;
  }

  void decode(StepPlan& plan) {
    bool retracted = false;
    std::size_t i = 0;
    while (i < running_.size()) {
      Request* r = running_[i];
      if (!decoding(*r)) {  // the chunked request, waiting for room
        ++i;
        continue;
      }
      if (kv_.allocate(*r, r->num_tokens(), plan.kv_work)) {
        plan.seqs.push_back(ScheduledSeq{r, 1, r->num_computed});
        ++i;
        continue;
      }
      retract(plan, i);  // then retry the request now at i (r, or the next one if r went)
      retracted = true;
    }
    plan.num_tokens = static_cast<std::int64_t>(plan.seqs.size());
    const double decay = (c_.init_ratio - c_.min_ratio) / static_cast<double>(c_.decay_steps);
    ratio_ = retracted ? c_.init_ratio : std::max(c_.min_ratio, ratio_ - decay);
  }

  // Retracts one running request not yet in this step (index >= first): fewest output
  // tokens, then longest prompt, then the newest.
  void retract(StepPlan& plan, std::size_t first) {
    std::size_t v = first;
    for (std::size_t j = first + 1; j < running_.size(); ++j) {
      const Request* a = running_[j];
      const Request* b = running_[v];
      if (a->num_generated < b->num_generated ||
          (a->num_generated == b->num_generated && a->spec.prompt_tokens >= b->spec.prompt_tokens)) {
        v = j;
      }
    }
    Request* victim = running_[v];
    if (victim == chunked_) chunked_ = nullptr;
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(v));
    preempt(victim, PreemptMode::kRecompute, plan);
  }

  Config c_;
  double ratio_;
  Request* chunked_ = nullptr;  // admitted, prompt being chunked
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, SglangScheduler, "sglang",
                  "SGLang: prefill-first steps, radix-cache-aware order (lpm) or fcfs, chunked prefill, new-token-ratio "
                  "admission, retraction with ratio reset")

}  // namespace servesim
