// `--set key.path=value` on a scenario (declared in simulation.h).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/serving/simulation.h"

namespace servesim {

void apply_override(nlohmann::json& scenario, const std::string& assignment) {
  // The whole assignment must be valid UTF-8, key path included: every later error message and
  // the resolved config serialise it, and nlohmann's dump() throws on invalid UTF-8 (found by
  // fuzz_scenario, first in a value, then in a key of the path).
  try {
    (void)nlohmann::json(assignment).dump();
  } catch (const nlohmann::json::type_error&) {
    bad_value("--set", assignment, "valid UTF-8 text");
  }
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) bad_value("--set", assignment, "key=value (e.g. scheduler.max_num_seqs=128)");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  const nlohmann::json value = try_parse_json_text(text, "--set " + quoted_value(path)).value_or(nlohmann::json(text));  // else a bare string
  nlohmann::json* cur = &scenario;
  std::size_t start = 0;
  int depth = 0;
  for (;;) {
    const std::size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) bad_value("--set", assignment, "a dotted key path without empty parts");
    if (cur->is_array()) {
      // pools.1.replicas: an index into an array.
      char* end = nullptr;
      const long idx = std::strtol(key.c_str(), &end, 10);
      if (*end != '\0' || idx < 0 || static_cast<std::size_t>(idx) >= cur->size()) {
        bad_value("--set " + path, key, "an index of the array (0.." + std::to_string(cur->size()) + ")");
      }
      cur = &(*cur)[static_cast<std::size_t>(idx)];
      if (dot == std::string::npos) {
        *cur = value;
        return;
      }
      start = dot + 1;
      continue;
    }
    if (!cur->is_object()) bad_value("--set " + path, cur->dump(), "an object to set '" + key + "' in");
    if (dot == std::string::npos) {
      // Switching a component's implementation drops the old one's keys (they would be
      // unknown to the new one): `--set kv.impl=vtensor` gives {"impl": "vtensor"}; later
      // --set options set the new one's keys.
      if (key == "impl" && cur->contains("impl") && (*cur)["impl"] != value) *cur = nlohmann::json::object();
      (*cur)[key] = value;
      return;
    }
    if (++depth > kMaxJsonDepth) bad_value("--set", path, fmt::format("a key path of at most {} parts", kMaxJsonDepth));
    cur = &(*cur)[key];
    if (cur->is_null()) *cur = nlohmann::json::object();
    start = dot + 1;
  }
}

}  // namespace servesim
