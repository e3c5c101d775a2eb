#include "sim/cost/derived_note.h"

#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "sim/core/json_file.h"
#include "sim/cost/sha256.h"

namespace servesim {
namespace fs = std::filesystem;

nlohmann::json derived_profiles_used(const nlohmann::json& time_by_source, const std::string& data_dir) {
  std::map<std::string, std::string> wanted;  // device -> sha8
  for (const auto& [src, seconds] : time_by_source.items()) {
    if (!src.starts_with("derived:")) continue;
    const auto at = src.find('@'), colon = src.find(':', 8);
    if (at == std::string::npos || colon == std::string::npos || at > colon) continue;
    wanted.emplace(src.substr(8, at - 8), src.substr(at + 1, colon - at - 1));
  }
  nlohmann::json out = nlohmann::json::object();
  const fs::path dir = fs::path(data_dir) / "calibration" / "profiles";
  for (const auto& [device, sha8] : wanted) {
    nlohmann::json entry = {{"profile", nullptr}, {"from", nullptr}, {"expected_error", nullptr}};
    std::set<fs::path> candidates;  // sorted: the first match is the same on every machine
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(dir, ec)) {
      const std::string name = f.path().filename().string();
      if (f.path().extension() == ".json" && name.starts_with(device) && !name.ends_with(".residuals.json") &&
          (name == device + ".json" || name.starts_with(device + "@"))) {
        candidates.insert(f.path());
      }
    }
    for (const fs::path& f : candidates) {
      if (sha256_file_hex(f.string()).substr(0, sha8.size()) != sha8) continue;
      const nlohmann::json p = read_json_file(f.string());
      const nlohmann::json d = p.value("derived_from", nlohmann::json::object());
      entry["profile"] = fs::path(f).lexically_relative(data_dir).string();
      entry["from"] = d.value("device", std::string());
      if (d.contains("expected_error")) entry["expected_error"] = d["expected_error"];
      break;
    }
    out[device] = entry;
  }
  return out;
}

std::string derived_profiles_text(const nlohmann::json& used) {
  static const std::vector<std::string> kFamilies = {"gemm", "attention_prefill", "attention_decode", "collective", "copy"};
  std::string out;
  for (const auto& [device, e] : used.items()) {
    if (e["profile"].is_null()) {
      out += fmt::format("note: costs on {} come from a derived profile (not measured) that is not under calibration/profiles: "
                         "its expected error is unknown\n",
                         device);
      continue;
    }
    out += fmt::format("note: costs on {} come from a profile derived from {} ({}), not measured; ", device,
                       e["from"].get<std::string>(), e["profile"].get<std::string>());
    const nlohmann::json& x = e["expected_error"];
    if (x.is_null()) {
      out += "its expected error was never checked\n";
      continue;
    }
    std::string checked, unchecked;
    const nlohmann::json& fams = x["families"];
    for (const auto& [fam, v] : fams.items()) {
      checked += fmt::format("{}{} {:.1f}% (median {:+.1f}%)", checked.empty() ? "" : ", ", fam, 100 * v["mean_abs_error"].get<double>(),
                             100 * v["median_error"].get<double>());
    }
    for (const auto& fam : kFamilies) {
      bool seen = false;
      for (const auto& [name, v] : fams.items()) seen = seen || name == fam || name.starts_with(fam);
      if (!seen) unchecked += (unchecked.empty() ? "" : ", ") + fam;
    }
    out += fmt::format("expected error of its rule, checked on measured {} ({}): {}{}\n", x.value("checked_device", std::string("?")),
                       x.value("residuals", std::string("?")), checked, unchecked.empty() ? "" : "; unchecked: " + unchecked);
  }
  return out;
}

}  // namespace servesim
