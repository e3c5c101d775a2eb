#include "sim/report/html_report.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <unistd.h>

#include "sim/core/error.h"
#include "sim/report/report_data.h"

#ifndef SERVESIM_REPORT_ASSETS
#define SERVESIM_REPORT_ASSETS "tools/report"
#endif

namespace servesim::report {
namespace fs = std::filesystem;

namespace {

std::string read_asset(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    input_error(path.string(),
                "report asset missing (install the chart library: tools/setup.sh runs `npm ci` in tools/report; or set "
                "SERVESIM_REPORT_ASSETS to a folder holding report.js, report.css and node_modules/echarts)");
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Text placed inside <script> or <style> must not close the element early.
std::string escape_for_element(std::string text, const char* closing) {
  const std::string needle = closing;
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  for (;;) {
    const std::size_t hit = text.find(needle, pos);
    if (hit == std::string::npos) break;
    out.append(text, pos, hit - pos);
    out += "<\\/";
    pos = hit + 2;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string default_assets_dir() {
  const char* env = std::getenv("SERVESIM_REPORT_ASSETS");
  return env && *env ? env : SERVESIM_REPORT_ASSETS;
}

std::string render_html(const nlohmann::json& data, const std::string& assets_dir) {
  const fs::path dir(assets_dir);
  const std::string echarts = read_asset(dir / "node_modules" / "echarts" / "dist" / "echarts.min.js");
  // The page's scripts: shared helpers first, then one per kind of document.
  std::string script;
  for (const char* name : {"report_common.js", "report.js", "report_search.js"}) {
    script += "<script>\n" + escape_for_element(read_asset(dir / name), "</script") + "\n</script>\n";
  }
  const std::string style = read_asset(dir / "report.css");
  std::string title = data.value("title", "");
  if (title.empty()) title = "servesim report";
  std::string html;
  html.reserve(echarts.size() + script.size() + (std::size_t{1} << 20));
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"generator\" content=\"servesim report\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n";
  html += "<title>" + html_escape(title) + "</title>\n<style>\n" + escape_for_element(style, "</") + "\n</style>\n</head>\n<body>\n";
  html += "<main id=\"report\"></main>\n";
  html += "<script id=\"report-data\" type=\"application/json\">" + escape_for_element(data.dump(), "</") + "</script>\n";
  html += "<script>\n" + escape_for_element(echarts, "</script") + "\n</script>\n";
  html += script + "</body>\n</html>\n";
  return html;
}

std::string build_report(const std::vector<std::string>& dirs, const std::string& assets_dir, const std::string& title) {
  // Assets first: a missing library fails before any folder is read.
  const fs::path lib = fs::path(assets_dir) / "node_modules" / "echarts" / "dist" / "echarts.min.js";
  if (!fs::is_regular_file(lib)) read_asset(lib);
  return render_html(collect_report_data(dirs, title), assets_dir);
}

std::string build_report_from_files(const std::vector<std::pair<std::string, std::string>>& files, const std::string& assets_dir,
                                    const std::string& label) {
  std::error_code ec;
  const fs::path tmp = fs::temp_directory_path(ec) / fmt::format("servesim-report-{}", ::getpid());
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{tmp};
  fs::remove_all(tmp, ec);
  for (const auto& [name, text] : files) {
    const fs::path path = tmp / name;
    fs::create_directories(path.parent_path(), ec);
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out) input_error(path.string(), "cannot write a temporary file for the report");
  }
  const fs::path lib = fs::path(assets_dir) / "node_modules" / "echarts" / "dist" / "echarts.min.js";
  if (!fs::is_regular_file(lib)) read_asset(lib);
  nlohmann::json data = collect_report_data({tmp.string()});
  data["sets"][0]["label"] = label;
  data["sets"][0]["dir"] = label;
  return render_html(data, assets_dir);
}

}  // namespace servesim::report
