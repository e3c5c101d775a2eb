#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <unistd.h>

#include "sim/calibrate/fit.h"
#include "sim/core/error.h"

namespace servesim::calib {
namespace fs = std::filesystem;

std::string relative_to(const std::string& path, const std::string& base) {
  const fs::path p = fs::weakly_canonical(fs::absolute(path));
  const fs::path b = fs::weakly_canonical(fs::absolute(base));
  const fs::path rel = p.lexically_relative(b);
  return rel.empty() ? p.string() : rel.string();
}

InputList resolve_inputs(const std::vector<std::string>& paths, const std::string& data_dir) {
  InputList out;
  for (const std::string& given : paths) {
    fs::path p = given;
    if (!fs::exists(p) && p.is_relative() && fs::exists(fs::path(data_dir) / p)) p = fs::path(data_dir) / p;
    if (!fs::exists(p)) {
      bad_value("--data", given, "an existing file or directory of measured tables (is ../shared/data present?)");
    }
    if (fs::is_directory(p)) {
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(p)) {
        const std::string s = e.path().string();
        if (e.is_regular_file() && (s.ends_with(".csv") || s.ends_with(".csv.gz"))) found.push_back(s);
      }
      std::sort(found.begin(), found.end());
      for (const auto& f : found) {
        if (is_known_format(f)) out.files.emplace_back(f, relative_to(f, data_dir));
        else out.ignored.push_back(relative_to(f, data_dir));
      }
    } else {
      out.files.emplace_back(p.string(), relative_to(p.string(), data_dir));
    }
  }
  if (out.files.empty()) input_error("--data", "no measured tables found in the given paths");
  return out;
}

MeasurementSet read_inputs(const InputList& list, bool sliding_window_only) {
  MeasurementSet set;
  set.sliding_window_only = sliding_window_only;
  for (const auto& [path, rel] : list.files) read_measurements(path, rel, set);
  return set;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const fs::path target = fs::path(path).lexically_normal();
  std::error_code ec;
  if (path.empty() || !target.has_filename() || target.filename() == "." || target.filename() == "..") {
    bad_value("--out", path, "a file path");
  }
  if (fs::is_directory(target, ec)) bad_value("--out", path, "a file path (a folder with that name exists)");
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) bad_value("--out", path, "a location where the file can be written (" + ec.message() + ")");
  }
  // A temporary beside the target, renamed over it once complete: the target holds the old
  // text or the new, never part of it; nothing is left behind on failure.
  const fs::path tmp = target.parent_path() / fmt::format(".{}.servesim-partial-{}", target.filename().string(), ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) bad_value("--out", path, "a writable location");
    out << text;
    out.flush();
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      bad_value("--out", path, "a location with room for the file (disk full?)");
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    bad_value("--out", path, "a location the file can be moved into (" + why + ")");
  }
}

}  // namespace servesim::calib
