// The perturbed cost model (prediction intervals): fitted answers scaled by one draw of the
// fit's held-out error, other answers untouched. Worked on the round test device and the
// small profile (tests/cost/data/profile_small.json).
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "sim/core/error.h"
#include "sim/cost/i_cost_model.h"
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

}  // namespace
}  // namespace servesim
