#include "sim/core/json_view.h"

#include <algorithm>
#include <cstdint>

#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim {
namespace {

// simdjson's element as nlohmann's value, exactly as nlohmann's parser builds it: integers
// >= 0 unsigned, negative ones signed, other numbers double (both parsers round correctly).
// False on a key given twice in one object.
bool element_to_nlohmann(simdjson::dom::element e, nlohmann::json& out) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::ARRAY: {
      const simdjson::dom::array a = e.get_array().value_unsafe();
      out = nlohmann::json::array();
      auto& v = out.get_ref<nlohmann::json::array_t&>();
      v.reserve(a.size());
      for (const simdjson::dom::element x : a) {
        if (!element_to_nlohmann(x, v.emplace_back())) return false;
      }
      return true;
    }
    case T::OBJECT: {
      const simdjson::dom::object o = e.get_object().value_unsafe();
      out = nlohmann::json::object();
      auto& m = out.get_ref<nlohmann::json::object_t&>();
      for (const auto [key, value] : o) {
        const auto [it, inserted] = m.emplace(std::string(key), nullptr);
        if (!inserted || !element_to_nlohmann(value, it->second)) return false;
      }
      return true;
    }
    case T::INT64: {
      const std::int64_t i = e.get_int64().value_unsafe();
      out = i >= 0 ? nlohmann::json(static_cast<std::uint64_t>(i)) : nlohmann::json(i);
      return true;
    }
    case T::UINT64:
      out = e.get_uint64().value_unsafe();
      return true;
    case T::DOUBLE:
      out = e.get_double().value_unsafe();
      return true;
    case T::STRING:
      out = std::string(e.get_string().value_unsafe());
      return true;
    case T::BOOL:
      out = e.get_bool().value_unsafe();
      return true;
    case T::NULL_VALUE:
      out = nullptr;
      return true;
  }
  return false;
}

// True if some object under `e` has a key twice (keys compared after unescaping).
bool has_duplicate_key(simdjson::dom::element e, std::vector<std::string_view>& keys) {
  if (e.is_array()) {
    const simdjson::dom::array a = e.get_array().value_unsafe();
    for (const simdjson::dom::element x : a) {
      if ((x.is_array() || x.is_object()) && has_duplicate_key(x, keys)) return true;
    }
    return false;
  }
  if (!e.is_object()) return false;
  const simdjson::dom::object o = e.get_object().value_unsafe();
  const std::size_t base = keys.size();
  for (const auto [key, value] : o) keys.push_back(key);
  std::sort(keys.begin() + static_cast<std::ptrdiff_t>(base), keys.end());
  const bool twice = std::adjacent_find(keys.begin() + static_cast<std::ptrdiff_t>(base), keys.end()) != keys.end();
  keys.resize(base);
  if (twice) return true;
  for (const auto [key, value] : o) {
    if ((value.is_array() || value.is_object()) && has_duplicate_key(value, keys)) return true;
  }
  return false;
}

}  // namespace

std::optional<JsonDocument> JsonDocument::parse(std::string_view text) {
  // "-0" is a signed integer to nlohmann and an unsigned 0 to simdjson: such texts (rare) take
  // the slow path. A "-0" inside a string only costs the fast path.
  for (std::size_t i = text.find("-0"); i != std::string_view::npos; i = text.find("-0", i + 2)) {
    const char next = i + 2 < text.size() ? text[i + 2] : ' ';
    if (next != '.' && next != 'e' && next != 'E' && (next < '0' || next > '9')) return std::nullopt;
  }
  JsonDocument d;
  d.parser_ = std::make_unique<simdjson::dom::parser>();
  if (d.parser_->allocate(text.size(), kMaxJsonDepth) != simdjson::SUCCESS) return std::nullopt;
  const simdjson::padded_string padded(text.data(), text.size());
  if (d.parser_->parse(padded).get(d.root_) != simdjson::SUCCESS) return std::nullopt;
  std::vector<std::string_view> keys;
  if (has_duplicate_key(d.root_, keys)) return std::nullopt;
  return d;
}

bool JsonView::contains(std::string_view key) const {
  if (!e_.is_object()) return false;
  const simdjson::dom::object o = e_.get_object().value_unsafe();
  simdjson::dom::element v;
  return o.at_key(key).get(v) == simdjson::SUCCESS;
}

std::optional<JsonView> JsonView::find(std::string_view key) const {
  if (!e_.is_object()) throw Mismatch();
  const simdjson::dom::object o = e_.get_object().value_unsafe();
  simdjson::dom::element v;
  if (o.at_key(key).get(v) != simdjson::SUCCESS) return std::nullopt;
  return JsonView(v);
}

JsonView JsonView::operator[](std::string_view key) const {
  const auto v = find(key);
  if (!v) throw Mismatch();
  return *v;
}

std::size_t JsonView::size() const { return array().size(); }

simdjson::dom::array JsonView::array() const {
  if (!e_.is_array()) throw Mismatch();
  return e_.get_array().value_unsafe();
}

std::vector<std::pair<std::string, JsonView>> JsonView::items() const {
  if (!e_.is_object()) throw Mismatch();
  std::vector<std::pair<std::string, JsonView>> out;
  const simdjson::dom::object o = e_.get_object().value_unsafe();
  for (const auto [key, value] : o) out.emplace_back(std::string(key), JsonView(value));
  return out;
}

template <>
double JsonView::get<double>() const {
  double x = 0;  // simdjson converts integers
  if (e_.get_double().get(x) != simdjson::SUCCESS) throw Mismatch();
  return x;
}

template <>
std::string JsonView::get<std::string>() const {
  std::string_view s;
  if (e_.get_string().get(s) != simdjson::SUCCESS) throw Mismatch();
  return std::string(s);
}

template <>
bool JsonView::get<bool>() const {
  bool b = false;
  if (e_.get_bool().get(b) != simdjson::SUCCESS) throw Mismatch();
  return b;
}

nlohmann::json JsonView::to_nlohmann() const {
  nlohmann::json out;
  if (!element_to_nlohmann(e_, out)) throw Mismatch();  // a key twice: JsonDocument refuses those
  return out;
}

JsonView require_field(const JsonView& obj, const std::string& key, const std::string& where) {
  const auto v = obj.find(key);
  if (!v) input_error(where + ": " + key, "missing required field");
  return *v;
}

}  // namespace servesim
