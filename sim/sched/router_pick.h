#pragma once
// Selection rules shared by the global routers. Contract: pure functions of the views;
// every tie goes to the lowest index, so a router built on them stays deterministic.
#include <cstdint>
#include <span>

#include "sim/core/error.h"
#include "sim/sched/i_router.h"

namespace servesim {

// The candidate with the fewest outstanding (waiting + running) requests.
inline std::int32_t least_outstanding(std::span<const ReplicaView> replicas) {
  SERVESIM_ASSERT(!replicas.empty());
  std::size_t best = 0;
  for (std::size_t i = 1; i < replicas.size(); ++i) {
    if (replicas[i].outstanding() < replicas[best].outstanding()) best = i;
  }
  return static_cast<std::int32_t>(best);
}

}  // namespace servesim
