// Simple global routers.
#include "sim/sched/i_router.h"

namespace servesim {
namespace {

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

class LeastLoadRouter final : public IRouter {
 public:
  struct Config {
    static Config parse(Params&) { return {}; }
  };
  LeastLoadRouter(const Config&, const RouterDeps&) {}
  std::int32_t route(const Request&, std::span<const ReplicaView> replicas) override {
    // Fewest outstanding requests; ties go to the lowest index.
    std::int32_t best = 0;
    for (std::size_t i = 1; i < replicas.size(); ++i) {
      if (replicas[i].outstanding() < replicas[static_cast<std::size_t>(best)].outstanding()) best = static_cast<std::int32_t>(i);
    }
    return best;
  }
};

}  // namespace

SERVESIM_REGISTER(RouterRegistry, RoundRobinRouter, "round_robin", "replicas in turn")
SERVESIM_REGISTER(RouterRegistry, LeastLoadRouter, "least_load", "replica with the fewest waiting + running requests")

}  // namespace servesim
