#include "sim/python/py_json.h"

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim::python {

py::object to_python(const nlohmann::json& value) {
  return py::module_::import("json").attr("loads")(py::str(value.dump()));
}

nlohmann::json from_python(py::handle value, const std::string& what) {
  std::string text;
  try {
    text = py::module_::import("json").attr("dumps")(value, py::arg("allow_nan") = false).cast<std::string>();
  } catch (const py::error_already_set& e) {
    // TypeError (not JSON-serialisable) or ValueError (NaN, infinity): say which, on one line.
    bad_value(what, py::str(value).cast<std::string>(), fmt::format("a JSON value: dicts, lists, str, numbers, bool, None ({})",
                                                                     quoted_value(e.what(), 120)));
  }
  return parse_json_text(text, what);
}

std::string path_argument(py::handle value, const std::string& what) {
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::hasattr(value, "__fspath__")) return py::str(value.attr("__fspath__")()).cast<std::string>();
  bad_value(what, py::str(py::type::handle_of(value).attr("__name__")).cast<std::string>(), "a path (str or os.PathLike)");
}

nlohmann::json json_argument(py::handle value, const std::string& what, const std::string& dict_name, std::string* source) {
  if (py::isinstance<py::dict>(value)) {
    *source = dict_name;
    return from_python(value, what);
  }
  if (py::isinstance<py::str>(value) || py::hasattr(value, "__fspath__")) {
    *source = path_argument(value, what);
    return read_json_file(*source);
  }
  bad_value(what, py::str(py::type::handle_of(value).attr("__name__")).cast<std::string>(),
            "a dict or the path of a JSON file (str or os.PathLike)");
}

}  // namespace servesim::python
