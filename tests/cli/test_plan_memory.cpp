// `servesim plan memory`: planner figures checked by hand for one dense and one MoE model
// (the rule is in sim/serving/memory_plan.h and docs/planner.md), and the refusals.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli;

constexpr double kGiB = 1024.0 * 1024 * 1024;
// h100_sxm.json memory.hbm_runtime_capacity: 81091 MiB (cudaMemGetInfo's total, what vLLM
// multiplies); x the default 0.9 utilisation.
constexpr double kH100 = 81091.0 * 1024 * 1024;  // 85,030,076,416 B
constexpr double kUsable = 0.9 * kH100;          // 76,527,068,774.4 B
constexpr double kRuntime = 1.5 * kGiB;          // default --runtime-overhead

nlohmann::json plan_json(const std::string& args) {
  const auto r = run_cli("plan memory --json " + args);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return nlohmann::json::parse(r.out);
}

TEST(PlanMemory, DenseLlama31_8bOnOneH100ByHand) {
  const auto j = plan_json("--model Llama-3.1-8B --hardware h100_sxm --context 8192");
  const auto& m = j["memory"];
  // Weights: 8,030,261,248 parameters x 2 bytes (bf16 checkpoint) on one GPU.
  const double weights = 8030261248.0 * 2;
  EXPECT_DOUBLE_EQ(m["device_bytes"].get<double>(), kH100);
  EXPECT_DOUBLE_EQ(m["usable_bytes"].get<double>(), kUsable);
  EXPECT_DOUBLE_EQ(m["weight_bytes"].get<double>(), weights);
  // Activations at 8192 tokens, bf16: residual + normed input 2 x 4096, QKV output
  // (32 + 2 x 8) x 128 = 6,144, MLP 3 x 14336 = 43,008 -> 2 x 57,344 = 114,688 B a token
  // -> forward 939,524,096. Sampling: hidden states 8192 x 4096 x 2 = 67,108,864 plus the
  // default 3.7 buffers x 256 seqs x 128,256 x 4 B = 485,936,332.8 -> 553,045,196.8, less
  // than the forward pass, so the peak is the forward pass.
  const double act = 939524096.0;
  EXPECT_DOUBLE_EQ(m["activation_bytes"].get<double>(), act);
  EXPECT_DOUBLE_EQ(m["runtime_bytes"].get<double>(), kRuntime);
  // KV: 76,527,068,774.4 - 16,060,522,496 - 939,524,096 - 1,610,612,736 = 57,916,409,446.4 B
  // at 131,072 B a token (32 layers x 2 x 8 x 128 x 2).
  const double kv = kUsable - weights - act - kRuntime;
  EXPECT_NEAR(m["kv_bytes"].get<double>(), kv, 1e-3);
  EXPECT_EQ(m["kv_bytes_per_token"].get<double>(), 131072.0);
  EXPECT_EQ(m["kv_tokens"].get<std::int64_t>(), 441867);  // floor(57,916,409,446.4 / 131,072)
  // Blocks of 16 tokens = 2,097,152 B: floor(27,616.7) = 27,616 -> 441,856 tokens.
  const auto& k = j["kv"];
  EXPECT_EQ(k["blocks"].get<std::int64_t>(), 27616);
  EXPECT_EQ(k["block_tokens"].get<std::int64_t>(), 27616 * 16);
  // At 8192 tokens a sequence takes 512 blocks: 27,616 / 512 = 53 sequences (< 256).
  EXPECT_EQ(k["max_batch_kv"].get<std::int64_t>(), 53);
  EXPECT_EQ(k["max_batch"].get<std::int64_t>(), 53);
}

TEST(PlanMemory, TextOutputSaysTheSameInWords) {
  const auto r = run_cli("plan memory --model Llama-3.1-8B --hardware h100_sxm --context 8192");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("441856 tokens in 27616 blocks of 16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("largest batch 53 sequences"), std::string::npos) << r.out;
  // 16,060,522,496 B = 14.96 GiB.
  EXPECT_NE(r.out.find("14.96 GiB per GPU"), std::string::npos) << r.out;
}

TEST(PlanMemory, MoeMixtral8x7bOnTwoH100sByHand) {
  const auto j = plan_json("--model Mixtral-8x7B-v0.1 --hardware h100_sxm --tp 2 --context 4096");
  const auto& m = j["memory"];
  // Weights: 46,702,792,704 parameters x 2 bytes / 2 GPUs.
  const double weights = 46702792704.0;
  EXPECT_DOUBLE_EQ(m["weight_bytes"].get<double>(), weights);
  // Activations, TP=2: QKV output (32 + 2 x 8) x 128 / 2 = 3,072; fused MoE per routed
  // copy 3 x 14336 / 2 + 4096 = 25,600, top-2 -> 51,200 (more than a dense 3 x 14336 / 2);
  // 2 x (8192 + 3072 + 51200) = 124,928 B a token x 8192 = 1,023,410,176; sampling
  // 8192 x 4096 x 2 + 3.7 x 256 x 32000 x 4 = 188,350,464 is less, so the forward pass.
  const double act = 1023410176.0;
  EXPECT_DOUBLE_EQ(m["activation_bytes"].get<double>(), act);
  // KV per GPU: 32 layers x 2 x 4 KV heads x 128 x 2 = 65,536 B a token.
  EXPECT_EQ(m["kv_bytes_per_token"].get<double>(), 65536.0);
  // KV bytes 76,527,068,774.4 - 46,702,792,704 - 1,023,410,176 - 1,610,612,736
  // = 27,190,253,158.4 -> blocks of 1,048,576 B: 25,930; at 4096 tokens (256 blocks) 101.
  EXPECT_NEAR(m["kv_bytes"].get<double>(), kUsable - weights - act - kRuntime, 1e-3);
  EXPECT_EQ(j["kv"]["blocks"].get<std::int64_t>(), 25930);
  EXPECT_EQ(j["kv"]["max_batch"].get<std::int64_t>(), 101);
  EXPECT_EQ(j["model"]["params"].get<double>(), 46702792704.0);
}

TEST(PlanMemory, ExpertParallelismKeepsTheWeightsPerGpu) {
  // EP=2 inside TP=2 splits experts over ranks instead of each expert's width: same bytes.
  const auto a = plan_json("--model Mixtral-8x7B-v0.1 --hardware h100_sxm --tp 2 --context 4096");
  const auto b = plan_json("--model Mixtral-8x7B-v0.1 --hardware h100_sxm --tp 2 --ep 2 --context 4096");
  EXPECT_EQ(a["memory"]["weight_bytes"], b["memory"]["weight_bytes"]);
}

TEST(PlanMemory, ContextParallelRanksEachHoldAShareOfTheKv) {
  // Llama-3.1-8B: 32 layers x 8 KV heads x 128 x K,V x 2 B = 131,072 B a token on one GPU;
  // over cp 4 each GPU holds a quarter of every sequence, 32,768 B, on 4 GPUs.
  const auto j = plan_json("--model Llama-3.1-8B --hardware h100_sxm --context 8192 --cp 4");
  EXPECT_EQ(j["parallel"]["gpus"], 4);
  EXPECT_DOUBLE_EQ(j["memory"]["kv_bytes_per_token"].get<double>(), 32768.0);
}

TEST(PlanMemory, KvDtypeChangesTokensNotWeights) {
  // KIVI int4: 65,536 elements a token x 0.625 B = 40,960 B.
  const auto j = plan_json("--model Llama-3.1-8B --hardware h100_sxm --context 8192 --kv-dtype int4");
  EXPECT_EQ(j["memory"]["kv_bytes_per_token"].get<double>(), 40960.0);
  EXPECT_EQ(j["memory"]["weight_bytes"].get<double>(), 8030261248.0 * 2);
  EXPECT_EQ(j["dtypes"]["kv"], "int4");
}

TEST(PlanMemory, Int4WeightsKeepEmbeddingsInBf16) {
  // 5,700,591,616 B (tests/model/test_storage_bytes.cpp derives it), activations in bf16.
  const auto j = plan_json("--model Llama-3.1-8B --hardware h100_sxm --context 8192 --dtype int4");
  EXPECT_EQ(j["memory"]["weight_bytes"].get<double>(), 5700591616.0);
  EXPECT_EQ(j["dtypes"]["activations"], "bf16");
  EXPECT_EQ(j["dtypes"]["kv"], "bf16");
}

TEST(PlanMemory, CheckpointDtypeIsTheDefault) {
  // DeepSeek-V3 ships block-scaled fp8 weights (quantization_config with weight_block_size),
  // so auto plans fp8_block matrices (1 byte a weight, as fp8).
  const auto j = plan_json("--model DeepSeek-V3 --hardware h200_sxm --tp 8 --context 32768");
  EXPECT_EQ(j["dtypes"]["weights"], "fp8_block");
  // MLA latent per GPU: 61 x 576 x 2 = 70,272 B a token (replicated over TP).
  EXPECT_EQ(j["memory"]["kv_bytes_per_token"].get<double>(), 70272.0);
}

void expect_refusal(const std::string& args, const std::vector<std::string>& fragments) {
  const auto r = run_cli("plan memory " + args);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  for (const auto& f : fragments) EXPECT_NE(r.out.find(f), std::string::npos) << "missing '" << f << "' in: " << r.out;
}

TEST(PlanMemory, InfeasiblePlanSaysWhatHowMuchAndWhatIsAvailable) {
  // Llama-3.1-405B in bf16 on one H100: 405,853,388,800 x 2 B = 755.96 GiB of weights
  // against 0.9 x 79.19 = 71.27 GiB usable.
  expect_refusal("--model Llama-3.1-405B --hardware h100_sxm",
                 {"Llama-3.1-405B does not fit on h100_sxm", "tp=1", "weights 755.96", "71.27 GiB is usable"});
}

TEST(PlanMemory, ContextThatNoSequenceFitsIsRefused) {
  // 8,000,000 tokens x 131,072 B = 976.56 GiB for one sequence; ~54 GiB is left for KV.
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --context 8000000",
                 {"one sequence of 8000000 tokens", "does not fit in the KV cache", "976.56 GiB"});
}

TEST(PlanMemory, BadOptionsAreOneLineErrors) {
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --tp 3", {"parallel.tp", "'3'", "num_attention_heads (32)"});
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --kv-dtype int3", {"--kv-dtype", "int3"});
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --gpu-memory-utilization 1.5", {"--gpu-memory-utilization", "1.5"});
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --ep 2", {"parallel.ep", "dense model"});
  expect_refusal("--model Llama-9 --hardware h100_sxm", {"--model", "Llama-9"});
  expect_refusal("--model Llama-3.1-8B --hardware h900", {"--hardware", "h900"});
  expect_refusal("--hardware h100_sxm", {"--model", "missing"});
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --block-size 0", {"--block-size", "'0'"});
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --sampler-buffers 200", {"--sampler-buffers", "200", "[0, 100]"});
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --attention xx", {"parallel.attention", "'xx'", "tp|dp"});
  expect_refusal("--model Llama-3.1-8B --hardware h100_sxm --cp 0", {"--cp", "'0'"});
}

TEST(Plan, HelpListsTheVerbs) {
  const auto r = run_cli("plan --help");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  for (const char* verb : {"memory", "search", "mix"}) EXPECT_NE(r.out.find(std::string("  ") + verb + " "), std::string::npos) << r.out;
  const auto bad = run_cli("plan frobnicate");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_EQ(count_lines(bad.out), 1) << bad.out;
  EXPECT_NE(bad.out.find("expected a verb (memory, mix, search)"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace servesim
