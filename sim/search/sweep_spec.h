#pragma once
// A sweep: a base scenario and axes of overrides, expanded into points. Contract:
// - A sweep file is {name?, base, set?, axes: [...]}: `base` is a scenario object or the path
//   of a scenario file (relative to the sweep file); `set` overrides applied to the base
//   first; each axis is one of
//     {"grid":   {"key": [v1, v2, ...], ...}}             cartesian product of its keys
//     {"zip":    {"key": [v1, v2, ...], ...}}             lists advanced together (equal lengths)
//     {"points": [{"key": v, ...}, ...]}                  an explicit list of override sets
//     {"random": {"n": N, "seed": S, "vars": {"key": {"uniform"|"loguniform"|"int": [lo, hi]}
//                                                  | {"choice": [v, ...]}}}}
//   Keys are the dotted paths of `servesim run --set` (apply_override), values any JSON
//   (objects replace whole components or pools). The points are the cartesian product of the
//   axes, the first axis varying slowest; inside a grid (and a random axis) keys are taken in
//   sorted order, the last varying fastest.
// - Expansion is a pure function of the sweep file (random axes draw from their own seed
//   through Rng), so the same file always gives the same points in the same order.
// - Every point's scenario is parsed (parse_scenario) while expanding; any bad input (a
//   malformed axis, an unknown scenario key, mismatched zip lengths, two points with the same
//   resolved scenario) is an InputError naming the sweep file and the field.
// - A point's id is the first 16 hex digits of SHA-256 of its resolved scenario
//   (ScenarioConfig::resolved().dump()): equal scenarios have equal ids, in any sweep.
// - The sweep's hash covers the ordered point ids and `outputs_key` (options that change what
//   is written), so a journal names exactly the sweep that wrote it.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/serving/scenario_config.h"

namespace servesim::search {

struct Override {
  std::string key;       // dotted path, as `--set`
  nlohmann::json value;
};

struct SweepPoint {
  std::size_t index = 0;
  std::vector<Override> set;  // this point's axis values, in the sweep's column order
  ScenarioConfig config;
  std::string id;             // 16 lowercase hex digits
};

struct Sweep {
  std::string source;             // the sweep file, for messages
  std::string name;
  std::vector<std::string> keys;  // the varied keys (table columns), axis by axis
  std::vector<SweepPoint> points;
  std::string hash;               // 64 hex digits
};

// At most this many points in one sweep: every point's parsed scenario is kept (about 15 KB
// each, measured on a one-pool scenario), and a typo such as a 10^6-value grid fails at once.
inline constexpr std::size_t kMaxSweepPoints = 100'000;

// Reads and expands a sweep file.
Sweep load_sweep(const std::string& path, const std::string& outputs_key = "");
// Expands a sweep given as JSON; `source` names it in messages, `base_dir` resolves a base path.
Sweep expand_sweep(const nlohmann::json& spec, const std::string& source, const std::string& base_dir,
                   const std::string& outputs_key = "");

// The id of a resolved scenario (see the contract).
std::string point_id(const ScenarioConfig& config);

// "key=value" for an override, the value as compact JSON (strings without quotes).
std::string override_text(const Override& o);

}  // namespace servesim::search
