// Autoscaling policies (see i_autoscaler.h): Kubernetes HPA's proportional rule over a
// utilisation metric, and Knative KPA's concurrency rule over requests in flight.
#include <cmath>

#include "sim/sched/i_autoscaler.h"

namespace servesim {
namespace {

// Contract (Kubernetes HPA's rule, desired = ceil(current x metric / target), over vLLM's
// gpu_cache_usage_perc): the metric is the serving replicas' mean KV used fraction, so
// desired = ceil(kv_used_sum / target). Within `tolerance` of the target (|mean / target - 1|
// <= tolerance, HPA's default 0.1) the provisioned count is kept.
class TargetUtilization final : public IAutoscaler {
 public:
  struct Config {
    double target = 0.7;
    double tolerance = 0.1;
    static Config parse(Params& p) {
      Config c;
      c.target = p.real("target", 0.7, "target mean KV used fraction of the serving replicas", 1e-6, 1.0);
      c.tolerance = p.real("tolerance", 0.1,
                           "no change while the mean is within this relative distance of the target (Kubernetes HPA's "
                           "default --horizontal-pod-autoscaler-tolerance)",
                           0.0, 10.0);
      return c;
    }
  };
  explicit TargetUtilization(const Config& c) : c_(c) {}
  std::int64_t desired(const PoolLoad& l) override {
    if (l.serving > 0) {
      const double ratio = l.kv_used_sum / static_cast<double>(l.serving) / c_.target;
      if (std::abs(ratio - 1.0) <= c_.tolerance) return l.provisioned;
    }
    return static_cast<std::int64_t>(std::ceil(l.kv_used_sum / c_.target - 1e-9));
  }

 private:
  Config c_;
};

// Contract (Knative KPA's concurrency rule): desired = ceil((waiting + running) /
// target_outstanding), the requests in flight on the serving replicas over the number one
// replica should hold.
class QueueLength final : public IAutoscaler {
 public:
  struct Config {
    double target = 32;
    static Config parse(Params& p) {
      Config c;
      c.target = p.real("target_outstanding", 32.0, "requests in flight (waiting + running) one replica should hold", 1e-6);
      return c;
    }
  };
  explicit QueueLength(const Config& c) : c_(c) {}
  std::int64_t desired(const PoolLoad& l) override {
    return static_cast<std::int64_t>(std::ceil(static_cast<double>(l.waiting + l.running) / c_.target - 1e-9));
  }

 private:
  Config c_;
};

}  // namespace

SERVESIM_REGISTER(AutoscalerRegistry, TargetUtilization, "target_utilization",
                  "HPA rule: replicas = ceil(sum of KV used fractions / target), with a tolerance band")
SERVESIM_REGISTER(AutoscalerRegistry, QueueLength, "queue_length",
                  "KPA concurrency rule: replicas = ceil(requests in flight / target_outstanding)")

}  // namespace servesim
