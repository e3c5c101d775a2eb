// `servesim calibrate fit | check | derive | power`: fitted cost profiles from measured kernels,
// and power-model coefficients from measured power.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/calibrate/csv_table.h"
#include "sim/calibrate/fit.h"
#include "sim/calibrate/power_fit.h"
#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/cost/profile_derive.h"
#include "sim/cost/sha256.h"
#include "sim/hardware/device_spec.h"

namespace servesim::cli {
namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

std::string profile_path(const std::string& data_dir, const std::string& device, const std::string& kernel_set = "") {
  return (fs::path(data_dir) / "calibration" / "profiles" / calib::profile_file_name(device, kernel_set)).string();
}

// --kernel-set: a name as profiles carry it (see FittedProfile::kernel_set).
std::string kernel_set_option(const po::variables_map& vm) {
  if (!vm.count("kernel-set")) return "";
  const std::string k = vm["kernel-set"].as<std::string>();
  if (!valid_kernel_set_name(k)) {
    bad_value("--kernel-set", k, "a kernel-set name without '/', '@' or spaces (e.g. vllm, pytorch, harness)");
  }
  return k;
}

std::string known_kernel_sets(const std::string& device) {
  std::string s;
  for (const auto& k : calib::kernel_set_sources(device)) s += (s.empty() ? "" : ", ") + k.name;
  return s.empty() ? "none" : s;
}

// How a profile written to `out` names the profile at `path` it keeps by reference: the file
// name when both sit in one folder (FittedProfile::load looks beside first), else its
// absolute path.
std::string reference_to(const std::string& path, const std::string& out) {
  const bool beside = fs::weakly_canonical(fs::absolute(path)).parent_path() == fs::weakly_canonical(fs::absolute(out)).parent_path();
  return beside ? fs::path(path).filename().string() : fs::weakly_canonical(fs::absolute(path)).string();
}

// The MoE family of `from`'s measured profile, moved to `dev` by derive's rule (FITTING.md,
// "MoE layers"): recorded by reference in the profile written to `out` (provenance.moe_from:
// the source beside it by file name, else its absolute path, and its SHA-256), which
// FittedProfile::load resolves; named in the kernel set.
void borrow_moe(FittedProfile& p, const DeviceSpec& dev, const std::string& from, const std::string& data_dir,
                const std::string& out) {
  const std::string path = profile_path(data_dir, from);
  const std::string expected = "a device whose measured profile has a MoE family (e.g. h200_sxm), or none";
  if (!fs::exists(path)) bad_value("--moe-from", from, expected + "; " + path + " is missing");
  const FittedProfile src = FittedProfile::load(path);
  if (src.status != "measured" || src.moe.empty()) bad_value("--moe-from", from, expected);
  const DeviceSpec source = load_device(src.device, data_dir, "--moe-from: " + path + ": device");
  const bool same_layout = calib::gemm_residuals_transfer(source, dev);
  p.provenance["moe_from"] = {
      {"profile", reference_to(path, out)},
      {"same_chip_layout", same_layout},
      {"sha256", sha256_file_hex(path)},
      {"device", src.device},
      {"rule", same_layout ? "measured points times regression(this device's rates) / regression(the source's): the same "
                             "chip layout (architecture and SM count), so the residuals carry over"
                           : "the source's regression at this device's rates (another chip layout: residuals dropped)"}};
  if (p.kernel_set.is_object()) {
    std::vector<std::string> kernels;
    if (src.kernel_set.is_object() && src.kernel_set.contains("kernels") && src.kernel_set["kernels"].contains("moe")) {
      kernels = src.kernel_set["kernels"]["moe"].get<std::vector<std::string>>();
    }
    for (auto& k : kernels) k += " (measured on " + src.device + ")";
    p.kernel_set["kernels"]["moe"] = kernels;
  }
}

int fit(const Args& args) {
  po::options_description opts("servesim calibrate fit [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("device", po::value<std::string>()->required(),
                                                 "device profile name (hardware_profiles/devices/<name>.json)")(
      "data", po::value<std::vector<std::string>>()->multitoken(),
      "measured tables: files or directories (default: the device's sources, see calibration/FITTING.md)")(
      "kernel-set", po::value<std::string>(),
      "the kernels the tables measured (default: named from their formats; without --data, the sources of this set)")(
      "out,o", po::value<std::string>(),
      "output profile (default for a kernel set other than the device's first: "
      "calibration/profiles/<device>@<kernel-set>.json, else calibration/profiles/<device>.json)")(
      "holdout-modulus", po::value<std::uint64_t>()->default_value(10), "hold out shapes whose hash is divisible by this (0: none)")(
      "holdout-largest", po::value<double>()->default_value(0.0),
      "instead, hold out this fraction of each family's largest sizes (tests extrapolation; e.g. 0.2)")(
      "knot-ratio", po::value<double>()->default_value(1.05), "minimum size ratio between knots of collective/copy curves")(
      "moe-from", po::value<std::string>(),
      "when the tables have no MoE layers: take the MoE family of this device's measured profile, moved here by "
      "derive's rule (default without --data: the set's source in calibration/FITTING.md, e.g. h200_sxm for "
      "h100_sxm; none: no MoE family)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of hardware_profiles/ and calibration/");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  po::notify(vm);
  const std::string data_dir = vm["data-dir"].as<std::string>();
  const std::string device = vm["device"].as<std::string>();
  const DeviceSpec dev = load_device(device, data_dir, "--device");
  const std::string kernel_set = kernel_set_option(vm);
  std::vector<std::string> paths;
  if (vm.count("data")) {
    paths = vm["data"].as<std::vector<std::string>>();
  } else {
    paths = calib::default_inputs(dev.name, kernel_set);
    if (paths.empty() && !kernel_set.empty() && !calib::kernel_set_sources(dev.name).empty()) {
      bad_value("--kernel-set", kernel_set, "a kernel set with measured sources for " + dev.name + " (" + known_kernel_sets(dev.name) + "), or give --data");
    }
    if (paths.empty()) {
      bad_value("--device", device, "a device with default measured sources (h100_sxm, a100_sxm4_80gb, h200_sxm), or give --data");
    }
  }
  calib::FitSettings s;
  s.holdout_modulus = vm["holdout-modulus"].as<std::uint64_t>();
  s.knot_ratio = vm["knot-ratio"].as<double>();
  s.holdout_largest = vm["holdout-largest"].as<double>();
  if (!(s.holdout_largest >= 0 && s.holdout_largest < 1)) {
    bad_value("--holdout-largest", std::to_string(s.holdout_largest), "a fraction in [0, 1)");
  }
  if (s.holdout_largest > 0) s.holdout_modulus = 0;
  if (s.knot_ratio <= 1) bad_value("--knot-ratio", std::to_string(s.knot_ratio), "a number > 1");
  const calib::InputList inputs = calib::resolve_inputs(paths, data_dir);
  const calib::MeasurementSet set = calib::read_inputs(inputs);
  FittedProfile p = calib::fit_profile(set, dev, s);
  p.provenance["ignored_files"] = inputs.ignored;
  p.kernel_set = calib::infer_kernel_set(set, p, kernel_set);
  const std::string moe_from = vm.count("moe-from")  ? vm["moe-from"].as<std::string>()
                               : vm.count("data") ? std::string()
                                                  : calib::default_moe_source(dev.name, kernel_set);
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : profile_path(data_dir, dev.name, p.kernel_set_name());
  if (p.moe.empty() && !moe_from.empty() && moe_from != "none") borrow_moe(p, dev, moe_from, data_dir, out);
  calib::write_file_atomically(out, calib::dump_profile_json(p.to_json()));
  std::size_t rows = 0;
  for (const auto& in : set.inputs) rows += in.kept;
  std::cout << fmt::format("fitted {} from {} tables ({} rows kept): ", dev.name, set.inputs.size(), rows);
  for (const auto& f : p.families()) std::cout << f << " ";
  std::cout << fmt::format("\nprofile written to {}\n", out);
  return 0;
}

std::string pct(double v) { return fmt::format("{:.2f}%", 100 * v); }

int check(const Args& args) {
  po::options_description opts("servesim calibrate check [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("device", po::value<std::vector<std::string>>()->multitoken()->required(),
                                                 "device(s) whose profile to check")(
      "profile", po::value<std::string>(), "profile file (default calibration/profiles/<device>.json; one device only)")(
      "kernel-set", po::value<std::string>(), "check the device's profile of this kernel set (<device>@<kernel-set>.json)")(
      "data", po::value<std::vector<std::string>>()->multitoken(),
      "check against these measured tables instead (files or directories; every row, none held out): a "
      "cross-source or cross-device check of data the profile never saw; one device only")(
      "sliding-window",
      "with --data: check the tables' sliding-window attention rows only (never fitted: attention is fitted on full "
      "attention, and a window clips the keys and query-key pairs each sequence attends)")(
      "markdown", "print a Markdown table")("diagnostics", "also print the regression-only errors")(
      "residuals-out", po::value<std::string>(),
      "write the held-out residual quantiles per family to this JSON file (what run --uncertainty draws from; one device); "
      "with --data, the errors on those tables (for a derived profile: what derive --expected-error reads)")(
      "strict", "exit with 1 when a family misses its target")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of calibration/ and the data paths");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  if (vm.count("help")) {
    std::cout << opts << "\nPer family: held-out shapes, MAPE, p90 absolute percentage error, target, pass/fail.\n";
    return 0;
  }
  po::notify(vm);
  const std::string data_dir = vm["data-dir"].as<std::string>();
  const auto devices = vm["device"].as<std::vector<std::string>>();
  if (vm.count("profile") && devices.size() != 1) bad_value("--profile", vm["profile"].as<std::string>(), "one --device with it");
  if (vm.count("residuals-out") && (devices.size() != 1 || vm.count("sliding-window"))) {
    bad_value("--residuals-out", vm["residuals-out"].as<std::string>(), "one --device (and no --sliding-window)");
  }
  if (vm.count("data") && devices.size() != 1) bad_value("--data", vm["data"].as<std::vector<std::string>>().front(), "one --device with it");
  if (vm.count("sliding-window") && !vm.count("data")) bad_value("--sliding-window", "given", "--data with it (the tables to check)");
  std::vector<calib::CheckRow> rows;
  std::vector<std::string> notes;
  for (const auto& device : devices) {
    const std::string path =
        vm.count("profile") ? vm["profile"].as<std::string>() : profile_path(data_dir, device, kernel_set_option(vm));
    if (!fs::exists(path)) bad_value("--device", device, "a device with a fitted profile at " + path);
    const FittedProfile p = FittedProfile::load(path);
    if (vm.count("data")) {
      calib::FitSettings every;
      every.holdout_modulus = 1;  // every shape is "held out": the profile never saw these tables
      const calib::MeasurementSet set =
          calib::read_inputs(calib::resolve_inputs(vm["data"].as<std::vector<std::string>>(), data_dir), vm.count("sliding-window") > 0);
      for (auto& r : calib::check_profile(p, set, every)) rows.push_back(std::move(r));
      if (vm.count("residuals-out")) {
        // The residuals of a cross-check: what a profile derived by the same rule is expected
        // to err by (`calibrate derive --expected-error`).
        const std::string rel = fs::path(path).lexically_relative(data_dir).string();
        const auto j = calib::residuals_json(rows, p.device, rel.empty() || rel.starts_with("..") ? path : rel,
                                             sha256_file_hex(path), vm["data"].as<std::vector<std::string>>());
        calib::write_file_atomically(vm["residuals-out"].as<std::string>(), calib::dump_profile_json(j));
      }
      continue;
    }
    if (p.status == "derived") {
      notes.push_back(fmt::format("{}: derived from {} (no measurements of its own to hold out)", p.device,
                                  p.derived_from.value("device", std::string("?"))));
      continue;
    }
    const auto& prov = p.provenance;
    if (!prov.contains("inputs") || !prov.contains("fit_settings")) input_error(path, "provenance: missing inputs or fit_settings");
    const calib::FitSettings s = calib::FitSettings::from_json(prov["fit_settings"], path + ": provenance.fit_settings");
    calib::InputList list;
    for (const auto& in : prov["inputs"]) {
      const std::string rel = in.at("path").get<std::string>();
      const fs::path f = fs::path(rel).is_absolute() ? fs::path(rel) : fs::path(data_dir) / rel;
      if (!fs::exists(f)) bad_value(path + ": provenance.inputs", rel, "an input file present under " + data_dir);
      const std::string sha = sha256_file_hex(f.string());
      if (sha != in.at("sha256").get<std::string>()) {
        bad_value(f.string(), "sha256 " + sha.substr(0, 12), "the file the profile was fitted from (sha256 " +
                                                                  in.at("sha256").get<std::string>().substr(0, 12) +
                                                                  "); re-run servesim calibrate fit");
      }
      list.files.emplace_back(f.string(), rel);
    }
    const calib::MeasurementSet set = calib::read_inputs(list);
    for (auto& r : calib::check_profile(p, set, s)) rows.push_back(std::move(r));
    if (vm.count("residuals-out")) {
      const std::string rel = fs::path(path).lexically_relative(data_dir).string();
      const auto j = calib::residuals_json(rows, p.device, rel.empty() || rel.starts_with("..") ? path : rel,
                                           sha256_file_hex(path));
      calib::write_file_atomically(vm["residuals-out"].as<std::string>(), calib::dump_profile_json(j));
    }
  }
  const bool md = vm.count("markdown") != 0, diag = vm.count("diagnostics") != 0;
  bool fail = false;
  if (md) {
    std::cout << "| family | device | held-out shapes | MAPE | p90 APE | median error | predicted faster | target | result |\n"
                 "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n";
  } else {
    std::cout << fmt::format("{:<42} {:<16} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}  {}\n", "family", "device", "n", "MAPE", "p90",
                             "median", "faster", "target", "result");
  }
  for (const auto& r : rows) {
    if (r.diagnostic && !diag) continue;
    const std::string target = r.target > 0 ? fmt::format("{:.0f}%", 100 * r.target) : "-";
    std::string result = r.diagnostic ? "(diagnostic)" : (r.target > 0 ? (r.pass() ? "pass" : "FAIL") : "-");
    if (r.unanswered > 0) result += fmt::format(" ({} not answered)", r.unanswered);
    fail = fail || !r.pass();
    if (md) {
      std::cout << fmt::format("| {} | {} | {} | {} | {} | {:+.2f}% | {:.0f}% | {} | {} |\n", r.family, r.device, r.n, pct(r.mape),
                               pct(r.p90), 100 * r.median_error, 100 * r.faster_share, target, result);
    } else {
      std::cout << fmt::format("{:<42} {:<16} {:>8} {:>8} {:>8} {:>+7.2f}% {:>6.0f}% {:>7}  {}\n", r.family, r.device, r.n, pct(r.mape),
                               pct(r.p90), 100 * r.median_error, 100 * r.faster_share, target, result);
    }
  }
  for (const auto& n : notes) std::cout << n << "\n";
  return fail && vm.count("strict") ? 1 : 0;
}

// The derived profile's JSON: families listed in `measured` come from the target device's own
// measured profile (provenance.families_from, by reference), the others from the derivation
// (in full, or by reference: derived_from.by_reference and the families to derive).
nlohmann::json compose_derived(FittedProfile& d, const FittedProfile& src, const std::string& src_path, const std::string& measured_list,
                               bool by_reference, const std::string& data_dir, const std::string& out) {
  std::vector<std::string> measured;
  for (std::size_t pos = 0; !measured_list.empty() && pos <= measured_list.size();) {
    const std::size_t comma = std::min(measured_list.find(',', pos), measured_list.size());
    measured.push_back(measured_list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  if (!measured.empty()) {
    const std::string tpath = profile_path(data_dir, d.device);
    if (!fs::exists(tpath)) bad_value("--measured-families", measured_list, "families of a measured profile of " + d.device + " (" + tpath + " is missing)");
    const FittedProfile tp = FittedProfile::load(tpath);
    if (tp.status != "measured") bad_value("--measured-families", measured_list, "families of a measured profile (" + tpath + " is derived)");
    for (const std::string& f : measured) {
      copy_family(tp, f, d, "--measured-families");
      nlohmann::json kernels = nlohmann::json::array();
      if (tp.kernel_set.is_object() && tp.kernel_set.contains("kernels") && tp.kernel_set["kernels"].contains(f)) {
        for (const auto& k : tp.kernel_set["kernels"][f]) kernels.push_back(k.get<std::string>() + " (measured on " + d.device + ")");
      }
      if (d.kernel_set.is_object()) d.kernel_set["kernels"][f] = kernels;
    }
    d.provenance["families_from"] = nlohmann::json::array(
        {{{"profile", reference_to(tpath, out)}, {"sha256", sha256_file_hex(tpath)}, {"device", d.device}, {"families", measured}}});
    d.finalize();
  }
  // One serialisation: the families it holds, less the measured ones, are the derived ones.
  nlohmann::json j = d.to_json();
  std::vector<std::string> derived;
  for (const std::string& f : profile_family_names()) {
    if (j["families"].contains(f) && std::find(measured.begin(), measured.end(), f) == measured.end()) derived.push_back(f);
  }
  if (j.contains("kernel_set") && j["kernel_set"].is_object() && !measured.empty()) {
    for (const std::string& f : derived) {
      for (auto& k : j["kernel_set"]["kernels"][f]) k = k.get<std::string>() + " (measured on " + src.device + ", derived)";
    }
  }
  for (const std::string& f : measured) j["families"].erase(f);
  if (by_reference) {
    for (const std::string& f : derived) j["families"].erase(f);
    j["derived_from"]["by_reference"] = true;
    j["derived_from"]["profile"] = reference_to(src_path, out);
    j["derived_from"]["families"] = derived;
  }
  return j;
}

int derive(const Args& args) {
  po::options_description opts("servesim calibrate derive [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("device", po::value<std::string>()->required(), "target device (no measurements)")(
      "from", po::value<std::string>()->required(), "measured profile: a device name or a .json path")(
      "cpu-scale", po::value<double>()->default_value(1.0),
      "host-side latency factor, target over source (driver calls, copy launch); 1 when unknown")(
      "out,o", po::value<std::string>(), "output profile (default calibration/profiles/<device>.json)")(
      "expected-error", po::value<std::vector<std::string>>()->composing(),
      "residuals of the same rule checked where both devices were measured (`calibrate check --profile DERIVED --data "
      "MEASURED --residuals-out FILE`): kept as derived_from.expected_error and shown by every run on the profile; "
      "repeated: a later file adds the families the earlier ones did not check (expected_error.also)")(
      "measured-families", po::value<std::string>(),
      "comma-separated families taken, by reference, from the target device's own measured profile "
      "(calibration/profiles/<device>.json) instead of derived: those it measured of kernels the source's engine runs "
      "too (e.g. collective,copy,page_map,moe for vLLM's set on h200_sxm)")(
      "by-reference", po::bool_switch(),
      "write the derived families by reference (the source's path and SHA-256 and the rule's numbers; every load "
      "derives them again): for a source too large to copy under the repository's 2 MiB file limit")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of hardware_profiles/ and calibration/");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  po::notify(vm);
  const std::string data_dir = vm["data-dir"].as<std::string>();
  const DeviceSpec target = load_device(vm["device"].as<std::string>(), data_dir, "--device");
  std::string from = vm["from"].as<std::string>();
  if (!from.ends_with(".json")) from = profile_path(data_dir, from);
  if (!fs::exists(from)) bad_value("--from", vm["from"].as<std::string>(), "a fitted profile (" + from + " is missing)");
  const double cpu = vm["cpu-scale"].as<double>();
  if (!(cpu > 0)) bad_value("--cpu-scale", std::to_string(cpu), "a positive factor");
  const FittedProfile src = FittedProfile::load(from);
  if (src.status != "measured") bad_value("--from", from, "a measured profile (not a derived one)");
  const DeviceSpec source = load_device(src.device, data_dir, "--from: " + from + ": device");
  nlohmann::json expected;
  for (const std::string& given : vm.count("expected-error") ? vm["expected-error"].as<std::vector<std::string>>() : std::vector<std::string>{}) {
    std::string e = given;
    if (!fs::exists(e) && fs::exists(fs::path(data_dir) / e)) e = (fs::path(data_dir) / e).string();
    if (!fs::exists(e)) bad_value("--expected-error", given, "a residuals file (servesim calibrate check --residuals-out)");
    nlohmann::json check = calib::expected_error_json(e, calib::relative_to(e, data_dir));
    if (expected.is_null()) {
      expected = std::move(check);
      continue;
    }
    // A later check adds the families no earlier one measured.
    nlohmann::json added = nlohmann::json::object();
    for (const auto& [family, v] : check["families"].items()) {
      bool seen = expected["families"].contains(family);
      for (const auto& a : expected.value("also", nlohmann::json::array())) seen = seen || a["families"].contains(family);
      if (!seen) added[family] = v;
    }
    if (added.empty()) bad_value("--expected-error", given, "a check of a family no earlier --expected-error file has");
    check["families"] = added;
    check.erase("rule");
    expected["also"].push_back(std::move(check));
  }
  FittedProfile d = calib::derive_profile(src, calib::relative_to(from, data_dir), sha256_file_hex(from), source, target, cpu);
  if (!expected.is_null()) d.derived_from["expected_error"] = expected;
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : profile_path(data_dir, target.name);
  nlohmann::json j = compose_derived(d, src, from, vm.count("measured-families") ? vm["measured-families"].as<std::string>() : "",
                                     vm["by-reference"].as<bool>(), data_dir, out);
  const std::string text = calib::dump_profile_json(j);
  if (fs::exists(out) && fs::equivalent(out, from)) bad_value("--out", out, "a file other than the source profile " + from);
  calib::write_file_atomically(out, text);
  FittedProfile::load(out);  // the references resolve (an InputError otherwise)
  std::cout << fmt::format("derived {} from {}\nprofile written to {}\n", target.name, src.device, out);
  return 0;
}

int power(const Args& args) {
  po::options_description opts("servesim calibrate power --in CSV --device D [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")("in", po::value<std::string>()->required(),
                                                 "power measurements (calibration/power/measure_power.py's CSV)")(
      "device", po::value<std::string>()->required(), "the measured device (its L2, peaks and bandwidth)")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of hardware_profiles/");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  po::notify(vm);
  const DeviceSpec dev = load_device(vm["device"].as<std::string>(), vm["data-dir"].as<std::string>(), "--device");
  const calib::PowerFit f = calib::fit_power(calib::CsvTable::read(vm["in"].as<std::string>()), dev);
  std::cout << fmt::format("{:<22} {:<5} {:<6} {:>9} {:>9} {:>9} {:>7}\n", "workload", "dtype", "data", "measured", "fitted",
                           "held-out", "MHz");
  for (const auto& r : f.rows) {
    std::cout << fmt::format("{:<22} {:<5} {:<6} {:>8.1f}W {:>8}  {:>8}  {:>7.0f}{}\n", r.workload, r.dtype, r.data, r.power_w,
                             r.kind == "idle" ? "" : fmt::format("{:.1f}W", r.predicted_w),
                             r.held_out_w > 0 ? fmt::format("{:.1f}W", r.held_out_w) : "", r.clock_hz / 1e6,
                             r.fitted ? "" : "  (not fitted)");
  }
  std::cout << fmt::format("mean |error|: {:.1f}% on the {} fitted rows; {:.1f}% on held-out groups (decode-like GEMMs, copies)\n",
                           100 * f.fit_mean_abs_error, std::count_if(f.rows.begin(), f.rows.end(), [](const auto& r) { return r.fitted; }),
                           100 * f.held_out_mean_abs_error);
  for (const auto& c : f.clock_checks) {
    std::cout << fmt::format("clock rule, {}: time ratio measured {:.3f}, predicted {:.3f} ({:+.1f}%)\n", c.workload, c.measured_ratio,
                             c.predicted_ratio, 100 * (c.predicted_ratio / c.measured_ratio - 1));
  }
  nlohmann::json e = nlohmann::json::object();
  for (const auto& [d, j] : f.energy_per_flop) e[d] = std::round(j * 1e15) / 1e3;
  const nlohmann::json snippet = {{"engine_idle", fmt::format("{:.1f}W", f.engine_idle_w)},
                                  {"energy_per_flop_pj", e},
                                  {"energy_per_hbm_byte_pj", std::round(f.energy_per_byte * 1e15) / 1e3},
                                  {"power_limited_clock", fmt::format("{:.0f}MHz", f.power_limited_clock_hz / 1e6)}};
  std::cout << "profile values (\"power\" section, each with its source):\n" << snippet.dump(2) << "\n";
  return 0;
}

int cmd_calibrate(const Args& args) {
  const std::string usage =
      "usage: servesim calibrate <fit|check|derive|power> [options]\n"
      "  fit     fit a device's profile from measured tables (calibration/profiles/<device>.json)\n"
      "  check   error of fitted profiles on the shapes held out of the fit\n"
      "  derive  derive a profile for an unmeasured device from a measured one\n"
      "  power   fit a device's power-model coefficients from power measurements\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout) << usage;
    return args.empty() ? 2 : 0;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "fit") return fit(rest);
  if (args[0] == "check") return check(rest);
  if (args[0] == "derive") return derive(rest);
  if (args[0] == "power") return power(rest);
  bad_value("servesim calibrate", args[0], "fit, check, derive or power");
}

}  // namespace

SERVESIM_CLI_COMMAND("calibrate", "fit cost profiles from measured kernels, check them on held-out shapes, derive others; fit power models",
                     cmd_calibrate);

}  // namespace servesim::cli
