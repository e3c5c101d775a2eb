#pragma once
// A scheduler driven by hand with the real paged KV manager (prefix caching off unless
// asked) at a tiny capacity: `blocks` blocks of 16 tokens. Steps take 1000 ns each.
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/kv/i_kv_manager.h"
#include "sim/sched/i_scheduler.h"

namespace servesim {

using nlohmann::json;

struct SchedRig {
  ModelSpec model;
  std::unique_ptr<IKvManager> kv;
  std::unique_ptr<IScheduler> sched;
  std::deque<Request> reqs;
  StepPlan plan;
  StepEvents events;
  SimTime now = 0;

  SchedRig(const std::string& impl, std::int64_t blocks, json sched_cfg, std::int64_t max_model_len = 0, bool prefix_caching = false,
           std::int32_t spec_tokens = 0) {
    model.name = "toy";
    model.layers = 1;
    model.kv_heads = 1;
    model.head_dim = 1;
    KvDeps deps{model, 1e12, 1.0, 1, 0};
    kv = KvManagerRegistry::get().build(
        json{{"impl", "paged"}, {"num_gpu_blocks_override", blocks}, {"enable_prefix_caching", prefix_caching}}, "test: kv",
        nullptr, deps);
    sched_cfg["impl"] = impl;
    sched = SchedulerRegistry::get().build(sched_cfg, "test: scheduler", nullptr, SchedulerDeps{*kv, max_model_len, spec_tokens});
  }
  // `prefix_ids`: the prompt's content in 16-token units (equal ids share cached blocks).
  Request* add(std::int32_t prompt, std::int32_t output, std::vector<std::uint64_t> prefix_ids = {}) {
    return add_from(prompt, output, 0, 0, std::move(prefix_ids));
  }
  // A request of `client` with `priority`, arriving now.
  Request* add_from(std::int32_t prompt, std::int32_t output, std::int32_t client, std::int32_t priority,
                    std::vector<std::uint64_t> prefix_ids = {}) {
    Request& r = reqs.emplace_back();
    r.spec.arrival = now;
    r.spec.client = client;
    r.spec.priority = priority;
    r.spec.id = static_cast<RequestId>(reqs.size() - 1);
    r.spec.prompt_tokens = prompt;
    r.spec.output_tokens = output;
    r.spec.prefix_ids = std::move(prefix_ids);
    r.spec.prefix_unit = 16;
    return sched->add(&r) ? &r : nullptr;
  }
  void step() {
    sched->schedule(now, plan);
    now += 1000;
    sched->update(now, plan, events);
  }
  std::int32_t scheduled(const Request* r) const {
    for (const auto& s : plan.seqs) {
      if (s.req == r) return s.new_tokens;
    }
    return 0;
  }
};

}  // namespace servesim
