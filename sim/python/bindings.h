#pragma once
// The parts of the Python module `servesim` (docs/python.md), one function per file that adds
// its classes and functions to the module. Contract for every binding:
// - bad input raises ValueError with the same one-line message the CLI prints (InputError);
//   Ctrl-C during a simulation raises KeyboardInterrupt (Cancelled), leaving nothing behind;
// - the GIL is released while simulating, so other Python threads run meanwhile;
// - results are the CLI's for the same inputs: same scenario + seed, same numbers.
#include <functional>
#include <string>

#include <pybind11/pybind11.h>

namespace servesim::python {

namespace py = pybind11;

void add_run(py::module_& m);      // servesim.run, RunResult (py_run.cpp)
void add_sweep(py::module_& m);    // servesim.sweep, SweepResult (py_sweep.cpp)
void add_compare(py::module_& m);  // servesim.compare (py_compare.cpp)

// $SERVESIM_DATA_DIR, else the build's source tree: the default `data_dir` (as the CLI's).
std::string default_data_dir();

// A poll for RunControl::cancelled / PointRunOptions::cancelled: true once Python has seen a
// signal (Ctrl-C). Safe to call without the GIL and from any thread; only the main thread
// looks at the signals.
std::function<bool()> python_interrupt_poll();

// A pandas DataFrame of `columns` (numpy arrays; not copied where pandas can avoid it); without
// pandas an ImportError naming `what` and the Debian package.
py::object data_frame(const py::dict& columns, const char* what);

}  // namespace servesim::python
