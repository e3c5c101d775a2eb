#pragma once
// Autoscaling policies: how many replicas a pool should have, decided every control
// interval from what the pool shows now. Contract:
// - desired() returns a replica count (any integer >= 0); the cluster clamps it to the
//   pool's [min_replicas, max_replicas] and applies the cool-downs, cold starts and drains
//   (sim/serving/autoscale.h). A policy never sees or changes replicas directly.
// - It sees only the PoolLoad given: the serving replicas' queues and KV use, and how many
//   replicas are provisioned (serving + starting). The same loads in the same order give
//   the same answers (deterministic); a policy may keep its own state between calls.
#include <cstdint>

#include "sim/core/registry.h"
#include "sim/core/time.h"

namespace servesim {

// A pool's state at a control instant.
struct PoolLoad {
  SimTime now = 0;
  std::int64_t serving = 0;      // replicas the router may send work to
  std::int64_t provisioned = 0;  // serving + starting (paid for, serving soon)
  std::int64_t waiting = 0;      // requests queued on the serving replicas
  std::int64_t running = 0;      // requests in the serving replicas' running sets
  double kv_used_sum = 0;        // sum over the serving replicas of their KV used fraction
};

class IAutoscaler {
 public:
  virtual ~IAutoscaler() = default;
  virtual std::int64_t desired(const PoolLoad& load) = 0;
};

template <>
struct InterfaceName<IAutoscaler> {
  static constexpr const char* value = "autoscaler";
};
using AutoscalerRegistry = Registry<IAutoscaler>;

}  // namespace servesim
