// Synthetic workload: Poisson or Gamma arrivals at a given rate, prompt and output lengths
// from configurable distributions, optional shared prefixes for prefix-caching studies,
// optional clients with priorities, which may change over time (per-client
// priority_changes, or priority_rotation: every period each client takes the next
// client's priority).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/workload/arrival_process.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/length_dist.h"

namespace servesim {
namespace {

class SyntheticWorkload final : public IWorkload {
 public:
  struct Config {
    ArrivalProcess::Config arrivals;
    LengthDist prompt, output;
    std::int64_t prefix_groups = 0;
    std::int32_t shared_prefix_tokens = 0;
    std::int32_t prefix_unit = 0;
    struct Client {
      double weight = 1;
      std::int32_t priority = 0;
      PriorityTrace changes;  // absolute times, period 0 (no times: never changes)
    };
    std::vector<Client> clients;  // empty: one client 0 of priority 0
    double client_weight_sum = 0;
    SimTime priority_rotation = 0;  // 0: off

    static Config parse(Params& p) {
      Config c;
      c.arrivals = ArrivalProcess::Config::parse(p, 5.5, "10min");
      const nlohmann::json pd = p.object("prompt", "prompt-length distribution (see LengthDist)");
      const nlohmann::json od = p.object("output", "output-length distribution (see LengthDist)");
      // Defaults shaped like the Azure LLM 2023 conversation trace (README of ../shared/data:
      // context mean 1155, p50 1020, max 14050; generated mean 211, p50 129, max 1000).
      const nlohmann::json pdef = {{"dist", "lognormal"}, {"median", 1020}, {"mean", 1155}, {"min", 2}, {"max", 14050}};
      const nlohmann::json odef = {{"dist", "lognormal"}, {"median", 129}, {"mean", 211}, {"min", 1}, {"max", 1000}};
      c.prompt = LengthDist::parse(pd.empty() ? pdef : pd, p.where("prompt"));
      c.output = LengthDist::parse(od.empty() ? odef : od, p.where("output"));
      p.set_resolved("prompt", pd.empty() ? pdef : pd);
      p.set_resolved("output", od.empty() ? odef : od);
      c.prefix_groups = p.integer("prefix_groups", 0, "number of distinct shared prefixes (0: none)", 0);
      c.shared_prefix_tokens =
          static_cast<std::int32_t>(p.integer("shared_prefix_tokens", 0, "tokens of each shared prefix (e.g. a system prompt)", 0));
      c.prefix_unit = static_cast<std::int32_t>(p.integer("prefix_unit", 16, "tokens per prefix id", 1));
      nlohmann::json cl = nlohmann::json::array();
      if (p.has("clients") || p.doc_mode()) {
        cl = p.value("clients", nlohmann::json::array(),
                     "clients sending the traffic, [{weight, priority, priority_changes}]: a request comes from client "
                     "k (its index) with probability weight_k / sum of weights and has its priority (lower is more "
                     "urgent), changed from each priority_changes [{at, priority}] on (the priority scheduler re-reads "
                     "it every step); absent: all from client 0, priority 0");
      }
      if (p.has("priority_rotation") || p.doc_mode()) {
        c.priority_rotation = p.duration("priority_rotation", "0s",
                                         "every period, client k takes the priority of client k + 1 (mod clients), starting "
                                         "from its own (0s: off)");
      }
      if (!p.doc_mode()) {
        if (!cl.is_array()) bad_value(p.where("clients"), cl.dump(), "an array of {\"weight\": w, \"priority\": p} objects");
        for (std::size_t i = 0; i < cl.size(); ++i) {
          Params cp(cl[i], p.where("clients") + "[" + std::to_string(i) + "]");
          Client k;
          k.weight = cp.real("weight", 1.0, "share of the requests", 1e-9);
          k.priority = static_cast<std::int32_t>(cp.integer("priority", 0, "priority of its requests (lower is more urgent)", INT32_MIN, INT32_MAX));
          const nlohmann::json ch = cp.value("priority_changes", nlohmann::json::array(), "[{at, priority}]: from `at` on, its priority");
          if (!ch.is_array()) bad_value(cp.where("priority_changes"), ch.dump(), "an array of {\"at\": time, \"priority\": p} objects");
          for (std::size_t j = 0; j < ch.size(); ++j) {
            Params chp(ch[j], cp.where("priority_changes") + "[" + std::to_string(j) + "]");
            const SimTime at = chp.duration("at", std::nullopt, "when the change takes effect");
            if (!k.changes.times.empty() && at <= k.changes.times.back()) {
              bad_value(chp.where("at"), ch[j]["at"].dump(), "a time after the previous change's");
            }
            k.changes.times.push_back(at);
            k.changes.priorities.push_back(static_cast<std::int32_t>(chp.integer("priority", std::nullopt, "its priority from then on", INT32_MIN, INT32_MAX)));
            chp.finish();
          }
          cp.finish();
          c.client_weight_sum += k.weight;
          c.clients.push_back(k);
        }
        if (c.priority_rotation > 0 && c.clients.size() < 2) {
          bad_value(p.where("priority_rotation"), units::format_duration(c.priority_rotation), "0s unless there are 2 or more clients");
        }
        for (const Client& k : c.clients) {
          if (c.priority_rotation > 0 && !k.changes.times.empty()) {
            bad_value(p.where("priority_rotation"), units::format_duration(c.priority_rotation), "0s when a client has priority_changes");
          }
        }
      }
      return c;
    }
  };

  SyntheticWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), rng_(Rng::for_component(deps.seed, "workload.synthetic")), arrivals_(c.arrivals) {
    // One trace per client (built once: requests point into traces_).
    const std::size_t n = c_.clients.size();
    traces_.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      if (c_.priority_rotation > 0) {
        for (std::size_t j = 0; j < n; ++j) {
          traces_[k].times.push_back(static_cast<SimTime>(j) * c_.priority_rotation);
          traces_[k].priorities.push_back(c_.clients[(k + j) % n].priority);
        }
        traces_[k].period = static_cast<SimTime>(n) * c_.priority_rotation;
      } else {
        traces_[k] = c_.clients[k].changes;
      }
    }
  }

  std::optional<RequestSpec> next() override {
    const std::optional<SimTime> t = arrivals_.next(rng_);
    if (!t) return std::nullopt;
    RequestSpec r;
    r.id = next_id_++;
    r.arrival = *t;
    r.prompt_tokens = c_.prompt.sample(rng_);
    r.output_tokens = c_.output.sample(rng_);
    if (c_.prefix_groups > 0 && c_.shared_prefix_tokens > 0) {
      const auto group = static_cast<std::uint64_t>(rng_.uniform_int(0, c_.prefix_groups - 1));
      r.prompt_tokens += c_.shared_prefix_tokens;
      r.prefix_unit = c_.prefix_unit;
      const std::int32_t units = c_.shared_prefix_tokens / c_.prefix_unit;
      for (std::int32_t u = 0; u < units; ++u) r.prefix_ids.push_back(mix64(group + 1, static_cast<std::uint64_t>(u)));
    }
    if (!c_.clients.empty()) {
      // Drawn last, and only with several clients, so the other draws stay as without clients.
      std::size_t k = 0;
      if (c_.clients.size() > 1) {
        double x = rng_.uniform01() * c_.client_weight_sum;
        while (k + 1 < c_.clients.size() && x >= c_.clients[k].weight) x -= c_.clients[k++].weight;
      }
      r.client = static_cast<std::int32_t>(k);
      r.priority = c_.clients[k].priority;
      if (!traces_[k].times.empty()) {
        r.priority_trace = &traces_[k];
        r.priority = traces_[k].at(r.arrival, r.priority);
      }
    }
    return r;
  }

 private:
  Config c_;
  Rng rng_;
  ArrivalProcess arrivals_;
  RequestId next_id_ = 0;
  std::vector<PriorityTrace> traces_;  // per client (no times: fixed priority)
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, SyntheticWorkload, "synthetic",
                  "Poisson/Gamma arrivals with fixed, uniform, lognormal or empirical lengths (defaults: Azure conv-like)")

}  // namespace servesim
