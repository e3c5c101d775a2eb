#include "sim/validate/compare.h"

#include <algorithm>
#include <cmath>

#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/metrics/stats.h"
#include "sim/validate/step_coster.h"

namespace servesim::validate {

namespace {

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return percentile_sorted(v, p);
}

PercentilePairs percentiles(const std::vector<double>& measured, const std::vector<double>& predicted) {
  PercentilePairs out;
  out.count = static_cast<std::int64_t>(measured.size());
  out.p50 = {pct(measured, 50), pct(predicted, 50)};
  out.p90 = {pct(measured, 90), pct(predicted, 90)};
  out.p99 = {pct(measured, 99), pct(predicted, 99)};
  return out;
}

nlohmann::json pair_json(const Pair& p) {
  return {{"measured", p.measured}, {"predicted", p.predicted}, {"error", p.error()}};
}

nlohmann::json percentiles_json(const PercentilePairs& p) {
  return {{"count", p.count}, {"p50", pair_json(p.p50)}, {"p90", pair_json(p.p90)}, {"p99", pair_json(p.p99)}};
}

}  // namespace

StepErrors step_errors(const std::vector<StepRow>& rows, StepKind kind) {
  StepErrors e;
  std::vector<double> abs_err, err;
  for (const StepRow& r : rows) {
    if ((kind == StepKind::kDecodeOnly && !r.decode_only) || (kind == StepKind::kWithPrefill && r.decode_only)) continue;
    err.push_back(r.seconds.error());
    abs_err.push_back(std::fabs(r.seconds.error()));
  }
  e.count = static_cast<std::int64_t>(err.size());
  e.abs_median = pct(abs_err, 50);
  e.abs_p90 = pct(abs_err, 90);
  e.signed_median = pct(err, 50);
  return e;
}

std::vector<StepRow> predict_steps(const GtRun& run, const nlohmann::json& scenario, const SimOptions& options) {
  StepCoster coster(scenario, options);
  const nlohmann::json& cost = coster.resolved_config().at("pools").at(0).at("cost");
  const double loop = cost.contains("loop_overhead")
                          ? to_seconds(units::duration(cost["loop_overhead"], options.source + ": cost.loop_overhead"))
                          : 0.0;
  std::vector<StepRow> rows;
  rows.reserve(run.steps.size());
  std::vector<StepSeq> seqs;
  for (const GtStep& s : run.steps) {
    seqs.clear();
    for (const GtSeq& g : s.seqs) {
      seqs.push_back(StepSeq{g.q, g.context, run.requests[static_cast<std::size_t>(g.rid)].input_tokens});
    }
    const StepCost c = coster.cost(seqs);
    StepRow r;
    r.step = s.step;
    r.num_requests = s.num_requests;
    r.q_tokens = s.prefill_tokens + s.decode_tokens;
    r.kv_tokens = s.kv_tokens;
    r.seconds = {s.duration_s, c.seconds - loop};
    r.predicted_device_s = c.device_seconds();
    r.decode_only = s.prefill_tokens == 0;
    rows.push_back(r);
  }
  return rows;
}

RunValidation validate_run(const GtRun& run, const EngineProfile& profile, const nlohmann::json& constants,
                           const SimOptions& options, const std::function<nlohmann::json(const nlohmann::json&)>& transform) {
  RunValidation v;
  v.run = run.meta.name;
  v.dir = run.dir;
  v.role = run.meta.role;
  v.model = run.meta.model;
  v.host_scale = constants.value("host_scale", 1.0);
  const nlohmann::json scenario =
      transform ? transform(scenario_for_run(profile, run, constants)) : scenario_for_run(profile, run, constants);

  v.steps = predict_steps(run, scenario, options);
  v.step_errors = step_errors(v.steps);
  v.decode_step_errors = step_errors(v.steps, StepKind::kDecodeOnly);
  v.prefill_step_errors = step_errors(v.steps, StepKind::kWithPrefill);

  Simulation sim(scenario, options);
  SimResult res = sim.run();
  v.resolved_config = res.resolved_config;
  v.num_steps = {static_cast<double>(run.steps.size()), res.summary["steps"]["count"].get<double>()};

  std::vector<double> m_ttft, p_ttft, m_tpot, p_tpot, m_e2e, p_e2e;
  double m_first = 1e300, m_last = 0, p_first = 1e300, p_last = 0, m_tokens = 0, p_tokens = 0;
  for (const RequestRecord& rec : res.records) {
    if (rec.rejected) {
      input_error(run.dir, "request " + std::to_string(rec.id) +
                               " was rejected by the simulated engine (longer than its KV capacity or context)");
    }
  }
  SERVESIM_ASSERT(res.records.size() == run.requests.size());
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    const GtRequest& g = run.requests[i];
    const RequestRecord& rec = res.records[i];
    SERVESIM_ASSERT(rec.id == g.id);
    if (!g.finished) continue;  // an unfinished request has no measured latency
    RequestRow row;
    row.id = g.id;
    row.input_tokens = g.input_tokens;
    row.output_tokens = g.output_tokens;
    const double arrival_pred = to_seconds(rec.arrival);
    const double first_pred = to_seconds(rec.first_token), last_pred = to_seconds(rec.last_token);
    row.ttft = {g.first_token_s - g.arrival_s, first_pred - arrival_pred};
    row.e2e = {g.finish_s - g.arrival_s, last_pred - arrival_pred};
    if (g.output_tokens > 1) {
      row.tpot = {(g.finish_s - g.first_token_s) / (g.output_tokens - 1), (last_pred - first_pred) / (g.output_tokens - 1)};
      m_tpot.push_back(row.tpot.measured);
      p_tpot.push_back(row.tpot.predicted);
    }
    m_ttft.push_back(row.ttft.measured);
    p_ttft.push_back(row.ttft.predicted);
    m_e2e.push_back(row.e2e.measured);
    p_e2e.push_back(row.e2e.predicted);
    m_first = std::min(m_first, g.arrival_s);
    p_first = std::min(p_first, arrival_pred);
    m_last = std::max(m_last, g.finish_s);
    p_last = std::max(p_last, last_pred);
    m_tokens += g.output_tokens;
    p_tokens += rec.output_tokens;
    v.requests.push_back(row);
  }
  if (v.requests.empty()) input_error(run.dir + "/requests.csv", "no FINISHED request, expected at least one to compare");
  v.ttft = percentiles(m_ttft, p_ttft);
  v.tpot = percentiles(m_tpot, p_tpot);
  v.e2e = percentiles(m_e2e, p_e2e);
  v.throughput = {m_last > m_first ? m_tokens / (m_last - m_first) : 0.0, p_last > p_first ? p_tokens / (p_last - p_first) : 0.0};
  v.makespan = {m_last, p_last};
  return v;
}

namespace {
nlohmann::json step_errors_json(const StepErrors& e) {
  return {{"count", e.count}, {"abs_error_median", e.abs_median}, {"abs_error_p90", e.abs_p90}, {"error_median", e.signed_median}};
}
}  // namespace

nlohmann::json to_json(const RunValidation& v) {
  return {
      {"run", v.run},
      {"dir", v.dir},
      {"role", v.role},
      {"model", v.model},
      {"host_scale", v.host_scale},
      {"step_time", step_errors_json(v.step_errors)},
      {"step_time_decode_only", step_errors_json(v.decode_step_errors)},
      {"step_time_with_prefill", step_errors_json(v.prefill_step_errors)},
      {"ttft_s", percentiles_json(v.ttft)},
      {"tpot_s", percentiles_json(v.tpot)},
      {"e2e_s", percentiles_json(v.e2e)},
      {"throughput_output_tokens_per_s", pair_json(v.throughput)},
      {"num_steps", pair_json(v.num_steps)},
      {"last_completion_s", pair_json(v.makespan)},
  };
}

}  // namespace servesim::validate
