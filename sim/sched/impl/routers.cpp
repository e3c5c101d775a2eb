// Load-based global routers and session affinity. The cache-aware router is in
// cache_routers.cpp.
#include <absl/container/flat_hash_map.h>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/sched/i_router.h"
#include "sim/sched/router_pick.h"

namespace servesim {
namespace {

// Contract: candidates 0, 1, ..., n-1, 0, ... in turn, whatever their load (n from RouterDeps).
class RoundRobinRouter final : public IRouter {
 public:
  struct Config {
    static Config parse(Params&) { return {}; }
  };
  RoundRobinRouter(const Config&, const RouterDeps& deps) : n_(deps.num_replicas) {}
  std::int32_t route(const Request&, std::span<const ReplicaView>) override {
    const std::int32_t r = next_;
    next_ = (next_ + 1) % n_;
    return r;
  }

 private:
  std::int32_t n_;
  std::int32_t next_ = 0;
};

// Contract: the candidate with the fewest outstanding (waiting + running) requests; ties go
// to the lowest index.
class LeastLoadRouter final : public IRouter {
 public:
  struct Config {
    static Config parse(Params&) { return {}; }
  };
  LeastLoadRouter(const Config&, const RouterDeps&) {}
  std::int32_t route(const Request&, std::span<const ReplicaView> replicas) override {
    return least_outstanding(replicas);
  }
};

// Contract: the candidate with the lowest KV used fraction; ties go to the one with fewer
// outstanding requests, then to the lowest index. Fractions are compared exactly (they
// come from integer token counts, so equal use gives equal fractions).
class LeastKvRouter final : public IRouter {
 public:
  struct Config {
    static Config parse(Params&) { return {}; }
  };
  LeastKvRouter(const Config&, const RouterDeps&) {}
  std::int32_t route(const Request&, std::span<const ReplicaView> replicas) override {
    SERVESIM_ASSERT(!replicas.empty());
    std::size_t best = 0;
    for (std::size_t i = 1; i < replicas.size(); ++i) {
      const ReplicaView& a = replicas[i];
      const ReplicaView& b = replicas[best];
      if (a.load.kv_used_fraction < b.load.kv_used_fraction ||
          (a.load.kv_used_fraction == b.load.kv_used_fraction && a.outstanding() < b.outstanding())) {
        best = i;
      }
    }
    return static_cast<std::int32_t>(best);
  }
};

// Contract (the "power of two choices"): draw two distinct candidates uniformly at random
// from the router's own stream (Rng::for_component(seed, "router.power_of_two")) and send
// the request to the less loaded of the two; a tie goes to the first drawn. `load` picks
// the measure: outstanding requests (waiting + running) or the KV used fraction. With one
// candidate it is chosen and nothing is drawn. Exactly two numbers are drawn per route()
// with two or more candidates, so a seed fixes the whole sequence of choices.
class PowerOfTwoRouter final : public IRouter {
 public:
  struct Config {
    bool by_kv = false;
    static Config parse(Params& p) {
      Config c;
      c.by_kv = p.choice("load", "outstanding", {"outstanding", "kv"},
                         "load measure compared between the two drawn candidates: waiting + running requests, "
                         "or the KV used fraction") == "kv";
      return c;
    }
  };
  PowerOfTwoRouter(const Config& c, const RouterDeps& deps)
      : c_(c), rng_(Rng::for_component(deps.seed, "router.power_of_two")) {}
  std::int32_t route(const Request&, std::span<const ReplicaView> replicas) override {
    SERVESIM_ASSERT(!replicas.empty());
    const auto n = static_cast<std::int64_t>(replicas.size());
    if (n == 1) return 0;
    const std::int64_t first = rng_.uniform_int(0, n - 1);
    std::int64_t second = rng_.uniform_int(0, n - 2);  // one of the n - 1 others
    if (second >= first) ++second;
    const ReplicaView& a = replicas[static_cast<std::size_t>(first)];
    const ReplicaView& b = replicas[static_cast<std::size_t>(second)];
    const bool second_less = c_.by_kv ? b.load.kv_used_fraction < a.load.kv_used_fraction
                                      : b.outstanding() < a.outstanding();
    return static_cast<std::int32_t>(second_less ? second : first);
  }

 private:
  Config c_;
  Rng rng_;
};

// Contract: a request with a session (spec.session >= 0) goes to the candidate its session
// was bound to; a session is bound to the candidate its first request went to. The first
// request of a session, and every request without a session, goes to the candidate with
// the fewest outstanding requests (ties: lowest index). With `overload_outstanding` > 0, a
// session whose candidate has at least that many outstanding requests while another has
// fewer is moved: this request goes to the least-loaded candidate and the session is bound
// there from now on (its newest context is computed there). Bindings last for the router's
// lifetime (a session's end is not observable), so on_finished is not needed.
class SessionAffinityRouter final : public IRouter {
 public:
  struct Config {
    std::int64_t overload_outstanding = 0;
    static Config parse(Params& p) {
      Config c;
      c.overload_outstanding = p.integer("overload_outstanding", 0,
                                         "move a session off its candidate when that has at least this many waiting + "
                                         "running requests and another has fewer (0: never move)",
                                         0);
      return c;
    }
  };
  SessionAffinityRouter(const Config& c, const RouterDeps&) : c_(c) {}
  std::int32_t route(const Request& r, std::span<const ReplicaView> replicas) override {
    const std::int32_t least = least_outstanding(replicas);
    if (r.spec.session < 0) return least;
    auto [it, inserted] = bound_.try_emplace(r.spec.session, least);
    if (inserted) return least;
    std::int32_t& bound = it->second;
    SERVESIM_ASSERT(bound >= 0 && static_cast<std::size_t>(bound) < replicas.size());
    const std::int64_t load = replicas[static_cast<std::size_t>(bound)].outstanding();
    if (c_.overload_outstanding > 0 && load >= c_.overload_outstanding &&
        replicas[static_cast<std::size_t>(least)].outstanding() < load) {
      bound = least;
    }
    return bound;
  }

 private:
  Config c_;
  absl::flat_hash_map<std::int64_t, std::int32_t> bound_;  // session -> candidate index
};

}  // namespace

SERVESIM_REGISTER(RouterRegistry, RoundRobinRouter, "round_robin", "replicas in turn")
SERVESIM_REGISTER(RouterRegistry, LeastLoadRouter, "least_load", "replica with the fewest waiting + running requests")
SERVESIM_REGISTER(RouterRegistry, LeastKvRouter, "least_kv",
                  "replica with the lowest KV used fraction (ties: fewer waiting + running)")
SERVESIM_REGISTER(RouterRegistry, PowerOfTwoRouter, "power_of_two",
                  "the less loaded of two replicas drawn at random (seeded)")
SERVESIM_REGISTER(RouterRegistry, SessionAffinityRouter, "session_affinity",
                  "a session's requests stick to the replica its first request went to (least-loaded)")

}  // namespace servesim
