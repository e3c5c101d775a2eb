#pragma once
// Component parameters, declared once where they are read. Contract:
// - A component reads each key exactly once through one typed accessor, giving its type,
//   default (or none: required), unit, help text and valid range. That call IS the
//   declaration: the docs (`servesim list --params`) and the resolved config come from it.
// - finish() rejects any key that was not declared, naming it and the valid keys.
// - Values never flow back into the user's JSON; resolved() is a separate document.
// - Errors name the field by its full path ("scenario.json: scheduler.max_num_seqs").
// - In doc mode (describe()), accessors return defaults and never throw.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/time.h"

namespace servesim {

struct ParamDoc {
  std::string key;
  std::string type;
  std::string default_value;  // "required" when there is none
  std::string help;
};

class Params {
 public:
  // `where` prefixes every error: "<file>: <path>" (e.g. "scenario.json: scheduler").
  Params(const nlohmann::json& object, std::string where);
  static Params describe();  // doc mode

  std::int64_t integer(const std::string& key, std::optional<std::int64_t> def, const std::string& help,
                       std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t max = std::numeric_limits<std::int64_t>::max());
  double real(const std::string& key, std::optional<double> def, const std::string& help,
              double min = -std::numeric_limits<double>::infinity(),
              double max = std::numeric_limits<double>::infinity());
  bool boolean(const std::string& key, bool def, const std::string& help);
  std::string string(const std::string& key, std::optional<std::string> def, const std::string& help);
  std::string choice(const std::string& key, const std::string& def, const std::vector<std::string>& options,
                     const std::string& help);
  // Unit-bearing values: JSON number in the base unit (seconds for durations) or a string.
  SimTime duration(const std::string& key, std::optional<std::string> def, const std::string& help,
                   SimTime min = 0);
  double bytes(const std::string& key, std::optional<std::string> def, const std::string& help);
  double bandwidth(const std::string& key, std::optional<std::string> def, const std::string& help);
  double power(const std::string& key, std::optional<std::string> def, const std::string& help);  // W
  // A nested object (e.g. a sub-component or a distribution) passed through as JSON; its
  // own reader validates it. Returns an empty object when absent and `optional`.
  nlohmann::json object(const std::string& key, const std::string& help, bool optional = true);
  // Any JSON value (e.g. an array), validated by the caller.
  nlohmann::json value(const std::string& key, nlohmann::json def, const std::string& help);

  // Rejects undeclared keys. Call after the last accessor.
  void finish() const;

  const nlohmann::json& resolved() const { return resolved_; }
  const std::vector<ParamDoc>& docs() const { return docs_; }
  const std::string& where() const { return where_; }
  std::string where(const std::string& key) const;
  bool doc_mode() const { return doc_mode_; }
  bool has(const std::string& key) const { return object_.contains(key); }

  // Stores the resolved form of a nested object read through object().
  void set_resolved(const std::string& key, nlohmann::json resolved) { resolved_[key] = std::move(resolved); }

  // Records a key that is consumed by someone else (e.g. "impl", read by the registry).
  void consume(const std::string& key, const std::string& help);

 private:
  double unit_value(const std::string& key, std::optional<std::string> def, const std::string& help, const char* type,
                    double (*parse)(const nlohmann::json&, const std::string&));
  const nlohmann::json* find(const std::string& key, const std::string& type, const std::string& def_text,
                             const std::string& help);

  nlohmann::json object_;
  std::string where_;
  bool doc_mode_ = false;
  std::vector<std::string> declared_;
  std::vector<ParamDoc> docs_;
  nlohmann::json resolved_ = nlohmann::json::object();
};

}  // namespace servesim
