#include "sim/search/sweep_spec.h"

#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/params.h"
#include "sim/core/rng.h"
#include "sim/cost/sha256.h"
#include "sim/serving/simulation.h"

namespace servesim::search {
namespace fs = std::filesystem;

namespace {

// One axis, expanded: its keys (column order) and its override sets.
struct Axis {
  std::string where;  // "sweep.json: axes[1].grid"
  std::vector<std::string> keys;
  std::vector<std::vector<Override>> sets;
};

std::string snippet(const nlohmann::json& v) { return v.dump().substr(0, 80); }

// A key as `--set` takes it: dotted parts, none empty.
void check_key(const std::string& key, const std::string& where) {
  if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos ||
      key.find('=') != std::string::npos) {
    bad_value(where, key, "a dotted scenario key as `servesim run --set` takes it (e.g. scheduler.max_num_seqs)");
  }
}

const nlohmann::json& value_list(const nlohmann::json& v, const std::string& where) {
  if (!v.is_array() || v.empty()) bad_value(where, snippet(v), "a non-empty array of values");
  return v;
}

Axis grid_axis(const nlohmann::json& obj, const std::string& where) {
  if (!obj.is_object() || obj.empty()) bad_value(where, snippet(obj), "a non-empty object {\"key\": [values], ...} (an empty grid has no points)");
  Axis a{where, {}, {{}}};
  for (const auto& [key, values] : obj.items()) {  // sorted keys: the last varies fastest
    check_key(key, where + "." + key);
    value_list(values, where + "." + key);
    a.keys.push_back(key);
    std::vector<std::vector<Override>> next;
    for (const auto& prefix : a.sets) {
      for (const auto& v : values) {
        next.push_back(prefix);
        next.back().push_back({key, v});
      }
      if (next.size() > kMaxSweepPoints) bad_value(where, snippet(obj), fmt::format("at most {} points", kMaxSweepPoints));
    }
    a.sets = std::move(next);
  }
  return a;
}

Axis zip_axis(const nlohmann::json& obj, const std::string& where) {
  if (!obj.is_object() || obj.empty()) bad_value(where, snippet(obj), "a non-empty object {\"key\": [values], ...}");
  Axis a{where, {}, {}};
  std::size_t n = 0;
  std::string first;
  for (const auto& [key, values] : obj.items()) {
    check_key(key, where + "." + key);
    value_list(values, where + "." + key);
    if (a.keys.empty()) {
      n = values.size();
      first = key;
      a.sets.resize(n);
    } else if (values.size() != n) {
      bad_value(where + "." + key, fmt::format("{} values", values.size()),
                fmt::format("as many values as {} ({}): zip advances its lists together", first, n));
    }
    a.keys.push_back(key);
    for (std::size_t i = 0; i < n; ++i) a.sets[i].push_back({key, values[i]});
  }
  return a;
}

Axis points_axis(const nlohmann::json& list, const std::string& where) {
  if (!list.is_array() || list.empty()) bad_value(where, snippet(list), "a non-empty array of override objects");
  Axis a{where, {}, {}};
  std::map<std::string, bool> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string w = fmt::format("{}[{}]", where, i);
    if (!list[i].is_object()) bad_value(w, snippet(list[i]), "an object {\"key\": value, ...} ({} is the base as it is)");
    std::vector<Override> set;
    for (const auto& [key, v] : list[i].items()) {
      check_key(key, w + "." + key);
      if (!seen[key]) a.keys.push_back(key);
      seen[key] = true;
      set.push_back({key, v});
    }
    a.sets.push_back(std::move(set));
  }
  return a;
}

// A drawn real number, rounded to 6 significant digits so that tables and ids read well.
double round6(double x) { return std::stod(fmt::format("{:.6g}", x)); }

std::pair<double, double> range_of(const nlohmann::json& r, const std::string& where, bool positive) {
  if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number() || r[0].get<double>() > r[1].get<double>() ||
      (positive && r[0].get<double>() <= 0)) {
    bad_value(where, snippet(r), positive ? "[lo, hi] with 0 < lo <= hi" : "[lo, hi] with lo <= hi");
  }
  return {r[0].get<double>(), r[1].get<double>()};
}

// One variable of a random axis: a function drawing its next value.
std::function<nlohmann::json(Rng&)> random_var(const nlohmann::json& spec, const std::string& where) {
  if (!spec.is_object() || spec.size() != 1) {
    bad_value(where, snippet(spec), "one of {\"uniform\": [lo, hi]}, {\"loguniform\": [lo, hi]}, {\"int\": [lo, hi]}, {\"choice\": [values]}");
  }
  const std::string kind = spec.begin().key();
  const nlohmann::json& arg = spec.begin().value();
  const std::string w = where + "." + kind;
  if (kind == "uniform") {
    // Plain copies: clang 14 cannot capture structured bindings.
    const auto range = range_of(arg, w, false);
    const double lo = range.first, hi = range.second;
    return [lo, hi](Rng& r) { return nlohmann::json(round6(r.uniform(lo, hi))); };
  }
  if (kind == "loguniform") {
    const auto range = range_of(arg, w, true);
    const double lo = range.first, hi = range.second;
    return [lo, hi](Rng& r) { return nlohmann::json(round6(std::exp(r.uniform(std::log(lo), std::log(hi))))); };
  }
  if (kind == "int") {
    if (!arg.is_array() || arg.size() != 2 || !arg[0].is_number_integer() || !arg[1].is_number_integer() ||
        arg[0].get<std::int64_t>() > arg[1].get<std::int64_t>()) {
      bad_value(w, snippet(arg), "[lo, hi], integers with lo <= hi (both included)");
    }
    const std::int64_t lo = arg[0].get<std::int64_t>(), hi = arg[1].get<std::int64_t>();
    return [lo, hi](Rng& r) { return nlohmann::json(r.uniform_int(lo, hi)); };
  }
  if (kind == "choice") {
    const nlohmann::json values = value_list(arg, w);
    return [values](Rng& r) { return values[static_cast<std::size_t>(r.uniform_int(0, static_cast<std::int64_t>(values.size()) - 1))]; };
  }
  bad_value(where, kind, "uniform, loguniform, int or choice");
}

Axis random_axis(const nlohmann::json& obj, const std::string& where) {
  Params p(obj, where);
  const auto n = p.integer("n", std::nullopt, "number of samples", 1, static_cast<std::int64_t>(kMaxSweepPoints));
  const auto seed = p.integer("seed", 0, "seed of the samples (the scenario's own seed is a key like any other)", 0);
  const nlohmann::json vars = p.object("vars", "key -> distribution", false);
  p.finish();
  if (vars.empty()) bad_value(p.where("vars"), "{}", "at least one variable");
  Axis a{where, {}, {}};
  std::vector<std::function<nlohmann::json(Rng&)>> draw;
  for (const auto& [key, spec] : vars.items()) {
    check_key(key, p.where("vars") + "." + key);
    a.keys.push_back(key);
    draw.push_back(random_var(spec, p.where("vars") + "." + key));
  }
  Rng rng(static_cast<std::uint64_t>(seed));
  for (std::int64_t s = 0; s < n; ++s) {
    std::vector<Override> set;
    for (std::size_t k = 0; k < draw.size(); ++k) set.push_back({a.keys[k], draw[k](rng)});
    a.sets.push_back(std::move(set));
  }
  return a;
}

Axis parse_axis(const nlohmann::json& obj, const std::string& where) {
  constexpr const char* kKinds = "an object with one of grid, zip, points, random";
  if (!obj.is_object() || obj.size() != 1) bad_value(where, snippet(obj), kKinds);
  const std::string kind = obj.begin().key();
  const std::string w = where + "." + kind;
  if (kind == "grid") return grid_axis(obj.begin().value(), w);
  if (kind == "zip") return zip_axis(obj.begin().value(), w);
  if (kind == "points") return points_axis(obj.begin().value(), w);
  if (kind == "random") return random_axis(obj.begin().value(), w);
  bad_value(where, kind, kKinds);
}

nlohmann::json base_scenario(const nlohmann::json& base, const std::string& where, const std::string& base_dir) {
  if (base.is_object()) return base;
  if (!base.is_string() || base.get<std::string>().empty()) bad_value(where, snippet(base), "a scenario object or the path of a scenario file");
  fs::path path(base.get<std::string>());
  if (path.is_relative() && !base_dir.empty()) path = fs::path(base_dir) / path;
  return read_json_file(path.string());
}

// Applies `o` as `--set` would, naming the sweep file in any error.
void apply(nlohmann::json& scenario, const Override& o, const std::string& where) {
  try {
    apply_override(scenario, o.key + "=" + o.value.dump());
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
}

// A point's overrides for a message: "a=1, b=x", each value and the whole cut short.
std::string label(const std::vector<Override>& set) {
  std::string s;
  for (const auto& o : set) s += (s.empty() ? "" : ", ") + quoted_value(override_text(o), 40);
  return s.empty() ? "nothing (the base)" : quoted_value(s, 160);
}

}  // namespace

std::string override_text(const Override& o) {
  return o.key + "=" + (o.value.is_string() ? o.value.get<std::string>() : o.value.dump());
}

std::string point_id(const ScenarioConfig& config) { return sha256_hex(config.resolved().dump()).substr(0, 16); }

Sweep expand_sweep(const nlohmann::json& spec, const std::string& source, const std::string& base_dir,
                   const std::string& outputs_key) {
  Params p(spec, source);
  Sweep sw;
  sw.source = source;
  sw.name = p.string("name", fs::path(source).stem().string(), "name of the sweep (reports)");
  const nlohmann::json base_j = p.value("base", nullptr, "the base scenario: an object or a scenario file (relative to the sweep file)");
  const nlohmann::json set = p.object("set", "overrides applied to the base before the axes: {\"key\": value}");
  const nlohmann::json axes_j = p.value("axes", nullptr, "the axes: [{\"grid\"|\"zip\"|\"points\"|\"random\": ...}, ...]");
  p.finish();
  if (base_j.is_null()) input_error(p.where("base"), "missing (a scenario object or the path of a scenario file)");
  if (!axes_j.is_array() || axes_j.empty()) bad_value(p.where("axes"), snippet(axes_j), "a non-empty array of axes");
  nlohmann::json base = base_scenario(base_j, p.where("base"), base_dir);
  for (const auto& [key, v] : set.items()) {
    check_key(key, p.where("set") + "." + key);
    apply(base, {key, v}, p.where("set") + "." + key);
  }

  std::vector<Axis> axes;
  std::map<std::string, std::string> owner;  // key -> the axis that varies it
  std::size_t total = 1;
  for (std::size_t i = 0; i < axes_j.size(); ++i) {
    axes.push_back(parse_axis(axes_j[i], fmt::format("{}[{}]", p.where("axes"), i)));
    for (const auto& k : axes.back().keys) {
      const auto [it, fresh] = owner.emplace(k, axes.back().where);
      if (!fresh) bad_value(axes.back().where + "." + k, k, "a key varied by one axis only (" + it->second + " varies it too)");
      sw.keys.push_back(k);
    }
    total *= axes.back().sets.size();
    if (total > kMaxSweepPoints) bad_value(p.where("axes"), snippet(axes_j), fmt::format("at most {} points in all", kMaxSweepPoints));
  }

  std::map<std::string, std::size_t> ids;
  std::vector<std::size_t> digit(axes.size(), 0);  // mixed radix, the last axis fastest
  for (std::size_t n = 0; n < total; ++n) {
    SweepPoint pt;
    pt.index = n;
    nlohmann::json scenario = base;
    for (std::size_t a = 0; a < axes.size(); ++a) {
      for (const Override& o : axes[a].sets[digit[a]]) {
        apply(scenario, o, axes[a].where + "." + o.key);
        pt.set.push_back(o);
      }
    }
    try {
      pt.config = parse_scenario(scenario, fmt::format("{} point {}", source, n));
    } catch (const InputError& e) {
      throw InputError(fmt::format("{} [point {} sets {}]", e.what(), n, label(pt.set)));
    }
    pt.id = point_id(pt.config);
    const auto [it, fresh] = ids.emplace(pt.id, n);
    if (!fresh) {
      bad_value(fmt::format("{} point {}", source, n), label(pt.set),
                fmt::format("a scenario different from point {}'s (both resolve to id {}; remove the duplicate)", it->second, pt.id));
    }
    sw.points.push_back(std::move(pt));
    for (std::size_t a = axes.size(); a-- > 0;) {
      if (++digit[a] < axes[a].sets.size()) break;
      digit[a] = 0;
    }
  }

  std::string text = "servesim sweep v1\noutputs " + outputs_key + "\n";
  for (const auto& pt : sw.points) text += pt.id + "\n";
  sw.hash = sha256_hex(text);
  return sw;
}

Sweep load_sweep(const std::string& path, const std::string& outputs_key) {
  const nlohmann::json spec = read_json_file(path);
  return expand_sweep(spec, path, fs::path(path).parent_path().string(), outputs_key);
}

}  // namespace servesim::search
