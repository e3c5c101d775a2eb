// servesim.compare(): the CI gate's comparison of two run folders, as `servesim compare`.
#include <optional>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "sim/python/bindings.h"
#include "sim/python/py_json.h"
#include "sim/report/compare.h"

namespace servesim::python {
namespace {

py::dict compare(py::object baseline, py::object candidate, const std::vector<std::string>& thresholds, double confidence,
                 int resamples, std::uint64_t bootstrap_seed) {
  const std::string base_dir = path_argument(baseline, "baseline"), cand_dir = path_argument(candidate, "candidate");
  std::vector<compare::Threshold> ts;
  for (const auto& t : thresholds) ts.push_back(compare::parse_threshold(t, "thresholds"));
  compare::CompareOptions o;
  o.confidence = confidence;
  o.resamples = resamples;
  o.seed = bootstrap_seed;
  compare::Comparison c;
  {
    py::gil_scoped_release nogil;
    c = compare::compare_runs(compare::load_run_set(base_dir, "baseline"), compare::load_run_set(cand_dir, "candidate"), ts, o,
                              "thresholds");
  }
  py::list deltas, verdicts;
  for (const auto& d : c.deltas) {
    py::dict x;
    x["metric"] = d.metric.name;
    x["unit"] = d.metric.unit;           // as displayed; values below are in base units (seconds, req/s, ...)
    x["display_scale"] = d.metric.display_scale;
    x["lower_is_better"] = d.metric.lower_is_better;
    x["baseline"] = d.baseline;
    x["candidate"] = d.candidate;
    x["abs_change"] = d.abs_change();
    x["rel_change"] = d.rel_change();
    if (d.has_interval) {
      x["rel_interval"] = py::make_tuple(d.rel_lo, d.rel_hi);
      x["abs_interval"] = py::make_tuple(d.abs_lo, d.abs_hi);
    } else {
      x["rel_interval"] = py::none();
      x["abs_interval"] = py::none();
    }
    deltas.append(x);
  }
  for (const auto& v : c.verdicts) {
    py::dict x;
    x["threshold"] = v.threshold.text;
    x["metric"] = v.threshold.metric;
    x["regression"] = v.regression();
    x["point_crosses"] = v.point_crosses;
    x["interval_agrees"] = v.interval_agrees;
    x["line"] = compare::verdict_line(c, v);
    verdicts.append(x);
  }
  py::dict r;
  r["regression"] = c.regression();
  r["exit_code"] = c.regression() ? 1 : 0;
  r["statistical"] = c.statistical;
  r["baseline_seeds"] = c.baseline_seeds;
  r["candidate_seeds"] = c.candidate_seeds;
  r["deltas"] = deltas;
  r["verdicts"] = verdicts;
  r["config_differences"] = c.config_differences;
  r["text"] = compare::render_text(c);
  r["markdown"] = compare::render_markdown(c, "servesim compare");
  r["junit"] = compare::render_junit({{"servesim.compare", &c}});
  return r;
}

}  // namespace

void add_compare(py::module_& m) {
  m.def("compare", &compare, py::arg("baseline"), py::arg("candidate"), py::kw_only(), py::arg("thresholds") = std::vector<std::string>{},
        py::arg("confidence") = 0.95, py::arg("resamples") = 2000, py::arg("bootstrap_seed") = 1,
        "Compares two run folders (`servesim run --out`, or `--seeds K` folders) as `servesim compare` does.\n"
        "thresholds: as --threshold ('ttft.p99=+5%', 'throughput=-2%'). Returns a dict: regression (bool), exit_code (the\n"
        "CLI's: 1 on a regression, else 0), statistical, deltas (per metric, base units), verdicts (per threshold),\n"
        "config_differences, and the CLI's text, the Markdown table and the JUnit XML.");
}

}  // namespace servesim::python
