// The MoE family's answers (a measured shape's curve, neighbours for one never measured), its
// profile JSON, and how the calibrated cost model shares a fused layer among the plan's three
// expert operators.
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "sim/cost/fitted_profile.h"
#include "sim/cost/i_cost_model.h"
#include "sim/cost/physical_bound.h"
#include "sim/cost/sha256.h"
#include "tests/cost/test_helpers.h"

namespace servesim {
namespace {

ProfileRates round_rates() {
  ProfileRates r;
  r.peak_flops = {{"bf16", 1e15}, {"fp8", 2e15}};
  r.hbm_bandwidth = 1e12;
  r.sm_count = 100;
  r.intra_node_bandwidth = 4e11;
  r.host_link_bandwidth = 5e10;
  return r;
}

MoeQuery query(double tokens, double hidden = 1000) {
  MoeQuery q;
  q.dtype = "bf16";
  q.tokens = tokens;
  q.hidden = hidden;
  q.inter = 500;
  q.topk = 2;
  q.local_experts = 8;
  q.ep = 1;
  return q;
}

// 4 tokens x top-2 = 8 copies on 8 experts: every expert active. Expert parameters 3 x 1,000
// x 500 = 1.5 M. Weights 8 x 1.5 M x 2 bytes at 1 TB/s: 24 us; FLOPs 2 x 8 x 1.5 M at 1
// PFLOP/s: 0.024 us; activations 8 copies x (2 x 1,000 + 3 x 500) x 2 bytes: 0.056 us.
TEST(MoeTerms, ByHand) {
  const auto t = moe_terms(query(4), round_rates());
  EXPECT_DOUBLE_EQ(t[0], 1.0);
  EXPECT_DOUBLE_EQ(t[1], 24.0);
  EXPECT_DOUBLE_EQ(t[2], 0.024);
  EXPECT_DOUBLE_EQ(t[3], 0.056);
  // 1 token: 2 copies, 2 active experts: a quarter of the weights.
  EXPECT_DOUBLE_EQ(moe_terms(query(1), round_rates())[1], 6.0);
  // fp8 weights: one byte each, twice the peak.
  MoeQuery f = query(4);
  f.dtype = "fp8";
  EXPECT_DOUBLE_EQ(moe_terms(f, round_rates())[1], 12.0);
  EXPECT_DOUBLE_EQ(moe_terms(f, round_rates())[2], 0.012);
  // MXFP4 (gpt-oss): 4.25 bits a weight (an 8-bit exponent per 32), FLOPs at the bf16 peak.
  f.dtype = "mxfp4";
  EXPECT_DOUBLE_EQ(moe_terms(f, round_rates())[1], 24.0 * 4.25 / 16);
  EXPECT_DOUBLE_EQ(moe_terms(f, round_rates())[2], 0.024);
}

double regression(const MoeQuery& q) {
  const auto t = moe_terms(q, round_rates());
  return 10 * t[0] + t[1] + t[2] + t[3];
}

// One measured shape, at 4 tokens 2x the regression and at 16 tokens 4x.
FittedProfile profile() {
  FittedProfile p;
  p.device = "test_dev";
  p.rates = round_rates();
  FittedProfile::MoeFit f;
  f.kernel = "k";
  f.coef = {10, 1, 1, 1};
  FittedProfile::MoeGroup g;
  g.hidden = 1000;
  g.inter = 500;
  g.topk = 2;
  g.local_experts = 8;
  g.ep = 1;
  g.tokens = {4, 16};
  g.us = {2 * regression(query(4)), 4 * regression(query(16))};
  f.groups.push_back(g);
  p.moe["bf16"] = f;
  p.finalize();
  return p;
}

TEST(PredictMoe, AMeasuredShapeFollowsItsCurveBetweenAndBeyondItsPoints) {
  const FittedProfile p = profile();
  auto at = [&](double tokens) { return p.predict_moe(query(tokens))->us; };
  EXPECT_NEAR(at(4), 2 * regression(query(4)), 1e-9);
  EXPECT_NEAR(at(16), 4 * regression(query(16)), 1e-9);
  // 8 tokens: halfway in log tokens, so the residual is halfway in log: 2^1.5.
  EXPECT_NEAR(at(8), std::pow(2.0, 1.5) * regression(query(8)), 1e-9);
  // Below the points: the first point's residual.
  EXPECT_NEAR(at(1), 2 * regression(query(1)), 1e-9);
  // Beyond them: the last point plus the regression's growth times the last step's marginal
  // ratio, (u16 - u4) / (reg16 - reg4), when that exceeds the last point's own ratio (4).
  // reg4 = 10 + 24 + 0.024 + 0.056 = 34.08, reg16 = 10 + 24 + 0.096 + 0.224 = 34.32 (all 8
  // experts read either way), u4 = 68.16, u16 = 137.28: marginal 69.12 / 0.24 = 288; reg4096 =
  // 10 + 24 + 24.576 + 57.344 = 115.92, so 137.28 + 288 x (115.92 - 34.32) = 23,638.08.
  EXPECT_NEAR(at(4096), 23638.08, 1e-6);
  EXPECT_STREQ(p.predict_moe(query(8))->variant, "");
}

// A routing draw whose slowest shard has its 8 copies on 2 experts reads a quarter of the
// weights: the regression takes its active experts (weights 8 x 1.5 M x 2 bytes -> 2 x ...,
// 24 -> 6 us), the measured (balanced) layer its residual at as many copies (2x at 4 tokens).
TEST(PredictMoe, ADrawsActiveExpertsSetTheWeightsRead) {
  const FittedProfile p = profile();
  MoeQuery q = query(4);
  q.active = 2;
  EXPECT_DOUBLE_EQ(moe_terms(q, round_rates())[1], 6.0);
  EXPECT_NEAR(p.predict_moe(q)->us, 2 * (10 + 6.0 + 0.024 + 0.056), 1e-9);
}

// A shape never measured: hidden 2,000 is ln 2 from the measured shape (the sum of |log|
// ratios over hidden, width, top-k, local experts, EP). Its residual weighs exp(-(ln 2 /
// 0.7)^2) beside the regression's own (log 0) at exp(-(1 / 0.7)^2) (NeighbourMean).
TEST(PredictMoe, AShapeNeverMeasuredBorrowsItsNeighboursResidual) {
  const FittedProfile p = profile();
  const double w = std::exp(-std::pow(std::log(2.0) / 0.7, 2)), w0 = std::exp(-std::pow(1 / 0.7, 2));
  const auto a = p.predict_moe(query(4, 2000));
  ASSERT_TRUE(a);
  EXPECT_STREQ(a->variant, "regression_residual");
  EXPECT_NEAR(a->us, regression(query(4, 2000)) * std::exp(w * std::log(2.0) / (w + w0)), 1e-9);
  // Far from every measured shape the regression answers.
  const auto far = p.predict_moe(query(4, 1e6));
  EXPECT_NEAR(far->us, regression(query(4, 1e6)), 1e-9 * far->us);
  // No fit of the dtype: no answer.
  MoeQuery f = query(4);
  f.dtype = "fp8";
  EXPECT_FALSE(p.predict_moe(f));
}

TEST(PredictMoe, JsonRoundTripAnswersAlikeAndBadFieldsAreNamed) {
  const FittedProfile p = profile();
  const FittedProfile back = FittedProfile::from_json(p.to_json(), "p.json");
  for (double tokens : {1.0, 8.0, 100.0}) {
    EXPECT_NEAR(back.predict_moe(query(tokens))->us, p.predict_moe(query(tokens))->us, 1e-4 * p.predict_moe(query(tokens))->us);
  }
  auto error_of = [](const nlohmann::json& j) {
    try {
      (void)FittedProfile::from_json(j, "p.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  nlohmann::json j = p.to_json();
  j["families"]["moe"]["int4"] = j["families"]["moe"]["bf16"];
  EXPECT_NE(error_of(j).find("p.json: families: moe: got 'int4', expected dtype keys bf16, fp8, fp8_block or mxfp4"), std::string::npos)
      << error_of(j);
  j = p.to_json();
  j["families"]["moe"]["bf16"]["groups"][0]["us"] = {1.0};
  EXPECT_NE(error_of(j).find("moe: bf16: groups[0]: us"), std::string::npos) << error_of(j);
  j = p.to_json();
  j["families"]["moe"]["bf16"]["regression"]["coef"] = {1.0, 2.0};
  EXPECT_NE(error_of(j).find("moe: bf16: regression: coef"), std::string::npos) << error_of(j);
}

class FusedMoe : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("servesim_moe_" + std::to_string(::getpid()) + ".json");
    std::ofstream(path_) << profile().to_json().dump();
    tag_ = "fit:test_dev@" + sha256_file_hex(path_.string()).substr(0, 8);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::unique_ptr<ICostModel> model(nlohmann::json cfg = nlohmann::json::object()) {
    cfg["impl"] = "calibrated";
    cfg["profile"] = path_.string();
    return CostModelRegistry::get().build(cfg, "scenario.json: cost", nullptr, CostDeps{dev_, "/nonexistent"});
  }
  DeviceSpec dev_ = testing::round_device();
  std::filesystem::path path_;
  std::string tag_;
};

// The three expert operators of a layer of 4 tokens take the measured layer's time (2x the
// regression there) in proportion to their physical bounds, so together they take it whole.
TEST_F(FusedMoe, TheThreePartsShareTheFusedLayerByTheirBounds) {
  const auto m = model();
  const auto parts = moe_expert_operators(balanced_moe_layer(4, 1000, 500, 2, 8, 1, DType::kBf16, DType::kBf16), 1);
  const PhysicalBound bound(dev_);
  double bounds = 0;
  for (const Operator& op : parts) bounds += bound.seconds(op);
  const double fused_ns = 2 * regression(query(4)) * 1e3;
  SimTime sum = 0;
  for (const Operator& op : parts) {
    const auto p = m->predict(op);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->source, tag_ + ":moe");
    EXPECT_NEAR(static_cast<double>(p->ns), fused_ns * bound.seconds(op) / bounds, 1.0) << op.name;
    sum += p->ns;
  }
  EXPECT_NEAR(static_cast<double>(sum), fused_ns, 2.0);
  // The slowest shard of a routing draw, its 8 copies on 2 experts: the layer's time is the
  // measured residual times the regression with 2 experts' weights (PredictMoe above).
  MoeLayerShape drawn = balanced_moe_layer(4, 1000, 500, 2, 8, 1, DType::kBf16, DType::kBf16);
  drawn.active = 2;
  drawn.per_expert = 4;
  SimTime drawn_sum = 0;
  for (const Operator& op : moe_expert_operators(drawn, 1)) drawn_sum += m->predict(op)->ns;
  EXPECT_NEAR(static_cast<double>(drawn_sum), 2 * (10 + 6.0 + 0.024 + 0.056) * 1e3, 3.0);
  // A shape never measured names the neighbour rule.
  const auto other = moe_expert_operators(balanced_moe_layer(4, 2000, 500, 2, 8, 1, DType::kBf16, DType::kBf16), 1);
  EXPECT_EQ(m->predict(other[0])->source, tag_ + ":moe:regression_residual");
}

// Without the family (left out of `families`, or no fit of the weights' dtype) the parts are
// priced one by one as before: grouped GEMMs and the activation by the roofline.
TEST_F(FusedMoe, WithoutTheFamilyThePartsGoToTheRoofline) {
  const auto parts = moe_expert_operators(balanced_moe_layer(4, 1000, 500, 2, 8, 1, DType::kBf16, DType::kBf16), 1);
  const auto gemm_only = model({{"families", {"gemm"}}});
  for (const Operator& op : parts) EXPECT_EQ(gemm_only->predict(op)->source, "roofline") << op.name;
  const auto fp8 = moe_expert_operators(balanced_moe_layer(4, 1000, 500, 2, 8, 1, DType::kFp8, DType::kBf16), 1);
  for (const Operator& op : fp8) EXPECT_EQ(model()->predict(op)->source, "roofline") << op.name;
}

// int4 experts are MXFP4 (gpt-oss's checkpoint) or integer int4 (GPTQ/AWQ): another kernel
// each. An MXFP4 layer asks the mxfp4 fit; an integer int4 one has none and stays on the roofline.
TEST(FusedMoeMxfp4, Int4ExpertsAskTheMxfp4FitOnlyWhenTheyAreMxfp4) {
  FittedProfile p = profile();
  p.moe["mxfp4"] = p.moe.at("bf16");
  p.finalize();
  const auto path = std::filesystem::temp_directory_path() / ("servesim_moe_mxfp4_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << p.to_json().dump();
  const DeviceSpec dev = testing::round_device();
  const auto m = CostModelRegistry::get().build({{"impl", "calibrated"}, {"profile", path.string()}}, "scenario.json: cost", nullptr,
                                                CostDeps{dev, "/nonexistent"});
  MoeLayerShape layer = balanced_moe_layer(4, 1000, 500, 2, 8, 1, DType::kInt4, DType::kBf16);
  EXPECT_EQ(m->predict(moe_expert_operators(layer, 1)[0])->source, "roofline");
  layer.mxfp4 = true;
  EXPECT_NE(m->predict(moe_expert_operators(layer, 1)[0])->source.find(":moe"), std::string::npos);
  std::filesystem::remove(path);
}

// A profile whose MoE family comes from another profile (provenance.moe_from) loads it at
// load time; a source changed since the fit is one error naming the field and the file.
TEST(PredictMoe, ABorrowedFamilyLoadsFromItsSourceAndAStaleSourceIsNamed) {
  const auto dir = std::filesystem::temp_directory_path() / ("servesim_moe_from_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "src.json") << profile().to_json().dump();
  FittedProfile p = profile();
  p.moe.clear();
  p.provenance["moe_from"] = {{"profile", "src.json"}, {"sha256", sha256_file_hex((dir / "src.json").string())}, {"same_chip_layout", true}};
  std::ofstream(dir / "p.json") << p.to_json().dump();
  const FittedProfile back = FittedProfile::load((dir / "p.json").string());
  EXPECT_NEAR(back.predict_moe(query(8))->us, profile().predict_moe(query(8))->us, 1e-3);  // same rates: same points
  std::ofstream(dir / "src.json", std::ios::app) << " ";
  try {
    (void)FittedProfile::load((dir / "p.json").string());
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("p.json: provenance: moe_from: sha256"), std::string::npos) << what;
    EXPECT_NE(what.find("src.json (it changed since the fit: refit test_dev)"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  std::filesystem::remove_all(dir);
}

// balanced_moe_layer: 3 tokens x top-2 / EP 2 = 3 copies on min(4 local, 3) = 3 experts, 1
// row each; 40 tokens: 40 copies on all 4 experts, 10 rows each.
TEST(MoeLayer, BalancedRoutingAndTheThreeOperators) {
  const MoeLayerShape a = balanced_moe_layer(3, 64, 32, 2, 4, 2, DType::kFp8, DType::kBf16);
  EXPECT_DOUBLE_EQ(a.copies, 3);
  EXPECT_EQ(a.active, 3);
  EXPECT_EQ(a.per_expert, 1);
  const MoeLayerShape b = balanced_moe_layer(40, 64, 32, 2, 4, 2, DType::kFp8, DType::kBf16);
  EXPECT_EQ(b.active, 4);
  EXPECT_EQ(b.per_expert, 10);
  const auto ops = moe_expert_operators(b, 7);
  EXPECT_EQ(ops[0].cls, OpClass::kGemm);
  EXPECT_EQ(ops[0].gemm.m, 10);
  EXPECT_EQ(ops[0].gemm.n, 64);  // gate and up: 2 x 32
  EXPECT_EQ(ops[0].gemm.k, 64);
  EXPECT_EQ(ops[0].gemm.groups, 4);
  EXPECT_EQ(ops[0].gemm.dtype, DType::kFp8);
  EXPECT_EQ(ops[1].cls, OpClass::kElementwise);
  EXPECT_DOUBLE_EQ(ops[1].bytes, 3.0 * 40 * 32 * 2);  // reads 2 x 32, writes 32 a copy, bf16
  EXPECT_DOUBLE_EQ(ops[1].flops, 4.0 * 40 * 32);
  EXPECT_EQ(ops[2].gemm.n, 64);
  EXPECT_EQ(ops[2].gemm.k, 32);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ops[i].repeat, 7);
    EXPECT_EQ(ops[i].moe.part, static_cast<int>(i));
  }
}

}  // namespace
}  // namespace servesim
