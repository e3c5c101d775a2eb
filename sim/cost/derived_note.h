#pragma once
// What a run says about the derived profiles it priced with (issue: derived profiles say so in
// every output, with their expected error). Contract:
// - Sources named "derived:<device>@<sha8>:..." (CalibratedCostModel's answers from a derived
//   profile) are looked up among calibration/profiles/<device>*.json under the data dir by
//   that SHA-256 prefix; each found profile gives its derived_from (source device, rules) and
//   derived_from.expected_error (the same rule's measured error elsewhere) or null.
// - A profile not found there (a --profile path of the user's) is still listed, as such.
// - Pure: the same sources and files give the same JSON (devices in name order).
#include <string>

#include <nlohmann/json.hpp>

namespace servesim {

// {device: {profile, from, expected_error}} for every derived device among the keys of
// `time_by_source` (summary.step_time_by_cost_model_s); empty object when none.
nlohmann::json derived_profiles_used(const nlohmann::json& time_by_source, const std::string& data_dir);

// One line per device: "note: costs on D come from a profile derived from S, not measured;
// expected error (the rule checked A -> B): gemm 10.4 %, ...; unchecked: ...".
std::string derived_profiles_text(const nlohmann::json& used);

// {device: {profile, from}} for every measured profile among `time_by_source`'s
// "fit:<device>@<sha8>:moe..." sources whose MoE family came from another device
// (provenance.moe_from: calibrate fit --moe-from); empty object when none.
nlohmann::json borrowed_moe_used(const nlohmann::json& time_by_source, const std::string& data_dir);
// One line per device: "note: MoE layers on D are priced from S's measured fused MoE ...".
std::string borrowed_moe_text(const nlohmann::json& used);

}  // namespace servesim
