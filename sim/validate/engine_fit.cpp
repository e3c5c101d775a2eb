#include "sim/validate/engine_fit.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "sim/calibrate/csv_table.h"
#include "sim/calibrate/least_squares.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/cost/sha256.h"
#include "sim/model/model_spec.h"
#include "sim/validate/compare.h"
#include "sim/validate/step_coster.h"

namespace servesim::validate {
namespace fs = std::filesystem;

namespace {

// Four significant digits: readable constants, and the same text for the same fit.
double round4(double x) { return x == 0 ? 0.0 : std::stod(fmt::format("{:.4g}", x)); }

std::int64_t parse_int(const std::string& s, const std::string& where, const std::string& text) {
  std::int64_t v = 0;
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, v);
  if (s.empty() || r.ec != std::errc() || r.ptr != end || v < 0) {
    bad_value(where, text, "groups like 1x(q512,ctx0)+16x(q1,ctx1024)");
  }
  return v;
}

struct Sweep {
  std::string path;
  std::string model;  // folder name in models/
  std::string sdpa_backend;
  ModelSpec spec;
  struct Row {
    std::vector<SweepGroup> groups;
    double launch_s = 0, gpu_only_s = 0;
    std::int64_t q = 0, kv = 0;
  };
  std::vector<Row> rows;
};

Sweep read_sweep(const std::string& path, const std::string& data_dir) {
  Sweep s;
  s.path = path;
  const std::string meta_path = path.ends_with(".csv") ? path.substr(0, path.size() - 4) + ".meta.json" : path + ".meta.json";
  const nlohmann::json meta = read_json_file(meta_path);
  const std::string cfg = require_field(require_field(meta, "model", meta_path), "config_file", meta_path + ": model").get<std::string>();
  s.model = fs::path(cfg).parent_path().filename().string();
  s.sdpa_backend = require_field(meta, "sdpa_backend_setting", meta_path).get<std::string>();
  s.spec = load_model(s.model, data_dir, meta_path + ": model.config_file");
  const calib::CsvTable t = calib::CsvTable::read(path);
  const std::size_t c_groups = t.col("groups"), c_launch = t.col("launch_s"), c_gpu = t.col("gpu_only_s"), c_q = t.col("q_tokens"),
                    c_kv = t.col("kv_tokens");
  for (std::size_t i = 0; i < t.num_rows(); ++i) {
    Sweep::Row r;
    r.groups = parse_sweep_groups(t.cell(i, c_groups), t.where(i, c_groups));
    r.launch_s = t.positive(i, c_launch);
    r.gpu_only_s = t.positive(i, c_gpu);
    r.q = t.integer(i, c_q);
    r.kv = t.integer(i, c_kv);
    std::int64_t q = 0, kv = 0;
    for (const SweepGroup& g : r.groups) {
      q += g.count * g.q;
      kv += g.count * (g.context + g.q);
    }
    if (q != r.q) bad_value(t.where(i, c_q), t.cell(i, c_q), fmt::format("{} (the groups' tokens)", q));
    if (kv != r.kv) bad_value(t.where(i, c_kv), t.cell(i, c_kv), fmt::format("{} (the groups' keys attended)", kv));
    s.rows.push_back(std::move(r));
  }
  if (s.rows.empty()) input_error(path, "no rows, expected a forward sweep");
  return s;
}

std::vector<StepSeq> sweep_seqs(const Sweep::Row& r) {
  std::vector<StepSeq> out;
  for (const SweepGroup& g : r.groups) {
    // Each synthetic request completes its prompt in this forward (it samples a token).
    for (std::int64_t i = 0; i < g.count; ++i) {
      out.push_back(StepSeq{g.q, g.context, static_cast<std::int32_t>(g.context + g.q)});
    }
  }
  return out;
}

// An input as the profile names it (relative to the data dir), hashed as found.
nlohmann::json input_entry(const std::string& named, const std::string& found, const std::string& use) {
  return {{"path", named}, {"sha256", sha256_file_hex(found)}, {"use", use}};
}

}  // namespace

std::vector<SweepGroup> parse_sweep_groups(const std::string& text, const std::string& where) {
  std::vector<SweepGroup> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('+', start), text.size());
    const std::string part = text.substr(start, end - start);
    // N x ( q Q , ctx C )
    const std::size_t x = part.find("x(q");
    const std::size_t comma = part.find(",ctx");
    if (x == std::string::npos || comma == std::string::npos || comma < x || part.empty() || part.back() != ')') {
      bad_value(where, text, "groups like 1x(q512,ctx0)+16x(q1,ctx1024)");
    }
    SweepGroup g;
    g.count = parse_int(part.substr(0, x), where, text);
    const std::int64_t q = parse_int(part.substr(x + 3, comma - x - 3), where, text);
    g.context = parse_int(part.substr(comma + 4, part.size() - 1 - comma - 4), where, text);
    if (g.count < 1 || q < 1 || q > INT32_MAX) bad_value(where, text, "groups of count >= 1 and q >= 1");
    g.q = static_cast<std::int32_t>(q);
    out.push_back(g);
    if (end == text.size()) break;
    start = end + 1;
  }
  return out;
}

EngineFit fit_engine(const EngineProfile& p, const SimOptions& so) {
  EngineFit fit;
  nlohmann::json inputs = nlohmann::json::array();

  // Calibration runs: only role "calibration".
  std::vector<GtRun> runs;
  for (const std::string& rel : p.calibration_runs) {
    const std::string dir = resolve_data_path(rel, so.data_dir);
    GtRun run = read_run(dir);
    if (run.meta.role != "calibration") {
      bad_value((fs::path(dir) / "meta.json").string() + ": run.role", run.meta.role,
                "calibration (" + p.path + " calibration.runs: a run of another role must never be fitted on)");
    }
    check_run_matches(p, run.meta, dir);
    for (const char* f : {"meta.json", "requests.csv", "steps.csv"}) {
      inputs.push_back(input_entry((fs::path(rel) / f).string(), (fs::path(dir) / f).string(), "calibration run"));
    }
    runs.push_back(std::move(run));
  }
  if (runs.empty()) input_error(p.path + ": calibration.runs", "empty, expected at least one calibration run");

  // 1. Host launch per decoder layer: sweep rows whose device time is well under the host
  //    launch time, so the host never waited inside the forward.
  std::vector<double> per_layer;
  for (const std::string& rel : p.launch_sweeps) {
    const Sweep s = read_sweep(resolve_data_path(rel, so.data_dir), so.data_dir);
    inputs.push_back(input_entry(rel, resolve_data_path(rel, so.data_dir), "launch sweep"));
    for (const Sweep::Row& r : s.rows) {
      if (r.gpu_only_s < 0.8 * r.launch_s) per_layer.push_back(r.launch_s / static_cast<double>(s.spec.layers));
    }
  }
  if (per_layer.empty()) input_error(p.path + ": calibration.launch_sweeps", "no host-bound rows (gpu_only_s < 0.8 launch_s)");
  const double launch_per_layer = median(per_layer);

  // 2-4. Host prep, post, loop gap and cuDNN plan build from the calibration runs' steps.
  std::vector<std::array<double, 4>> prep_x;
  std::vector<double> prep_y, post_y, gaps, builds;
  std::vector<std::array<double, 2>> post_x;
  for (const GtRun& run : runs) {
    const ModelSpec m = load_model(run.meta.model, so.data_dir, run.dir + "/meta.json: model.config_file");
    for (std::size_t i = 0; i < run.steps.size(); ++i) {
      const GtStep& s = run.steps[i];
      const double n = static_cast<double>(s.num_requests), q = static_cast<double>(s.prefill_tokens + s.decode_tokens);
      if (s.prep_s > 0) {
        prep_x.push_back({1.0, n, q, static_cast<double>(s.kv_tokens)});
        prep_y.push_back(s.prep_s);
      }
      if (s.post_s > 0) {
        post_x.push_back({1.0, n});
        post_y.push_back(s.post_s);
      }
      if (i + 1 < run.steps.size()) {
        const double gap = run.steps[i + 1].start_s - (s.start_s + s.duration_s);
        if (gap >= 0 && gap < 2e-3) gaps.push_back(gap);  // busy loop; longer gaps are idle waits
      }
      if (s.prefill_tokens == 0 && s.wait_s < 0.5e-3) builds.push_back(s.launch_s - launch_per_layer * static_cast<double>(m.layers));
    }
  }
  auto solve = [](const auto& xs, const std::vector<double>& ys) {
    const Eigen::Index cols = static_cast<Eigen::Index>(xs.front().size());
    Eigen::MatrixXd X(static_cast<Eigen::Index>(xs.size()), cols);
    Eigen::VectorXd y(static_cast<Eigen::Index>(ys.size()));
    for (std::size_t i = 0; i < xs.size(); ++i) {
      for (Eigen::Index c = 0; c < cols; ++c) X(static_cast<Eigen::Index>(i), c) = xs[i][static_cast<std::size_t>(c)];
      y(static_cast<Eigen::Index>(i)) = ys[i];
    }
    // Unit-maximum columns (a constant next to token counts of ~1e5), scaled back after.
    Eigen::VectorXd scale(cols);
    for (Eigen::Index c = 0; c < cols; ++c) {
      scale(c) = X.col(c).cwiseAbs().maxCoeff();
      if (scale(c) <= 0) scale(c) = 1;
      X.col(c) /= scale(c);
    }
    std::vector<double> coef = calib::fit_relative_nonneg(X, y);
    for (Eigen::Index c = 0; c < cols; ++c) coef[static_cast<std::size_t>(c)] /= scale(c);
    return coef;
  };
  if (prep_y.size() < 4 || post_y.size() < 2) input_error(p.path + ": calibration.runs", "too few steps to fit prep and post");
  if (builds.empty()) input_error(p.path + ": calibration.runs", "no host-bound decode step (wait_s < 0.5 ms) to measure the plan build");
  const std::vector<double> prep = solve(prep_x, prep_y);
  const std::vector<double> post = solve(post_x, post_y);
  const double build = std::max(0.0, median(builds));

  // 5. Device extras from the sweeps: gpu_only_s - inner(plan operators) =
  //    base + per_token_layer x Σq x L + gather_bytes / bw + dense_flops / F  (relative NNLS).
  // The inner model's share does not depend on the engine constants: placeholders.
  const nlohmann::json trial = {{"loop_overhead", 0},       {"prep_base", 0},          {"prep_per_seq", 0},
                                {"prep_per_token", 0},      {"prep_per_kv_token", 0},  {"post_base", 0},
                                {"post_per_seq", 0},        {"launch_per_layer", 0},   {"sdpa_plan_build", 0},
                                {"gpu_step_base", 0},       {"gpu_per_token_layer", 0}, {"kv_gather_bandwidth", 1e30},
                                {"sdpa_dense_flops", 1e30}};
  std::vector<std::array<double, 4>> gx;
  std::vector<double> gy, ginner;
  std::vector<std::string> glabel;
  std::set<std::string> sources;
  for (const std::string& rel : p.gpu_sweeps) {
    const std::string path = resolve_data_path(rel, so.data_dir);
    const Sweep s = read_sweep(path, so.data_dir);
    if (s.sdpa_backend != p.sdpa_backend) {
      bad_value(path + ": sdpa_backend_setting", s.sdpa_backend, "'" + p.sdpa_backend + "' (the profile's SDPA backend)");
    }
    inputs.push_back(input_entry(rel, path, "device-time sweep"));
    StepCoster coster(scenario_for_model(p, s.model, trial), so);
    const double L = static_cast<double>(s.spec.layers);
    const double units = static_cast<double>(s.spec.heads) * static_cast<double>(s.spec.head_dim);
    for (const Sweep::Row& r : s.rows) {
      const std::vector<StepSeq> seqs = sweep_seqs(r);
      const StepCost c = coster.cost(seqs);
      double inner = 0;
      for (std::size_t k = 0; k < c.by_class.size(); ++k) {
        const auto cls = static_cast<OpClass>(k);
        if (cls != OpClass::kCpu && cls != OpClass::kAttentionDecode && cls != OpClass::kAttentionPrefill) inner += c.by_class[k];
      }
      const double q = static_cast<double>(r.q), kv = static_cast<double>(r.kv);
      gx.push_back({1.0, q * L, kv * 2.0 * units * 2.0 * L, 4.0 * q * kv * units * L});
      gy.push_back(r.gpu_only_s);
      ginner.push_back(inner);
      std::string label;
      for (const SweepGroup& sg : r.groups) label += fmt::format("{}{}x(q{},ctx{})", label.empty() ? "" : "+", sg.count, sg.q, sg.context);
      glabel.push_back(s.model + " " + label);
    }
    for (const std::string& src : coster.sources()) sources.insert(src);
  }
  if (gy.size() < 4) input_error(p.path + ": calibration.gpu_sweeps", "fewer than 4 rows, expected a forward sweep");
  Eigen::MatrixXd A(static_cast<Eigen::Index>(gy.size()), 4);
  Eigen::VectorXd b(static_cast<Eigen::Index>(gy.size()));
  for (std::size_t i = 0; i < gy.size(); ++i) {
    const auto ii = static_cast<Eigen::Index>(i);
    for (Eigen::Index c = 0; c < 4; ++c) A(ii, c) = gx[i][static_cast<std::size_t>(c)] / gy[i];
    b(ii) = (gy[i] - ginner[i]) / gy[i];
  }
  // Columns span 1 to ~1e15 (a constant, tokens, bytes, FLOPs): scale each to a unit maximum
  // so the active-set solver works on a well-conditioned system, then scale back.
  Eigen::VectorXd col_scale(4);
  for (Eigen::Index c = 0; c < 4; ++c) {
    col_scale(c) = A.col(c).cwiseAbs().maxCoeff();
    if (col_scale(c) <= 0) col_scale(c) = 1;
    A.col(c) /= col_scale(c);
  }
  const Eigen::VectorXd g = calib::nnls(A, b).cwiseQuotient(col_scale);
  std::vector<double> gpu_err;
  nlohmann::json gpu_rows = nlohmann::json::array();
  for (std::size_t i = 0; i < gy.size(); ++i) {
    double pred = ginner[i];
    for (int c = 0; c < 4; ++c) pred += g(c) * gx[i][static_cast<std::size_t>(c)];
    gpu_err.push_back(std::fabs(pred - gy[i]) / gy[i]);
    gpu_rows.push_back({{"batch", glabel[i]}, {"measured_s", gy[i]}, {"inner_s", round4(ginner[i])}, {"predicted_s", round4(pred)}});
  }
  // A zero coefficient means the term is not needed: an unbounded rate.
  const double kInfiniteRate = 1e30;

  fit.constants = {
      {"loop_overhead", round4(median(gaps))},
      {"prep_base", round4(prep[0])},
      {"prep_per_seq", round4(prep[1])},
      {"prep_per_token", round4(prep[2])},
      {"prep_per_kv_token", round4(prep[3])},
      {"post_base", round4(post[0])},
      {"post_per_seq", round4(post[1])},
      {"launch_per_layer", round4(launch_per_layer)},
      {"sdpa_plan_build", round4(build)},
      {"gpu_step_base", round4(g(0))},
      {"gpu_per_token_layer", round4(g(1))},
      {"kv_gather_bandwidth", round4(g(2) > 0 ? 1.0 / g(2) : kInfiniteRate)},
      {"sdpa_dense_flops", round4(g(3) > 0 ? 1.0 / g(3) : kInfiniteRate)},
  };
  fit.provenance = {
      {"inputs", inputs},
      {"inner_cost_model", p.scenario["cost"].value("inner", nlohmann::json::object())},
      {"device_sweep_cost_sources", std::vector<std::string>(sources.begin(), sources.end())},
      {"rules",
       {{"launch_per_layer", "median over launch sweeps of launch_s / layers, rows with gpu_only_s < 0.8 launch_s"},
        {"prep_*", "non-negative least squares (relative error) of calibration steps' prep_s on [1, requests, q tokens, kv tokens]"},
        {"post_*", "non-negative least squares (relative error) of calibration steps' post_s on [1, requests]"},
        {"loop_overhead", "median gap between consecutive calibration steps when under 2 ms"},
        {"sdpa_plan_build", "median of launch_s - launch_per_layer x layers over host-bound (wait_s < 0.5 ms) decode-only calibration steps"},
        {"gpu_*, kv_gather_bandwidth, sdpa_dense_flops",
         "non-negative least squares (relative error) of device-time sweep rows' gpu_only_s less the inner cost model's "
         "non-attention operators on [1, q x layers, gathered K/V bytes, dense SDPA FLOPs]"}}},
  };
  fit.quality = {
      {"launch_rows", per_layer.size()},
      {"plan_build_steps", builds.size()},
      {"loop_gaps", gaps.size()},
      {"device_sweep_rows", gy.size()},
      {"device_sweep_abs_error_median", round4(median(gpu_err))},
      {"device_sweep_abs_error_max", round4(gpu_err.empty() ? 0.0 : *std::max_element(gpu_err.begin(), gpu_err.end()))},
      {"device_sweep", gpu_rows},
  };
  // Step-time residuals on the calibration runs with the fitted constants (fit quality, not validation).
  nlohmann::json per_run = nlohmann::json::object();
  for (const GtRun& run : runs) {
    const StepErrors e = step_errors(predict_steps(run, scenario_for_run(p, run, fit.constants), so));
    per_run[run.meta.name] = {{"steps", e.count},
                              {"abs_error_median", round4(e.abs_median)},
                              {"abs_error_p90", round4(e.abs_p90)},
                              {"error_median", round4(e.signed_median)}};
  }
  fit.quality["calibration_step_time"] = per_run;
  std::vector<double> probes;
  for (const GtRun& run : runs) {
    if (run.meta.host_plan_build_s > 0) probes.push_back(run.meta.host_plan_build_s);
  }
  if (!probes.empty()) {
    fit.host_probe = {{"sdpa_plan_build_s", round4(median(probes))},
                      {"runs", probes.size()},
                      {"rule", "median over the calibration runs that carry one of meta.json sdpa_probe: the median host time "
                               "of a cuDNN SDPA plan build for a new shape (as_configured cases after the first)"}};
    fit.host_population = host_population(p, median(probes), so);
  }
  fit.host_repeat = host_repeat(p, so);
  return fit;
}

nlohmann::json host_population(const EngineProfile& p, double fit_probe_s, const SimOptions& so) {
  if (p.host_population_dirs.empty()) return nullptr;
  // One instance per process: runs of one process share its probe record, so its value.
  std::map<double, std::vector<std::string>> by_probe;
  for (const std::string& rel : p.host_population_dirs) {
    for (const std::string& dir : find_runs(resolve_data_path(rel, so.data_dir))) {
      const GtMeta m = read_meta(dir);
      if (m.host_plan_build_s > 0 && run_matches(p, m)) by_probe[m.host_plan_build_s].push_back(m.name);
    }
  }
  nlohmann::json instances = nlohmann::json::array();
  for (const auto& [probe, names] : by_probe) {
    instances.push_back({{"probe_s", round4(probe)}, {"scale", round4(probe / fit_probe_s)}, {"runs", names}});
  }
  return {{"folders", p.host_population_dirs},
          {"instances", instances},
          {"rule", "one instance per process that probed (runs sharing a probe value share a process) among the runs of "
                   "calibration.host_population made with this engine configuration; scale = its probe / fitted.host_probe. "
                   "Only the probes are read, never the runs' outcomes. `validate --uncertainty` draws each replay's "
                   "host_scale from these, leaving out the validated run's own process"}};
}

nlohmann::json host_repeat(const EngineProfile& p, const SimOptions& so) {
  if (p.repeat_dirs.empty()) return nullptr;
  std::map<double, std::vector<std::pair<std::string, double>>> by_probe;  // process -> (run, host s)
  for (const std::string& rel : p.repeat_dirs) {
    for (const std::string& dir : find_runs(resolve_data_path(rel, so.data_dir))) {
      const GtMeta m = read_meta(dir);
      if (!(m.host_plan_build_s > 0) || !run_matches(p, m)) continue;
      const GtRun run = read_run(dir);
      std::vector<double> host;
      for (const GtStep& st : run.steps) {
        if (st.prefill_tokens == 0 && st.decode_tokens > 0) host.push_back(st.duration_s - st.wait_s);
      }
      if (!host.empty()) by_probe[m.host_plan_build_s].emplace_back(m.name, median(host));
    }
  }
  nlohmann::json processes = nlohmann::json::array();
  std::vector<double> deviations;
  for (const auto& [probe, runs] : by_probe) {
    if (runs.size() < 2) continue;
    double mean = 0;
    for (const auto& r : runs) mean += r.second / static_cast<double>(runs.size());
    nlohmann::json names = nlohmann::json::array(), host = nlohmann::json::array();
    for (const auto& [name, h] : runs) {
      names.push_back(name);
      host.push_back(round4(h));
      deviations.push_back(round4(h / mean - 1));
    }
    processes.push_back({{"probe_s", round4(probe)}, {"runs", names}, {"host_s", host}});
  }
  if (deviations.empty()) {
    input_error(p.path + ": calibration.repeat_runs", "no process with two or more runs of this engine configuration that carry a "
                                                      "host probe; expected repeated runs (tools/groundtruth/run_device.sh repeat)");
  }
  return {{"folders", p.repeat_dirs},
          {"processes", processes},
          {"deviations", deviations},
          {"rule", "per process (runs sharing a probe value) with two or more runs of this engine configuration among "
                   "calibration.repeat_runs: each run's host time (median over its decode-only steps of duration - wait) "
                   "over the mean of its process's runs, minus 1. `validate --uncertainty` and `run --engine --uncertainty` "
                   "multiply each replay's host scale by 1 + one of these (every instance with every deviation once in the "
                   "first n x m replays), also with --host-probe / --host-scale"}};
}

nlohmann::json with_fit(const EngineProfile& p, const EngineFit& fit) {
  nlohmann::json doc = p.doc;
  doc["fitted"] = {{"by", "servesim validate fit"}, {"constants", fit.constants}, {"provenance", fit.provenance},
                   {"quality", fit.quality}};
  if (!fit.host_probe.is_null()) doc["fitted"]["host_probe"] = fit.host_probe;
  if (!fit.host_population.is_null()) doc["fitted"]["host_population"] = fit.host_population;
  if (!fit.host_repeat.is_null()) doc["fitted"]["host_repeat"] = fit.host_repeat;
  return doc;
}

}  // namespace servesim::validate
