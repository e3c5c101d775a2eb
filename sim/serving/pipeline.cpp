#include "sim/serving/pipeline.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"

namespace servesim {

PipelineTimeline::Pass PipelineTimeline::enter(SimTime entry, std::span<const SimTime> stage_ns, SimTime handoff) {
  SERVESIM_ASSERT(stage_ns.size() == free_.size() && entry >= free_.front());
  Pass p;
  SimTime ready = entry;  // when this micro-batch's input is at stage s
  for (std::size_t s = 0; s < free_.size(); ++s) {
    const SimTime start = std::max(ready, free_[s]);
    free_[s] = start + stage_ns[s];
    busy_[s] += stage_ns[s];
    ready = free_[s] + handoff;
  }
  p.first_stage_free = free_.front();
  p.done = free_.back();
  return p;
}

nlohmann::json pipeline_json(const ParallelDegrees& d, const std::vector<SimTime>& stage_busy, SimTime busy) {
  nlohmann::json util = nlohmann::json::array();
  SimTime held = 0;
  for (const SimTime b : stage_busy) {
    util.push_back(busy > 0 ? static_cast<double>(b) / static_cast<double>(busy) : 0.0);
    held += b;
  }
  const double capacity = static_cast<double>(stage_busy.size()) * static_cast<double>(busy);
  return {{"micro_batches", d.micro_batches},
          {"stage_utilisation", util},
          {"bubble_fraction", capacity > 0 ? 1.0 - static_cast<double>(held) / capacity : 0.0}};
}

}  // namespace servesim
