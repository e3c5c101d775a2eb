#include "sim/hardware/prices.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim {
namespace {

const nlohmann::json& field(const nlohmann::json& obj, const std::string& key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) input_error(where + "." + key, "missing required field");
  return obj[key];
}

}  // namespace

PriceBook PriceBook::load(const std::string& data_dir, const std::string& path) {
  PriceBook b;
  b.path_ = path.empty() ? data_dir + "/hardware_profiles/prices.json" : path;
  const nlohmann::json j = read_json_file(b.path_);
  const std::string schema = optional_string(j, "schema", "", b.path_);
  if (schema != "servesim.prices/1") bad_value(b.path_ + ": schema", schema, "servesim.prices/1");
  const nlohmann::json& sources = require_field(j, "sources", b.path_);
  const nlohmann::json& devices = require_field(j, "devices", b.path_);
  if (!devices.is_object()) bad_value(b.path_ + ": devices", devices.dump(), "an object keyed by device name");
  for (const auto& [dev, entry] : devices.items()) {
    const std::string where = fmt::format("{}: devices.{}", b.path_, dev);
    if (!entry.is_object()) bad_value(where, entry.dump(), "an object with on_demand and reserved");
    for (const auto& [key, v] : entry.items()) {
      if (key == "note") continue;
      if (key != "on_demand" && key != "reserved") bad_value(where + "." + key, key, "on_demand, reserved or note");
      if (v.is_null()) continue;
      const std::string w = where + "." + key;
      const nlohmann::json& value = field(v, "value", w);
      if (!value.is_number() || value.get<double>() <= 0) bad_value(w + ".value", value.dump(), "a positive $ per GPU-hour");
      const nlohmann::json& src = field(v, "source", w);
      if (!src.is_string() || !sources.contains(src.get<std::string>()) || !sources[src.get<std::string>()].is_string()) {
        bad_value(w + ".source", src.dump(), "a key of the file's sources (naming the price list)");
      }
      const nlohmann::json& date = field(v, "date", w);
      if (!date.is_string()) bad_value(w + ".date", date.dump(), "the date the price was read (YYYY-MM-DD)");
      b.prices_[dev][key] = Price{value.get<double>(), sources[src.get<std::string>()].get<std::string>(), date.get<std::string>()};
    }
    if (entry.contains("note") && entry["note"].is_string()) b.notes_[dev] = entry["note"].get<std::string>();
  }
  return b;
}

const Price* PriceBook::find(const std::string& device, const std::string& tier) const {
  auto d = prices_.find(device);
  if (d == prices_.end()) return nullptr;
  auto t = d->second.find(tier);
  return t == d->second.end() ? nullptr : &t->second;
}

const Price& PriceBook::price(const std::string& device, const std::string& tier, const std::string& where) const {
  if (const Price* p = find(device, tier)) return *p;
  auto n = notes_.find(device);
  input_error(where, fmt::format("no {} price for device {} in {}{}", tier, device, path_,
                                 n != notes_.end() ? " (" + n->second + ")" : " (add one with its source and date)"));
}

}  // namespace servesim
