#include "sim/validate/report.h"

#include "sim/report/output.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <unistd.h>

#include "sim/core/error.h"
#include "sim/validate/svg_plot.h"

namespace servesim::validate {
namespace fs = std::filesystem;

namespace {

bool pass(double error, const Target& t) { return std::fabs(error) <= t.limit; }

nlohmann::json target_json(const Target& t, double error) {
  return {{"metric", t.metric}, {"limit", t.limit}, {"error", error}, {"pass", pass(error, t)}};
}

std::string pct(double e) { return fmt::format("{:+.1f}%", 100 * e); }


}  // namespace

nlohmann::json validation_json(const std::vector<RunValidation>& runs) {
  nlohmann::json out = nlohmann::json::array();
  for (const RunValidation& v : runs) {
    nlohmann::json j = to_json(v);
    j["targets"] = nlohmann::json::array({target_json(kStepTimeTarget, v.step_errors.abs_median),
                                          target_json(kTtftTarget, v.ttft.p50.error()),
                                          target_json(kTpotTarget, v.tpot.p50.error()),
                                          target_json(kThroughputTarget, v.throughput.error())});
    j["resolved_config"] = v.resolved_config;
    out.push_back(j);
  }
  return {{"format", "servesim.validation/1"}, {"runs", out}};
}

std::string table_text(const RunValidation& v) {
  std::string s = fmt::format("run {} ({}, {}): {} steps measured, {} simulated{}\n", v.run, v.role, v.model, v.num_steps.measured,
                              v.num_steps.predicted, v.host_scale != 1 ? fmt::format(", host scale {:.3f} (its host probe)", v.host_scale) : "");
  s += fmt::format("{:<22}{:>12}{:>12}{:>10}{:>10}  {}\n", "metric", "measured", "predicted", "error", "target", "");
  auto row = [&](const std::string& name, const Pair& p, double scale, const char* unit, const Target* t) {
    const int digits = std::string(unit) == "s" ? 2 : 1;
    s += fmt::format("{:<22}{:>10.{}f}{:<2}{:>10.{}f}{:<2}{:>10}", name, p.measured * scale, digits, unit, p.predicted * scale, digits,
                     unit, pct(p.error()));
    if (t) s += fmt::format("{:>10}  {}", fmt::format("±{:.0f}%", 100 * t->limit), pass(p.error(), *t) ? "pass" : "MISS");
    s += "\n";
  };
  s += fmt::format("{:<22}{:>12}{:>12}{:>10}{:>10}  {}\n", "step time |err| p50", "", "",
                   fmt::format("{:.1f}%", 100 * v.step_errors.abs_median), "≤5%",
                   pass(v.step_errors.abs_median, kStepTimeTarget) ? "pass" : "MISS");
  s += fmt::format("{:<22}{:>12}{:>12}{:>10}\n", "step time |err| p90", "", "", fmt::format("{:.1f}%", 100 * v.step_errors.abs_p90));
  s += fmt::format("{:<22}{:>12}{:>12}{:>10}\n", "step time bias p50", "", "", pct(v.step_errors.signed_median));
  for (const auto& [name, e] : {std::pair{"decode-only |err| p50", &v.decode_step_errors}, std::pair{"prefill |err| p50", &v.prefill_step_errors}}) {
    s += fmt::format("{:<22}{:>12}{:>12}{:>10}  {} steps, bias {}\n", name, "", "", fmt::format("{:.1f}%", 100 * e->abs_median), e->count,
                     pct(e->signed_median));
  }
  for (const auto& [name, m, t50] : {std::tuple{"TTFT", &v.ttft, &kTtftTarget}, std::tuple{"TPOT", &v.tpot, &kTpotTarget},
                                     std::tuple{"E2E", &v.e2e, static_cast<const Target*>(nullptr)}}) {
    const double scale = std::string(name) == "E2E" ? 1.0 : 1e3;
    const char* unit = std::string(name) == "E2E" ? "s" : "ms";
    row(fmt::format("{} p50", name), m->p50, scale, unit, t50);
    row(fmt::format("{} p90", name), m->p90, scale, unit, nullptr);
    row(fmt::format("{} p99", name), m->p99, scale, unit, nullptr);
  }
  row("throughput (tok/s)", v.throughput, 1.0, "", &kThroughputTarget);
  return s;
}

std::string summary_markdown(const std::vector<RunValidation>& runs) {
  std::string s =
      "| run | role | metric | measured | predicted | error | target | result |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const RunValidation& v : runs) {
    auto line = [&](const std::string& metric, const std::string& m, const std::string& p, double err, const Target* t) {
      s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", v.run, v.role, metric, m, p, pct(err),
                       t ? fmt::format("±{:.0f}%", 100 * t->limit) : "–", t ? (pass(err, *t) ? "pass" : "**miss**") : "–");
    };
    s += fmt::format("| {} | {} | step time, median / p90 of \\|error\\| over {} steps | – | – | {:.1f}% / {:.1f}% | ≤5% (median) | {} |\n",
                     v.run, v.role, v.step_errors.count, 100 * v.step_errors.abs_median, 100 * v.step_errors.abs_p90,
                     pass(v.step_errors.abs_median, kStepTimeTarget) ? "pass" : "**miss**");
    for (const auto& [name, e] : {std::pair{"decode-only", &v.decode_step_errors}, std::pair{"with prefill", &v.prefill_step_errors}}) {
      s += fmt::format("| {} | {} | {} steps: median \\|error\\| over {} (bias {}) | – | – | {:.1f}% | – | – |\n", v.run, v.role, name,
                       e->count, pct(e->signed_median), 100 * e->abs_median);
    }
    if (v.host_scale != 1) {
      s += fmt::format("| {} | {} | host scale (its host probe over the fit machine's) | – | – | {:.3f} | – | – |\n", v.run, v.role,
                       v.host_scale);
    }
    for (const auto& [name, m, t50] : {std::tuple{"TTFT", &v.ttft, &kTtftTarget}, std::tuple{"TPOT", &v.tpot, &kTpotTarget},
                                       std::tuple{"E2E", &v.e2e, static_cast<const Target*>(nullptr)}}) {
      const bool ms = std::string(name) != "E2E";
      auto fmt_v = [&](double x) { return ms ? fmt::format("{:.1f} ms", 1e3 * x) : fmt::format("{:.2f} s", x); };
      line(fmt::format("{} p50", name), fmt_v(m->p50.measured), fmt_v(m->p50.predicted), m->p50.error(), t50);
      line(fmt::format("{} p90", name), fmt_v(m->p90.measured), fmt_v(m->p90.predicted), m->p90.error(), nullptr);
      line(fmt::format("{} p99", name), fmt_v(m->p99.measured), fmt_v(m->p99.predicted), m->p99.error(), nullptr);
    }
    line("throughput (output tok/s)", fmt::format("{:.1f}", v.throughput.measured), fmt::format("{:.1f}", v.throughput.predicted),
         v.throughput.error(), &kThroughputTarget);
  }
  return s;
}

std::string per_request_csv(const RunValidation& v) {
  std::string s =
      "request_id,input_tokens,output_tokens,ttft_measured_s,ttft_predicted_s,tpot_measured_s,tpot_predicted_s,"
      "e2e_measured_s,e2e_predicted_s\n";
  for (const RequestRow& r : v.requests) {
    s += fmt::format("{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n", r.id, r.input_tokens, r.output_tokens, r.ttft.measured,
                     r.ttft.predicted, r.tpot.measured, r.tpot.predicted, r.e2e.measured, r.e2e.predicted);
  }
  return s;
}

std::string per_step_csv(const RunValidation& v) {
  std::string s = "step,num_requests,q_tokens,kv_tokens,measured_s,predicted_s,error,predicted_device_s\n";
  for (const StepRow& r : v.steps) {
    s += fmt::format("{},{},{},{},{:.6f},{:.6f},{:.4f},{:.6f}\n", r.step, r.num_requests, r.q_tokens, r.kv_tokens, r.seconds.measured,
                     r.seconds.predicted, r.seconds.error(), r.predicted_device_s);
  }
  return s;
}

std::string per_request_svg(const RunValidation& v) {
  ScatterPanel steps{"step time", "ms", {}}, ttft{"TTFT per request", "ms", {}}, e2e{"E2E per request", "s", {}};
  for (const StepRow& r : v.steps) steps.points.emplace_back(1e3 * r.seconds.measured, 1e3 * r.seconds.predicted);
  for (const RequestRow& r : v.requests) {
    ttft.points.emplace_back(1e3 * r.ttft.measured, 1e3 * r.ttft.predicted);
    e2e.points.emplace_back(r.e2e.measured, r.e2e.predicted);
  }
  return scatter_svg(fmt::format("{} ({}): predicted vs measured, dashed ±10%", v.run, v.role), {steps, ttft, e2e});
}

void write_validation(const std::string& dir, const std::vector<RunValidation>& runs, const OutputOptions& options,
                      const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::pair<std::string, std::string>> files{{"validation.json", validation_json(runs).dump(2) + "\n"},
                                                         {"summary.md", summary_markdown(runs)}};
  for (const RunValidation& v : runs) {
    files.emplace_back(v.run + "/per_request.csv", per_request_csv(v));
    files.emplace_back(v.run + "/per_step.csv", per_step_csv(v));
    files.emplace_back(v.run + "/per_request.svg", per_request_svg(v));
  }
  files.insert(files.end(), extra.begin(), extra.end());
  write_dir_atomically(dir, files, options);
}

}  // namespace servesim::validate
