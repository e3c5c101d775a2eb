// Storage formats by hand: KV bytes per token for each attention kind and KV dtype, and
// weight bytes per dtype (docs/planner.md states the formats).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/core/dtype.h"
#include "sim/core/error.h"
#include "sim/model/model_spec.h"
#include "sim/parallel/i_parallel_plan.h"

namespace servesim {
namespace {

ModelSpec catalogue(const std::string& name) { return load_model(name, SERVESIM_DATA_DIR, "test"); }
ModelSpec test_model(const std::string& name) { return load_model(std::string(SERVESIM_TEST_DATA) + "/" + name, "", "test"); }

TEST(KvBytes, ElementSizesOfEachKvDtype) {
  EXPECT_EQ(kv_bytes_per_element(DType::kBf16), 2.0);
  EXPECT_EQ(kv_bytes_per_element(DType::kFp16), 2.0);
  EXPECT_EQ(kv_bytes_per_element(DType::kFp8), 1.0);   // one scale per tensor: nothing per element
  // KIVI: 4 or 2 bits, plus an fp16 scale and an fp16 zero point per group of 32 elements:
  // (4 + 32/32) / 8 = 0.625 and (2 + 32/32) / 8 = 0.375 bytes.
  EXPECT_EQ(kv_bytes_per_element(DType::kInt4), 0.625);
  EXPECT_EQ(kv_bytes_per_element(DType::kInt2), 0.375);
}

TEST(KvBytes, MhaLlama27b) {
  // 32 layers x (K + V) x 32 heads x 128 x 2 bytes = 524,288 bytes a token.
  EXPECT_EQ(catalogue("Llama-2-7b-hf").kv_bytes_per_token(DType::kBf16), 524288.0);
}

TEST(KvBytes, GqaLlama31_8bAtEveryKvDtype) {
  // 32 layers x 2 x 8 KV heads x 128 = 65,536 elements a token.
  const ModelSpec m = catalogue("Llama-3.1-8B");
  EXPECT_EQ(m.kv_bytes_per_token(DType::kBf16), 131072.0);
  EXPECT_EQ(m.kv_bytes_per_token(DType::kFp8), 65536.0);
  EXPECT_EQ(m.kv_bytes_per_token(DType::kInt4), 65536.0 * 0.625);  // 40,960
  EXPECT_EQ(m.kv_bytes_per_token(DType::kInt2), 65536.0 * 0.375);  // 24,576
}

TEST(KvBytes, MqaTestModel) {
  // 24 layers x 2 x 1 KV head x 128 x 2 bytes = 12,288 bytes a token.
  EXPECT_EQ(test_model("mqa-tiny").kv_bytes_per_token(DType::kBf16), 12288.0);
}

TEST(KvBytes, MlaDeepSeekV3CachesTheLatent) {
  // 61 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes = 70,272 bytes a token,
  // not 61 x 2 x 128 heads x 192 x 2 = 5,996,544 as K and V per head would be.
  const ModelSpec m = catalogue("DeepSeek-V3");
  EXPECT_EQ(m.kv_bytes_per_token(DType::kBf16), 70272.0);
  EXPECT_EQ(m.kv_bytes_per_token(DType::kFp8), 35136.0);
}

std::unique_ptr<IParallelPlan> megatron(int tp, int pp = 1, int ep = 1) {
  return ParallelPlanRegistry::get().build({{"impl", "megatron"}, {"tp", tp}, {"pp", pp}, {"ep", ep}}, "test", nullptr);
}

TEST(KvBytes, TensorParallelShardsKvHeadsButReplicatesMqaAndMla) {
  // GQA 8 KV heads over TP=4: 2 heads a device, a quarter of the bytes.
  const ModelSpec llama = catalogue("Llama-3.1-8B");
  const auto tp4 = megatron(4);
  EXPECT_EQ(llama.kv_bytes_per_token_layer(DType::kBf16, tp4->kv_heads_per_device(llama)) * 32, 131072.0 / 4);
  // MQA: the one KV head is on every device.
  const ModelSpec mqa = test_model("mqa-tiny");
  EXPECT_EQ(mqa.kv_bytes_per_token_layer(DType::kBf16, tp4->kv_heads_per_device(mqa)) * 24, 12288.0);
  // MLA: the latent is on every device.
  const ModelSpec ds = catalogue("DeepSeek-V3");
  EXPECT_EQ(ds.kv_bytes_per_token_layer(DType::kBf16, megatron(8)->kv_heads_per_device(ds)) * 61, 70272.0);
}

// fp8_block names block-scaled fp8 weights: one byte, a weight format only (a KV-cache dtype
// of that name is an input error naming the field and the value).
TEST(Dtypes, BlockScaledFp8IsAWeightFormat) {
  EXPECT_EQ(parse_dtype("fp8_block", "x"), DType::kFp8Block);
  EXPECT_STREQ(dtype_name(DType::kFp8Block), "fp8_block");
  EXPECT_EQ(dtype_bytes(DType::kFp8Block), 1.0);
  EXPECT_EQ(parse_kv_dtype("fp8", "x"), DType::kFp8);
  try {
    (void)parse_kv_dtype("fp8_block", "scenario.json: engine.kv_cache_dtype");
    ADD_FAILURE() << "fp8_block accepted as a KV-cache dtype";
  } catch (const InputError& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("engine.kv_cache_dtype"), std::string::npos) << w;
    EXPECT_NE(w.find("fp8_block"), std::string::npos) << w;
    EXPECT_NE(w.find("a KV-cache dtype"), std::string::npos) << w;
  }
}

TEST(WeightBytes, MatrixFormats) {
  const ModelSpec m = catalogue("Llama-3.1-8B");
  EXPECT_EQ(m.matrix_bytes_per_param(DType::kBf16, false), 2.0);
  EXPECT_EQ(m.matrix_bytes_per_param(DType::kFp8, false), 1.0);
  // Block-scaled fp8: one fp32 scale per 128 x 128 block, 4 / 16384 B a weight (0.02 %), not counted.
  EXPECT_EQ(m.matrix_bytes_per_param(DType::kFp8Block, false), 1.0);
  // MARLIN/GPTQ int4: 4 bits + one fp16 scale per 128 weights = 4.125 bits.
  EXPECT_EQ(m.matrix_bytes_per_param(DType::kInt4, false), 4.125 / 8);
  EXPECT_EQ(m.matrix_bytes_per_param(DType::kInt4, true), 4.125 / 8);
}

// Llama-3.1-8B by role: embedding = LM head = 128256 x 4096 = 525,336,576; matrices
// 32 x (4096 x (4096 + 2 x 1024) + 4096 x 4096 + 3 x 4096 x 14336) = 6,979,321,856;
// norms 32 x 2 x 4096 + 4096 = 266,240.
constexpr double kEmbed = 525336576.0, kMatrices = 6979321856.0, kNorms = 266240.0;

TEST(WeightBytes, Llama31_8bBf16IsTwoBytesAParam) {
  const WeightBytes w = catalogue("Llama-3.1-8B").weight_bytes(DType::kBf16);
  EXPECT_EQ(w.total(), 2.0 * 8030261248.0);
  EXPECT_EQ(w.embedding, 2 * kEmbed);
}

TEST(WeightBytes, Llama31_8bInt4KeepsEmbeddingsAndNormsInBf16) {
  const WeightBytes w = catalogue("Llama-3.1-8B").weight_bytes(DType::kInt4);
  EXPECT_EQ(w.embedding, 2 * kEmbed);
  EXPECT_EQ(w.lm_head, 2 * kEmbed);
  EXPECT_EQ(w.layers, kMatrices * 4.125 / 8 + 2 * kNorms);
  // 2,101,346,304 + 3,598,712,832 + 532,480 = 5,700,591,616 bytes, not 8.03e9 x 0.5.
  EXPECT_EQ(w.total(), 5700591616.0);
}

TEST(WeightBytes, Llama31_8bFp8) {
  const WeightBytes w = catalogue("Llama-3.1-8B").weight_bytes(DType::kFp8);
  EXPECT_EQ(w.total(), 4 * kEmbed + kMatrices + 2 * kNorms);
}

TEST(WeightBytes, GptOssMxfp4QuantizesOnlyTheExperts) {
  // gpt-oss-120b ships MXFP4 experts (4 bits + an 8-bit exponent per 32 = 4.25 bits) and
  // keeps attention, router, embedding and head in bf16 (modules_to_not_convert).
  const ModelSpec m = catalogue("gpt-oss-120b");
  const ParamBreakdown p = m.param_breakdown();
  const WeightBytes w = m.weight_bytes(m.checkpoint_weight_dtype());
  EXPECT_EQ(w.routed_experts, p.routed_experts * 4.25 / 8);
  EXPECT_EQ(w.layers, 2.0 * (p.attention + p.other));
  // 36 x 128 x 3 x 2880 x 2880 = 114,661,785,600 expert weights -> 60.9 GB; the rest in bf16.
  EXPECT_EQ(p.routed_experts, 114661785600.0);
}

TEST(WeightBytes, MegatronSplitsEveryRoleOverTensorParallelRanks) {
  // TP=4, one stage: a quarter of everything, at the dtype's bytes.
  const ModelSpec m = catalogue("Llama-3.1-8B");
  EXPECT_EQ(megatron(4)->weight_bytes_per_device(m, DType::kInt4), 5700591616.0 / 4);
  // PP=2: half the layers (the final norm counted with them), and the heavier of
  // embedding and LM head (equal here).
  EXPECT_EQ(megatron(1, 2)->weight_bytes_per_device(m, DType::kBf16), (2 * kMatrices + 2 * kNorms) / 2 + 2 * kEmbed);
}

}  // namespace
}  // namespace servesim
