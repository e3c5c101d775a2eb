// End to end through the CLI: calibrate fit | check | derive, cost predict, and bad input
// (exit 2, one line naming file:line:column, no output file).
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/cost/fitted_profile.h"
#include "sim/cost/profile_derive.h"
#include "sim/cost/sha256.h"

namespace {
namespace fs = std::filesystem;

struct Run {
  int code = -1;
  std::string out;
};

Run cli(const std::string& args) {
  Run r;
  FILE* p = popen((std::string(SERVESIM_BIN) + " " + args + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

fs::path tmp(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("servesim_calib_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

const std::string kData = SERVESIM_TEST_DATA;
const std::string kSmallProfile = fs::path(SERVESIM_TEST_DATA).parent_path().parent_path().string() + "/cost/data/profile_small.json";

TEST(CalibrateCli, FitThenCheckPrintsATable) {
  const auto d = tmp("fit");
  const auto profile = d / "p.json";
  auto r = cli("calibrate fit --device h100_sxm --data " + kData + "/synthetic --out " + profile.string());
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(fs::exists(profile));
  const auto j = nlohmann::json::parse(slurp(profile));
  EXPECT_EQ(j["status"], "measured");
  EXPECT_EQ(j["provenance"]["inputs"].size(), 7u);
  r = cli("calibrate check --device h100_sxm --profile " + profile.string() + " --markdown");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("| attention_prefill | h100_sxm |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| family | device | held-out shapes | MAPE | p90 APE | median error | predicted faster | target | result |"), std::string::npos);
}

TEST(CalibrateCli, DeriveWritesADerivedProfile) {
  const auto d = tmp("derive");
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --data " + kData + "/synthetic --out " + (d / "src.json").string()).code, 0);
  const auto r = cli("calibrate derive --device gh200_144gb --from " + (d / "src.json").string() + " --out " + (d / "gh.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(slurp(d / "gh.json"));
  EXPECT_EQ(j["status"], "derived");
  EXPECT_EQ(j["derived_from"]["device"], "h100_sxm");
  const auto c = cli("calibrate check --device gh200_144gb --profile " + (d / "gh.json").string());
  EXPECT_EQ(c.code, 0);
  EXPECT_NE(c.out.find("derived from h100_sxm"), std::string::npos) << c.out;
}

// A profile derived by reference holds no families: every load derives them from the source it
// names (SHA-256 checked) by the rule's stored numbers, so it predicts what the same derivation
// written in full predicts (that file's values rounded to 5 digits: within 1e-4). Families
// taken from the target's measured profile answer exactly as that profile does. A changed
// source is one error naming the field and the file; a family name not known is exit 2
// naming the option, nothing written.
TEST(CalibrateCli, DeriveByReferenceDerivesAtLoadAndTakesMeasuredFamilies) {
  const auto d = tmp("derive_ref");
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --data " + kData + "/synthetic --out " + (d / "src.json").string()).code, 0);
  auto r = cli("calibrate derive --device h200_sxm --from " + (d / "src.json").string() + " --out " + (d / "full.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = cli("calibrate derive --device h200_sxm --from " + (d / "src.json").string() +
          " --measured-families collective,copy --by-reference --out " + (d / "ref.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(slurp(d / "ref.json"));
  for (const auto& f : servesim::profile_family_names()) EXPECT_FALSE(j["families"].contains(f)) << f;
  EXPECT_EQ(j["derived_from"]["by_reference"], true);
  EXPECT_EQ(j["derived_from"]["profile"], "src.json");  // beside it
  EXPECT_EQ(j["provenance"]["families_from"][0]["families"], nlohmann::json({"collective", "copy"}));
  const auto full = servesim::FittedProfile::load((d / "full.json").string());
  const auto ref = servesim::FittedProfile::load((d / "ref.json").string());
  const auto measured = servesim::FittedProfile::load(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h200_sxm.json");
  for (const double m : {1.0, 64.0, 1000.0, 8192.0}) {
    const double a = full.predict_gemm(m, 4096, 4096, "bf16")->us, b = ref.predict_gemm(m, 4096, 4096, "bf16")->us;
    EXPECT_NEAR(b, a, 1e-4 * a) << m;
  }
  for (const double bytes : {1e3, 1e6, 1e9}) {
    EXPECT_EQ(ref.predict_collective("all_reduce", 8, bytes, "")->us, measured.predict_collective("all_reduce", 8, bytes, "")->us) << bytes;
  }
  // The source changed since: one error naming the field and the file.
  std::ofstream(d / "src.json", std::ios::app) << "\n";
  try {
    servesim::FittedProfile::load((d / "ref.json").string());
    ADD_FAILURE() << "a stale source loaded";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("ref.json: derived_from: sha256"), std::string::npos) << what;
    EXPECT_NE(what.find("derive h200_sxm again"), std::string::npos) << what;
  }
  r = cli("calibrate derive --device h200_sxm --from " + (d / "full.json").string() + " --measured-families collective,bogus --out " +
          (d / "bad.json").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  r = cli("calibrate derive --device h200_sxm --from " + (d / "src.json").string() + " --measured-families collective,bogus --out " +
          (d / "bad.json").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("--measured-families: got 'bogus'"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d / "bad.json"));
}

// A derived profile keeps the expected error of its rule (a residuals file of the same rule
// checked where both devices were measured): per family the mean |error| and the median of
// the quantiles. Hand-made quantiles -0.1, 0.2, 0.3: mean |e| 0.2, median (the middle) 0.2.
TEST(CalibrateCli, DeriveKeepsItsRulesExpectedError) {
  const auto d = tmp("derive_expected");
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --holdout-modulus 0 --data " + kData + "/synthetic --out " + (d / "src.json").string()).code, 0);
  // check --data --residuals-out: the errors on every row of those tables (here 0 to 0.005 %).
  auto r = cli("calibrate check --device h100_sxm --profile " + (d / "src.json").string() + " --data " + kData +
               "/synthetic --residuals-out " + (d / "cross.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto cross = nlohmann::json::parse(slurp(d / "cross.json"));
  EXPECT_EQ(cross["against"].size(), 1u);
  for (const auto& q : cross["families"]["gemm"]["quantiles"]) EXPECT_NEAR(q.get<double>(), 0.0, 5e-5);  // "0.00%"
  std::ofstream(d / "res.json") << nlohmann::json{{"schema", "servesim.residuals/1"}, {"device", "h100_sxm"},
                                                  {"families", {{"gemm", {{"n", 3}, {"quantiles", {-0.1, 0.2, 0.3}}}}}}}.dump();
  r = cli("calibrate derive --device gh200_144gb --from " + (d / "src.json").string() + " --expected-error " + (d / "res.json").string() +
          " --out " + (d / "gh.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto e = nlohmann::json::parse(slurp(d / "gh.json"))["derived_from"]["expected_error"];
  EXPECT_DOUBLE_EQ(e["families"]["gemm"]["mean_abs_error"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(e["families"]["gemm"]["median_error"].get<double>(), 0.2);
  EXPECT_EQ(e["checked_device"], "h100_sxm");
  // Not a residuals file: exit 2, one line naming it, no profile written.
  std::ofstream(d / "not.json") << "{\"schema\": \"x\"}";
  r = cli("calibrate derive --device gh200_144gb --from " + (d / "src.json").string() + " --expected-error " + (d / "not.json").string() +
          " --out " + (d / "bad.json").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("not.json"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d / "bad.json"));
  // A second check adds the families the first did not measure (quantiles -0.3, 0.1, 0.2:
  // mean |e| 0.2, median 0.1), under expected_error.also; one that adds none is exit 2.
  std::ofstream(d / "res2.json") << nlohmann::json{{"schema", "servesim.residuals/1"}, {"device", "h100_sxm"},
                                                   {"families", {{"gemm", {{"n", 3}, {"quantiles", {0.5, 0.5, 0.5}}}},
                                                                 {"attention_decode", {{"n", 3}, {"quantiles", {-0.3, 0.1, 0.2}}}}}}}
                                        .dump();
  r = cli("calibrate derive --device gh200_144gb --from " + (d / "src.json").string() + " --expected-error " + (d / "res.json").string() +
          " --expected-error " + (d / "res2.json").string() + " --out " + (d / "gh2.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto e2 = nlohmann::json::parse(slurp(d / "gh2.json"))["derived_from"]["expected_error"];
  EXPECT_DOUBLE_EQ(e2["families"]["gemm"]["mean_abs_error"].get<double>(), 0.2);  // the first file's
  ASSERT_EQ(e2["also"].size(), 1u);
  EXPECT_FALSE(e2["also"][0]["families"].contains("gemm"));
  EXPECT_DOUBLE_EQ(e2["also"][0]["families"]["attention_decode"]["mean_abs_error"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(e2["also"][0]["families"]["attention_decode"]["median_error"].get<double>(), 0.1);
  r = cli("calibrate derive --device gh200_144gb --from " + (d / "src.json").string() + " --expected-error " + (d / "res.json").string() +
          " --expected-error " + (d / "res.json").string() + " --out " + (d / "bad.json").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_FALSE(fs::exists(d / "bad.json"));
}

// Every device profile has a cost profile (measured, or derived from a measured one), and
// every derived profile (a device's, or a kernel set's such as h200_sxm@vllm) is current: the
// source file it names is the committed one, byte for byte (its SHA-256), and it carries the
// expected error of its rule. A source refitted without re-deriving fails here
// (calibration/FITTING.md, "Derived profiles", gives the commands).
TEST(CalibrateCli, EveryDeviceHasAProfileAndDerivedOnesMatchTheirSource) {
  const fs::path data = SERVESIM_DATA_DIR;
  const fs::path dir = data / "calibration" / "profiles";
  int devices = 0, derived = 0;
  for (const auto& e : fs::directory_iterator(data / "hardware_profiles" / "devices")) {
    if (e.path().extension() != ".json") continue;
    ++devices;
    const std::string name = e.path().stem().string();
    ASSERT_TRUE(fs::exists(dir / (name + ".json"))) << name;
    EXPECT_EQ(nlohmann::json::parse(slurp(dir / (name + ".json")))["device"], name);
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string file = e.path().filename().string();
    if (!file.ends_with(".json") || file.ends_with(".residuals.json")) continue;
    const auto p = nlohmann::json::parse(slurp(e.path()));
    if (!p.contains("derived_from")) continue;
    ++derived;
    const auto& d = p["derived_from"];
    // The source named beside the profile (a profile derived by reference), else under the data dir.
    const fs::path beside = dir / fs::path(d["profile"].get<std::string>()).filename();
    const fs::path src = fs::exists(beside) ? beside : data / d["profile"].get<std::string>();
    ASSERT_TRUE(fs::exists(src)) << file << ": " << src;
    EXPECT_FALSE(nlohmann::json::parse(slurp(src)).contains("derived_from")) << file << ": derived from a derived profile";
    EXPECT_EQ(d["sha256"], servesim::sha256_file_hex(src.string())) << file << " is stale: re-derive it from " << src;
    EXPECT_TRUE(d.contains("expected_error")) << file;
    // Families it takes from its device's measured profile are current too.
    for (const auto& f : p["provenance"].value("families_from", nlohmann::json::array())) {
      const fs::path m = dir / f["profile"].get<std::string>();
      EXPECT_EQ(f["sha256"], servesim::sha256_file_hex(m.string())) << file << " is stale: re-derive it (its measured families come from " << m << ")";
    }
  }
  EXPECT_EQ(devices, 11);
  EXPECT_EQ(derived, 9);  // every device but h100_sxm, h200_sxm and a100_sxm4_80gb, and h200_sxm@vllm
  // A MoE family taken from another device's profile is current too.
  int borrowed = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string file = e.path().filename().string();
    if (!file.ends_with(".json") || file.ends_with(".residuals.json")) continue;
    const auto p = nlohmann::json::parse(slurp(e.path()));
    if (!p["provenance"].contains("moe_from")) continue;
    ++borrowed;
    const auto& m = p["provenance"]["moe_from"];
    const fs::path src = dir / m["profile"].get<std::string>();  // beside the profile
    EXPECT_EQ(m["sha256"], servesim::sha256_file_hex(src.string())) << file << " is stale: refit it (its MoE family comes from " << src << ")";
  }
  EXPECT_EQ(borrowed, 1);  // h100_sxm's, from h200_sxm
}

// A device whose tables have no MoE layers takes a measured device's MoE family by derive's
// rule: H100 and H200 are one chip layout (Hopper, 132 SMs), so each measured point scales by
// regression(H100 rates) / regression(H200 rates) and the regression is kept.
TEST(CalibrateCli, FitTakesTheMoeFamilyOfAnotherDeviceByDerivesRule) {
  const auto d = tmp("moe_from");
  const auto r = cli("calibrate fit --device h100_sxm --data " + kData + "/synthetic --moe-from h200_sxm --out " + (d / "p.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto p = servesim::FittedProfile::load((d / "p.json").string());
  const auto src = servesim::FittedProfile::load(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h200_sxm.json");
  ASSERT_EQ(p.moe.size(), src.moe.size());
  const auto& f = p.moe.at("bf16");
  const auto& g = f.groups.front();
  const auto& sg = src.moe.at("bf16").groups.front();
  EXPECT_EQ(f.coef, src.moe.at("bf16").coef);
  const servesim::MoeQuery q = g.query("bf16", g.tokens.front());
  auto reg = [&](const servesim::ProfileRates& rates) { return servesim::moe_regression_us(f.coef, q, rates); };
  const double expected = sg.us.front() * reg(p.rates) / reg(src.rates);
  EXPECT_NEAR(g.us.front(), expected, 1e-4 * expected);  // profiles keep 5 significant digits
  EXPECT_GT(g.us.front(), sg.us.front());  // the H100's slower HBM
  EXPECT_EQ(p.provenance["moe_from"]["device"], "h200_sxm");
  // A device without a measured MoE family: exit 2, one line, no profile.
  const auto bad = cli("calibrate fit --device h100_sxm --data " + kData + "/synthetic --moe-from a100_sxm4_80gb --out " + (d / "q.json").string());
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_EQ(lines(bad.out), 1) << bad.out;
  EXPECT_NE(bad.out.find("--moe-from: got 'a100_sxm4_80gb', expected a device whose measured profile has a MoE family"), std::string::npos)
      << bad.out;
  EXPECT_FALSE(fs::exists(d / "q.json"));
}

// Every run priced by a derived profile says so, with the expected error its profile keeps
// (the committed gh200_144gb: its rule checked A100 -> H100 on Vidur's tables).
TEST(CalibrateCli, RunsOnADerivedProfileSayWhatItIsAndItsExpectedError) {
  const auto d = tmp("derived_run");
  const auto r = cli("run --set hardware=gh200_144gb --set workload.num_requests=20 --out " + (d / "r").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("note: costs on gh200_144gb come from a profile derived from h200_sxm"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checked on measured h100_sxm"), std::string::npos) << r.out;
  // Its attention: the same rule checked between the harness's H200 and H100 (one chip layout).
  EXPECT_NE(r.out.find("checked on measured h100_sxm (calibration/transfer_check/h100_from_h200_harness.residuals.json): attention_decode"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("unchecked: copy, moe"), std::string::npos) << r.out;
  const auto s = nlohmann::json::parse(slurp(d / "r" / "summary.json"))["derived_profiles"]["gh200_144gb"];
  EXPECT_EQ(s["from"], "h200_sxm");
  const auto res = nlohmann::json::parse(slurp(fs::path(SERVESIM_DATA_DIR) / s["expected_error"]["residuals"].get<std::string>()));
  double sum = 0;
  for (const auto& q : res["families"]["gemm"]["quantiles"]) sum += std::fabs(q.get<double>());
  EXPECT_NEAR(s["expected_error"]["families"]["gemm"]["mean_abs_error"].get<double>(), sum / 100, 1e-4);
  // A measured profile adds nothing.
  const auto m = cli("run --set workload.num_requests=20 --out " + (d / "m").string());
  ASSERT_EQ(m.code, 0) << m.out;
  EXPECT_EQ(m.out.find("note: costs on"), std::string::npos) << m.out;
  EXPECT_FALSE(nlohmann::json::parse(slurp(d / "m" / "summary.json")).contains("derived_profiles"));
}

// vLLM's kernels on the H200 (cost.kernel_set=vllm): the committed h200_sxm@vllm profile
// derives GEMMs and attention from h100_sxm's vLLM set and takes collectives, copies, page
// mapping and MoE from h200_sxm's own measurements; the run's note says both, with the
// expected error of GEMMs and attention from the same-layout check (the harness's kernels on
// an H100 and an H200: calibration/transfer_check/h100_from_h200_harness.residuals.json), and
// its attention is FlashAttention 3's (the harness set's paged decode is another kernel).
TEST(CalibrateCli, TheH200VllmKernelSetSaysWhatIsDerivedAndWhatMeasured) {
  const auto d = tmp("h200_vllm");
  const auto r = cli("run --set hardware=h200_sxm --set cost.kernel_set=vllm --set workload.num_requests=20 --out " + (d / "r").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("note: costs on h200_sxm come from a profile derived from h100_sxm (calibration/profiles/h200_sxm@vllm.json)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(calibration/transfer_check/h100_from_h200_harness.residuals.json): attention_decode 16.7% (median "
                       "+11.8%), attention_prefill 2.9% (median +0.2%), gemm 8.6% (median +4.0%); measured on h200_sxm itself: "
                       "collective, copy, page_map, moe"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("unchecked"), std::string::npos) << r.out;
  const auto s = nlohmann::json::parse(slurp(d / "r" / "summary.json"));
  EXPECT_EQ(s["derived_profiles"]["h200_sxm"]["measured_here"], nlohmann::json({"collective", "copy", "page_map", "moe"}));
  const auto p = servesim::FittedProfile::load(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h200_sxm@vllm.json");
  EXPECT_EQ(p.kernel_set_name(), "vllm");
  ASSERT_FALSE(p.decode.kernels.empty());
  EXPECT_EQ(p.decode.kernels.front(), "vllm_flash_attn_fa3");
}

// A run whose MoE layers a profile prices with another device's measured family (h100_sxm's,
// from h200_sxm: calibrate fit --moe-from) says so in summary.json and on the terminal; a
// dense model on the same profile does not (its MoE family answered nothing).
TEST(CalibrateCli, RunsWhoseMoeFamilyCameFromAnotherDeviceSaySo) {
  const auto d = tmp("borrowed_moe");
  const auto r = cli("run --set model=Mixtral-8x7B-v0.1 --set parallel.tp=2 --set workload.num_requests=20 --out " + (d / "r").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("note: MoE layers on h100_sxm are priced from h200_sxm's measured fused MoE (calibration/profiles/h200_sxm.json)"),
            std::string::npos)
      << r.out;
  const auto s = nlohmann::json::parse(slurp(d / "r" / "summary.json"))["borrowed_moe"]["h100_sxm"];
  EXPECT_EQ(s["from"], "h200_sxm");
  EXPECT_EQ(s["profile"], "calibration/profiles/h100_sxm.json");
  const auto m = cli("run --set workload.num_requests=20 --out " + (d / "m").string());
  ASSERT_EQ(m.code, 0) << m.out;
  EXPECT_EQ(m.out.find("note: MoE layers"), std::string::npos) << m.out;
  EXPECT_FALSE(nlohmann::json::parse(slurp(d / "m" / "summary.json")).contains("borrowed_moe"));
}

// --data checks a profile against tables it never saw, every row (none held out); a derived
// profile is checked too. Fitted with no hold-out on the synthetic tables, the GEMM grid
// answers each measured shape with its own value: MAPE 0 over all the table's rows.
TEST(CalibrateCli, CheckAgainstOtherTablesUsesEveryRow) {
  const auto d = tmp("check_data");
  const auto profile = d / "p.json";
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --holdout-modulus 0 --data " + kData + "/synthetic --out " + profile.string()).code, 0);
  std::ifstream in(kData + "/synthetic/gemm.csv");
  int rows = -1;  // the header line
  for (std::string line; std::getline(in, line);) rows += !line.empty() && line[0] != '#';
  auto r = cli("calibrate check --device h100_sxm --profile " + profile.string() + " --data " + kData + "/synthetic --markdown");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto at = r.out.find("| gemm | h100_sxm | " + std::to_string(rows) + " | 0.00% | 0.00% | ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% | 0% | 5% | pass |", at), std::string::npos) << r.out;  // none predicted faster
  ASSERT_EQ(cli("calibrate derive --device gh200_144gb --from " + profile.string() + " --out " + (d / "gh.json").string()).code, 0);
  r = cli("calibrate check --device gh200_144gb --profile " + (d / "gh.json").string() + " --data " + kData + "/synthetic");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("gemm "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("derived from"), std::string::npos) << r.out;  // checked, not skipped
}

// `moe` rows: the layer's three expert operators priced together by the profile's MoE family.
// Mixtral's shape at TP 2 (width 7,168 a device) was measured on the H200, 64 tokens: 361.5
// us. The same 128 copies said explicitly with 8 active experts are the same row; on 2
// experts (a skewed draw) fewer weights are read, so it is faster.
TEST(CostPredictCli, MoeRowsPriceTheFusedLayerAndTakeASkewedDevice) {
  const auto d = tmp("moe_rows");
  std::ofstream(d / "s.csv") << "op,dtype,m,n,k,topk,experts,ep,copies,active\n"
                                "moe,bf16,64,7168,4096,2,8,1,,\n"
                                "moe,bf16,64,7168,4096,2,8,1,128,8\n"
                                "moe,bf16,64,7168,4096,2,8,1,128,2\n";
  const auto r = cli("cost predict --hardware h200_sxm --in " + (d / "s.csv").string() + " --out " + (d / "o.csv").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(d / "o.csv");
  std::string line;
  std::getline(in, line);
  std::vector<double> us;
  std::vector<std::string> src;
  while (std::getline(in, line)) {
    const auto c1 = line.rfind(','), c0 = line.rfind(',', c1 - 1);
    us.push_back(std::stod(line.substr(c0 + 1, c1 - c0 - 1)));
    src.push_back(line.substr(c1 + 1));
  }
  ASSERT_EQ(us.size(), 3u);
  EXPECT_NEAR(us[0], 361.5, 0.5);  // the measured layer (profiles keep 5 significant digits)
  EXPECT_EQ(us[1], us[0]);
  EXPECT_LT(us[2], us[0]);
  for (const auto& s : src) EXPECT_NE(s.find("fit:h200_sxm@"), std::string::npos) << s;
  for (const auto& s : src) EXPECT_NE(s.find(":moe"), std::string::npos) << s;
}

TEST(CalibrateCli, MalformedTableExitsTwoWithoutOutput) {
  const auto d = tmp("bad");
  const auto r = cli("calibrate fit --device h100_sxm --data " + kData + "/bad/gemm_bad_m.csv --out " + (d / "p.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("gemm_bad_m.csv:3:2 (m): got 'twelve'"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d / "p.json"));
  EXPECT_FALSE(fs::exists(d / "p.json.tmp"));
}

TEST(CalibrateCli, UnknownDeviceAndUnknownSubcommandExitTwo) {
  auto r = cli("calibrate fit --device no_such_gpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("no_such_gpu"), std::string::npos);
  r = cli("calibrate fitt");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("expected fit, check, derive or power"), std::string::npos);
  r = cli("calibrate fit --device b200");  // a real device without measured sources
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--data"), std::string::npos);
}

TEST(CalibrateCli, CheckRefusesChangedInputs) {
  const auto d = tmp("changed");
  fs::copy(kData + "/synthetic", d / "data");
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --data " + (d / "data").string() + " --out " + (d / "p.json").string()).code, 0);
  std::ofstream(d / "data" / "nccl.csv", std::ios::app) << "all_reduce,2,999,1.0,ok\n";
  const auto r = cli("calibrate check --device h100_sxm --profile " + (d / "p.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("re-run servesim calibrate fit"), std::string::npos) << r.out;
}

TEST(CostPredictCli, PredictsEachRowAndNamesTheModel) {
  const auto d = tmp("predict");
  std::ofstream(d / "shapes.csv") << "id,op,m,n,k,measured_us\n"
                                     "a,gemm,10,1024,1024,80\n"
                                     "b,all_reduce,,,,\n";
  auto r = cli("cost predict --hardware h100_sxm --profile " + kSmallProfile + " --in " + (d / "shapes.csv").string() +
               " --out " + (d / "t.csv").string());
  // Row b lacks ranks and bytes: an error naming its line and the op column.
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("shapes.csv:3:2 (op): missing ranks, needed by op all_reduce"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d / "t.csv"));

  std::ofstream(d / "shapes.csv") << "id,op,m,n,k,ranks,bytes,measured_us\n"
                                     "a,gemm,10,1024,1024,,,80\n"
                                     "b,all_reduce,,,,2,1.5KB,\n";
  r = cli("cost predict --hardware h100_sxm --profile " + kSmallProfile + " --in " + (d / "shapes.csv").string() +
          " --out " + (d / "t.csv").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string out = slurp(d / "t.csv");
  // profile_small: the (1024, 1024) line gives 100 us at m = 10 (log-log between 10 and
  // 1000 us at m 1 and 100); measured 80 -> 25% error. 1.5 KB all-reduce: nccl 15 us.
  EXPECT_NE(out.find("a,gemm,10,1024,1024,,,80,100.000,fit:test_dev@"), std::string::npos) << out;
  EXPECT_NE(out.find(":gemm,25.00\n"), std::string::npos) << out;
  EXPECT_NE(out.find("b,all_reduce,,,,2,1.5KB,,15.000,fit:test_dev@"), std::string::npos) << out;
  EXPECT_EQ(out.substr(0, out.find('\n')), "id,op,m,n,k,ranks,bytes,measured_us,time_us,source,ape_pct");

  r = cli("cost predict --hardware h100_sxm --cost roofline --in " + (d / "shapes.csv").string() + " --out " + (d / "r.csv").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(slurp(d / "r.csv").find(",roofline,"), std::string::npos);
}

// A sliding window clips what each sequence attends to the last `window` keys
// (compute_attention_aggregates): a decode after 4,095 cached tokens under a 128-token
// window attends 128 keys, as one after 127 cached tokens without a window does, so the
// roofline prices both the same; a wider window than the context changes nothing.
TEST(CostPredictCli, SlidingWindowColumnClipsTheAttendedKeys) {
  const auto d = tmp("predict_window");
  std::ofstream(d / "shapes.csv") << "id,op,batch,q_len,ctx_len,heads,kv_heads,head_dim,window\n"
                                     "w,attention_decode,8,1,4095,32,8,128,128\n"
                                     "f,attention_decode,8,1,127,32,8,128,0\n"
                                     "x,attention_decode,8,1,127,32,8,128,4096\n";
  const auto r = cli("cost predict --hardware h100_sxm --cost roofline --in " + (d / "shapes.csv").string() + " --out " +
                     (d / "t.csv").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream out(slurp(d / "t.csv"));
  std::map<std::string, std::string> time_of;
  for (std::string line; std::getline(out, line);) {
    const auto id = line.substr(0, line.find(','));
    const auto cols = line.find(",roofline");
    if (cols != std::string::npos) time_of[id] = line.substr(line.rfind(',', cols - 1) + 1, cols - line.rfind(',', cols - 1) - 1);
  }
  ASSERT_EQ(time_of.size(), 3u) << slurp(d / "t.csv");
  EXPECT_EQ(time_of["w"], time_of["f"]);
  EXPECT_EQ(time_of["x"], time_of["f"]);
  // --sliding-window checks measured tables: without --data it is a usage error.
  const auto bad = cli("calibrate check --device h100_sxm --sliding-window");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--sliding-window"), std::string::npos) << bad.out;
}

// A profile names the kernels its tables measured, after their formats (Vidur's PyTorch
// GEMMs: pytorch; servesim's harness: harness) unless --kernel-set names it.
TEST(CalibrateCli, FitNamesTheKernelSetAfterItsTables) {
  const auto d = tmp("kernel_set");
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --data " + kData + "/formats/vidur_mlp.csv --out " + (d / "a.json").string()).code, 0);
  EXPECT_EQ(nlohmann::json::parse(slurp(d / "a.json"))["kernel_set"]["name"], "pytorch");
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --data " + kData + "/formats/aic_gemm.csv --out " + (d / "b.json").string()).code, 0);
  EXPECT_EQ(nlohmann::json::parse(slurp(d / "b.json"))["kernel_set"]["name"], "vllm");
  ASSERT_EQ(cli("calibrate fit --device h100_sxm --data " + kData + "/synthetic --kernel-set mine --out " + (d / "c.json").string()).code, 0);
  const auto c = nlohmann::json::parse(slurp(d / "c.json"))["kernel_set"];
  EXPECT_EQ(c["name"], "mine");
  EXPECT_EQ(c["inferred_from_inputs"], "harness");
  EXPECT_EQ(c["kernels"]["gemm"][0], "cuBLASLt GEMMs, servesim's CUPTI harness");
}

// The first 8 hex digits of a file's SHA-256, as prediction sources name profiles.
std::string sha8(const fs::path& f) {
  std::string out;
  FILE* p = popen(("sha256sum '" + f.string() + "'").c_str(), "r");
  std::array<char, 256> buf{};
  while (p && std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  if (p) pclose(p);
  return out.substr(0, 8);
}

// h100_sxm has two committed profiles: vLLM's kernels (the default, h100_sxm.json) and
// PyTorch eager's (h100_sxm@pytorch.json); --kernel-set picks the file by the set's name.
TEST(CostPredictCli, KernelSetPicksThatEnginesProfile) {
  const auto d = tmp("predict_ks");
  std::ofstream(d / "shapes.csv") << "id,op,m,n,k\na,gemm,512,11008,4096\n";
  auto source = [&](const std::string& extra) {
    const auto r = cli("cost predict --hardware h100_sxm --in " + (d / "shapes.csv").string() + " --out " +
                       (d / "t.csv").string() + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    const std::string out = slurp(d / "t.csv");
    fs::remove(d / "t.csv");
    const auto at = out.find("fit:h100_sxm@");
    return at == std::string::npos ? out : out.substr(at + 13, 8);
  };
  const std::string repo = fs::path(kData).parent_path().parent_path().parent_path().string();
  const std::string vllm = sha8(repo + "/calibration/profiles/h100_sxm.json");
  const std::string pytorch = sha8(repo + "/calibration/profiles/h100_sxm@pytorch.json");
  ASSERT_NE(vllm, pytorch);
  EXPECT_EQ(source(""), vllm);
  EXPECT_EQ(source(" --kernel-set vllm"), vllm);
  EXPECT_EQ(source(" --kernel-set pytorch"), pytorch);
}

TEST(CostPredictCli, UnknownColumnExitsTwoNamingIt) {
  const auto d = tmp("predict_bad");
  std::ofstream(d / "shapes.csv") << "op,m,n,k,flavour\ngemm,1,2,3,x\n";
  const auto r = cli("cost predict --hardware h100_sxm --cost roofline --in " + (d / "shapes.csv").string() + " --out " +
                     (d / "t.csv").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("shapes.csv:1:5: got 'flavour', expected a shape column"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d / "t.csv"));
}

TEST(CostPredictCli, BadValuesNameLineAndColumn) {
  const auto d = tmp("predict_vals");
  std::ofstream(d / "shapes.csv") << "op,m,n,k,dtype\ngemm,1,2,3,bf16\ngemm,1.5,2,3,bf16\n";
  auto r = cli("cost predict --hardware h100_sxm --cost roofline --in " + (d / "shapes.csv").string() + " --out " + (d / "t.csv").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("shapes.csv:3:2 (m): got '1.5', expected a whole number in [1, 2147483647]"), std::string::npos) << r.out;
  std::ofstream(d / "shapes.csv") << "op,m,n,k,dtype\ngemm,1,2,3,bf17\n";
  r = cli("cost predict --hardware h100_sxm --cost roofline --in " + (d / "shapes.csv").string() + " --out " + (d / "t.csv").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("shapes.csv:2:5 (dtype): got 'bf17'"), std::string::npos) << r.out;
  std::ofstream(d / "shapes.csv") << "op,bytes\nbroadcast,5\n";
  r = cli("cost predict --hardware h100_sxm --cost roofline --in " + (d / "shapes.csv").string() + " --out " + (d / "t.csv").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("shapes.csv:2:1 (op): got 'broadcast'"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d / "t.csv"));
}

}  // namespace
