#pragma once
// Reading JSON with errors that name the file (and line/column on a parse error).
// Contract: every JSON text servesim reads from a user goes through parse_json_text() (files
// through read_json_file()), which refuses, as InputError naming `where`: malformed JSON,
// nesting deeper than kMaxJsonDepth (a value nested 100,000 deep would overflow the stack of
// every recursive walk after it), and a key given twice in one object (nlohmann keeps the
// last silently). A UTF-8 byte-order mark at the start is skipped.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace servesim {

inline constexpr int kMaxJsonDepth = 64;

nlohmann::json parse_json_text(std::string_view text, const std::string& where);
// Same, but malformed JSON gives nullopt (and the 1-based byte offset of the error) instead of
// an error; too deep, duplicate keys and out-of-range numbers are still errors.
std::optional<nlohmann::json> try_parse_json_text(std::string_view text, const std::string& where,
                                                  std::size_t* error_byte = nullptr);
nlohmann::json read_json_file(const std::string& path);
// The file's bytes, with read_json_file's errors for a folder or an unreadable file.
std::string read_json_text(const std::string& path);

// Strips a UTF-8 byte-order mark (EF BB BF) from the start of `s`; true when there was one.
bool strip_utf8_bom(std::string& s);

// A required field of an object read from a file; throws InputError "<file>: <key>: ...".
const nlohmann::json& require_field(const nlohmann::json& obj, const std::string& key, const std::string& where);

// An optional string field: `def` when `obj` is not an object or the key is absent or null;
// InputError "<where>: <key>: got '...', expected a string" when it holds another type
// (nlohmann's value(key, default) would throw an internal type error instead).
std::string optional_string(const nlohmann::json& obj, const std::string& key, const std::string& def, const std::string& where);

}  // namespace servesim
