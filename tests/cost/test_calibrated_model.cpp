// The composite cost model: fitted profile first, roofline last, every answer named.
#include <filesystem>
#include <fstream>
#include <tuple>

#include <unistd.h>

#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/cost/i_cost_model.h"
#include "sim/cost/sha256.h"
#include "tests/cost/test_helpers.h"

namespace servesim {
namespace {

const std::string kProfile = std::string(SERVESIM_TEST_DATA) + "/profile_small.json";

struct Built {
  DeviceSpec dev = testing::round_device();
  std::unique_ptr<ICostModel> model;
  std::string tag;
};

std::unique_ptr<Built> build(nlohmann::json cfg) {
  auto b = std::make_unique<Built>();
  cfg["impl"] = "calibrated";
  if (!cfg.contains("profile")) cfg["profile"] = kProfile;
  b->model = CostModelRegistry::get().build(cfg, "scenario.json: cost", nullptr, CostDeps{b->dev, "/nonexistent"});
  b->tag = "fit:test_dev@" + sha256_file_hex(kProfile).substr(0, 8);
  return b;
}

Operator gemm(std::int64_t m, std::int64_t n, std::int64_t k, DType dt = DType::kBf16) {
  Operator op;
  op.cls = OpClass::kGemm;
  op.gemm = GemmShape{m, n, k, 1, dt};
  return op;
}

TEST(CalibratedCost, FittedFamiliesAnswerWithTheirSource) {
  auto b = build({});
  auto p = b->model->predict(gemm(10, 1024, 1024));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ns, 100'000);  // 100 us (see FittedProfile.GemmOnTheMeasuredLineInterpolatesLogLog)
  EXPECT_EQ(p->source, b->tag + ":gemm");
  p = b->model->predict(gemm(10, 2048, 2048));
  EXPECT_EQ(p->source, b->tag + ":gemm");
  EXPECT_EQ(p->ns, 400'000);  // the edge line x 4 (FittedProfile.GemmBeyondTheMeasuredNAndK...)

  Operator pm;
  pm.cls = OpClass::kPageMap;
  pm.items = 3;
  pm.page_bytes = 3 * 1048576.0;
  p = b->model->predict(pm);
  EXPECT_EQ(p->ns, 75'000);  // 3 calls of 25 us
  EXPECT_EQ(p->source, b->tag + ":page_map");
}

// The test device has 1e15 FLOP/s bf16 and 1e12 B/s. The profile's line says 10 us at
// m = 1 and 1000 us at m = 100 for n = k = 1024, so m = 1e6 extrapolates far; but a GEMM
// with n = k = 1024 and m = 1 is memory-bound: bytes (1024*1024 + 1024 + 1024) * 2 =
// 2101248 -> 2.101248 us, under the fit's 10 us. A fit answers at least the physical
// bound: here the bound is below the fit, so the fit stands; at 1/10 of the bandwidth
// (1e11 B/s) the bound is 21.01248 us and answers instead, under the fit's name.
TEST(CalibratedCost, AFitNeverAnswersBelowThePhysicalBound) {
  auto b = build({});
  EXPECT_EQ(b->model->predict(gemm(1, 1024, 1024))->ns, 10'000);
  auto slow = std::make_unique<Built>();
  slow->dev.hbm_bandwidth = 1e11;
  nlohmann::json cfg = {{"impl", "calibrated"}, {"profile", kProfile}};
  slow->model = CostModelRegistry::get().build(cfg, "scenario.json: cost", nullptr, CostDeps{slow->dev, "/nonexistent"});
  const auto p = slow->model->predict(gemm(1, 1024, 1024));
  EXPECT_EQ(p->ns, 21'012);  // 21.01248 us rounded to ns
  EXPECT_EQ(p->source, b->tag + ":gemm");
}

// Block-scaled fp8 GEMMs read the profile's fp8_block lines; a profile without them answers
// with its per-tensor fp8 lines, and says so in the source. Lines n = k = 1024 at m = 1 and
// 100: fp8 5 -> 500 us, fp8_block 8 -> 800 us (both y = c m), so m = 10 reads 50 and 80 us
// (log-log interpolation); the physical bound (about 1.05 MB at 1e12 B/s) is far below.
TEST(CalibratedCost, BlockScaledFp8ReadsItsOwnLinesOrThePerTensorOnes) {
  nlohmann::json j = read_json_file(kProfile);
  j["families"]["gemm"]["fp8"] = {{"lines", {{{"n", 1024}, {"k", 1024}, {"m", {1, 100}}, {"us", {5, 500}}}}}};
  auto write = [](const nlohmann::json& p, const std::string& name) {
    const auto path = std::filesystem::temp_directory_path() / ("servesim_" + name + "_" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << p.dump();
    return path.string();
  };
  const std::string per_tensor = write(j, "fp8_only");
  j["families"]["gemm"]["fp8_block"] = {{"lines", {{{"n", 1024}, {"k", 1024}, {"m", {1, 100}}, {"us", {8, 800}}}}}};
  const std::string with_block = write(j, "fp8_block");
  for (const auto& [path, us, variant] : {std::tuple{per_tensor, 50'000, ":gemm:per_tensor_fp8"}, std::tuple{with_block, 80'000, ":gemm"}}) {
    auto b = build({{"profile", path}});
    const auto p = b->model->predict(gemm(10, 1024, 1024, DType::kFp8Block));
    ASSERT_TRUE(p) << path;
    EXPECT_EQ(p->ns, us) << path;
    EXPECT_EQ(p->source, "fit:test_dev@" + sha256_file_hex(path).substr(0, 8) + variant);
    EXPECT_EQ(b->model->predict(gemm(10, 1024, 1024, DType::kFp8))->ns, 50'000) << path;  // per-tensor fp8 as before
    std::filesystem::remove(path);
  }
}

TEST(CalibratedCost, WhatTheFitLacksGoesToTheRoofline) {
  auto b = build({});
  EXPECT_EQ(b->model->predict(gemm(10, 1024, 1024, DType::kInt4))->source, "roofline");  // no int4 fit
  Operator ew;
  ew.cls = OpClass::kElementwise;
  ew.bytes = 1e6;
  EXPECT_EQ(b->model->predict(ew)->source, "roofline");
  Operator grouped = gemm(10, 1024, 1024);
  grouped.gemm.groups = 8;  // grouped (MoE) GEMMs are not fitted
  EXPECT_EQ(b->model->predict(grouped)->source, "roofline");
}

TEST(CalibratedCost, CollectivesOnSlowerLinksOrOtherRankCountsGoToTheRoofline) {
  auto b = build({});
  Operator c;
  c.cls = OpClass::kCollective;
  c.coll = CollectiveShape{CollectiveKind::kAllReduce, 1100, 2, 0, 0};
  auto p = b->model->predict(c);
  EXPECT_EQ(p->source, b->tag + ":collective:vllm_custom");  // the faster one at 1100 B
  EXPECT_EQ(p->ns, 7'500);
  c.coll.link_bandwidth = 1e9;  // a network link, slower than the fitted NVLink
  EXPECT_EQ(b->model->predict(c)->source, "roofline");
  c.coll.link_bandwidth = 0;
  c.coll.ranks = 4;
  EXPECT_EQ(b->model->predict(c)->source, "roofline");
  auto nccl = build({{"all_reduce_backend", "nccl"}});
  c.coll.ranks = 2;
  EXPECT_EQ(nccl->model->predict(c)->ns, 11'000);
}

TEST(CalibratedCost, FamiliesParameterRestrictsTheFit) {
  auto b = build({{"families", {"collective"}}});
  EXPECT_EQ(b->model->predict(gemm(10, 1024, 1024))->source, "roofline");
}

TEST(CalibratedCost, FallbackTakesRooflineParameters) {
  auto b = build({{"fallback", {{"page_map_time", "7us"}}}});
  Operator pm;
  pm.cls = OpClass::kPageMap;
  pm.items = 2;
  pm.page_bytes = 0;  // no page size: the fit cannot answer
  const auto p = b->model->predict(pm);
  EXPECT_EQ(p->source, "roofline");
  EXPECT_EQ(p->ns, 14'000);
}

TEST(CalibratedCost, MissingOrBadProfileIsAnInputErrorNamingTheField) {
  try {
    (void)build({{"profile", "/nonexistent/profile.json"}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("scenario.json: cost.profile"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)build({{"families", {"gemmm"}}}), InputError);
  EXPECT_THROW((void)build({{"all_reduce_backend", "mpi"}}), InputError);
  EXPECT_THROW((void)build({{"fallback", {{"no_such_key", 1}}}}), InputError);
}

TEST(CalibratedCost, PredictionsAreDeterministicAcrossInstances) {
  auto a = build({}), b = build({});
  for (std::int64_t m : {1, 7, 33, 100, 5000}) {
    EXPECT_EQ(a->model->predict(gemm(m, 1024, 1024))->ns, b->model->predict(gemm(m, 1024, 1024))->ns);
  }
}

// predict_with answers exactly as predict: an attention operator keeps a cursor it reuses
// while its contexts grow (and re-checks when the batch changes); any other operator keeps
// none.
TEST(CalibratedModel, PredictWithACursorAnswersAsPredict) {
  auto b = build({{"profile", std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h100_sxm.json"}});
  std::unique_ptr<CostCursor> cursor;
  for (const std::int32_t batch : {8, 8, 40}) {
    std::vector<SeqAttention> seqs(static_cast<std::size_t>(batch), SeqAttention{1, 3000});
    for (int step = 0; step < 5; ++step) {
      for (auto& s : seqs) s.context += 1;
      Operator op;
      op.cls = OpClass::kAttentionDecode;
      op.attn.heads = 32;
      op.attn.kv_heads = 8;
      op.attn.head_dim = op.attn.v_head_dim = 128;
      op.attn.kv_bytes_per_token = 2.0 * 8 * 128 * 2;
      op.attn.seqs = seqs;
      compute_attention_aggregates(op.attn);
      const auto plain = b->model->predict(op);
      const auto kept = b->model->predict_with(op, cursor);
      ASSERT_TRUE(plain && kept);
      EXPECT_EQ(plain->ns, kept->ns);
      EXPECT_EQ(plain->source, kept->source);
      EXPECT_NE(cursor, nullptr);
    }
  }
  std::unique_ptr<CostCursor> none;
  EXPECT_EQ(b->model->predict_with(gemm(64, 4096, 4096), none)->ns, b->model->predict(gemm(64, 4096, 4096))->ns);
  EXPECT_EQ(none, nullptr);
}

}  // namespace
}  // namespace servesim
