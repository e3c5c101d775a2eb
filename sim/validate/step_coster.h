#pragma once
// Predicts the time of one given step (a batch composition) through exactly the path a
// simulation uses: the scenario's first pool's parallel plan, cost model and engine-step
// operator, through the Executor a replica of that pool would have.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/kv/i_kv_manager.h"
#include "sim/serving/executor.h"
#include "sim/serving/simulation.h"

namespace servesim::validate {

struct StepSeq {
  std::int32_t q = 0;             // tokens computed this step
  std::int64_t context = 0;       // tokens cached before it
  std::int32_t prompt_tokens = 0;  // the request's prompt (decides whether the step samples it)
};

struct StepCost {
  double seconds = 0;                // the step as the simulation would take it
  std::array<double, 8> by_class{};  // seconds per OpClass; kCpu holds the engine's exposed host time
  double device_seconds() const;     // everything but kCpu
};

class StepCoster {
 public:
  StepCoster(const nlohmann::json& scenario, const SimOptions& options);
  StepCost cost(std::span<const StepSeq> seqs);
  const nlohmann::json& resolved_config() const { return resolved_; }
  // The cost sources that answered so far (e.g. "fit:h200_sxm@<profile sha256>:gemm"): what
  // a prediction can be traced back to.
  std::vector<std::string> sources();

 private:
  ScenarioConfig config_;
  std::shared_ptr<Catalog> catalog_;
  PoolRuntime pool_;
  KvLayout layout_;
  std::unique_ptr<Executor> exec_;
  nlohmann::json resolved_;
  std::vector<Request> requests_;
};

}  // namespace servesim::validate
