#include "sim/core/params.h"

#include <algorithm>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/units.h"

namespace servesim {

Params::Params(const nlohmann::json& object, std::string where) : object_(object), where_(std::move(where)) {
  if (object_.is_null()) object_ = nlohmann::json::object();
  if (!object_.is_object()) bad_value(where_, object_.dump(), "a JSON object");
}

Params Params::describe() {
  Params p(nlohmann::json::object(), "<doc>");
  p.doc_mode_ = true;
  return p;
}

std::string Params::where(const std::string& key) const {
  // "file: a.b" + key -> "file: a.b.key"; a top-level where ("file") gets "file: key".
  if (where_.find(": ") == std::string::npos) return where_ + ": " + key;
  return where_ + "." + key;
}

const nlohmann::json* Params::find(const std::string& key, const std::string& type, const std::string& def_text,
                                   const std::string& help) {
  SERVESIM_ASSERT(std::find(declared_.begin(), declared_.end(), key) == declared_.end());
  declared_.push_back(key);
  docs_.push_back(ParamDoc{key, type, def_text, help});
  auto it = object_.find(key);
  if (it == object_.end() || doc_mode_) return nullptr;
  return &*it;
}

void Params::consume(const std::string& key, const std::string& help) {
  const nlohmann::json* v = find(key, "string", "required", help);
  if (v) resolved_[key] = *v;
}

std::int64_t Params::integer(const std::string& key, std::optional<std::int64_t> def, const std::string& help,
                             std::int64_t min, std::int64_t max) {
  const nlohmann::json* v = find(key, "integer", def ? std::to_string(*def) : "required", help);
  std::int64_t x;
  if (!v) {
    if (!def) {
      if (doc_mode_) return 0;
      input_error(where(key), fmt::format("missing required integer ({})", help));
    }
    x = *def;
  } else {
    if (!v->is_number_integer()) bad_value(where(key), v->dump(), "an integer");
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      bad_value(where(key), v->dump(), max == std::numeric_limits<std::int64_t>::max() ? "an integer below 2^63" : fmt::format("an integer in [{}, {}]", min, max));
    }
    x = v->get<std::int64_t>();
  }
  if (x < min || x > max) {
    std::string range = max == std::numeric_limits<std::int64_t>::max() ? fmt::format("an integer >= {}", min)
                                                                         : fmt::format("an integer in [{}, {}]", min, max);
    bad_value(where(key), std::to_string(x), range);
  }
  resolved_[key] = x;
  return x;
}

double Params::real(const std::string& key, std::optional<double> def, const std::string& help, double min,
                    double max) {
  const nlohmann::json* v = find(key, "number", def ? fmt::format("{}", *def) : "required", help);
  double x;
  if (!v) {
    if (!def) {
      if (doc_mode_) return 0.0;
      input_error(where(key), fmt::format("missing required number ({})", help));
    }
    x = *def;
  } else {
    if (!v->is_number()) bad_value(where(key), v->dump(), "a number");
    x = v->get<double>();
  }
  if (!(x >= min && x <= max)) bad_value(where(key), fmt::format("{}", x), fmt::format("a number in [{}, {}]", min, max));
  resolved_[key] = x;
  return x;
}

bool Params::boolean(const std::string& key, bool def, const std::string& help) {
  const nlohmann::json* v = find(key, "bool", def ? "true" : "false", help);
  bool x = def;
  if (v) {
    if (!v->is_boolean()) bad_value(where(key), v->dump(), "true or false");
    x = v->get<bool>();
  }
  resolved_[key] = x;
  return x;
}

std::string Params::string(const std::string& key, std::optional<std::string> def, const std::string& help) {
  const nlohmann::json* v = find(key, "string", def ? "\"" + *def + "\"" : "required", help);
  std::string x;
  if (!v) {
    if (!def) {
      if (doc_mode_) return {};
      input_error(where(key), fmt::format("missing required string ({})", help));
    }
    x = *def;
  } else {
    if (!v->is_string()) bad_value(where(key), v->dump(), "a string");
    x = v->get<std::string>();
  }
  resolved_[key] = x;
  return x;
}

std::string Params::choice(const std::string& key, const std::string& def, const std::vector<std::string>& options,
                           const std::string& help) {
  std::string opts;
  for (const auto& o : options) opts += (opts.empty() ? "" : "|") + o;
  const nlohmann::json* v = find(key, "one of " + opts, "\"" + def + "\"", help);
  std::string x = def;
  if (v) {
    if (!v->is_string() || std::find(options.begin(), options.end(), v->get<std::string>()) == options.end()) {
      bad_value(where(key), v->is_string() ? v->get<std::string>() : v->dump(), "one of " + opts);
    }
    x = v->get<std::string>();
  }
  resolved_[key] = x;
  return x;
}

SimTime Params::duration(const std::string& key, std::optional<std::string> def, const std::string& help, SimTime min) {
  const nlohmann::json* v = find(key, "duration", def ? *def : "required", help);
  SimTime x;
  if (!v) {
    if (!def) {
      if (doc_mode_) return 0;
      input_error(where(key), fmt::format("missing required duration ({})", help));
    }
    x = units::duration(nlohmann::json(*def), where(key));
  } else {
    x = units::duration(*v, where(key));
  }
  if (x < min) bad_value(where(key), v ? v->dump() : *def, fmt::format("a duration >= {}", units::format_duration(min)));
  resolved_[key] = units::format_duration(x);
  return x;
}

double Params::unit_value(const std::string& key, std::optional<std::string> def, const std::string& help, const char* type,
                          double (*parse)(const nlohmann::json&, const std::string&)) {
  const nlohmann::json* v = find(key, type, def ? *def : "required", help);
  if (!v && !def) {
    if (doc_mode_) return 0.0;
    input_error(where(key), fmt::format("missing required {} ({})", type, help));
  }
  const double x = v ? parse(*v, where(key)) : parse(nlohmann::json(*def), where(key));
  resolved_[key] = v ? *v : nlohmann::json(*def);
  return x;
}

double Params::bytes(const std::string& key, std::optional<std::string> def, const std::string& help) {
  return unit_value(key, std::move(def), help, "size", &units::bytes);
}

double Params::bandwidth(const std::string& key, std::optional<std::string> def, const std::string& help) {
  return unit_value(key, std::move(def), help, "bandwidth", &units::bandwidth);
}

double Params::power(const std::string& key, std::optional<std::string> def, const std::string& help) {
  return unit_value(key, std::move(def), help, "power", &units::power);
}

nlohmann::json Params::object(const std::string& key, const std::string& help, bool optional) {
  const nlohmann::json* v = find(key, "object", optional ? "{}" : "required", help);
  if (!v) {
    if (!optional && !doc_mode_) input_error(where(key), fmt::format("missing required object ({})", help));
    return nlohmann::json::object();
  }
  if (!v->is_object()) bad_value(where(key), v->dump(), "a JSON object");
  return *v;
}

nlohmann::json Params::value(const std::string& key, nlohmann::json def, const std::string& help) {
  const nlohmann::json* v = find(key, "json", def.dump(), help);
  nlohmann::json x = v ? *v : std::move(def);
  resolved_[key] = x;
  return x;
}

void Params::finish() const {
  if (doc_mode_) return;
  for (const auto& [key, value] : object_.items()) {
    if (std::find(declared_.begin(), declared_.end(), key) == declared_.end()) {
      std::string valid;
      for (const auto& d : declared_) valid += (valid.empty() ? "" : ", ") + d;
      bad_value(where(key), key, "a known key (one of: " + valid + ")");
    }
  }
}

}  // namespace servesim
