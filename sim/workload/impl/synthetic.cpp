// Synthetic workload: Poisson or Gamma arrivals at a given rate, prompt and output lengths
// from configurable distributions, optional shared prefixes for prefix-caching studies.
#include <numbers>
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/length_dist.h"

namespace servesim {
namespace {

class SyntheticWorkload final : public IWorkload {
 public:
  struct Config {
    std::string arrival;
    double rate = 0;
    double cv = 1;
    std::int64_t num_requests = 0;
    SimTime duration = 0;
    LengthDist prompt, output;
    std::int64_t prefix_groups = 0;
    std::int32_t shared_prefix_tokens = 0;
    std::int32_t prefix_unit = 0;
    struct Client {
      double weight = 1;
      std::int32_t priority = 0;
    };
    std::vector<Client> clients;  // empty: one client 0 of priority 0
    double diurnal_amplitude = 0;   // rate(t) = rate x (1 - A cos(2 pi t / period)): trough at 0, peak at period / 2
    SimTime diurnal_period = 0;
    double client_weight_sum = 0;

    static Config parse(Params& p) {
      Config c;
      c.arrival = p.choice("arrival", "poisson", {"poisson", "gamma"}, "inter-arrival process");
      c.rate = p.real("rate", 5.5, "mean arrival rate, requests per second", 1e-9);
      c.cv = p.real("cv", 1.0, "coefficient of variation of inter-arrival times (gamma only; 1 = Poisson)", 1e-3, 100);
      c.num_requests = p.integer("num_requests", 0, "stop after this many requests (0: no limit)", 0);
      c.duration = p.duration("duration", "10min", "stop generating arrivals after this time (0: no limit)");
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
      // Read only when given (or documented), so scenarios without them resolve as before.
      if (p.has("diurnal_amplitude") || p.doc_mode()) {
        c.diurnal_amplitude = p.real("diurnal_amplitude", 0.0,
                                     "daily swing of the rate: rate x (1 - A cos(2 pi t / diurnal_period)), so the trough "
                                     "(1 - A) x rate is at t = 0 and the peak (1 + A) x rate half a period later; the mean "
                                     "over a period is rate (non-homogeneous arrivals by thinning)",
                                     0.0, 1.0);
        c.diurnal_period = p.duration("diurnal_period", "24h", "length of the daily cycle (shorten it to compress a day)", 1);
      }
      nlohmann::json cl = nlohmann::json::array();
      if (p.has("clients") || p.doc_mode()) {
        cl = p.value("clients", nlohmann::json::array(),
                     "clients sending the traffic, [{weight, priority}]: a request comes from client k (its index) with "
                     "probability weight_k / sum of weights and has its priority (lower is more urgent); absent: all from "
                     "client 0, priority 0");
      }
      if (!p.doc_mode()) {
        if (!cl.is_array()) bad_value(p.where("clients"), cl.dump(), "an array of {\"weight\": w, \"priority\": p} objects");
        for (std::size_t i = 0; i < cl.size(); ++i) {
          Params cp(cl[i], p.where("clients") + "[" + std::to_string(i) + "]");
          Client k;
          k.weight = cp.real("weight", 1.0, "share of the requests", 1e-9);
          k.priority = static_cast<std::int32_t>(cp.integer("priority", 0, "priority of its requests (lower is more urgent)", INT32_MIN, INT32_MAX));
          cp.finish();
          c.client_weight_sum += k.weight;
          c.clients.push_back(k);
        }
      }
      if (!p.doc_mode() && c.num_requests == 0 && c.duration == 0) {
        bad_value(p.where("duration"), "0", "a positive duration or a positive num_requests (the workload must end)");
      }
      return c;
    }
  };

  SyntheticWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), rng_(Rng::for_component(deps.seed, "workload.synthetic")) {}

  std::optional<RequestSpec> next() override {
    if (c_.num_requests > 0 && next_id_ >= c_.num_requests) return std::nullopt;
    // With a diurnal swing, candidates come at the peak rate and each is kept with
    // probability rate(t) / peak rate (thinning); without one, every candidate is kept and
    // no extra number is drawn.
    const double a = c_.diurnal_amplitude, peak = c_.rate * (1.0 + a);
    for (;;) {
      if (c_.arrival == "poisson" || c_.cv == 1.0) {
        clock_s_ += rng_.exponential(peak);
      } else {
        const double shape = 1.0 / (c_.cv * c_.cv);
        clock_s_ += rng_.gamma(shape, 1.0 / (peak * shape));
      }
      if (a == 0) break;
      const double phase = 2.0 * std::numbers::pi * clock_s_ / to_seconds(c_.diurnal_period);
      if (rng_.uniform01() * (1.0 + a) < 1.0 - a * std::cos(phase)) break;
      if (c_.duration > 0 && from_seconds(clock_s_) > c_.duration) return std::nullopt;
    }
    const SimTime t = from_seconds(clock_s_);
    if (c_.duration > 0 && t > c_.duration) return std::nullopt;
    RequestSpec r;
    r.id = next_id_++;
    r.arrival = t;
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
    }
    return r;
  }

 private:
  Config c_;
  Rng rng_;
  double clock_s_ = 0;
  RequestId next_id_ = 0;
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, SyntheticWorkload, "synthetic",
                  "Poisson/Gamma arrivals with fixed, uniform, lognormal or empirical lengths (defaults: Azure conv-like)")

}  // namespace servesim
