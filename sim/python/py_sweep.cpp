// servesim.sweep(): every point of a sweep on oneTBB threads, in memory; the points table of
// `servesim sweep` (points.csv, points.jsonl) without the output folder.
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "sim/core/error.h"
#include "sim/python/bindings.h"
#include "sim/python/py_json.h"
#include "sim/search/sweep_output.h"
#include "sim/search/sweep_runner.h"
#include "sim/search/sweep_spec.h"
#include "sim/search/sweep_tables.h"

namespace servesim::python {
namespace {

using namespace servesim::search;

struct SweepResult {
  std::string name;
  std::vector<std::string> keys;
  std::string csv;    // points.csv, byte for byte as `servesim sweep` writes it
  std::string jsonl;  // points.jsonl
};

// One column of points.csv as numpy: int64 when every field is an integer, float64 when every
// non-empty field is a number (NaN where empty), else str.
py::object csv_column(const py::list& values) {
  py::module_ np = py::module_::import("numpy");
  bool ints = true, numbers = true;
  std::vector<double> as_double;
  std::vector<long long> as_int;
  for (const auto& v : values) {
    const std::string s = v.cast<std::string>();
    if (s.empty()) {
      ints = false;
      as_double.push_back(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    std::size_t used = 0;
    try {
      as_double.push_back(std::stod(s, &used));
      if (used != s.size()) numbers = false;
    } catch (const std::exception&) {
      numbers = false;
    }
    if (ints) {
      try {
        as_int.push_back(std::stoll(s, &used));
        if (used != s.size()) ints = false;
      } catch (const std::exception&) {
        ints = false;
      }
    }
    if (!numbers) break;
  }
  if (numbers && ints) return py::array_t<long long>(static_cast<py::ssize_t>(as_int.size()), as_int.data());
  if (numbers) return py::array_t<double>(static_cast<py::ssize_t>(as_double.size()), as_double.data());
  return np.attr("array")(values, py::arg("dtype") = "str");
}

py::dict columns(const SweepResult& r) {
  // points.csv read by Python's csv module (it quotes fields holding commas, as RFC 4180).
  py::list rows = py::module_::import("csv").attr("reader")(py::module_::import("io").attr("StringIO")(r.csv));
  py::dict d;
  if (rows.empty()) return d;
  const py::list header = rows[0];
  for (std::size_t c = 0; c < header.size(); ++c) {
    py::list values;
    for (std::size_t i = 1; i < rows.size(); ++i) values.append(py::list(rows[i])[c]);
    d[header[c]] = csv_column(values);
  }
  return d;
}

std::shared_ptr<SweepResult> sweep(py::object spec, std::optional<int> threads, std::optional<std::string> data_dir) {
  if (threads && (*threads < 1 || *threads > 1024)) bad_value("threads", std::to_string(*threads), "a number of threads in [1, 1024]");
  std::string source;
  const nlohmann::json j = json_argument(spec, "sweep", "<sweep dict>", &source);
  // A base given as a path is relative to the sweep file, or to the working folder for a dict.
  const std::string base_dir = py::isinstance<py::dict>(spec) ? std::filesystem::current_path().string()
                                                              : std::filesystem::path(source).parent_path().string();
  auto out = std::make_shared<SweepResult>();
  const auto poll = python_interrupt_poll();
  {
    py::gil_scoped_release nogil;
    const Sweep s = expand_sweep(j, source, base_dir);
    auto catalog = std::make_shared<Catalog>(data_dir.value_or(default_data_dir()));
    check_catalog_names(s, *catalog);
    PointRunOptions po;
    po.cancelled = poll;
    std::vector<JournalEntry> entries(s.points.size());
    {
      PointPool pool(s, catalog, po, threads.value_or(default_threads()));
      for (std::size_t i = 0; i < s.points.size(); ++i) pool.submit(i);
      bool stopped = false;
      while (pool.in_flight() > 0) {
        if (auto o = pool.next(std::chrono::milliseconds(100))) {
          stopped = stopped || o->status == PointStatus::kCancelled;
          entries[o->index] = JournalEntry{o->index, s.points[o->index].id, o->status == PointStatus::kOk, o->error, o->summary};
        }
        stopped = stopped || poll();
      }
      if (stopped) throw Cancelled("servesim.sweep: interrupted");
    }
    out->name = s.name;
    out->keys = s.keys;
    out->csv = points_csv(s, entries);
    out->jsonl = points_jsonl(s, entries);
  }
  return out;
}

}  // namespace

void add_sweep(py::module_& m) {
  py::class_<SweepResult, std::shared_ptr<SweepResult>>(m, "SweepResult", "The points table of a sweep (servesim.sweep).")
      .def_readonly("name", &SweepResult::name, "the sweep's name")
      .def_readonly("keys", &SweepResult::keys, "the varied keys (columns of the table), axis by axis")
      .def_readonly("csv", &SweepResult::csv, "points.csv as `servesim sweep` writes it")
      .def_property_readonly("columns", &columns, "points.csv's columns as numpy arrays (int64, float64 with NaN where empty, or str)")
      .def_property_readonly(
          "points",
          [](const SweepResult& r) {
            py::list l;
            std::size_t start = 0;
            while (start < r.jsonl.size()) {
              const std::size_t end = r.jsonl.find('\n', start);
              l.append(to_python(nlohmann::json::parse(r.jsonl.substr(start, end - start))));
              start = end == std::string::npos ? r.jsonl.size() : end + 1;
            }
            return l;
          },
          "points.jsonl as a list of dicts: index, id, set, status, summary (ok) or error (failed)")
      .def(
          "frame",
          [](const SweepResult& r) { return data_frame(columns(r), "frame()"); },
          "the points table as a pandas DataFrame (needs pandas)");
  m.def("sweep", &sweep, py::arg("spec"), py::kw_only(), py::arg("threads") = py::none(), py::arg("data_dir") = py::none(),
        "Runs every point of a sweep (a dict in the format of docs/sweep.md, or the path of a sweep file) on `threads`\n"
        "threads (default: all cores) and returns its points table (SweepResult), as `servesim sweep` computes it.\n"
        "A point that fails (e.g. a model that does not fit) is a row with status 'failed' and its error.");
}

}  // namespace servesim::python
