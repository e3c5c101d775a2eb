#pragma once
// Derive's rule (calibration/FITTING.md, "Derived profiles"): a measured profile's families
// moved to another device's rates. `servesim calibrate derive` writes its result; a profile
// derived by reference (derived_from.by_reference: its source named and hashed, no families
// of its own) is derived by FittedProfile::load with the rule's numbers it stores.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/cost/fitted_profile.h"

namespace servesim {

struct DeriveRule {
  bool same_chip_layout = false;        // same architecture and SM count: measured residuals carry
  double collective_scale = 1;          // source/target time of all-reduce, all-gather, reduce-scatter beyond the floor
  double collective_latency_scale = 1;  // source/target time of a collective's latency floor
  double link_scale = 1;                // source/target time of send_recv and all_to_all beyond the floor
  double cpu_scale = 1;                 // target/source host-side latency (copy launch, page mapping)
  // The rule's numbers as derived_from stores them, and back (InputError naming `where`).
  void to_json(nlohmann::json& derived_from) const;
  static DeriveRule from_json(const nlohmann::json& derived_from, const std::string& where);
};

// Every family of `src` moved to the rates `out.rates` by the rule: GEMM, attention and MoE
// keep their regressions (FLOP terms at the target's peaks, byte terms at its bandwidth); on
// one chip layout each measured point is scaled by regression(target) / regression(source),
// across layouts GEMM and MoE points become the target's regression. A scaled point never
// breaks an order the source measured (keep_source_order). Collectives, copies and page
// mapping: see the rule's fields. Fills the families, launch and kernel_set of `out`; the
// caller sets the rest and finalizes.
void derive_families(const FittedProfile& src, const DeriveRule& rule, FittedProfile& out);

// A MoE family on another device by derive's rule: the regression kept; between chips of one
// layout each measured point moved as derive_families moves a GEMM point;
// across layouts no groups (a point would be the target's regression itself: derivable).
std::map<std::string, FittedProfile::MoeFit> derive_moe(const std::map<std::string, FittedProfile::MoeFit>& src,
                                                        const ProfileRates& source, const ProfileRates& target,
                                                        bool same_chip_layout);

// Points measured on a grid (coordinates `at`, source times `src`) and their derived times
// `d`: wherever the source measured a point no faster than its neighbour one step smaller
// along one axis (every other coordinate equal), the derived time is raised to at least the
// neighbour's. Scaling by a per-point ratio otherwise turns a measured tie or a small rise
// into a dip where the larger problem is more bandwidth-bound (the ratio falls with it).
void keep_source_order(const std::vector<std::array<double, 3>>& at, const std::vector<double>& src, std::vector<double>& d);

// The profile families by name (gemm, attention_prefill, attention_decode, collective, copy,
// page_map, moe) and `from`'s family copied into `to` (an unknown name: InputError naming
// `where`).
const std::vector<std::string>& profile_family_names();
void copy_family(const FittedProfile& from, const std::string& family, FittedProfile& to, const std::string& where);

}  // namespace servesim
