#pragma once
// Where the held-out errors of a perturbed run come from (prediction intervals, `servesim run
// --uncertainty N`; sim/cost/impl/perturbed.cpp draws from them). Contract:
// - Per fitted family (kResidualFamilies) one residual distribution (quantiles of predicted /
//   measured - 1), the file it was read from and its origin:
//   * "given": the `residuals` file named in the cost model, for every family it holds;
//   * "held_out": the profile's own file, calibration/profiles/<device>[@<kernel_set>].residuals.json
//     (the set's file when it exists) under the data dir: the fit's held-out errors;
//   * for a derived profile (one with `derived_from`, status "derived") without such a file:
//     "transfer_check": the family is in the file named by derived_from.expected_error.residuals
//     (a derived profile checked against measurements of its device: the derivation's error
//     together with its source fit's); "source_held_out": it is not (the check never measured
//     it), so the source profile's own held-out errors (derived_from.profile with .json ->
//     .residuals.json): the source fit's error only, the derivation's own error for the family
//     unknown;
//   * "none": no file holds the family: its answers are not perturbed.
// - A family may also hold per-dtype distributions (`by_dtype`: {dtype: {n, quantiles}}; the
//   GEMM family of a profile fitted on several dtypes): taken from the same file as the
//   family's own, so a bf16 GEMM draws bf16's errors, not those pooled with fp8's.
// - Paths in a profile are relative to the data dir (else as given). Errors are InputErrors
//   naming the file, the field, the value and what was expected: no residuals file for a
//   measured profile, a derived profile's missing or malformed file, a quantile not > -1.
// - Pure: the same files give the same answer.
#include <array>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace servesim {

// The fitted families in the perturbed model's order.
inline constexpr std::array<const char*, 6> kResidualFamilies = {"gemm", "attention_prefill", "attention_decode", "collective",
                                                                 "copy", "moe"};

struct FamilyResiduals {
  std::string origin = "none";  // given | held_out | transfer_check | source_held_out | none
  std::string file;             // relative to the data dir when under it; empty for "none"
  std::vector<double> quantiles;
  std::map<std::string, std::vector<double>> by_dtype;  // dtype name -> quantiles (may be empty)
};

struct ResidualSources {
  std::string derived_profile;  // the derived profile whose rule picked the files; empty when not derived
  std::array<FamilyResiduals, kResidualFamilies.size()> families;

  // {"derived_profile"?, "families": {name: {"from", "residuals"?, "by_dtype"?: [dtype...],
  // "derivation_error"?}}}:
  // derivation_error is "checked" for transfer_check and "unknown (not checked)" for
  // source_held_out.
  nlohmann::json to_json() const;
};

// The residual sources of a `perturbed` cost model on `device` wrapping `inner` (its resolved
// config; a wrapping model's own `inner` is followed down to the calibrated one for its
// `profile` and `kernel_set`). `residuals`: the file the user named (empty: by the rule above).
// `where`: the config path for errors.
ResidualSources residual_sources(const std::string& device, const nlohmann::json& inner, const std::string& residuals,
                                 const std::string& data_dir, const std::string& where);

}  // namespace servesim
