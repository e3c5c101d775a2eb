#include "sim/cost/residual_sources.h"

#include <filesystem>

#include "sim/core/dtype.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/cost/fitted_profile.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;

// `path` relative to the data dir when it lies under it (outputs the same on every machine).
std::string shown(const std::string& path, const std::string& data_dir) {
  const fs::path rel = fs::path(path).lexically_normal().lexically_relative(fs::path(data_dir).lexically_normal());
  return !rel.empty() && *rel.begin() != ".." ? rel.string() : path;
}

// A path written in a profile: absolute as is; else under the data dir, else as given.
std::string data_path(const std::string& p, const std::string& data_dir) {
  if (fs::path(p).is_absolute()) return p;
  const fs::path under = fs::path(data_dir) / p;
  return fs::exists(under) || !fs::exists(p) ? under.string() : p;
}

// `entry`.quantiles: a non-empty array of numbers > -1; InputError naming `path` and `field` otherwise.
void check_quantiles(const std::string& path, const std::string& field, const nlohmann::json& entry) {
  const auto q = entry.is_object() ? entry.find("quantiles") : entry.end();
  if (!entry.is_object() || q == entry.end() || !q->is_array() || q->empty()) input_error(path, field + ".quantiles: expected a non-empty array");
  for (const auto& v : *q) {
    if (!v.is_number() || !(v.get<double>() > -1.0)) bad_value(path + ": " + field + ".quantiles", v.dump(), "numbers > -1 (predicted / measured - 1)");
  }
}

// families{name: {quantiles, by_dtype?}} of a servesim.residuals/1 file, each checked.
nlohmann::json load_families(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  const auto fams = j.find("families");
  if (j.value("schema", "") != "servesim.residuals/1" || fams == j.end() || !fams->is_object()) {
    input_error(path, "expected a servesim.residuals/1 file with a families object");
  }
  for (const char* f : kResidualFamilies) {
    const auto it = fams->find(f);
    if (it == fams->end()) continue;
    check_quantiles(path, std::string("families.") + f, *it);
    const auto by = it->find("by_dtype");
    if (by == it->end()) continue;
    if (!by->is_object()) bad_value(path + ": families." + f + ".by_dtype", by->dump().substr(0, 60), "an object {dtype: {n, quantiles}}");
    for (const auto& [dtype, d] : by->items()) {
      const std::string field = std::string("families.") + f + ".by_dtype." + dtype;
      parse_dtype(dtype, path + ": " + field);
      check_quantiles(path, field, d);
    }
  }
  return *fams;
}

// Fills the families `fams` holds (and only those not yet filled).
void take(ResidualSources& out, const nlohmann::json& fams, const std::string& origin, const std::string& file) {
  for (std::size_t f = 0; f < kResidualFamilies.size(); ++f) {
    const auto it = fams.find(kResidualFamilies[f]);
    if (it == fams.end() || out.families[f].origin != "none") continue;
    out.families[f].origin = origin;
    out.families[f].file = file;
    for (const auto& v : (*it)["quantiles"]) out.families[f].quantiles.push_back(v.get<double>());
    const auto by = it->find("by_dtype");
    if (by == it->end()) continue;
    for (const auto& [dtype, d] : by->items()) {
      auto& q = out.families[f].by_dtype[dtype];
      for (const auto& v : d["quantiles"]) q.push_back(v.get<double>());
    }
  }
}

// The resolved config of the calibrated model under `inner` (wrappers followed), or {}.
nlohmann::json calibrated_config(const nlohmann::json& inner) {
  const nlohmann::json* c = &inner;
  for (int depth = 0; depth < 8 && c->is_object(); ++depth) {
    if (c->value("impl", std::string()) == "calibrated") return *c;
    const auto next = c->find("inner");
    if (next == c->end()) break;
    c = &*next;
  }
  return nlohmann::json::object();
}

// The profile file the calibrated model reads (its rule in sim/cost/impl/calibrated.cpp).
std::string profile_path(const std::string& device, const nlohmann::json& cal, const std::string& data_dir) {
  const std::string profile = cal.value("profile", std::string());
  const std::string ks = cal.value("kernel_set", std::string());
  std::string path = profile.empty() ? device : profile;
  const bool is_path = path.find('/') != std::string::npos || path.ends_with(".json");
  if (!is_path) {
    path = (fs::path(data_dir) / "calibration" / "profiles" / (path + ".json")).string();
  } else if (!fs::exists(path) && fs::path(path).is_relative() && fs::exists(fs::path(data_dir) / path)) {
    path = (fs::path(data_dir) / path).string();
  }
  if (!ks.empty() && profile.empty()) {
    const fs::path own = fs::path(path).parent_path() / (kernel_set_stem(device, ks) + ".json");
    if (fs::exists(own)) path = own.string();
  }
  return path;
}

std::string residuals_of(const std::string& profile) {
  const std::string stem = profile.ends_with(".json") ? profile.substr(0, profile.size() - 5) : profile;
  return stem + ".residuals.json";
}

}  // namespace

nlohmann::json ResidualSources::to_json() const {
  nlohmann::json fams = nlohmann::json::object();
  for (std::size_t f = 0; f < kResidualFamilies.size(); ++f) {
    const FamilyResiduals& r = families[f];
    nlohmann::json e = {{"from", r.origin}};
    if (!r.file.empty()) e["residuals"] = r.file;
    if (!r.by_dtype.empty()) {
      e["by_dtype"] = nlohmann::json::array();
      for (const auto& [dtype, q] : r.by_dtype) e["by_dtype"].push_back(dtype);
    }
    if (r.origin == "transfer_check") e["derivation_error"] = "checked";
    if (r.origin == "source_held_out") e["derivation_error"] = "unknown (not checked)";
    fams[kResidualFamilies[f]] = e;
  }
  nlohmann::json j = {{"families", fams}};
  if (!derived_profile.empty()) j["derived_profile"] = derived_profile;
  return j;
}

ResidualSources residual_sources(const std::string& device, const nlohmann::json& inner, const std::string& residuals,
                                 const std::string& data_dir, const std::string& where) {
  ResidualSources out;
  const std::string hint = "a residuals file (servesim calibrate check --device " + device +
                           " --residuals-out FILE); prediction intervals need a measured profile's held-out errors";
  if (!residuals.empty()) {
    if (!fs::exists(residuals)) bad_value(where + ".residuals", residuals, hint);
    take(out, load_families(residuals), "given", shown(residuals, data_dir));
    return out;
  }
  // The residuals beside the profile the inner model reads (<device>@<kernel_set> when it names
  // a kernel set that has its own profile, else the device's).
  const nlohmann::json cal = calibrated_config(inner);
  const std::string profile = profile_path(device, cal, data_dir);
  const std::string path = residuals_of(profile);
  if (fs::exists(path)) {
    take(out, load_families(path), "held_out", shown(path, data_dir));
    return out;
  }
  // A derived profile has no held-out errors of its own: its derivation's check and its source's.
  nlohmann::json derived, prov;
  if (fs::exists(profile)) {
    const nlohmann::json pj = read_json_file(profile);
    derived = pj.value("derived_from", nlohmann::json());
    prov = pj.value("provenance", nlohmann::json::object());
  }
  if (!derived.is_object()) bad_value(where + ".residuals", path, hint);
  const std::string pshown = shown(profile, data_dir);
  out.derived_profile = pshown;
  // The residuals of a profile the derived one names: beside it (by file name), else relative
  // to the data dir.
  const auto residuals_named = [&](const std::string& named) {
    const std::string b = residuals_of((fs::path(profile).parent_path() / fs::path(named).filename()).string());
    return fs::exists(b) ? b : data_path(residuals_of(named), data_dir);
  };
  // Families measured on the device itself (calibrate derive --measured-families): their
  // profile's held-out errors.
  for (const auto& f : prov.is_object() ? prov.value("families_from", nlohmann::json::array()) : nlohmann::json::array()) {
    const std::string file = residuals_named(f.value("profile", std::string()));
    if (!fs::exists(file)) {
      bad_value(pshown + ": provenance.families_from.profile", f.value("profile", std::string()),
                "a measured profile with its held-out residuals file beside it (" + shown(file, data_dir) + ")");
    }
    nlohmann::json fams = load_families(file), kept = nlohmann::json::object();
    for (const auto& name : f.value("families", nlohmann::json::array())) {
      if (name.is_string() && fams.contains(name.get<std::string>())) kept[name.get<std::string>()] = fams[name.get<std::string>()];
    }
    take(out, kept, "held_out", shown(file, data_dir));
  }
  const auto ee = derived.find("expected_error");
  if (ee != derived.end() && ee->is_object() && ee->contains("residuals")) {
    const nlohmann::json& r = (*ee)["residuals"];
    const std::string file = r.is_string() ? data_path(r.get<std::string>(), data_dir) : std::string();
    if (file.empty() || !fs::exists(file)) {
      bad_value(pshown + ": derived_from.expected_error.residuals", r.dump(),
                "an existing residuals file (the transfer check's: servesim calibrate check --profile DERIVED --data "
                "MEASURED --residuals-out FILE), relative to the data dir");
    }
    take(out, load_families(file), "transfer_check", shown(file, data_dir));
    // Later checks (derive --expected-error repeated) for the families they added.
    for (const auto& a : ee->value("also", nlohmann::json::array())) {
      const nlohmann::json& ar = a.contains("residuals") ? a["residuals"] : nlohmann::json();
      const std::string afile = ar.is_string() ? data_path(ar.get<std::string>(), data_dir) : std::string();
      if (afile.empty() || !fs::exists(afile)) {
        bad_value(pshown + ": derived_from.expected_error.also.residuals", ar.dump(), "an existing residuals file, relative to the data dir");
      }
      nlohmann::json kept = nlohmann::json::object(), fams = load_families(afile);
      const nlohmann::json added = a.value("families", nlohmann::json::object());
      for (const auto& [name, v] : added.items()) {
        if (fams.contains(name)) kept[name] = fams[name];
      }
      take(out, kept, "transfer_check", shown(afile, data_dir));
    }
  }
  const auto src = derived.find("profile");
  const std::string src_file = src != derived.end() && src->is_string() ? residuals_named(src->get<std::string>()) : "";
  if (src_file.empty() || !fs::exists(src_file)) {
    bad_value(pshown + ": derived_from.profile", src == derived.end() ? "missing" : src->dump(),
              "the source profile (relative to the data dir) with its held-out residuals file beside it (" +
                  (src_file.empty() ? std::string("<source>.residuals.json") : shown(src_file, data_dir)) +
                  ": servesim calibrate check --device SOURCE --residuals-out FILE)");
  }
  take(out, load_families(src_file), "source_held_out", shown(src_file, data_dir));
  return out;
}

}  // namespace servesim
