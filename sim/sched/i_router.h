#pragma once
// Global routers: which replica of a pool (or of the pools a request may enter) receives
// a request. Contract:
// - route() returns an index into `replicas` (the candidates, in a fixed order).
// - It sees only what the views show: each candidate's queue, running set, KV use and a
//   read-only prefix-cache query ("how many of this request's leading tokens are cached
//   there now?"). It may keep its own state (counters, a seeded RNG, a memory of what it
//   routed where), but nothing else; the same inputs in the same order give the same
//   answers (deterministic).
// - A view's figures are current at the instant of the call (the cluster brings every
//   candidate up to that instant first).
// - on_finished(id, replica) tells a router that keeps per-request or per-session state
//   that a request it routed has left that candidate (default: nothing to do).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "sim/core/registry.h"
#include "sim/workload/request.h"

namespace servesim {

struct ReplicaLoad {
  std::int64_t waiting = 0;
  std::int64_t running = 0;
  double kv_used_fraction = 0;
};

// What a router may see of one candidate replica.
struct ReplicaView {
  std::int32_t replica = -1;  // the replica's cluster-wide id (for output and logs only)
  std::int32_t pool = -1;     // index of the replica's pool in RouterDeps::pools (-1: not given)
  ReplicaLoad load;
  std::int64_t kv_capacity_tokens = 0;
  std::int64_t kv_free_tokens = 0;  // capacity minus tokens held by live requests
  // Leading tokens of `r` the replica's KV cache holds now (0 when the manager caches
  // nothing). Pure: asking changes nothing. May be empty in tests (then 0).
  std::function<std::int64_t(const Request&)> cached_prefix;
  std::int64_t prefix_hit(const Request& r) const { return cached_prefix ? cached_prefix(r) : 0; }
  std::int64_t outstanding() const { return load.waiting + load.running; }
};

struct RouterDeps {
  std::int32_t num_replicas = 1;  // size of the candidate list route() will get
  std::uint64_t seed = 0;         // for routers that draw random numbers (own stream)
  std::vector<std::string> pools;  // names of the pools the group's replicas belong to (ReplicaView::pool
                                   // indexes it), whether or not they serve now; empty when not given
};

class IRouter {
 public:
  virtual ~IRouter() = default;
  virtual std::int32_t route(const Request& r, std::span<const ReplicaView> replicas) = 0;
  virtual void on_finished(RequestId id, std::int32_t candidate) {
    (void)id;
    (void)candidate;
  }
};

template <>
struct InterfaceName<IRouter> {
  static constexpr const char* value = "router";
};
using RouterRegistry = Registry<IRouter, const RouterDeps&>;

}  // namespace servesim
