// The Virtual Token Counter fairness scheduler (Sheng et al., "Fairness in Serving Large
// Language Models", OSDI 2024, Algorithm 2), on vLLM v1's step.
// Contract:
//  1. Each client u (the request's `client`) has a counter c_u of the service it got:
//     input_weight per prompt token computed and output_weight per output token generated
//     (the paper's w_p = 1, w_q = 2), added as the tokens are computed.
//  2. The step is vLLM v1's (token budget, running requests first, chunked prefill,
//     preemption of the newest on KV shortage), except that the next waiting request is the
//     oldest one of the backlogged client with the smallest counter (ties: lower client id).
//  3. When a client with nothing waiting gets a new request, its counter is lifted to the
//     smallest counter of the backlogged clients, or, when none is backlogged, to the
//     counter of the client served last (max of its own and that), so an idle client
//     cannot bank service.
//  4. A preempted request returns to the front of its client's queue (no lift).
#include <algorithm>
#include <map>

#include "sim/sched/queue_scheduler.h"

namespace servesim {
namespace {

class VtcScheduler final : public QueueScheduler {
 public:
  struct Config {
    BudgetConfig budget;
    double input_weight = 0, output_weight = 0;
    StepBudgets exports() const { return budget.exports(); }
    static Config parse(Params& p) {
      Config c;
      c.budget = BudgetConfig::parse(p);
      c.input_weight = p.real("input_weight", 1.0, "counter increase per prompt token computed (VTC's w_p)", 0.0);
      c.output_weight = p.real("output_weight", 2.0, "counter increase per output token generated (VTC's w_q)", 0.0);
      return c;
    }
  };

  VtcScheduler(const Config& c, const SchedulerDeps& deps) : QueueScheduler(deps, c.budget.max_num_seqs), c_(c) {}

  bool add(Request* r) override {
    if (!admissible(*r)) return false;
    r->state = RequestState::kWaiting;
    std::deque<Request*>& q = queues_[r->spec.client];
    if (q.empty()) {
      double& c = counters_[r->spec.client];
      const Request* least = next_waiting_or_null();
      c = std::max(c, least != nullptr ? counters_[least->spec.client] : last_served_);
    }
    q.push_back(r);
    ++num_queued_;
    return true;
  }
  std::size_t num_waiting() const override { return num_queued_; }

  void schedule(SimTime now, StepPlan& plan) override {
    plan.clear();
    schedule_budget(now, plan, c_.budget.rules);
  }

  void update(SimTime now, const StepPlan& plan, StepEvents& events) override {
    for (const ScheduledSeq& s : plan.seqs) {
      const Request* r = s.req;
      const std::int64_t prompt_left = std::max<std::int64_t>(0, r->spec.prompt_tokens - s.context);
      counters_[r->spec.client] += c_.input_weight * static_cast<double>(std::min<std::int64_t>(prompt_left, s.new_tokens));
    }
    QueueScheduler::update(now, plan, events);
    for (const Request* r : events.sampled) counters_[r->spec.client] += c_.output_weight;
  }

 private:
  Request* next_waiting() override { return next_waiting_or_null(); }
  void take_waiting(Request* r) override {
    std::deque<Request*>& q = queues_[r->spec.client];
    q.pop_front();
    --num_queued_;
    last_served_ = counters_[r->spec.client];
  }
  void requeue(Request* r) override {
    queues_[r->spec.client].push_front(r);
    ++num_queued_;
  }

  Request* next_waiting_or_null() {
    Request* best = nullptr;
    double best_c = 0;
    for (auto& [client, q] : queues_) {  // ordered by client id: ties go to the lower id
      if (q.empty()) continue;
      const double c = counters_[client];
      if (best == nullptr || c < best_c) {
        best = q.front();
        best_c = c;
      }
    }
    return best;
  }

  Config c_;
  std::map<std::int32_t, std::deque<Request*>> queues_;
  std::map<std::int32_t, double> counters_;
  std::size_t num_queued_ = 0;
  double last_served_ = 0;
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, VtcScheduler, "vtc",
                  "Virtual Token Counter fairness: admit the oldest request of the least-served client (weighted input "
                  "and output tokens), counters lifted when a client returns")

}  // namespace servesim
