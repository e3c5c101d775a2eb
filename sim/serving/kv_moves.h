#pragma once
// The cluster's moving KV (private to sim/serving): a transfer in flight between two
// replicas (a disaggregated hand-off or a live migration's copy round), and a migration in
// progress. Rules in simulation.h; the code in kv_moves.cpp.
#include <memory>

#include "sim/serving/simulation.h"

namespace servesim {

struct Simulation::Transfer {
  enum class Kind : std::uint8_t { kHandOff, kMigrationRound, kMigrationFinal };
  Kind kind = Kind::kHandOff;
  Request* r = nullptr;
  std::int32_t src = -1, dst = -1;
  std::int32_t src_slot = -1, dst_slot = -1;
  double bytes = 0;      // bytes this transfer moves
  double remaining = 0;  // of which not yet sent
  double capacity = 0;   // path bandwidth, bytes/s
  SimTime latency = 0;   // added once, at the end
  double rate = 0;       // current share of the path, bytes/s
  SimTime started = 0;   // when the request left (hand-off) or stopped (final migration copy)
  SimTime finish = -1;   // scheduled completion
  SimTime copy_start = 0;  // when the copy began (the KV was placed at dst)
  EventId event = 0;
};

struct Simulation::Migration {
  Request* r = nullptr;
  std::int32_t pool = 0;
  std::int32_t src = -1, dst = -1;
  std::int32_t dst_slot = -1;
  std::int64_t copied = 0;    // tokens whose KV is (or is being) copied to dst
  bool awaiting_stop = false; // the next step end of src stops the request
  Transfer* transfer = nullptr;
};

}  // namespace servesim
