#pragma once
// `servesim calibrate fit | check | derive`: measured tables -> fitted profile -> error on
// held-out shapes. Contract:
// - Ownership: a group (GEMM line, attention head configuration, collective or copy curve,
//   page-map curve) belongs to the first input that provides it; rows of the same group in
//   later inputs are not used (counted as shadowed).
// - Hold-out: a shape (Measurement::key) is held out when the first 64 bits of
//   SHA-256(key) are divisible by `holdout_modulus`. Held-out shapes never enter the fit;
//   `check` predicts exactly those. Deterministic: same inputs, byte-identical profile.
//   With `holdout_largest` = F > 0 the rule is instead by size, to test extrapolation: in
//   each family the rows whose size (GEMM m; attention batch x (q + ctx); collective and
//   copy bytes; page size) is at least the (1 - F) quantile of that family's sizes.
// - Models per family (FITTING.md): GEMM, log-log interpolation over measured (n, k) lines
//   along m (bilinear across n, k where the four neighbouring lines exist), else a
//   non-negative regression on latency, FLOP, wave-padded FLOP and byte times; attention,
//   a per-head-configuration regression (latency, FLOP, byte, per-sequence terms) times an
//   interpolated residual over (batch, length), else a global regression; collectives and
//   copies, piecewise alpha-beta curves (least squares on knots >= knot_ratio apart);
//   page mapping, a curve over page size.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/calibrate/measurements.h"
#include "sim/cost/fitted_profile.h"
#include "sim/hardware/device_spec.h"

namespace servesim::calib {

struct FitSettings {
  std::uint64_t holdout_modulus = 10;
  double holdout_largest = 0;  // fraction of each family's largest sizes held out (0: off)
  std::map<int, double> size_floor;  // per Family, filled by with_size_holdout() (not saved)
  double knot_ratio = 1.05;
  std::size_t min_config_points = 12;  // attention configurations with fewer use the global fit
  nlohmann::json to_json() const;
  static FitSettings from_json(const nlohmann::json& j, const std::string& where);
};

bool is_held_out(const Measurement& m, const FitSettings& s);
// `s` with the size thresholds of the largest-sizes hold-out computed on `set`.
FitSettings with_size_holdout(const FitSettings& s, const MeasurementSet& set);

// For each row: true when its group is owned by its input (the first input providing it).
std::vector<bool> owned_rows(const MeasurementSet& set);

ProfileRates rates_of(const DeviceSpec& dev);

FittedProfile fit_profile(const MeasurementSet& set, const DeviceSpec& dev, const FitSettings& s);

struct CheckRow {
  std::string family;   // gemm, attention_prefill, ... ; "<family> (<variant> only)" for diagnostics
  std::string device;
  std::size_t n = 0;
  std::size_t unanswered = 0;  // held-out shapes the profile had no model for
  double mape = 0, p90 = 0, max_ape = 0;
  double median_error = 0;  // median of predicted / measured - 1 (negative: predicted too fast)
  double faster_share = 0;  // share of shapes predicted more than 0.01 % faster than measured
  // The signed errors' quantiles at (i + 0.5) / 100, i = 0..99 (nearest rank): the residual
  // distribution `run --uncertainty` draws from.
  std::vector<double> quantiles;
  double target = 0;    // 0: no target
  bool diagnostic = false;
  bool pass() const { return target <= 0 || mape <= target; }
};
std::vector<CheckRow> check_profile(const FittedProfile& p, const MeasurementSet& set, const FitSettings& s);
// The residuals file of a checked profile (schema servesim.residuals/1): per family, the
// held-out signed errors' quantiles (rows that are not diagnostics), and the GEMM family's
// per-dtype quantiles (`by_dtype`, from the "gemm <dtype>" diagnostics) when it pools several. `against`: the tables of
// a `check --data` (every row checked), empty for the profile's own hold-out.
nlohmann::json residuals_json(const std::vector<CheckRow>& rows, const std::string& device, const std::string& profile_path,
                              const std::string& profile_sha256, const std::vector<std::string>& against = {});
// A derived profile's expected error from a residuals file of a check of the same transfer
// rule where both devices were measured: {residuals, checked_profile, against, families:
// {family: {mean_abs_error, median_error, n}}, rule}. InputError naming the file otherwise.
nlohmann::json expected_error_json(const std::string& residuals_path, const std::string& shown_path);

// A derived profile for `target` from a measured one (FITTING.md: compute-bound terms scale
// with peak FLOP/s, memory-bound with HBM bandwidth, collectives with link bandwidth, copies
// with host-link bandwidth, host-side latencies with `cpu_scale`).
FittedProfile derive_profile(const FittedProfile& src, const std::string& src_path, const std::string& src_sha256,
                             const DeviceSpec& source, const DeviceSpec& target, double cpu_scale);
// Source/target time ratio of a collective's bandwidth-bound part: achieved all-reduce bus
// bandwidths where both devices have one, else the intra-node link peaks.
double collective_bandwidth_ratio(const DeviceSpec& source, const DeviceSpec& target);
// Source/target time ratio of a collective's latency floor (its per-step latency): the SM
// boost clocks, 1 where either is unknown.
double collective_latency_ratio(const DeviceSpec& source, const DeviceSpec& target);
// Whether a GEMM fit's residuals carry over from source to target: the same architecture
// and SM count.
bool gemm_residuals_transfer(const DeviceSpec& source, const DeviceSpec& target);

// Attention kernels in the order a query prefers them when the scenario names none.
const std::vector<std::string>& attention_kernel_preference(bool prefill);

// The kernel sets a device has measured sources for (FITTING.md, "Kernel sets"), its
// default first, each with the directories and files to read when `--data` is not given
// (relative to the data dir).
struct KernelSetSources {
  std::string name;
  std::vector<std::string> paths;
  // A device whose measured MoE family (the same engine's kernels, measured there) this set
  // takes by derive's rule when its own tables have none ("" : none).
  std::string moe_from;
};
std::vector<KernelSetSources> kernel_set_sources(const std::string& device);
// The sources of `kernel_set` ("" : the device's default); empty when there are none.
std::vector<std::string> default_inputs(const std::string& device, const std::string& kernel_set = "");
// The device the set's MoE family comes from (KernelSetSources::moe_from); "" for none.
std::string default_moe_source(const std::string& device, const std::string& kernel_set = "");
// calibration/profiles/<name>: <device>.json for the default set (or ""), else
// <device>@<kernel_set>.json.
std::string profile_file_name(const std::string& device, const std::string& kernel_set);
// The profile's kernel set from the formats of the inputs it was fitted on: the engines of
// its GEMM and attention tables ("vllm", "pytorch", "harness", joined by '+') unless `name`
// is given, and per family the kernels measured. Null when nothing names an engine.
nlohmann::json infer_kernel_set(const MeasurementSet& set, const FittedProfile& p, const std::string& name);

// Pretty JSON with arrays of scalars on one line (profiles stay small and diffable).
std::string dump_profile_json(const nlohmann::json& j);

}  // namespace servesim::calib

namespace servesim::calib {

// The tables to read: each path a file or a directory (searched recursively for *.csv and
// *.csv.gz of a known format, in sorted order; others are listed in `ignored`). A path that
// does not exist as given is looked up under data_dir. `rel` is the path relative to
// data_dir, as provenance records it.
struct InputList {
  std::vector<std::pair<std::string, std::string>> files;  // (path, rel)
  std::vector<std::string> ignored;
};
InputList resolve_inputs(const std::vector<std::string>& paths, const std::string& data_dir);
MeasurementSet read_inputs(const InputList& list, bool sliding_window_only = false);
std::string relative_to(const std::string& path, const std::string& base);

// Writes `text` to `path` through a temporary file and a rename (no half-written output).
void write_file_atomically(const std::string& path, const std::string& text);

// The per-device MoE layer a fused-MoE measurement timed (its expert width split over its
// expert TP shards, its experts over its EP shards).
MoeQuery moe_query(const Measurement& m);

}  // namespace servesim::calib
