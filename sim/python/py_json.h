#pragma once
// JSON between Python and C++ for the bindings (sim/python). Contract: values cross as JSON
// text through Python's own `json` module, so a summary reaches Python exactly as
// summary.json holds it (nlohmann's shortest round-trip doubles parse back to the same
// floats). Everything here is called with the GIL held.
#include <string>

#include <nlohmann/json.hpp>
#include <pybind11/pybind11.h>

namespace servesim::python {

namespace py = pybind11;

// A JSON value as Python objects (dict, list, str, int, float, bool, None).
py::object to_python(const nlohmann::json& value);

// A Python value (dicts, lists, strings, numbers, booleans, None) as JSON. Anything else, or a
// NaN/infinity, is an InputError naming `what`.
nlohmann::json from_python(py::handle value, const std::string& what);

// A scenario or sweep argument: a dict (taken as is; `source` is set to `dict_name`), or the
// path of a JSON file (str or os.PathLike; read with the CLI's reader; `source` is the path).
nlohmann::json json_argument(py::handle value, const std::string& what, const std::string& dict_name, std::string* source);

// The text of a str or os.PathLike argument.
std::string path_argument(py::handle value, const std::string& what);

}  // namespace servesim::python
