// The bad-input catalogue of `servesim sweep` (the style of tests/cli/test_bad_input_catalogue.cpp):
// every case ends with exit code 2, exactly one line starting with "error: " that names the
// sweep file and the field, and no file created or removed (no --out folder, no temporary).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli_in;
using testing::temp_dir;
using testing::write_text;
namespace fs = std::filesystem;

struct Case {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;  // created in the case's folder first
  std::string args;                                        // run from the case's folder
  std::vector<std::string> expect;                         // fragments of the one line
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

const std::string kBase =
    R"({"model": "Llama-3.1-8B", "hardware": "h100_sxm", "workload": {"impl": "synthetic", "num_requests": 5, "duration": 0}})";
// A sweep file with the small base and `axes`.
std::pair<std::string, std::string> sweep(const std::string& axes) {
  return {"s.json", R"({"base": )" + kBase + R"(, "axes": )" + axes + "}"};
}
const std::string kRun = "sweep s.json --out res --quiet";
const std::string kGood = R"([{"grid": {"scheduler.max_num_seqs": [4, 8]}}])";
// A journal of some other sweep, in a folder servesim wrote.
const std::vector<std::pair<std::string, std::string>> kOtherSweep = {
    sweep(kGood), {"res/.servesim-output", "x\n"},
    {"res/journal.jsonl", R"({"hash":"0123456789abcdef","name":"other","points":3,"servesim_sweep":1})" "\n"}};

std::vector<Case> catalogue() {
  return {
      {"SweepFileMissing", {}, "sweep nope.json --out res", {"nope.json", "cannot open"}},
      {"SweepFileMissingOut", {sweep(kGood)}, "sweep s.json", {"--out", "an output folder"}},
      {"SweepWithoutFile", {}, "sweep --out res", {"servesim sweep", "a sweep file"}},
      {"SweepTwoFiles", {sweep(kGood)}, "sweep s.json t.json --out res", {"t.json", "one sweep file"}},
      {"SweepMalformedJson", {{"s.json", "{\"base\": {},\n \"axes\": [\n"}}, kRun, {"s.json:", "malformed JSON"}},
      {"SweepUnknownKey", {{"s.json", R"({"base": )" + kBase + R"(, "axes": )" + kGood + R"(, "colour": 1})"}}, kRun,
       {"s.json: colour", "a known key", "axes"}},
      {"SweepBaseMissing", {{"s.json", R"({"axes": )" + kGood + "}"}}, kRun, {"s.json: base", "missing"}},
      {"SweepBaseFileMissing", {{"s.json", R"({"base": "nope.json", "axes": )" + kGood + "}"}}, kRun, {"nope.json", "cannot open"}},
      {"SweepBaseNotAScenario", {{"s.json", R"({"base": 5, "axes": )" + kGood + "}"}}, kRun,
       {"s.json: base", "'5'", "a scenario object or the path"}},
      {"SweepAxesMissing", {{"s.json", R"({"base": )" + kBase + "}"}}, kRun, {"s.json: axes", "a non-empty array of axes"}},
      {"SweepAxesEmpty", {sweep("[]")}, kRun, {"s.json: axes", "'[]'", "a non-empty array of axes"}},
      {"AxisUnknownKind", {sweep(R"([{"cube": {"seed": [1]}}])")}, kRun, {"s.json: axes[0]", "cube", "grid, zip, points, random"}},
      {"AxisTwoKinds", {sweep(R"([{"grid": {"seed": [1]}, "zip": {"seed": [2]}}])")}, kRun, {"s.json: axes[0]", "one of grid"}},
      {"AxisUnknownScenarioKey", {sweep(R"([{"grid": {"scheduler.max_seqs": [4]}}])")}, kRun,
       {"s.json point 0: scheduler.max_seqs", "a known key", "max_num_seqs"}},
      {"AxisValueOutOfRange", {sweep(R"([{"grid": {"scheduler.max_num_seqs": [4, 0]}}])")}, kRun,
       {"s.json point 1: scheduler.max_num_seqs", "'0'", "[point 1 sets scheduler.max_num_seqs=0]"}},
      {"AxisKeyMalformed", {sweep(R"([{"grid": {"scheduler..max_num_seqs": [4]}}])")}, kRun,
       {"s.json: axes[0].grid.scheduler..max_num_seqs", "a dotted scenario key"}},
      {"AxisIndexOutOfRange", {sweep(R"([{"grid": {"pools.3.replicas": [2]}}])")}, kRun, {"s.json point 0: pools"}},
      {"GridEmpty", {sweep(R"([{"grid": {}}])")}, kRun, {"s.json: axes[0].grid", "an empty grid has no points"}},
      {"GridEmptyList", {sweep(R"([{"grid": {"seed": []}}])")}, kRun, {"s.json: axes[0].grid.seed", "'[]'", "a non-empty array"}},
      {"GridNotAList", {sweep(R"([{"grid": {"seed": 3}}])")}, kRun, {"s.json: axes[0].grid.seed", "'3'", "a non-empty array"}},
      {"ZipLengthsDiffer", {sweep(R"([{"zip": {"seed": [1, 2], "workload.rate": [1, 2, 3]}}])")}, kRun,
       {"s.json: axes[0].zip.workload.rate", "3 values", "as many values as seed (2)"}},
      {"PointsNotObjects", {sweep(R"([{"points": [{}, 7]}])")}, kRun, {"s.json: axes[0].points[1]", "'7'", "an object"}},
      {"PointsEmpty", {sweep(R"([{"points": []}])")}, kRun, {"s.json: axes[0].points", "a non-empty array"}},
      {"RandomRangeReversed", {sweep(R"([{"random": {"n": 3, "vars": {"workload.rate": {"uniform": [5, 1]}}}}])")}, kRun,
       {"s.json: axes[0].random.vars.workload.rate.uniform", "[5,1]", "lo <= hi"}},
      {"RandomLogRangeNotPositive", {sweep(R"([{"random": {"n": 3, "vars": {"workload.rate": {"loguniform": [0, 1]}}}}])")}, kRun,
       {"random.vars.workload.rate.loguniform", "0 < lo"}},
      {"RandomNZero", {sweep(R"([{"random": {"n": 0, "vars": {"seed": {"int": [1, 9]}}}}])")}, kRun,
       {"s.json: axes[0].random.n", "'0'"}},
      {"RandomUnknownDistribution", {sweep(R"([{"random": {"n": 2, "vars": {"seed": {"normal": [1, 9]}}}}])")}, kRun,
       {"s.json: axes[0].random.vars.seed", "normal", "uniform, loguniform, int or choice"}},
      {"RandomUnknownKey", {sweep(R"([{"random": {"n": 2, "sed": 4, "vars": {"seed": {"int": [1, 9]}}}}])")}, kRun,
       {"s.json: axes[0].random.sed", "a known key"}},
      {"KeyInTwoAxes", {sweep(R"([{"grid": {"seed": [1, 2]}}, {"zip": {"seed": [3, 4]}}])")}, kRun,
       {"s.json: axes[1].zip.seed", "one axis only", "axes[0].grid"}},
      {"DuplicatePoints", {sweep(R"([{"points": [{"scheduler.max_num_seqs": 256}, {}]}])")}, kRun,
       {"s.json point 1", "point 0", "remove the duplicate"}},
      {"UnknownModelInAPoint", {sweep(R"([{"points": [{}, {"model": "Llama-9-1T"}]}])")}, kRun,
       {"s.json point 1: model", "Llama-9-1T"}},
      {"UnknownHardwareInAPoint", {sweep(R"([{"grid": {"hardware": ["h100_sxm", "tpu_v9"]}}])")}, kRun,
       {"s.json point 1: hardware", "tpu_v9"}},
      {"ThreadsZero", {sweep(kGood)}, kRun + " --threads 0", {"--threads", "'0'", "[1, 1024]"}},
      {"OutHoldsOtherFiles", {sweep(kGood), {"res/notes.txt", "mine"}}, kRun, {"--out", "'res'", "notes.txt", "--force"}},
      {"OutIsAFile", {sweep(kGood), {"res", "data"}}, kRun, {"--out", "'res'", "a file with that name exists"}},
      {"ResumeJournalOfAnotherSweep", kOtherSweep, kRun + " --resume",
       {"res/journal.jsonl", "different sweep", "'other'", "run without --resume"}},
      {"ResumeNotASweepFolder", {sweep(kGood), {"res/.servesim-output", "x\n"}, {"res/summary.json", "{}"}}, kRun + " --resume",
       {"--resume", "'res'", "journal.jsonl"}},
      {"ResumeJournalHeaderMalformed", {sweep(kGood), {"res/.servesim-output", "x\n"}, {"res/journal.jsonl", "[1, 2]\n"}},
       kRun + " --resume", {"res/journal.jsonl:1", "a servesim sweep journal header"}},
  };
}

class SweepCatalogue : public ::testing::TestWithParam<Case> {};

TEST_P(SweepCatalogue, ExitsTwoWithOneLineAndLeavesNothing) {
  const Case& c = GetParam();
  const fs::path dir = temp_dir("sweep_catalogue_" + c.name);
  for (const auto& [name, text] : c.files) {
    fs::create_directories((dir / name).parent_path());
    write_text(dir / name, text);
  }
  std::vector<std::pair<fs::path, std::string>> before;
  for (const auto& e : fs::recursive_directory_iterator(dir)) before.emplace_back(e.path(), e.is_regular_file() ? testing::slurp(e.path()) : "");
  const auto r = run_cli_in(dir, c.args);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_LT(r.out.size(), 600u) << "an error line quotes too much: " << r.out.substr(0, 600);
  for (const auto& f : c.expect) EXPECT_NE(r.out.find(f), std::string::npos) << "missing '" << f << "' in: " << r.out;
  std::vector<std::pair<fs::path, std::string>> after;
  for (const auto& e : fs::recursive_directory_iterator(dir)) after.emplace_back(e.path(), e.is_regular_file() ? testing::slurp(e.path()) : "");
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(before, after) << "files were created, changed or removed";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(BadInput, SweepCatalogue, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace servesim
