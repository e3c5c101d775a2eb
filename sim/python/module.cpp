// The Python module `servesim` (docs/python.md): run, sweep and compare from a notebook.
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

#include <pybind11/pybind11.h>

#include "sim/core/error.h"
#include "sim/python/bindings.h"

namespace servesim::python {

std::string default_data_dir() {
  const char* env = std::getenv("SERVESIM_DATA_DIR");
  return env && *env ? env : SERVESIM_DATA_DIR;
}

std::function<bool()> python_interrupt_poll() {
  auto seen = std::make_shared<std::atomic<bool>>(false);
  return [seen, main = std::this_thread::get_id()] {
    if (seen->load()) return true;
    if (std::this_thread::get_id() != main) return false;  // Python runs signal handlers on its main thread only
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      PyErr_Clear();  // raised again as KeyboardInterrupt from Cancelled, once the run has unwound
      seen->store(true);
    }
    return seen->load();
  };
}

py::object data_frame(const py::dict& columns, const char* what) {
  py::module_ pd;
  try {
    pd = py::module_::import("pandas");
  } catch (const py::error_already_set&) {
    throw py::import_error(std::string(what) + " needs pandas (Debian: python3-pandas); the numpy columns need nothing more");
  }
  return pd.attr("DataFrame")(columns, py::arg("copy") = false);
}

}  // namespace servesim::python

namespace py = pybind11;

PYBIND11_MODULE(servesim, m) {
  namespace sp = servesim::python;
  m.doc() = "servesim: a discrete-event simulator of LLM inference serving (docs/python.md)";
  m.attr("__version__") = SERVESIM_VERSION;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const servesim::InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const servesim::Cancelled& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    }
  });
  sp::add_run(m);
  sp::add_sweep(m);
  sp::add_compare(m);
}
