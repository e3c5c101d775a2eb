#pragma once
// The stages of one pipeline-parallel replica and the micro-batches passing through them.
// Contract:
// - Stages are FIFO: micro-batches pass every stage in the order they entered the first.
//   Stage s of a micro-batch starts when its stage s - 1 has ended and its hidden states
//   have crossed the link (one hand-off time later), and stage s is free; it then holds
//   stage s for its stage time. So a micro-batch's pass is
//     start_0 = entry,  end_s = start_s + t_s,  start_{s+1} = max(end_s + handoff, free_{s+1}).
// - enter() needs the first stage free at `entry` (entry >= stage_free(0)).
// - Times are integer ns; busy() sums each stage's held time (the bubble is what is left).
#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/time.h"
#include "sim/parallel/i_parallel_plan.h"

namespace servesim {

class PipelineTimeline {
 public:
  explicit PipelineTimeline(std::int32_t stages) : free_(static_cast<std::size_t>(stages), 0), busy_(free_.size(), 0) {}

  struct Pass {
    SimTime first_stage_free = 0;  // when the next micro-batch may enter
    SimTime done = 0;              // when it leaves the last stage (its tokens are sampled)
  };
  Pass enter(SimTime entry, std::span<const SimTime> stage_ns, SimTime handoff);

  std::int32_t stages() const { return static_cast<std::int32_t>(free_.size()); }
  SimTime stage_free(std::int32_t s) const { return free_[static_cast<std::size_t>(s)]; }
  // Time each stage has been held by micro-batches entered so far (ns).
  const std::vector<SimTime>& busy() const { return busy_; }

 private:
  std::vector<SimTime> free_;
  std::vector<SimTime> busy_;
};

// A pool's pipeline figures for summary.json: each stage's utilisation (time held / time
// busy, busy = the union of micro-batch flights, summed over replicas) and the bubble
// fraction, 1 - sum(held) / (pp x busy): the share of stage time idle while work was in flight.
nlohmann::json pipeline_json(const ParallelDegrees& d, const std::vector<SimTime>& stage_busy, SimTime busy);

}  // namespace servesim
