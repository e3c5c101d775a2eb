#include "sim/core/json_file.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "sim/core/error.h"
#include "sim/core/json_view.h"

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

// The fast path: a document simdjson accepts (json_view.h) gives the same value as
// nlohmann's parser, about 20 times faster on large profiles. Anything else (malformed, too
// deep, a duplicate key, a number out of range) gives nullopt, and the slow path parses it
// again to accept it or say what is wrong.
std::optional<nlohmann::json> parse_fast(std::string_view text) {
  const auto doc = JsonDocument::parse(text);
  if (!doc) return std::nullopt;
  return doc->root().to_nlohmann();
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

std::string read_json_text(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) input_error(path, "a folder, expected a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path, "cannot open file (missing or unreadable)");
  std::string text;
  if (const auto size = std::filesystem::file_size(path, ec); !ec) text.reserve(size);
  std::array<char, 1 << 16> buf;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) text.append(buf.data(), static_cast<std::size_t>(in.gcount()));
  if (in.bad()) input_error(path, "cannot read file (a folder, or unreadable)");
  return text;
}

nlohmann::json read_json_file(const std::string& path) { return parse_json_text(read_json_text(path), path); }

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
