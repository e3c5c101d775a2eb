#include "sim/core/json_file.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

// As Debian's libsimdjson is built (its CMake package exports this definition): the parser's
// layout depends on it.
#ifndef SIMDJSON_THREADS_ENABLED
#define SIMDJSON_THREADS_ENABLED 1
#endif
#include <simdjson.h>

#include "sim/core/error.h"

namespace servesim {

bool strip_utf8_bom(std::string& s) {
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) {
    s.erase(0, 3);
    return true;
  }
  return false;
}

namespace {

// "where:line:col" of byte offset `byte` (1-based, as nlohmann reports it) in `text`.
std::string position(std::string_view text, std::size_t byte, const std::string& where) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return where + ":" + std::to_string(line) + ":" + std::to_string(col);
}

// Nesting depth, checked before parsing (the parser and everything after it recurse): the
// first byte offset where it passes kMaxJsonDepth, or npos.
std::size_t too_deep_at(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}

// simdjson's element as nlohmann's value, exactly as nlohmann's parser builds it: integers
// >= 0 unsigned, negative ones signed, other numbers double (both parsers round correctly).
// False on a key given twice in one object (the slow path names it).
bool to_nlohmann(simdjson::dom::element e, nlohmann::json& out) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::ARRAY: {
      const simdjson::dom::array a = e.get_array().value_unsafe();
      out = nlohmann::json::array();
      auto& v = out.get_ref<nlohmann::json::array_t&>();
      v.reserve(a.size());
      for (const simdjson::dom::element x : a) {
        if (!to_nlohmann(x, v.emplace_back())) return false;
      }
      return true;
    }
    case T::OBJECT: {
      const simdjson::dom::object o = e.get_object().value_unsafe();
      out = nlohmann::json::object();
      auto& m = out.get_ref<nlohmann::json::object_t&>();
      for (const auto [key, value] : o) {
        const auto [it, inserted] = m.emplace(std::string(key), nullptr);
        if (!inserted || !to_nlohmann(value, it->second)) return false;
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

// The fast path: a document simdjson accepts (at most kMaxJsonDepth deep) and that has no
// key twice gives the same value as nlohmann's parser, about 20 times faster on large
// profiles. Anything else (malformed, too deep, a duplicate key, a number out of range)
// gives nullopt, and the slow path parses it again to accept it or say what is wrong.
std::optional<nlohmann::json> parse_fast(std::string_view text) {
  // "-0" is a signed integer to nlohmann and an unsigned 0 to simdjson: such texts (rare) take
  // the slow path. A "-0" inside a string only costs the fast path.
  for (std::size_t i = text.find("-0"); i != std::string_view::npos; i = text.find("-0", i + 2)) {
    const char next = i + 2 < text.size() ? text[i + 2] : ' ';
    if (next != '.' && next != 'e' && next != 'E' && (next < '0' || next > '9')) return std::nullopt;
  }
  simdjson::dom::parser parser;
  if (parser.allocate(text.size(), kMaxJsonDepth) != simdjson::SUCCESS) return std::nullopt;
  const simdjson::padded_string padded(text.data(), text.size());
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return std::nullopt;
  nlohmann::json out;
  if (!to_nlohmann(root, out)) return std::nullopt;
  return out;
}

}  // namespace

std::optional<nlohmann::json> try_parse_json_text(std::string_view text, const std::string& where, std::size_t* error_byte) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (auto fast = parse_fast(text)) return fast;
  if (const std::size_t at = too_deep_at(text); at != std::string_view::npos) {
    input_error(position(text, at + 1, where),
                fmt::format("JSON nested deeper than {} levels, expected at most {}", kMaxJsonDepth, kMaxJsonDepth));
  }
  // Keys seen per open object (a stack), and the key path for the message.
  std::vector<std::set<std::string>> seen;
  std::vector<std::string> path;
  std::string last_key;
  auto callback = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start:
        seen.emplace_back();
        path.push_back(last_key);
        last_key.clear();
        break;
      case E::array_start:
        path.push_back(last_key);
        last_key.clear();
        break;
      case E::object_end:
        seen.pop_back();
        path.pop_back();
        break;
      case E::array_end:
        path.pop_back();
        break;
      case E::key: {
        last_key = parsed.get<std::string>();
        if (!seen.empty() && !seen.back().insert(last_key).second) {
          std::string p;
          for (const auto& k : path) {
            if (!k.empty()) p += k + ".";
          }
          input_error(where + ": " + quoted_value(p + last_key), "key given twice in one object, expected each key once");
        }
        break;
      }
      case E::value:
        last_key.clear();
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::parse_error& e) {
    if (error_byte) *error_byte = e.byte;
    return std::nullopt;
  } catch (const nlohmann::json::out_of_range& e) {
    input_error(where, "a number out of range (" + quoted_value(e.what()) + "), expected finite numbers");
  }
}

nlohmann::json parse_json_text(std::string_view text, const std::string& where) {
  std::size_t byte = 0;
  auto j = try_parse_json_text(text, where, &byte);
  if (!j) {
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") byte += 3;
    input_error(position(text, byte, where), "malformed JSON, expected a valid JSON document");
  }
  return std::move(*j);
}

nlohmann::json read_json_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) input_error(path, "a folder, expected a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path, "cannot open file (missing or unreadable)");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) input_error(path, "cannot read file (a folder, or unreadable)");
  return parse_json_text(ss.str(), path);
}

const nlohmann::json& require_field(const nlohmann::json& obj, const std::string& key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) input_error(where + ": " + key, "missing required field");
  return *it;
}

std::string optional_string(const nlohmann::json& obj, const std::string& key, const std::string& def, const std::string& where) {
  if (!obj.is_object()) return def;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_string()) bad_value(where + ": " + key, it->dump(), "a string");
  return it->get<std::string>();
}

}  // namespace servesim
