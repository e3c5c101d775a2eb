#include "sim/cost/derived_note.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "sim/core/json_file.h"
#include "sim/cost/sha256.h"

namespace servesim {
namespace fs = std::filesystem;

namespace {

// device -> sha8 of the sources "<prefix><device>@<sha8>:<family>..." whose family starts with
// `family` ("" for any).
std::map<std::string, std::string> profiles_named(const nlohmann::json& time_by_source, const std::string& prefix,
                                                  const std::string& family) {
  std::map<std::string, std::string> wanted;
  for (const auto& [src, seconds] : time_by_source.items()) {
    if (!src.starts_with(prefix)) continue;
    const auto at = src.find('@'), colon = src.find(':', prefix.size());
    if (at == std::string::npos || colon == std::string::npos || at > colon) continue;
    if (!src.substr(colon + 1).starts_with(family)) continue;
    wanted.emplace(src.substr(prefix.size(), at - prefix.size()), src.substr(at + 1, colon - at - 1));
  }
  return wanted;
}

// calibration/profiles/<device>[@<set>].json whose SHA-256 starts with `sha8`, or "" (the
// candidates sorted: the first match is the same on every machine).
fs::path profile_file(const std::string& data_dir, const std::string& device, const std::string& sha8) {
  std::set<fs::path> candidates;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(fs::path(data_dir) / "calibration" / "profiles", ec)) {
    const std::string name = f.path().filename().string();
    if (f.path().extension() == ".json" && name.starts_with(device) && !name.ends_with(".residuals.json") &&
        (name == device + ".json" || name.starts_with(device + "@"))) {
      candidates.insert(f.path());
    }
  }
  for (const fs::path& f : candidates) {
    if (sha256_file_hex(f.string()).substr(0, sha8.size()) == sha8) return f;
  }
  return {};
}

}  // namespace

nlohmann::json derived_profiles_used(const nlohmann::json& time_by_source, const std::string& data_dir) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [device, sha8] : profiles_named(time_by_source, "derived:", "")) {
    nlohmann::json entry = {{"profile", nullptr}, {"from", nullptr}, {"expected_error", nullptr}};
    if (const fs::path f = profile_file(data_dir, device, sha8); !f.empty()) {
      const nlohmann::json p = read_json_file(f.string());
      const nlohmann::json d = p.value("derived_from", nlohmann::json::object());
      entry["profile"] = fs::path(f).lexically_relative(data_dir).string();
      entry["from"] = d.value("device", std::string());
      if (d.contains("expected_error")) entry["expected_error"] = d["expected_error"];
      // Families measured on the device itself (calibrate derive --measured-families).
      const nlohmann::json prov = p.value("provenance", nlohmann::json::object());
      for (const auto& src : prov.value("families_from", nlohmann::json::array())) {
        for (const auto& f : src.value("families", nlohmann::json::array())) entry["measured_here"].push_back(f);
      }
    }
    out[device] = entry;
  }
  return out;
}

nlohmann::json borrowed_moe_used(const nlohmann::json& time_by_source, const std::string& data_dir) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [device, sha8] : profiles_named(time_by_source, "fit:", "moe")) {
    const fs::path f = profile_file(data_dir, device, sha8);
    if (f.empty()) continue;
    const nlohmann::json p = read_json_file(f.string());
    const auto prov = p.find("provenance");
    if (prov == p.end() || !prov->contains("moe_from")) continue;
    const nlohmann::json& m = (*prov)["moe_from"];
    out[device] = {{"profile", fs::path(f).lexically_relative(data_dir).string()},
                   {"from", m.value("device", std::string())},
                   {"from_profile", (f.parent_path() / fs::path(m.value("profile", std::string())).filename())
                                        .lexically_relative(data_dir)
                                        .string()}};
  }
  return out;
}

std::string borrowed_moe_text(const nlohmann::json& used) {
  std::string out;
  for (const auto& [device, e] : used.items()) {
    out += fmt::format("note: MoE layers on {} are priced from {}'s measured fused MoE ({}), moved to {} by derive's rule; never "
                       "measured on {}\n",
                       device, e["from"].get<std::string>(), e["from_profile"].get<std::string>(), device, device);
  }
  return out;
}

std::string derived_profiles_text(const nlohmann::json& used) {
  static const std::vector<std::string> kFamilies = {"gemm", "attention_prefill", "attention_decode", "collective", "copy", "moe"};
  std::string out;
  for (const auto& [device, e] : used.items()) {
    std::vector<std::string> here;
    if (e.contains("measured_here")) here = e["measured_here"].get<std::vector<std::string>>();
    const auto measured_here = [&here](const std::string& fam) {
      return std::any_of(here.begin(), here.end(), [&fam](const std::string& h) { return fam == h || fam.starts_with(h + ":"); });
    };
    std::string own;
    for (const auto& h : here) own += (own.empty() ? "" : ", ") + h;
    if (!own.empty()) own = fmt::format("; measured on {} itself: {}", device, own);
    if (e["profile"].is_null()) {
      out += fmt::format("note: costs on {} come from a derived profile (not measured) that is not under calibration/profiles: "
                         "its expected error is unknown\n",
                         device);
      continue;
    }
    out += fmt::format("note: costs on {} come from a profile derived from {} ({}), not measured{}; ", device,
                       e["from"].get<std::string>(), e["profile"].get<std::string>(), own.empty() ? "" : " (except its measured families)");
    const nlohmann::json& x = e["expected_error"];
    if (x.is_null()) {
      out += "its expected error was never checked" + own + "\n";
      continue;
    }
    // The rule's checks: the first file's families, then those a later one added
    // (expected_error.also), each with the device it was checked on.
    std::vector<const nlohmann::json*> checks = {&x};
    if (x.contains("also") && x["also"].is_array()) {
      for (const auto& a : x["also"]) checks.push_back(&a);
    }
    std::string text, unchecked;
    std::vector<std::string> seen_families;
    for (std::size_t i = 0; i < checks.size(); ++i) {
      const nlohmann::json& c = *checks[i];
      std::string checked;
      for (const auto& [fam, v] : c["families"].items()) {
        seen_families.push_back(fam);
        if (measured_here(fam)) continue;
        checked += fmt::format("{}{} {:.1f}% (median {:+.1f}%)", checked.empty() ? "" : ", ", fam, 100 * v["mean_abs_error"].get<double>(),
                               100 * v["median_error"].get<double>());
      }
      if (checked.empty()) continue;
      text += fmt::format("{}checked on measured {} ({}): {}", text.empty() ? "expected error of its rule, " : "; ",
                          c.value("checked_device", std::string("?")), c.value("residuals", std::string("?")), checked);
    }
    for (const auto& fam : kFamilies) {
      bool seen = false;
      for (const auto& name : seen_families) seen = seen || name == fam || name.starts_with(fam);
      if (!seen && !measured_here(fam)) unchecked += (unchecked.empty() ? "" : ", ") + fam;
    }
    if (text.empty()) text = "expected error of its rule never checked on its own families";
    out += fmt::format("{}{}{}\n", text, unchecked.empty() ? "" : "; unchecked: " + unchecked, own);
  }
  return out;
}

}  // namespace servesim
