// `servesim report DIR [DIR...]`: one self-contained report.html of a run, of a multi-seed
// folder, or of several folders side by side (what-if comparison; the first is the reference).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/report/html_report.h"

namespace servesim::cli {
namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

// True when `path` holds a page servesim wrote (safe to replace).
bool is_servesim_report(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(512, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return head.find("<meta name=\"generator\" content=\"servesim report\">") != std::string::npos;
}

// Writes `text` to `path` through a temporary sibling and a rename: never half a page.
void write_page(const fs::path& path, const std::string& text, bool force) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) bad_value("--out", path.string(), "a file path for report.html (this is a folder)");
  if (fs::exists(path, ec) && !force && !is_servesim_report(path)) {
    bad_value("--out", path.string(), "a new file or a report servesim wrote (this file is something else; pass --force to replace it)");
  }
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) bad_value("--out", path.string(), "a file in an existing folder");
  const fs::path tmp = parent / fmt::format(".{}.servesim-partial-{}", path.filename().string(), ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      bad_value("--out", path.string(), "a writable location");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    fs::remove(tmp, ec);
    bad_value("--out", path.string(), "a location the report can be moved into (" + why + ")");
  }
}

int cmd_report(const Args& args) {
  po::options_description opts("servesim report DIR [DIR...] [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")(
      "out,o", po::value<std::string>(), "the page to write (default: DIR/report.html for one folder, report.html for several)")(
      "title", po::value<std::string>()->default_value(""), "the page's title (default: the scenario's name)")(
      "force", "replace --out even when it is not a report servesim wrote")("quiet,q", "print nothing on success");
  const po::variables_map vm = parse_with_positionals(args, opts, "dirs");
  if (vm.count("help")) {
    std::cout << opts
              << "\nDIR: a folder of `servesim run --out` (one run) or `servesim run --seeds K` (several seeds). With two or\n"
                 "more folders the page compares them side by side, the first as the reference. Tables a folder holds\n"
                 "besides a run's files (points.csv of a sweep, plans.csv of a plan search) are shown too.\n"
                 "The page is self-contained (the chart library, Apache ECharts, is inlined) and opens offline.\n";
    return 0;
  }
  const auto dirs = vm.count("dirs") ? vm["dirs"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (dirs.empty()) bad_value("servesim report", "", "one or more result folders: DIR [DIR...]");
  const fs::path out = vm.count("out") ? fs::path(vm["out"].as<std::string>())
                                       : dirs.size() == 1 ? fs::path(dirs.front()) / "report.html" : fs::path("report.html");
  const std::string html = report::build_report(dirs, report::default_assets_dir(), vm["title"].as<std::string>());
  write_page(out, html, vm.count("force") > 0);
  if (!vm.count("quiet")) std::cout << fmt::format("report written to {} ({:.1f} kB)\n", out.string(), html.size() / 1024.0);
  return 0;
}

}  // namespace

SERVESIM_CLI_COMMAND("report", "one self-contained report.html of a run, a multi-seed run or several runs side by side", cmd_report);

}  // namespace servesim::cli
