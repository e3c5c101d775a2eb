#pragma once
// Output of `servesim validate`. Contract: write_validation() writes every file into a
// temporary folder beside `dir` and renames it into place only when all are written (no
// half-written output); files are byte-identical for identical results.
//   validation.json        every run: metrics predicted vs measured, errors, targets, pass/fail
//   summary.md             the results table (Markdown), as in VALIDATION.md
//   <run>/per_request.csv  one row per finished request: TTFT, TPOT, E2E measured and predicted
//   <run>/per_step.csv     one row per measured step: measured and predicted step time
//   <run>/per_request.svg  predicted vs measured per request (TTFT, E2E) and per step
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/report/output.h"
#include "sim/validate/compare.h"

namespace servesim::validate {

// The targets; a metric passes when |error| <= limit.
struct Target {
  const char* metric;
  double limit;
};
inline constexpr Target kStepTimeTarget{"step time median |error|", 0.05};
inline constexpr Target kTtftTarget{"TTFT p50", 0.10};
inline constexpr Target kTpotTarget{"TPOT p50", 0.10};
inline constexpr Target kThroughputTarget{"throughput", 0.05};

nlohmann::json validation_json(const std::vector<RunValidation>& runs);
std::string table_text(const RunValidation& v);     // the human table printed to stdout
std::string summary_markdown(const std::vector<RunValidation>& runs);
std::string per_request_csv(const RunValidation& v);
std::string per_step_csv(const RunValidation& v);
std::string per_request_svg(const RunValidation& v);

// `extra`: more (path, text) files written with the others (e.g. intervals.json).
void write_validation(const std::string& dir, const std::vector<RunValidation>& runs, const OutputOptions& options = {},
                      const std::vector<std::pair<std::string, std::string>>& extra = {});

}  // namespace servesim::validate
