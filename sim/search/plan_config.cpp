#include "sim/search/plan_config.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/dtype.h"
#include "sim/core/error.h"
#include "sim/cost/i_cost_model.h"
#include "sim/sched/i_scheduler.h"
#include "sim/serving/autoscale.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/length_dist.h"

namespace servesim::search {
namespace {

// A non-empty array of values, each checked by `check` (which throws naming the element).
template <class T, class Check>
std::vector<T> list(Params& p, const std::string& key, nlohmann::json def, const std::string& help, Check check) {
  const nlohmann::json v = p.value(key, std::move(def), help);
  if (p.doc_mode()) return {};
  if (!v.is_array()) bad_value(p.where(key), v.dump(), "a JSON array");
  if (v.empty()) bad_value(p.where(key), "[]", "a non-empty list (a search needs at least one value per axis)");
  std::vector<T> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back(check(v[i], fmt::format("{}[{}]", p.where(key), i)));
  return out;
}

std::int64_t positive_int(const nlohmann::json& v, const std::string& where) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1) bad_value(where, v.dump(), "a positive integer");
  return v.get<std::int64_t>();
}

std::string text(const nlohmann::json& v, const std::string& where) {
  if (!v.is_string() || v.get<std::string>().empty()) bad_value(where, v.dump(), "a non-empty string");
  return v.get<std::string>();
}

Split split(const nlohmann::json& v, const std::string& where) {
  const std::string expected = "\"colocated\" or \"P:D\" (prefill:decode replicas per unit, e.g. \"1:2\")";
  if (!v.is_string()) bad_value(where, v.dump(), expected);
  const std::string s = v.get<std::string>();
  if (s == "colocated") return {};
  const auto colon = s.find(':');
  Split out;
  try {
    std::size_t a = 0, b = 0;
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    out.prefill = std::stoll(s.substr(0, colon), &a);
    out.decode = std::stoll(s.substr(colon + 1), &b);
    if (a != colon || b != s.size() - colon - 1) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    bad_value(where, s, expected);
  }
  if (out.prefill < 1 || out.decode < 1 || out.prefill > 64 || out.decode > 64) bad_value(where, s, "P and D in 1..64");
  return out;
}

TrafficConfig parse_traffic(Params& p) {
  TrafficConfig t;
  t.arrival = p.choice("arrival", "poisson", {"poisson", "gamma", "trace"},
                       "arrivals: poisson or gamma at the searched rate with lengths from `prompt`/`output`, or "
                       "`trace` replayed with its inter-arrival times scaled to the searched rate");
  t.cv = p.real("cv", 1.0, "coefficient of variation of inter-arrival times (gamma only)", 1e-3, 100);
  t.prompt = p.object("prompt", "prompt-length distribution (as the synthetic workload's; default Azure conv shape)");
  t.output = p.object("output", "output-length distribution (as the synthetic workload's; default Azure conv shape)");
  t.trace = p.object("trace", "trace = a scenario workload object (azure_csv or mooncake_jsonl) for arrival \"trace\"");
  if (p.doc_mode()) return t;
  if (t.arrival == "trace") {
    if (t.trace.empty()) input_error(p.where("trace"), "missing (arrival \"trace\" needs a workload object, e.g. {\"impl\": \"azure_csv\", \"path\": ...})");
    if (!t.prompt.empty() || !t.output.empty()) input_error(p.where("prompt"), "not used with arrival \"trace\" (the trace gives the lengths)");
    const ComponentConfig c = WorkloadRegistry::get().parse(t.trace, p.where("trace"));
    if (!c.resolved.contains("time_scale")) {
      bad_value(p.where("trace.impl"), c.impl, "a trace workload with a time_scale parameter (azure_csv, mooncake_jsonl)");
    }
    if (c.resolved.value("time_scale", 1.0) != 1.0) input_error(p.where("trace.time_scale"), "set by the search (leave it out)");
    t.trace = c.resolved;
    t.trace.erase("time_scale");
  } else {
    if (!t.trace.empty()) input_error(p.where("trace"), "only used with arrival \"trace\"");
    // Defaults shaped like the Azure LLM 2023 conversation trace, as the synthetic workload's.
    if (t.prompt.empty()) t.prompt = {{"dist", "lognormal"}, {"median", 1020}, {"mean", 1155}, {"min", 2}, {"max", 14050}};
    if (t.output.empty()) t.output = {{"dist", "lognormal"}, {"median", 129}, {"mean", 211}, {"min", 1}, {"max", 1000}};
    (void)LengthDist::parse(t.prompt, p.where("prompt"));
    (void)LengthDist::parse(t.output, p.where("output"));
  }
  p.set_resolved("prompt", t.prompt);
  p.set_resolved("output", t.output);
  p.set_resolved("trace", t.trace);
  return t;
}

SloConfig parse_slo(Params& p) {
  SloConfig s;
  const double pct = p.real("percentile", 99.0, "percentile every latency bound applies to (unless set per metric)", 1, 100);
  for (const char* m : {"ttft", "tpot", "e2e"}) {
    const SimTime bound = p.duration(m, "0s", fmt::format("{} bound (0: none)", m));
    const double mp = p.real(std::string(m) + "_percentile", pct, fmt::format("percentile of the {} bound", m), 1, 100);
    if (bound > 0) s.targets.push_back({m, bound, mp});
  }
  s.goodput = p.real("goodput", 0.0,
                     "if > 0: the fraction of requests that must meet every bound (replaces the percentiles)", 0, 1);
  if (!p.doc_mode() && s.targets.empty()) {
    input_error(p.where("ttft"), "no SLO given (expected at least one of ttft, tpot, e2e as a positive duration)");
  }
  return s;
}

CandidateAxes parse_candidates(Params& p) {
  CandidateAxes c;
  c.devices = list<std::string>(p, "devices", nlohmann::json::array(), "device profiles (hardware_profiles/devices/ stems)", text);
  c.tp = list<std::int64_t>(p, "tp", {1}, "tensor-parallel degrees", positive_int);
  c.pp = list<std::int64_t>(p, "pp", {1}, "pipeline-parallel degrees", positive_int);
  c.replicas = list<std::int64_t>(p, "replicas", {1}, "replica counts (disaggregated: P:D units)", positive_int);
  c.max_num_batched_tokens = list<std::int64_t>(p, "max_num_batched_tokens", {8192}, "scheduler token budgets per step", positive_int);
  c.max_num_seqs = list<std::int64_t>(p, "max_num_seqs", {256}, "scheduler sequence limits per step", positive_int);
  c.kv_cache_dtype = list<std::string>(p, "kv_cache_dtype", {"auto"}, "KV-cache dtypes (auto, bf16, fp8, ...)",
                                       [](const nlohmann::json& v, const std::string& where) {
                                         const std::string s = text(v, where);
                                         if (s != "auto") (void)parse_kv_dtype(s, where);
                                         return s;
                                       });
  c.splits = list<Split>(p, "disaggregation", {"colocated"}, "\"colocated\" and/or \"P:D\" splits", split);
  c.scheduler = p.string("scheduler", "vllm_v1", "replica scheduler implementation (takes the knobs above)");
  c.cost = p.object("cost", "cost model object (default {\"impl\": \"roofline\"})");
  if (c.cost.empty()) c.cost = {{"impl", "roofline"}};
  p.set_resolved("cost", c.cost);
  c.gpu_memory_utilization = p.real("gpu_memory_utilization", 0.9, "fraction of device memory the engine may use", 0.05, 1.0);
  if (!p.doc_mode()) {
    // The scheduler must take both knobs, and the cost model must parse: checked once here
    // rather than found broken in every candidate.
    for (std::int64_t t : c.max_num_batched_tokens) {
      for (std::int64_t n : c.max_num_seqs) {
        (void)SchedulerRegistry::get().parse({{"impl", c.scheduler}, {"max_num_batched_tokens", t}, {"max_num_seqs", n}},
                                             p.where("scheduler"));
      }
    }
    (void)CostModelRegistry::get().parse(c.cost, p.where("cost"));
  }
  return c;
}

SearchKnobs parse_search(Params& p) {
  SearchKnobs s;
  s.requests = p.integer("requests", 400, "requests per simulation on the full (confirming) window", 10, 10'000'000);
  s.short_requests = p.integer("short_requests", 100, "requests per simulation while bracketing (0: full window only)", 0, 10'000'000);
  s.min_duration = p.duration("min_duration", "30s",
                              "every window spans at least this arrival time (a third of it while bracketing): much longer "
                              "than a request's time in the system, so a window is not a burst the batch absorbs");
  s.tolerance = p.real("tolerance", 0.05, "stop when the bracket's high/low rates are within this relative gap", 1e-4, 1);
  s.min_rate = p.real("min_rate", 0.01, "lowest rate tried, req/s (a candidate failing it sustains 0)", 1e-6);
  s.max_rate = p.real("max_rate", 10000.0, "highest rate tried, req/s", 1e-6);
  s.early_stop = p.boolean("early_stop", true, "end a simulation once an SLO is certainly broken");
  s.warm_start = p.boolean("warm_start", true, "start a candidate's bracket from its neighbour with fewer replicas");
  s.prune = p.boolean("prune", true,
                      "once a candidate meets the target, do not simulate the same one with more replicas (it costs more); "
                      "false simulates every candidate (a complete cost-vs-headroom front)");
  if (!p.doc_mode() && s.short_requests > s.requests) {
    bad_value(p.where("short_requests"), std::to_string(s.short_requests), fmt::format("at most search.requests ({})", s.requests));
  }
  if (!p.doc_mode() && s.max_rate <= s.min_rate) {
    bad_value(p.where("max_rate"), fmt::format("{}", s.max_rate), fmt::format("more than search.min_rate ({})", s.min_rate));
  }
  return s;
}

// Bucket edges: positive token counts in strictly increasing order (an empty list: one bucket).
std::vector<std::int64_t> edges(Params& p, const std::string& key, nlohmann::json def, const std::string& help) {
  const nlohmann::json v = p.value(key, std::move(def), help);
  if (p.doc_mode()) return {};
  if (!v.is_array()) bad_value(p.where(key), v.dump(), "a JSON array of token counts in increasing order");
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", p.where(key), i);
    const std::int64_t e = positive_int(v[i], where);
    if (!out.empty() && e <= out.back()) bad_value(where, v[i].dump(), fmt::format("more than the edge before it ({})", out.back()));
    out.push_back(e);
  }
  return out;
}

MixKnobs parse_mix(Params& p) {
  MixKnobs m;
  m.prompt_edges = edges(p, "prompt_edges", {1024}, "prompt-length bucket edges, tokens (each starts a bucket)");
  m.output_edges = edges(p, "output_edges", {256}, "output-length bucket edges, tokens (each starts a bucket)");
  m.samples = p.integer("samples", 4000, "requests drawn from the traffic to measure each bucket's share", 10, 10'000'000);
  return m;
}

DayKnobs parse_day(Params& p) {
  DayKnobs d;
  d.duration = p.duration("duration", "1h", "synthetic day: arrivals over this time (the plan's lengths and arrival process)", 1);
  d.amplitude = p.real("diurnal_amplitude", 0.75,
                       "synthetic day: rate(t) = mean x (1 - A cos(2 pi t / diurnal_period)) with mean = target_rate / (1 + A), "
                       "so the peak is target_rate",
                       0, 1);
  d.period = p.duration("diurnal_period", "0s", "synthetic day: length of the cycle (0: the duration)");
  d.trace = p.object("trace", "instead of the synthetic day: a scenario workload object replayed as given (its own time_scale)");
  const nlohmann::json pol = p.value("policies", nlohmann::json::array(),
                                     "autoscaling settings compared with the static plan: scenario `autoscale` objects "
                                     "(policy, min_replicas, max_replicas (default: the static plan's replicas), interval, "
                                     "cool-downs, cold start)");
  d.plans = p.integer("plans", 1, "how many of the best ranked colocated plans are compared", 1, 100);
  if (p.doc_mode()) return d;
  if (d.period == 0) d.period = d.duration;
  if (!d.trace.empty()) {
    const ComponentConfig c = WorkloadRegistry::get().parse(d.trace, p.where("trace"));
    d.trace = c.resolved;
    p.set_resolved("trace", d.trace);
  }
  if (!pol.is_array() || pol.empty()) bad_value(p.where("policies"), pol.dump(), "a non-empty list of autoscale objects");
  for (std::size_t i = 0; i < pol.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", p.where("policies"), i);
    if (!pol[i].is_object()) bad_value(where, pol[i].dump(), "an autoscale object {policy, min_replicas, ...}");
    // Checked as a scenario's section; an absent max_replicas is the static plan's count, checked per plan.
    nlohmann::json probe = pol[i];
    if (!probe.contains("max_replicas")) probe["max_replicas"] = 4096;
    Params q(probe, where);
    (void)parse_autoscale(q);
    q.finish();
    d.policies.push_back(pol[i]);
  }
  d.enabled = true;
  return d;
}

template <class Fn>
auto nested(Params& p, const std::string& key, const std::string& help, bool optional, Fn fn) {
  const nlohmann::json j = p.object(key, help, optional);
  Params q = p.doc_mode() ? Params::describe() : Params(j, p.where(key));
  auto out = fn(q);
  q.finish();
  p.set_resolved(key, q.resolved());
  return out;
}

// The plan's top-level scalar keys.
void parse_top(Params& p, PlanConfig& c) {
  p.choice("schema", "servesim.plan/1", {"servesim.plan/1"}, "plan file schema");
  c.name = p.string("name", "plan", "name of the plan (in the outputs)");
  c.seed = static_cast<std::uint64_t>(p.integer("seed", 42, "seed of every simulation (each candidate and rate uses it)", 0));
  c.model = p.string("model", std::nullopt, "model in models/ (folder name) or a path to a config.json");
  c.target_rate = p.real("target_rate", std::nullopt, "request rate the deployment must sustain, req/s", 1e-6);
  c.price_tier = p.choice("price", "on_demand", {"on_demand", "reserved"}, "which price of hardware_profiles/prices.json");
}

std::int64_t parse_limits(Params& q) { return q.integer("max_gpus", 0, "most GPUs a candidate may use (0: no limit)", 0); }

}  // namespace

std::vector<ParamDoc> plan_param_docs() {
  std::vector<ParamDoc> out;
  auto doc = [&](const std::string& prefix, auto parse) {
    Params p = Params::describe();
    (void)parse(p);
    for (ParamDoc d : p.docs()) {
      d.key = prefix + d.key;
      out.push_back(std::move(d));
    }
  };
  doc("", [](Params& p) {
    PlanConfig c;
    parse_top(p, c);
    return 0;
  });
  doc("traffic.", parse_traffic);
  doc("slo.", parse_slo);
  doc("candidates.", parse_candidates);
  doc("limits.", parse_limits);
  doc("search.", parse_search);
  doc("mix.", parse_mix);
  doc("autoscale.", parse_day);
  return out;
}

std::string Split::name() const { return disaggregated() ? fmt::format("{}:{}", prefill, decode) : "colocated"; }

PlanConfig parse_plan(const nlohmann::json& plan, const std::string& source) {
  if (!plan.is_object()) bad_value(source, plan.dump(), "a JSON object (a plan file)");
  PlanConfig c;
  c.source = source;
  Params p(plan, source);
  parse_top(p, c);
  c.traffic = nested(p, "traffic", "how requests arrive and how long they are", true, parse_traffic);
  c.slo = nested(p, "slo", "latency SLOs", false, parse_slo);
  c.candidates = nested(p, "candidates", "the axes of the search (their product is the candidate list)", false, parse_candidates);
  c.max_gpus = nested(p, "limits", "limits on a candidate", true, parse_limits);
  c.search = nested(p, "search", "how the highest sustained rate is searched", true, parse_search);
  c.mix = nested(p, "mix", "request-size buckets of `servesim plan mix` (heterogeneous device mixes)", true, parse_mix);
  if (p.has("autoscale")) {
    c.day = nested(p, "autoscale", "static vs autoscaled plans over a day of time-varying traffic", true, parse_day);
    if (c.traffic.arrival == "trace" && c.day.trace.empty()) {
      input_error(p.where("autoscale.trace"), "missing (with trace traffic the day must be a trace too: a workload object)");
    }
  }
  p.finish();
  c.resolved = p.resolved();
  if (c.search.max_rate < c.target_rate) {
    bad_value(p.where("search.max_rate"), fmt::format("{}", c.search.max_rate), fmt::format("at least target_rate ({})", c.target_rate));
  }
  return c;
}

std::string slo_text(const SloConfig& slo) {
  std::string s;
  for (const SloTarget& t : slo.targets) {
    std::string metric = t.metric;
    std::transform(metric.begin(), metric.end(), metric.begin(), [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
    const double sec = to_seconds(t.bound);
    const std::string bound = sec >= 1 ? fmt::format("{:g} s", sec) : fmt::format("{:g} ms", sec * 1e3);
    if (!s.empty()) s += ", ";
    s += slo.goodput > 0 ? fmt::format("{} <= {}", metric, bound) : fmt::format("{} p{:g} <= {}", metric, t.percentile, bound);
  }
  if (slo.goodput > 0) s += fmt::format(" for {:g}% of requests", slo.goodput * 100);
  return s;
}

}  // namespace servesim::search
