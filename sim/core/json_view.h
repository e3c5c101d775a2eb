#pragma once
// A JSON document simdjson parsed, read in place: the part of nlohmann::json's interface a
// reader of large files needs, so a reader written once as a template (over nlohmann::json
// and JsonView) reads a file without building nlohmann's tree of it (for the H100 profile,
// 410,000 values: most of the time and memory its load took).
// Contract:
// - JsonDocument::parse(text) gives a document exactly where parse_json_text() would take its
//   fast path: nullopt for malformed JSON, nesting deeper than kMaxJsonDepth, a key given twice
//   in one object, a number out of range, or an integer written "-0" (whose type nlohmann and
//   simdjson disagree on). A caller then reads the text with parse_json_text(), which accepts it
//   or says what is wrong.
// - JsonView mirrors nlohmann's const accessors where the value has the type asked for;
//   contains() is false on a non-object, as in nlohmann. Anything else (operator[] of a missing
//   key or on a non-object, get<T>() of another type, iterating a non-array, items() of a
//   non-object) throws JsonView::Mismatch, where nlohmann would assert, throw its own error or
//   do something type-dependent: a reader catches it and reads the text again through
//   nlohmann, so the answer and every error message are nlohmann's.
// - dump() is simdjson's minified text, not nlohmann's spelling of numbers: a message built on
//   the fast path is for a read that the slow path repeats.
// - Views point into their document: they are valid while it lives (it may be moved).
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// As Debian's libsimdjson is built (its CMake package exports this definition): the parser's
// layout depends on it.
#ifndef SIMDJSON_THREADS_ENABLED
#define SIMDJSON_THREADS_ENABLED 1
#endif
#include <simdjson.h>

#include <nlohmann/json.hpp>

namespace servesim {

class JsonView {
 public:
  struct Mismatch : std::runtime_error {
    Mismatch() : std::runtime_error("JSON value of another type than the fast reader expects") {}
  };

  explicit JsonView(simdjson::dom::element e) : e_(e) {}

  bool is_object() const { return e_.is_object(); }
  bool is_array() const { return e_.is_array(); }
  bool is_string() const { return e_.is_string(); }
  bool is_number() const { return e_.is_number(); }
  bool is_boolean() const { return e_.is_bool(); }

  bool contains(std::string_view key) const;
  JsonView operator[](std::string_view key) const;  // Mismatch if absent or not an object
  // The member, or nullopt if absent (Mismatch if not an object).
  std::optional<JsonView> find(std::string_view key) const;
  std::size_t size() const;  // elements of an array (Mismatch otherwise)

  template <class T>
  T get() const;  // double (integers converted), std::string, bool

  std::string dump() const { return simdjson::minify(e_); }
  // The value as nlohmann's parser builds it (parse_json_text's fast path).
  nlohmann::json to_nlohmann() const;

  // Array elements in order (Mismatch if not an array).
  class Iterator {
   public:
    explicit Iterator(simdjson::dom::array::iterator it) : it_(it) {}
    JsonView operator*() const { return JsonView(*it_); }
    Iterator& operator++() {
      ++it_;
      return *this;
    }
    bool operator!=(const Iterator& o) const { return it_ != o.it_; }

   private:
    simdjson::dom::array::iterator it_;
  };
  Iterator begin() const { return Iterator(array().begin()); }
  Iterator end() const { return Iterator(array().end()); }
  // (key, value) in document order (Mismatch if not an object).
  std::vector<std::pair<std::string, JsonView>> items() const;

 private:
  simdjson::dom::array array() const;
  simdjson::dom::element e_;
};

template <>
double JsonView::get<double>() const;
template <>
std::string JsonView::get<std::string>() const;
template <>
bool JsonView::get<bool>() const;

class JsonDocument {
 public:
  static std::optional<JsonDocument> parse(std::string_view text);
  JsonView root() const { return JsonView(root_); }

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;  // owns the tape the views read (heap: stable)
  simdjson::dom::element root_;
};

// nlohmann's own value: the other reader of the template (identity).
inline const nlohmann::json& to_nlohmann(const nlohmann::json& j) { return j; }
inline nlohmann::json to_nlohmann(const JsonView& v) { return v.to_nlohmann(); }

// require_field() for a view: the member, InputError "<where>: <key>: missing required
// field" if absent (Mismatch if not an object).
JsonView require_field(const JsonView& obj, const std::string& key, const std::string& where);

}  // namespace servesim
