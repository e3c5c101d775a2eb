// Size-aware routing for heterogeneous clusters (Melange): each request-size bucket is sent
// to pools in set shares, e.g. the shares a `servesim plan mix` integer program assigned.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/sched/i_router.h"
#include "sim/sched/router_pick.h"

namespace servesim {
namespace {

// Bucket edges: positive token counts, strictly increasing (an empty list: one bucket).
std::vector<std::int64_t> parse_edges(Params& p, const std::string& key, const std::string& help) {
  const nlohmann::json v = p.value(key, nlohmann::json::array(), help);
  std::vector<std::int64_t> out;
  if (p.doc_mode()) return out;
  if (!v.is_array()) bad_value(p.where(key), v.dump(), "a JSON array of token counts in increasing order");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", p.where(key), i);
    if (!v[i].is_number_integer() || v[i].get<std::int64_t>() < 1) bad_value(where, v[i].dump(), "a positive integer");
    const auto e = v[i].get<std::int64_t>();
    if (!out.empty() && e <= out.back()) bad_value(where, v[i].dump(), fmt::format("more than the edge before it ({})", out.back()));
    out.push_back(e);
  }
  return out;
}

std::size_t bucket_of(const std::vector<std::int64_t>& edges, std::int64_t v) {
  return static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), v) - edges.begin());
}

// Contract: a request falls in bucket (i, j), prompt-major: i counts the prompt edges at or
// below its prompt length, j the output edges at or below its output length (the output
// length is the workload's: an oracle, as Melange's request-size buckets assume). Bucket b
// goes to pool P with weight shares[P][b]; among the pools with a positive weight that
// have a serving candidate, the pool is picked by smooth weighted round robin (nginx's rule:
// every such pool's credit grows by its weight, the pool with the most credit wins, ties to
// the pool whose name sorts first (`shares` is a JSON object: its keys come sorted), and the winner's credit drops by the weights' sum), so
// over any run of a bucket's requests each pool's count is within one of its share. Within
// the pool, the candidate with the fewest outstanding requests (ties: lowest index). A bucket
// none of whose pools has a serving candidate goes to the least-loaded candidate of all.
// Pools are named as in the scenario; a pool named in `shares` but not in the routed group
// is an input error.
class SizeAwareRouter final : public IRouter {
 public:
  struct Config {
    std::vector<std::int64_t> prompt_edges, output_edges;
    std::vector<std::string> pools;               // in the order of `shares` (names sorted)
    std::vector<std::vector<double>> shares;      // [pool][bucket]
    std::string where;                            // of `shares`, for errors
    static Config parse(Params& p) {
      Config c;
      c.prompt_edges = parse_edges(p, "prompt_edges", "prompt-length bucket edges, tokens (each starts a bucket)");
      c.output_edges = parse_edges(p, "output_edges", "output-length bucket edges, tokens (each starts a bucket)");
      const nlohmann::json s = p.value("shares", nlohmann::json::object(),
                                       "{pool name: [weight per bucket]}: buckets prompt-major, each bucket's weights "
                                       "non-negative with a positive sum (e.g. the shares of `servesim plan mix`)");
      c.where = p.where("shares");
      if (p.doc_mode()) return c;
      const std::size_t nb = (c.prompt_edges.size() + 1) * (c.output_edges.size() + 1);
      if (!s.is_object() || s.empty()) bad_value(c.where, s.dump(), "a non-empty object {pool name: [weight per bucket]}");
      for (const auto& [pool, w] : s.items()) {
        const std::string where = c.where + "." + pool;
        if (!w.is_array() || w.size() != nb) {
          bad_value(where, w.dump(), fmt::format("an array of {} weights (one per bucket, prompt-major)", nb));
        }
        std::vector<double> ws;
        for (std::size_t b = 0; b < nb; ++b) {
          if (!w[b].is_number() || w[b].get<double>() < 0) bad_value(fmt::format("{}[{}]", where, b), w[b].dump(), "a number >= 0");
          ws.push_back(w[b].get<double>());
        }
        c.pools.push_back(pool);
        c.shares.push_back(std::move(ws));
      }
      for (std::size_t b = 0; b < nb; ++b) {
        double sum = 0;
        for (const auto& ws : c.shares) sum += ws[b];
        if (sum <= 0) input_error(c.where, fmt::format("bucket {} (prompt-major) has no pool with a positive weight", b));
      }
      return c;
    }
  };

  SizeAwareRouter(const Config& c, const RouterDeps& deps) : c_(c), credit_(c.shares.size()) {
    for (const std::string& name : c_.pools) {
      const auto it = std::find(deps.pools.begin(), deps.pools.end(), name);
      if (it == deps.pools.end()) {
        std::string known;
        for (const std::string& n : deps.pools) known += (known.empty() ? "" : ", ") + n;
        bad_value(c_.where, name, fmt::format("a pool this router routes to ({})", known.empty() ? "none named" : known));
      }
      group_index_.push_back(static_cast<std::int32_t>(it - deps.pools.begin()));
    }
    const std::size_t nb = (c_.prompt_edges.size() + 1) * (c_.output_edges.size() + 1);
    for (auto& v : credit_) v.assign(nb, 0.0);
  }

  std::int32_t route(const Request& r, std::span<const ReplicaView> replicas) override {
    SERVESIM_ASSERT(!replicas.empty());
    const std::size_t b = bucket_of(c_.prompt_edges, r.spec.prompt_tokens) * (c_.output_edges.size() + 1) +
                          bucket_of(c_.output_edges, r.spec.output_tokens);
    // Pools of this bucket with a positive weight and a serving candidate.
    std::vector<std::size_t> open;
    double total = 0;
    for (std::size_t k = 0; k < c_.pools.size(); ++k) {
      if (c_.shares[k][b] <= 0) continue;
      const bool serving = std::any_of(replicas.begin(), replicas.end(), [&](const ReplicaView& v) { return v.pool == group_index_[k]; });
      if (!serving) continue;
      open.push_back(k);
      total += c_.shares[k][b];
    }
    if (open.empty()) return least_outstanding(replicas);
    std::size_t best = open.front();
    for (std::size_t k : open) {
      credit_[k][b] += c_.shares[k][b];
      if (credit_[k][b] > credit_[best][b]) best = k;
    }
    credit_[best][b] -= total;
    std::int32_t pick = -1;
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      if (replicas[i].pool != group_index_[best]) continue;
      if (pick < 0 || replicas[i].outstanding() < replicas[static_cast<std::size_t>(pick)].outstanding()) pick = static_cast<std::int32_t>(i);
    }
    return pick;
  }

 private:
  Config c_;
  std::vector<std::int32_t> group_index_;     // per pool of `shares`: its index in RouterDeps::pools
  std::vector<std::vector<double>> credit_;   // [pool][bucket]: smooth weighted round robin credit
};

}  // namespace

SERVESIM_REGISTER(RouterRegistry, SizeAwareRouter, "size_aware",
                  "request-size buckets sent to pools in set shares (Melange mixes; `servesim plan mix` writes them)")

}  // namespace servesim
