// The perturbed cost model (prediction intervals): fitted answers scaled by one draw of the
// fit's held-out error, other answers untouched. Worked on the round test device and the
// small profile (tests/cost/data/profile_small.json).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <gtest/gtest.h>
#include <unistd.h>

#include "sim/core/error.h"
#include "tests/error_of.h"
#include "sim/core/json_file.h"
#include "sim/cost/i_cost_model.h"
#include "sim/cost/residual_sources.h"
#include "tests/cost/test_helpers.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;

const std::string kProfile = std::string(SERVESIM_TEST_DATA) + "/profile_small.json";

// A residuals file whose every GEMM quantile is +0.25: every draw says "the fit predicted
// 25 % too slow", so the measurement would have been 1 / 1.25 = 0.8 of the prediction.
std::string residuals_file(double r) {
  const fs::path p = fs::temp_directory_path() / ("servesim_residuals_" + std::to_string(::getpid()) + ".json");
  nlohmann::json q = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) q.push_back(r);
  std::ofstream(p) << nlohmann::json{{"schema", "servesim.residuals/1"}, {"families", {{"gemm", {{"n", 10}, {"quantiles", q}}}}}}.dump();
  return p.string();
}

using servesim::testing::error_of;

struct Built {
  DeviceSpec dev = testing::round_device();
  std::unique_ptr<ICostModel> model;
};

std::unique_ptr<Built> build(int draw, const std::string& residuals) {
  auto b = std::make_unique<Built>();
  const nlohmann::json cfg = {{"impl", "perturbed"},
                              {"inner", {{"impl", "calibrated"}, {"profile", kProfile}}},
                              {"residuals", residuals},
                              {"draw", draw},
                              {"seed", 7}};
  b->model = CostModelRegistry::get().build(cfg, "scenario.json: cost", nullptr, CostDeps{b->dev, "/nonexistent"});
  return b;
}

Operator gemm(std::int64_t m, std::int64_t n, std::int64_t k) {
  Operator op;
  op.cls = OpClass::kGemm;
  op.gemm = GemmShape{m, n, k, 1, DType::kBf16};
  return op;
}

TEST(PerturbedCost, AFittedAnswerCarriesTheDrawnErrorOthersDoNot) {
  const std::string res = residuals_file(0.25);
  // The fit says 100 us for (10, 1024, 1024) (CalibratedCost.FittedFamiliesAnswerWithTheirSource).
  EXPECT_EQ(build(0, res)->model->predict(gemm(10, 1024, 1024))->ns, 100'000);  // draw 0: unperturbed
  const auto b = build(3, res);
  EXPECT_EQ(b->model->predict(gemm(10, 1024, 1024))->ns, 80'000);  // 100 us / 1.25
  Operator ew;  // element-wise: the roofline answers, unperturbed
  ew.cls = OpClass::kElementwise;
  ew.bytes = 1e9;
  const auto plain = build(0, res)->model->predict(ew);
  EXPECT_EQ(b->model->predict(ew)->ns, plain->ns);
  EXPECT_EQ(b->model->predict(ew)->source, "roofline");
}

// Per-dtype GEMM residuals. The profile gets an fp8 line (n = k = 1024: 5 us at m = 1, 500 us at
// m = 100, so m = 10 reads 50 us) and, in a second copy, an fp8_block line (8 -> 800: 80 us).
// The residuals file: family quantile i = 0.01 i, bf16's 0 at every rank, fp8's 0.02 i; the
// family's draw picks a rank i, which a bf16-free check reads back from the fp8_block answer
// (no fp8_block distribution: the family's, 80 / (1 + 0.01 i)); then at that same rank:
// bf16 and fp16 (bf16's lines) 100 us / 1 = 100 us; fp8 50 / (1 + 0.02 i); block-scaled fp8
// answered by the per-tensor lines takes fp8's distribution too.
TEST(PerturbedCost, AGemmDrawsTheErrorsOfTheDtypeOfTheLineThatAnsweredIt) {
  nlohmann::json prof = read_json_file(kProfile);
  prof["families"]["gemm"]["fp8"] = {{"lines", {{{"n", 1024}, {"k", 1024}, {"m", {1, 100}}, {"us", {5, 500}}}}}};
  const fs::path dir = fs::temp_directory_path() / ("servesim_bydtype_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "per_tensor.json") << prof.dump();
  prof["families"]["gemm"]["fp8_block"] = {{"lines", {{{"n", 1024}, {"k", 1024}, {"m", {1, 100}}, {"us", {8, 800}}}}}};
  std::ofstream(dir / "with_block.json") << prof.dump();
  nlohmann::json fam = nlohmann::json::array(), bf16 = nlohmann::json::array(), fp8 = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) {
    fam.push_back(0.01 * i);
    bf16.push_back(0.0);
    fp8.push_back(0.02 * i);
  }
  const fs::path res = dir / "r.json";
  std::ofstream(res) << nlohmann::json{{"schema", "servesim.residuals/1"},
                                       {"families",
                                        {{"gemm",
                                          {{"n", 10},
                                           {"quantiles", fam},
                                           {"by_dtype", {{"bf16", {{"n", 5}, {"quantiles", bf16}}}, {"fp8", {{"n", 5}, {"quantiles", fp8}}}}}}}}}}
                            .dump();
  auto make = [&](int draw, const std::string& profile) {
    auto b = std::make_unique<Built>();
    const nlohmann::json cfg = {{"impl", "perturbed"},
                                {"inner", {{"impl", "calibrated"}, {"profile", (dir / profile).string()}}},
                                {"residuals", res.string()},
                                {"draw", draw},
                                {"seed", 7}};
    b->model = CostModelRegistry::get().build(cfg, "scenario.json: cost", nullptr, CostDeps{b->dev, "/nonexistent"});
    return b;
  };
  auto op = [](DType d) {
    Operator o = gemm(10, 1024, 1024);
    o.gemm.dtype = d;
    return o;
  };
  std::set<long> ranks;
  for (int draw = 1; draw <= 12; ++draw) {
    const auto block = make(draw, "with_block.json");
    const double block_us = static_cast<double>(block->model->predict(op(DType::kFp8Block))->ns) / 1e3;
    const long i = std::lround((80.0 / block_us - 1.0) / 0.01);
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 100);
    ranks.insert(i);
    EXPECT_NEAR(block_us, 80.0 / (1 + 0.01 * static_cast<double>(i)), 1e-3) << draw;
    EXPECT_EQ(block->model->predict(op(DType::kBf16))->ns, 100'000) << draw;
    EXPECT_EQ(block->model->predict(op(DType::kFp16))->ns, 100'000) << draw;
    const SimTime fp8_ns = std::llround(50'000 / (1 + 0.02 * static_cast<double>(i)));
    EXPECT_EQ(block->model->predict(op(DType::kFp8))->ns, fp8_ns) << draw;
    EXPECT_EQ(make(draw, "per_tensor.json")->model->predict(op(DType::kFp8Block))->ns, fp8_ns) << draw;
  }
  EXPECT_GT(ranks.size(), 1u);  // the draws do move the rank
  fs::remove_all(dir);
}

TEST(PerturbedCost, AnUnknownDtypeInTheResidualsIsAnInputErrorNamingTheField) {
  const fs::path p = fs::temp_directory_path() / ("servesim_baddtype_" + std::to_string(::getpid()) + ".json");
  std::ofstream(p) << nlohmann::json{{"schema", "servesim.residuals/1"},
                                     {"families", {{"gemm", {{"quantiles", {0.1}}, {"by_dtype", {{"bf17", {{"quantiles", {0.1}}}}}}}}}}}
                          .dump();
  const std::string e = error_of([&] { build(1, p.string()); });
  EXPECT_NE(e.find(p.string() + ": families.gemm.by_dtype.bf17"), std::string::npos) << e;
  EXPECT_NE(e.find("bf17"), std::string::npos) << e;
  fs::remove(p);
}

TEST(PerturbedCost, NeverBelowThePhysicalBound) {
  // The fit says 10 us for (1, 1024, 1024); a drawn error of +900 % makes that 10 / 10 =
  // 1 us, under the physical bound (1024 x 1024 + 1024 + 1024) x 2 B / 1e12 B/s =
  // 2.101248 us, which answers instead.
  const auto b = build(1, residuals_file(9.0));
  EXPECT_EQ(b->model->predict(gemm(1, 1024, 1024))->ns, 2'101);
}

TEST(PerturbedCost, AMissingResidualsFileIsAnInputErrorNamingIt) {
  try {
    build(1, "/nonexistent/r.json");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/r.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--residuals-out"), std::string::npos) << e.what();
  }
}


// A data dir with a derived profile (profile_small.json marked derived from "src"), its
// transfer check's residuals (GEMM only: -0.2, 0, +0.25) and its source's held-out residuals
// (GEMM +1.0, collective +0.5). `edit` changes the derived_from block before it is written.
struct DerivedDir {
  fs::path dir;
  fs::path profile;
};

void write_residuals(const fs::path& p, const nlohmann::json& families) {
  fs::create_directories(p.parent_path());
  nlohmann::json f = nlohmann::json::object();
  for (const auto& [name, q] : families.items()) f[name] = {{"n", 10}, {"quantiles", q}};
  std::ofstream(p) << nlohmann::json{{"schema", "servesim.residuals/1"}, {"families", f}}.dump();
}

DerivedDir derived_dir(const std::string& name, const std::function<void(nlohmann::json&)>& edit = {}) {
  DerivedDir d;
  d.dir = fs::temp_directory_path() / ("servesim_derived_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d.dir);
  write_residuals(d.dir / "calibration/transfer_check/t.residuals.json", {{"gemm", {-0.2, 0.0, 0.25}}});
  write_residuals(d.dir / "calibration/profiles/src.residuals.json", {{"gemm", {1.0}}, {"collective", {0.5}}});
  nlohmann::json p = read_json_file(kProfile);
  p["status"] = "derived";
  p["derived_from"] = {{"device", "src"},
                       {"profile", "calibration/profiles/src.json"},
                       {"expected_error", {{"residuals", "calibration/transfer_check/t.residuals.json"}}}};
  if (edit) edit(p["derived_from"]);
  d.profile = d.dir / "calibration/profiles/derived.json";
  std::ofstream(d.profile) << p.dump();
  return d;
}

std::unique_ptr<Built> build_derived(int draw, const DerivedDir& d) {
  auto b = std::make_unique<Built>();
  const nlohmann::json cfg = {
      {"impl", "perturbed"}, {"inner", {{"impl", "calibrated"}, {"profile", d.profile.string()}}}, {"draw", draw}, {"seed", 7}};
  b->model = CostModelRegistry::get().build(cfg, "scenario.json: cost", nullptr, CostDeps{b->dev, d.dir.string()});
  return b;
}

TEST(ResidualSources, ADerivedProfileDrawsCheckedFamiliesFromItsTransferCheckOthersFromItsSource) {
  const DerivedDir d = derived_dir("sources");
  const ResidualSources s = residual_sources("test_dev", {{"impl", "calibrated"}, {"profile", d.profile.string()}}, "", d.dir.string(), "cost");
  EXPECT_EQ(s.derived_profile, "calibration/profiles/derived.json");
  const nlohmann::json j = s.to_json()["families"];
  // gemm: in the transfer check (which also holds the source fit's error).
  EXPECT_EQ(j["gemm"]["from"], "transfer_check");
  EXPECT_EQ(j["gemm"]["residuals"], "calibration/transfer_check/t.residuals.json");
  EXPECT_EQ(j["gemm"]["derivation_error"], "checked");
  EXPECT_EQ(s.families[0].quantiles, (std::vector<double>{-0.2, 0.0, 0.25}));
  // collective: the check never measured it: the source's held-out errors, derivation unknown.
  EXPECT_EQ(j["collective"]["from"], "source_held_out");
  EXPECT_EQ(j["collective"]["residuals"], "calibration/profiles/src.residuals.json");
  EXPECT_EQ(j["collective"]["derivation_error"], "unknown (not checked)");
  // attention and copy: in neither file: unperturbed.
  EXPECT_EQ(j["attention_decode"]["from"], "none");
  EXPECT_EQ(j["copy"]["from"], "none");
}

// A second check of the rule (derive --expected-error repeated: expected_error.also) gives
// the families it added its own errors; the first check's families keep the first file's.
TEST(ResidualSources, ALaterCheckOfTheRuleAnswersTheFamiliesItAdded) {
  const DerivedDir d = derived_dir("also", [](nlohmann::json& df) {
    df["expected_error"]["also"] = nlohmann::json::array(
        {{{"residuals", "calibration/transfer_check/t2.residuals.json"}, {"families", {{"attention_decode", nlohmann::json::object()}}}}});
  });
  write_residuals(d.dir / "calibration/transfer_check/t2.residuals.json", {{"attention_decode", {0.15}}, {"gemm", {9.0}}});
  const ResidualSources s = residual_sources("test_dev", {{"impl", "calibrated"}, {"profile", d.profile.string()}}, "", d.dir.string(), "cost");
  const nlohmann::json j = s.to_json()["families"];
  EXPECT_EQ(j["attention_decode"]["from"], "transfer_check");
  EXPECT_EQ(j["attention_decode"]["residuals"], "calibration/transfer_check/t2.residuals.json");
  EXPECT_EQ(s.families[2].quantiles, (std::vector<double>{0.15}));
  EXPECT_EQ(s.families[0].quantiles, (std::vector<double>{-0.2, 0.0, 0.25}));  // gemm: the first check's
}

// A derived profile that takes some families from its device's own measured profile
// (provenance.families_from, calibrate derive --measured-families) draws those from that
// profile's held-out residuals; the rest as any derived profile.
TEST(ResidualSources, FamiliesMeasuredOnTheDeviceDrawItsHeldOutErrors) {
  const DerivedDir d = derived_dir("measured_here");
  write_residuals(d.dir / "calibration/profiles/own.residuals.json", {{"collective", {0.1}}, {"gemm", {0.3}}});
  nlohmann::json p = read_json_file(d.profile.string());
  p["provenance"]["families_from"] = nlohmann::json::array({{{"profile", "own.json"}, {"sha256", "0"}, {"families", {"collective"}}}});
  std::ofstream(d.profile) << p.dump();
  const ResidualSources s = residual_sources("test_dev", {{"impl", "calibrated"}, {"profile", d.profile.string()}}, "", d.dir.string(), "cost");
  const nlohmann::json j = s.to_json()["families"];
  EXPECT_EQ(j["collective"]["from"], "held_out");
  EXPECT_EQ(j["collective"]["residuals"], "calibration/profiles/own.residuals.json");
  EXPECT_EQ(s.families[3].quantiles, (std::vector<double>{0.1}));
  // Its gemm errors are not taken: the gemm family is derived (its transfer check answers).
  EXPECT_EQ(j["gemm"]["from"], "transfer_check");
}

TEST(PerturbedCost, ADerivedProfilesIntervalSpansItsTransferChecksErrors) {
  const DerivedDir d = derived_dir("interval");
  // The fit says 100 us for the GEMM; the transfer check's draws r in {-0.2, 0, +0.25} give
  // 100 / (1 + r) in {125, 100, 80} us (the source's +1.0 would give 50 us: not used); over
  // 20 draws the extremes both come up, so a 95 % nearest-rank interval (ranks 1 and 20 of 20)
  // is [80, 125] us. The collective (7.5 us on the fit: CalibratedCost.Collectives...) takes the
  // source's only value +0.5 in every draw: 7.5 / 1.5 = 5 us.
  Operator c;
  c.cls = OpClass::kCollective;
  c.coll = CollectiveShape{CollectiveKind::kAllReduce, 1100, 2, 0, 0};
  std::vector<double> gemms;
  for (int draw = 1; draw <= 20; ++draw) {
    const auto b = build_derived(draw, d);
    const SimTime g = b->model->predict(gemm(10, 1024, 1024))->ns;
    EXPECT_TRUE(g == 80'000 || g == 100'000 || g == 125'000) << g;
    gemms.push_back(static_cast<double>(g));
    EXPECT_EQ(b->model->predict(c)->ns, 5'000);
  }
  EXPECT_EQ(*std::min_element(gemms.begin(), gemms.end()), 80'000);
  EXPECT_EQ(*std::max_element(gemms.begin(), gemms.end()), 125'000);
  EXPECT_EQ(build_derived(0, d)->model->predict(gemm(10, 1024, 1024))->ns, 100'000);  // draw 0: unperturbed
}

TEST(PerturbedCost, ADerivedProfilesMissingOrBadFilesAreInputErrorsNamingFieldAndFile) {
  // The source profile has no residuals file beside it.
  const DerivedDir a = derived_dir("nosrc", [](nlohmann::json& d) { d["profile"] = "calibration/profiles/gone.json"; });
  std::string e = error_of([&] { build_derived(1, a); });
  EXPECT_NE(e.find("calibration/profiles/derived.json: derived_from.profile"), std::string::npos) << e;
  EXPECT_NE(e.find("calibration/profiles/gone.json"), std::string::npos) << e;
  EXPECT_NE(e.find("gone.residuals.json"), std::string::npos) << e;
  // The transfer check's file named in the profile does not exist.
  const DerivedDir b = derived_dir("nocheck", [](nlohmann::json& d) { d["expected_error"]["residuals"] = "nowhere.residuals.json"; });
  e = error_of([&] { build_derived(1, b); });
  EXPECT_NE(e.find("derived_from.expected_error.residuals"), std::string::npos) << e;
  EXPECT_NE(e.find("nowhere.residuals.json"), std::string::npos) << e;
  // A malformed transfer check: a quantile of -2 (a prediction cannot be -200 % of a measurement).
  const DerivedDir c = derived_dir("badq");
  write_residuals(c.dir / "calibration/transfer_check/t.residuals.json", {{"gemm", {-2.0}}});
  e = error_of([&] { build_derived(1, c); });
  EXPECT_NE(e.find("t.residuals.json: families.gemm.quantiles"), std::string::npos) << e;
  EXPECT_NE(e.find("numbers > -1"), std::string::npos) << e;
}

}  // namespace
}  // namespace servesim
