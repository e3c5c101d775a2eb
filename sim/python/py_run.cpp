// servesim.run(): one simulation, its summary and its per-request and time-series columns.
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/python/bindings.h"
#include "sim/python/py_json.h"
#include "sim/report/output.h"
#include "sim/serving/simulation.h"

namespace servesim::python {
namespace {

// A read-only numpy view of one field of every element of `rows` (no copy); `base` owns them.
template <typename Row, typename T>
py::array field_view(const std::vector<Row>& rows, const T Row::*field, py::handle base) {
  static_assert(std::is_arithmetic_v<T>);
  const T* first = rows.empty() ? nullptr : &(rows.front().*field);
  py::array a(py::dtype::of<T>(), {static_cast<py::ssize_t>(rows.size())}, {static_cast<py::ssize_t>(sizeof(Row))}, first, base);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

// Seconds of a time in ns, NaN where requests.csv leaves the field empty (negative: never).
double seconds_or_nan(SimTime t) { return t < 0 ? std::numeric_limits<double>::quiet_NaN() : to_seconds(t); }

// A float64 column computed from every record (a copy: the values are derived).
template <typename F>
py::array_t<double> derived(const std::vector<RequestRecord>& rows, F f) {
  py::array_t<double> a(static_cast<py::ssize_t>(rows.size()));
  auto w = a.mutable_unchecked<1>();
  for (std::size_t i = 0; i < rows.size(); ++i) w(static_cast<py::ssize_t>(i)) = f(rows[i]);
  return a;
}

struct RunResult {
  SimResult result;

  py::dict requests(py::handle self) const {
    // requests.csv's columns: raw fields as views of the records, derived ones (seconds) computed,
    // NaN where the CSV is empty (a rejected request; TPOT of one output token).
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    const auto& r = result.records;
    py::dict d;
    d["id"] = field_view(r, &RequestRecord::id, self);
    d["replica"] = field_view(r, &RequestRecord::replica, self);
    d["arrival_ns"] = field_view(r, &RequestRecord::arrival, self);
    d["prompt_tokens"] = field_view(r, &RequestRecord::prompt_tokens, self);
    d["output_tokens"] = field_view(r, &RequestRecord::output_tokens, self);
    d["first_scheduled_ns"] = field_view(r, &RequestRecord::first_scheduled, self);
    d["first_token_ns"] = field_view(r, &RequestRecord::first_token, self);
    d["last_token_ns"] = field_view(r, &RequestRecord::last_token, self);
    d["preemptions"] = field_view(r, &RequestRecord::preemptions, self);
    d["cached_prefix_tokens"] = field_view(r, &RequestRecord::cached_prefix_tokens, self);
    d["rejected"] = field_view(r, &RequestRecord::rejected, self);
    d["client"] = field_view(r, &RequestRecord::client, self);
    d["priority"] = field_view(r, &RequestRecord::priority, self);
    d["decode_replica"] = field_view(r, &RequestRecord::decode_replica, self);
    d["migrations"] = field_view(r, &RequestRecord::migrations, self);
    d["kv_transfer_ns"] = field_view(r, &RequestRecord::kv_transfer_ns, self);
    d["kv_transfer_bytes"] = field_view(r, &RequestRecord::kv_transfer_bytes, self);
    const auto done = [](const RequestRecord& x, SimTime t) { return x.rejected ? nan : seconds_or_nan(t); };
    d["arrival_s"] = derived(r, [](const RequestRecord& x) { return to_seconds(x.arrival); });
    d["first_scheduled_s"] = derived(r, [&](const RequestRecord& x) { return done(x, x.first_scheduled); });
    d["first_token_s"] = derived(r, [&](const RequestRecord& x) { return done(x, x.first_token); });
    d["last_token_s"] = derived(r, [&](const RequestRecord& x) { return done(x, x.last_token); });
    d["ttft_s"] = derived(r, [](const RequestRecord& x) { return x.rejected ? nan : to_seconds(x.ttft()); });
    d["tpot_s"] = derived(r, [](const RequestRecord& x) { return x.rejected || !x.has_tpot() ? nan : x.tpot_ns() * 1e-9; });
    d["e2e_s"] = derived(r, [](const RequestRecord& x) { return x.rejected ? nan : to_seconds(x.e2e()); });
    d["queueing_s"] = derived(r, [](const RequestRecord& x) { return x.rejected ? nan : to_seconds(x.queueing()); });
    d["kv_transfer_s"] = derived(r, [](const RequestRecord& x) { return x.decode_replica >= 0 ? to_seconds(x.kv_transfer_ns) : nan; });
    std::vector<std::string> pool;
    pool.reserve(r.size());
    for (const auto& x : r) {
      const auto i = static_cast<std::size_t>(x.replica);
      pool.push_back(!x.rejected && x.replica >= 0 && i < result.replica_pool.size() ? result.replica_pool[i] : std::string());
    }
    d["pool"] = py::module_::import("numpy").attr("array")(pool, py::arg("dtype") = "str");
    return d;
  }

  py::dict timeseries(py::handle self) const {
    // timeseries.csv's raw columns, as views of the samples (kv_utilization and power_w are
    // derived in the CSV: used / capacity, and energy differences per replica).
    const auto& s = result.samples;
    py::dict d;
    d["time_ns"] = field_view(s, &TimeSample::time, self);
    d["replica"] = field_view(s, &TimeSample::replica, self);
    d["waiting"] = field_view(s, &TimeSample::waiting, self);
    d["running"] = field_view(s, &TimeSample::running, self);
    d["kv_used_tokens"] = field_view(s, &TimeSample::kv_used_tokens, self);
    d["kv_capacity_tokens"] = field_view(s, &TimeSample::kv_capacity_tokens, self);
    d["kv_allocated_bytes"] = field_view(s, &TimeSample::kv_allocated_bytes, self);
    d["kv_used_bytes"] = field_view(s, &TimeSample::kv_used_bytes, self);
    d["kv_cached_bytes"] = field_view(s, &TimeSample::kv_cached_bytes, self);
    d["kv_pages_mapped"] = field_view(s, &TimeSample::kv_pages_mapped, self);
    d["kv_exposed_map_s"] = field_view(s, &TimeSample::kv_exposed_map_s, self);
    d["kv_swap_bytes"] = field_view(s, &TimeSample::kv_swap_bytes, self);
    d["kv_offload_bytes"] = field_view(s, &TimeSample::kv_offload_bytes, self);
    d["kv_preemptions"] = field_view(s, &TimeSample::kv_preemptions, self);
    d["energy_j"] = field_view(s, &TimeSample::energy_j, self);
    return d;
  }
};

std::shared_ptr<RunResult> run(py::object scenario, std::optional<std::uint64_t> seed, const std::vector<std::string>& overrides,
                               std::optional<std::string> data_dir, std::uint64_t max_events, std::optional<std::string> max_sim_time) {
  nlohmann::json s;
  SimOptions so;
  so.data_dir = data_dir.value_or(default_data_dir());
  if (scenario.is_none()) {
    so.source = "<default scenario>";
    s = nlohmann::json::parse(default_scenario_text());
  } else {
    s = json_argument(scenario, "scenario", "<scenario dict>", &so.source);
  }
  for (const auto& a : overrides) apply_override(s, a);
  if (seed) s["seed"] = *seed;
  RunControl control;
  control.max_events = max_events;
  if (max_sim_time) {
    control.max_sim_time = units::parse_duration(*max_sim_time, "max_sim_time");
    if (control.max_sim_time <= 0) bad_value("max_sim_time", *max_sim_time, "a positive duration");
  }
  control.cancelled = python_interrupt_poll();
  auto out = std::make_shared<RunResult>();
  {
    py::gil_scoped_release nogil;
    Simulation sim(s, so);
    out->result = sim.run(control);
  }
  return out;
}

}  // namespace

void add_run(py::module_& m) {
  py::class_<RunResult, std::shared_ptr<RunResult>>(m, "RunResult", "The results of one simulation (servesim.run).")
      .def_property_readonly(
          "summary", [](const RunResult& r) { return to_python(r.result.summary); }, "summary.json, as a dict")
      .def_property_readonly(
          "resolved_config", [](const RunResult& r) { return to_python(r.result.resolved_config); },
          "resolved_config.json: the scenario with every default filled in")
      .def_property_readonly(
          "requests", [](py::object self) { return self.cast<const RunResult&>().requests(self); },
          "requests.csv's columns as numpy arrays (one entry per request; raw fields are views without a copy)")
      .def_property_readonly(
          "timeseries", [](py::object self) { return self.cast<const RunResult&>().timeseries(self); },
          "timeseries.csv's raw columns as numpy arrays (views without a copy)")
      .def_property_readonly(
          "events", [](const RunResult& r) { return r.result.events; }, "events the simulation fired")
      .def(
          "requests_frame", [](py::object self) { return data_frame(self.cast<const RunResult&>().requests(self), "requests_frame()"); },
          "requests as a pandas DataFrame (needs pandas)")
      .def(
          "timeseries_frame",
          [](py::object self) { return data_frame(self.cast<const RunResult&>().timeseries(self), "timeseries_frame()"); },
          "timeseries as a pandas DataFrame (needs pandas)")
      .def(
          "write",
          [](const RunResult& r, py::object dir, bool force) {
            OutputOptions o;
            o.flag = "write(dir)";
            o.force = force;
            write_results(path_argument(dir, "write(dir)"), r.result, o);
          },
          py::arg("dir"), py::arg("force") = false,
          "writes the run folder `servesim run --out DIR` writes (summary.json, requests.csv, timeseries.csv, "
          "resolved_config.json), atomically, under the same rules for replacing a folder");
  m.def("run", &run, py::arg("scenario") = py::none(), py::kw_only(), py::arg("seed") = py::none(),
        py::arg("set") = std::vector<std::string>{}, py::arg("data_dir") = py::none(), py::arg("max_events") = 0,
        py::arg("max_sim_time") = py::none(),
        "Simulates a scenario (a dict, or the path of a scenario file; None: the embedded default) as `servesim run` does.\n"
        "seed: replaces the scenario's seed; set: overrides as `--set` ('scheduler.max_num_seqs=128'), applied before the seed.\n"
        "Returns a RunResult. Bad input raises ValueError with the CLI's one-line message.");
}

}  // namespace servesim::python
