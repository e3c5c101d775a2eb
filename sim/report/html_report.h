#pragma once
// report.html: one self-contained page (no network) drawing collect_report_data()'s
// document with the chart library installed by tools/setup.sh (Apache ECharts, from npm).
//
// Contract:
// - The page inlines, from the assets folder: node_modules/echarts/dist/echarts.min.js (the
//   library), report_common.js, report.js and report_search.js (the page's scripts) and
//   report.css; and the data as JSON. It loads
//   nothing else. A missing asset is an InputError naming the file and how to install it
//   (the CLI exits 2).
// - The assets folder is $SERVESIM_REPORT_ASSETS when set, else the one configured at build
//   time (the source tree's tools/report).
// - Same inputs and assets give the same bytes.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace servesim::report {

std::string default_assets_dir();

// The page for `data` (collect_report_data's document).
std::string render_html(const nlohmann::json& data, const std::string& assets_dir);

// collect + render: the report of `dirs` (run folders, multi-seed folders; see report_data.h).
std::string build_report(const std::vector<std::string>& dirs, const std::string& assets_dir, const std::string& title = "");

// The report of a result folder not yet written (`servesim run --report`): `files` (path in
// the folder -> content) are written into a private temporary folder, reported on, and
// removed again (also on error); `label` names the folder in the page (the --out folder).
std::string build_report_from_files(const std::vector<std::pair<std::string, std::string>>& files, const std::string& assets_dir,
                                    const std::string& label);

}  // namespace servesim::report
