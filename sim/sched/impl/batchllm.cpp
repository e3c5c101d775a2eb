// BatchLLM (Zheng et al., "BatchLLM: Optimizing Large Batched LLM Inference with Global
// Prefix Sharing and Throughput-oriented Token Batching", 2024), on vLLM v1's step.
// Made for offline batches (the whole job known at once: every arrival at t = 0).
// Contract:
//  1. Global prefix grouping: the requests of one group share their first prefix id (the
//     first `prefix_unit` tokens, sim/workload/request.h); a request without prefix ids is
//     a group of its own. Within a group, requests are ordered by their prefix ids
//     (lexicographically: a depth-first walk of the group's prefix tree, so requests that
//     share longer prefixes are adjacent), then by rule 2's ratio, then by id.
//  2. Long decode first: groups are ordered by their decode-to-prefill ratio, the sum of
//     the output tokens of every request the group received over the sum of their prompt
//     tokens, highest first
//     (ties: lower group key, then the lower id of the first request); with
//     long_decode_first false, by the group's first request id (arrival order).
//  3. The waiting queue is kept in that order; it is sorted again when requests arrived
//     since the last step (a preempted request returns to its front, as vLLM's).
//  4. Reuse once computed: a waiting request is passed over in this step while a running
//     request of its group is still computing prompt tokens the two share (its
//     num_computed below their common prefix), so the shared prefix is computed once and
//     the later requests find it in the prefix cache; the requests behind it may start.
//  5. Token batching: vLLM v1's step (see vllm_v1.cpp) fills each step to
//     max_num_batched_tokens, running requests first, then waiting ones in this order with
//     chunked prefill, while max_num_seqs and KV allow; KV shortage preempts the newest.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

// Tokens two prompts share as far as their prefix ids tell.
std::int64_t common_prefix_tokens(const RequestSpec& a, const RequestSpec& b) {
  if (a.prefix_unit != b.prefix_unit || a.prefix_unit <= 0) return 0;
  const auto n = std::min(a.prefix_ids.size(), b.prefix_ids.size());
  std::size_t i = 0;
  while (i < n && a.prefix_ids[i] == b.prefix_ids[i]) ++i;
  const std::int64_t tokens = static_cast<std::int64_t>(i) * a.prefix_unit;
  return std::min<std::int64_t>({tokens, a.prompt_tokens, b.prompt_tokens});
}

class BatchLlmScheduler final : public QueueScheduler {
 public:
  struct Config {
    BudgetConfig budget;
    bool long_decode_first = true;
    StepBudgets exports() const { return budget.exports(); }
    static Config parse(Params& p) {
      Config c;
      c.budget = BudgetConfig::parse(p);
      c.long_decode_first = p.boolean("long_decode_first", true,
                                      "order prefix groups by decode-to-prefill token ratio, highest first (false: arrival order)");
      return c;
    }
  };

  BatchLlmScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.budget.max_num_seqs), c_(c) {}

  bool add(Request* r) override {
    if (!QueueScheduler::add(r)) return false;
    Group& g = groups_[group_key(r->spec)];
    g.prompt += r->spec.prompt_tokens;
    g.output += r->spec.output_tokens;
    if (g.first_id < 0) g.first_id = r->spec.id;
    dirty_ = true;
    return true;
  }

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    if (dirty_) sort_waiting();
    schedule_budget(now, plan, c_.budget.rules);
  }

  std::int64_t repeatable_decode_steps(const StepPlan& plan) const override { return pure_decode_repeats(plan); }

 private:
  struct Group {
    std::int64_t prompt = 0, output = 0;
    std::int64_t first_id = -1;
  };

  // The group a request belongs to: its first prefix id, or its own id (no prefix ids).
  // Prefix ids and request ids are kept apart by the pair's flag.
  static std::pair<std::uint8_t, std::uint64_t> group_key(const RequestSpec& s) {
    if (s.prefix_ids.empty()) return {1, static_cast<std::uint64_t>(s.id)};
    return {0, s.prefix_ids.front()};
  }

  static double ratio(std::int64_t output, std::int64_t prompt) {
    return static_cast<double>(output) / static_cast<double>(std::max<std::int64_t>(prompt, 1));
  }

  bool before(const Request* a, const Request* b) const {
    const auto ka = group_key(a->spec), kb = group_key(b->spec);
    if (ka != kb) {
      const Group& ga = groups_.at(ka);
      const Group& gb = groups_.at(kb);
      if (c_.long_decode_first) {
        const double ra = ratio(ga.output, ga.prompt), rb = ratio(gb.output, gb.prompt);
        if (ra != rb) return ra > rb;
        return ka < kb;
      }
      return ga.first_id < gb.first_id;
    }
    if (a->spec.prefix_ids != b->spec.prefix_ids) return a->spec.prefix_ids < b->spec.prefix_ids;
    const double ra = ratio(a->spec.output_tokens, a->spec.prompt_tokens), rb = ratio(b->spec.output_tokens, b->spec.prompt_tokens);
    if (ra != rb) return ra > rb;
    return a->spec.id < b->spec.id;
  }

  void sort_waiting() {
    std::stable_sort(waiting_.begin(), waiting_.end(), [this](const Request* a, const Request* b) { return before(a, b); });
    dirty_ = false;
  }

  // Rule 4: a running request of r's group still computes prompt tokens r could reuse.
  bool held_back(const Request& r) const {
    if (r.spec.prefix_ids.empty()) return false;
    for (const Request* m : running_) {
      if (m->spec.prefix_ids.empty() || m->spec.prefix_ids.front() != r.spec.prefix_ids.front()) continue;
      if (m->num_computed < common_prefix_tokens(m->spec, r.spec)) return true;
    }
    return false;
  }

  Request* next_waiting() override {
    for (Request* r : waiting_) {
      if (!held_back(*r)) return r;
    }
    return nullptr;
  }

  void take_waiting(Request* r) override { waiting_.erase(std::find(waiting_.begin(), waiting_.end(), r)); }

  bool accepts(const Request& r) const override {
    return c_.budget.rules.chunked_prefill || r.spec.prompt_tokens <= c_.budget.rules.max_tokens;
  }

  Config c_;
  absl::flat_hash_map<std::pair<std::uint8_t, std::uint64_t>, Group> groups_;
  bool dirty_ = false;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, BatchLlmScheduler, "batchllm",
                  "BatchLLM (offline batch): global prefix groups scheduled together, long-decode-first order, shared "
                  "prefixes computed once, vLLM v1's token-budget steps")

}  // namespace servesim
