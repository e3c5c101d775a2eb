// The model reader against the catalogue (models/, published counts in models/README.md)
// and hand-written configs (tests/model/data/).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/model/model_spec.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

ModelSpec catalogue(const std::string& name) { return load_model(name, SERVESIM_DATA_DIR, "test"); }
ModelSpec test_model(const std::string& name) { return load_model(std::string(SERVESIM_TEST_DATA) + "/" + name, "", "test"); }

struct Published {
  const char* model;
  double total;  // parameters, from models/README.md "published" column (source named there)
  double tolerance = 0.01;  // nominal sizes from a paper (OPT's "13B") are rounded further
};

// models/README.md: Hub safetensors metadata or the publisher's model card / announcement.
constexpr Published kPublished[] = {
    {"Llama-2-7b-hf", 6.74e9},       {"Llama-2-13b-hf", 13.0e9},      {"Llama-2-70b-hf", 68.98e9},
    {"Llama-3.1-8B", 8.03e9},        {"Llama-3.1-70B", 70.6e9},       {"Llama-3.1-405B", 405.9e9},
    {"Qwen2.5-7B", 7.61e9},          {"Qwen2.5-72B", 72.7e9},         {"Mistral-7B-v0.1", 7.24e9},
    {"Mixtral-8x7B-v0.1", 46.7e9},   {"Mixtral-8x22B-v0.1", 141e9},   {"Qwen3-30B-A3B", 30.5e9},
    {"DeepSeek-V3", 671e9},          {"gpt-oss-120b", 116.8e9},       {"Llama-3.2-1B", 1.24e9},
    {"Qwen2.5-14B", 14.7e9},         {"Yi-34B", 34.4e9},
    // The OPT paper (arXiv:2205.01068, Table 1) names nominal sizes; 12.85B is 1.1 % below 13B.
    {"opt-13b", 13e9, 0.015},        {"opt-66b", 66e9},
};

TEST(ModelCatalogue, EveryModelIsInTheTable) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(SERVESIM_DATA_DIR) / "models")) {
    if (!e.is_directory()) continue;
    ++n;
    bool found = false;
    for (const auto& p : kPublished) found |= e.path().filename() == p.model;
    EXPECT_TRUE(found) << e.path();
  }
  EXPECT_EQ(n, 19);
}

TEST(ModelCatalogue, ParamCountWithinOnePercentOfPublished) {
  for (const auto& p : kPublished) {
    const ModelSpec m = catalogue(p.model);
    EXPECT_NEAR(m.param_count() / p.total, 1.0, p.tolerance) << p.model << ": " << m.param_count();
  }
}

TEST(ModelCatalogue, DenseCountsMatchTheHubExactly) {
  // Exact safetensors parameter counts on the Hub (models/README.md); a dense Llama layer is
  // q,k,v,o + gate,up,down + two norms, so these are exact integers.
  EXPECT_EQ(catalogue("Llama-2-7b-hf").param_count(), 6738415616.0);
  EXPECT_EQ(catalogue("Llama-2-13b-hf").param_count(), 13015864320.0);
  EXPECT_EQ(catalogue("Llama-2-70b-hf").param_count(), 68976648192.0);
  // Yi-34B by hand: 60 x (2 x 7168^2 + 2 x 7168 x 1024 + 3 x 7168 x 20480 + 2 x 7168)
  // + 2 x 64000 x 7168 + 7168 = 34,388,917,248.
  EXPECT_EQ(catalogue("Yi-34B").param_count(), 34388917248.0);
  EXPECT_EQ(catalogue("Llama-3.1-8B").param_count(), 8030261248.0);
  EXPECT_EQ(catalogue("Llama-3.2-1B").param_count(), 1235814400.0);  // embedding tied to the head
  EXPECT_EQ(catalogue("Llama-3.1-70B").param_count(), 70553706496.0);
  EXPECT_EQ(catalogue("Mistral-7B-v0.1").param_count(), 7241732096.0);
}

TEST(ModelCatalogue, Llama27bBreakdownByHand) {
  // vocab 32000, hidden 4096, 32 layers, 32 heads of 128, intermediate 11008, untied.
  const ParamBreakdown b = catalogue("Llama-2-7b-hf").param_breakdown();
  EXPECT_EQ(b.embedding, 32000.0 * 4096);
  EXPECT_EQ(b.lm_head, 32000.0 * 4096);
  EXPECT_EQ(b.attention, 32.0 * 4 * 4096 * 4096);
  EXPECT_EQ(b.dense_mlp, 32.0 * 3 * 4096 * 11008);
  EXPECT_EQ(b.other, 32.0 * 2 * 4096 + 4096);  // two RMSNorms a layer + the final norm
  EXPECT_EQ(b.routed_experts, 0);
}

TEST(ModelCatalogue, OptCountsByHand) {
  // OPT-13B (transformers' OPTForCausalLM): 40 layers, hidden 5120, 40 heads, ffn_dim 20480,
  // vocab 50272, 2048 positions; biases everywhere, LayerNorms, LM head tied to the embedding.
  // A layer: q, k, v, o 4 x (5120^2 + 5120) = 104,878,080; fc1 5120 x 20480 + 20480 =
  // 104,878,080; fc2 20480 x 5120 + 5120 = 104,862,720; two LayerNorms 2 x 2 x 5120 = 20,480:
  // 314,639,360, x 40 = 12,585,574,400. Token embedding 50272 x 5120 = 257,392,640, position
  // embedding (2048 + 2) x 5120 = 10,496,000, final LayerNorm 10,240: 12,853,473,280.
  const ModelSpec m = catalogue("opt-13b");
  EXPECT_FALSE(m.gated_mlp);
  EXPECT_EQ(m.intermediate, 20480);  // ffn_dim
  EXPECT_EQ(m.attention, AttentionKind::kMha);
  EXPECT_EQ(m.dtype, DType::kFp16);
  const ParamBreakdown b = m.param_breakdown();
  EXPECT_EQ(b.dense_mlp, 40.0 * 2 * 5120 * 20480);  // fc1 and fc2, no gate
  EXPECT_EQ(b.lm_head, 0.0);
  EXPECT_EQ(m.param_count(), 12853473280.0);
  // OPT-66B: 64 layers, hidden 9216, 72 heads, ffn_dim 36864. A layer: 4 x (9216^2 + 9216) +
  // (9216 x 36864 + 36864) + (36864 x 9216 + 9216) + 4 x 9216 = 1,019,335,680, x 64 =
  // 65,237,483,520; + 50272 x 9216 + 2050 x 9216 + 2 x 9216 = 65,719,701,504.
  EXPECT_EQ(catalogue("opt-66b").param_count(), 65719701504.0);
}

TEST(ModelCatalogue, MixtralCountsByHand) {
  // Mixtral-8x7B: 32 layers, hidden 4096, 32 q / 8 kv heads of 128, 8 experts of 14336,
  // top-2, router 4096 x 8, vocab 32000. Experts 32*8*3*4096*14336 = 45,097,156,608;
  // attention 32*(4096*(4096+2*1024) + 4096*4096) = 1,342,177,280; total 46,702,792,704.
  const ModelSpec m = catalogue("Mixtral-8x7B-v0.1");
  EXPECT_EQ(m.param_breakdown().routed_experts, 45097156608.0);
  EXPECT_EQ(m.param_breakdown().attention, 1342177280.0);
  EXPECT_EQ(m.param_count(), 46702792704.0);
  // Active: 6 of 8 experts idle per layer: 46,702,792,704 - 32*6*3*4096*14336 = 12,879,925,248.
  EXPECT_EQ(m.active_param_count(), 12879925248.0);
}

TEST(ModelCatalogue, ActiveCountsWithinTwoPercentOfPublished) {
  // Published active counts (models/README.md) are rounded ("12.9B", "39B", "3.3B", "37B")
  // and the publishers do not say exactly what they include, so the check is 2 %: our
  // count for Qwen3-30B-A3B is 3.353B (+1.6 %), for DeepSeek-V3 37.55B (+1.5 %). OpenAI's
  // 5.13B for gpt-oss-120b leaves the input embedding out (README "How to count").
  struct A {
    const char* model;
    double published;
    bool without_embedding;
  };
  for (const A& a : {A{"Mixtral-8x7B-v0.1", 12.9e9, false}, A{"Mixtral-8x22B-v0.1", 39e9, false},
                     A{"Qwen3-30B-A3B", 3.3e9, false}, A{"DeepSeek-V3", 37e9, false}, A{"gpt-oss-120b", 5.13e9, true}}) {
    const ModelSpec m = catalogue(a.model);
    const double active = m.active_param_count() - (a.without_embedding ? m.param_breakdown().embedding : 0.0);
    EXPECT_NEAR(active / a.published, 1.0, 0.02) << a.model << ": " << active;
  }
}

TEST(ModelReader, MoeFieldsOfEachFamily) {
  const ModelSpec ds = catalogue("DeepSeek-V3");
  EXPECT_EQ(ds.moe.num_experts, 256);          // n_routed_experts
  EXPECT_EQ(ds.moe.experts_per_token, 8);
  EXPECT_EQ(ds.moe.expert_intermediate, 2048);  // moe_intermediate_size
  EXPECT_EQ(ds.moe.shared_experts, 1);
  EXPECT_EQ(ds.moe.shared_intermediate, 2048);
  EXPECT_EQ(ds.moe.first_dense_layers, 3);      // first_k_dense_replace
  EXPECT_EQ(ds.num_moe_layers(), 61 - 3);
  EXPECT_TRUE(ds.moe.score_correction_bias);    // topk_method noaux_tc
  const ModelSpec qw = catalogue("Qwen3-30B-A3B");
  EXPECT_EQ(qw.moe.num_experts, 128);           // num_experts
  EXPECT_EQ(qw.moe.expert_intermediate, 768);
  EXPECT_EQ(qw.num_moe_layers(), 48);           // decoder_sparse_step 1, mlp_only_layers []
  EXPECT_TRUE(qw.qk_norm);
  const ModelSpec mx = catalogue("Mixtral-8x22B-v0.1");
  EXPECT_EQ(mx.moe.num_experts, 8);             // num_local_experts
  EXPECT_EQ(mx.moe.expert_intermediate, 16384);  // intermediate_size (no moe_intermediate_size)
  const ModelSpec oss = catalogue("gpt-oss-120b");
  EXPECT_EQ(oss.moe.num_experts, 128);
  EXPECT_EQ(oss.moe.experts_per_token, 4);
  EXPECT_TRUE(oss.moe.expert_bias);
  EXPECT_TRUE(oss.attn_sinks);
  EXPECT_TRUE(oss.qkv_bias);  // attention_bias
}

TEST(ModelReader, GptOssSmallTensorsByHand) {
  // gpt-oss-120b per layer: q,k,v biases 64*64 + 2*8*64 = 5120, o bias 2880, 64 sinks,
  // two norms 2*2880; per MoE layer router 2880*128 + bias 128, expert biases
  // 128*(2*2880 + 2880). 36 layers, plus the final norm 2880.
  const double per_layer = 5120 + 2880 + 64 + 2 * 2880 + 2880.0 * 128 + 128 + 128.0 * 3 * 2880;
  EXPECT_EQ(catalogue("gpt-oss-120b").param_breakdown().other, 36 * per_layer + 2880);
}

TEST(ModelReader, DeepSeekMlaByHand) {
  // hidden 7168, 128 heads, q_lora 1536, kv_lora 512, nope 128 + rope 64, v 128:
  // q_a 7168*1536 + q_b 1536*128*192 + kv_a 7168*(512+64) + kv_b 512*128*(128+128)
  // + o 128*128*7168 = 187,105,280 weights a layer; 61 layers.
  const ModelSpec m = catalogue("DeepSeek-V3");
  EXPECT_EQ(m.attention, AttentionKind::kMla);
  EXPECT_EQ(m.param_breakdown().attention, 61.0 * 187105280);
  // Dense layers 0..2 (18432 wide), 58 MoE layers of 256 routed + 1 shared (2048 wide).
  EXPECT_EQ(m.param_breakdown().dense_mlp, 3.0 * 3 * 7168 * 18432);
  EXPECT_EQ(m.param_breakdown().routed_experts, 58.0 * 256 * 3 * 7168 * 2048);
  EXPECT_EQ(m.param_breakdown().shared_experts, 58.0 * 3 * 7168 * 2048);
  // The multi-token-prediction layer (num_nextn_predict_layers) is not part of the 671B.
  EXPECT_LT(m.param_count(), 672e9);
}

TEST(ModelReader, AttentionKinds) {
  EXPECT_EQ(catalogue("Llama-2-7b-hf").attention, AttentionKind::kMha);
  EXPECT_EQ(catalogue("Llama-3.1-8B").attention, AttentionKind::kGqa);
  EXPECT_EQ(test_model("mqa-tiny").attention, AttentionKind::kMqa);
  EXPECT_EQ(catalogue("DeepSeek-V3").attention, AttentionKind::kMla);
}

TEST(ModelReader, SlidingWindows) {
  const ModelSpec mistral = catalogue("Mistral-7B-v0.1");  // one window for every layer
  EXPECT_EQ(mistral.sliding_window, 4096);
  EXPECT_EQ(mistral.num_sliding_layers(), 32);
  const ModelSpec oss = catalogue("gpt-oss-120b");  // layer_types alternate, sliding first
  EXPECT_EQ(oss.sliding_window, 128);
  EXPECT_EQ(oss.num_sliding_layers(), 18);
  EXPECT_TRUE(oss.is_sliding_layer(0));
  EXPECT_FALSE(oss.is_sliding_layer(1));
  const ModelSpec qwen = catalogue("Qwen2.5-7B");  // sliding_window given, use_sliding_window false
  EXPECT_EQ(qwen.sliding_window, 0);
  EXPECT_EQ(qwen.num_sliding_layers(), 0);
}

TEST(ModelReader, MqaTinyByHand) {
  // hidden 2048, 16 heads of 128, 1 KV head, intermediate 5632, 24 layers, vocab 32000,
  // tied: embedding 65,536,000; a layer 2048*(2048+2*128) + 2048*2048 + 3*2048*5632
  // + 2*2048 = 43,520,000; total 65,536,000 + 24*43,520,000 + 2048 = 1,110,018,048.
  const ModelSpec m = test_model("mqa-tiny");
  EXPECT_TRUE(m.tie_embeddings);
  EXPECT_EQ(m.param_breakdown().lm_head, 0);
  EXPECT_EQ(m.param_count(), 1110018048.0);
}

TEST(ModelReader, CheckpointDtypes) {
  EXPECT_EQ(catalogue("Llama-3.1-8B").checkpoint_weight_dtype(), DType::kBf16);  // torch_dtype
  // quant_method fp8 with weight_block_size [128, 128]: block-scaled fp8.
  EXPECT_EQ(catalogue("DeepSeek-V3").checkpoint_weight_dtype(), DType::kFp8Block);
  EXPECT_EQ(catalogue("gpt-oss-120b").checkpoint_weight_dtype(), DType::kInt4);  // quant_method mxfp4
}

json tiny() { return read_json_file(std::string(SERVESIM_TEST_DATA) + "/mqa-tiny/config.json"); }
std::string reject(const json& c) {
  try {
    ModelSpec::from_hf_config(c, "x", "x/config.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(ModelReader, GptNeoxPhiAndStarCoder2HaveNonGatedMlpsByHand) {
  // Pythia-6.9B (gpt_neox): 32 layers, hidden 4096, 32 heads, intermediate 16384, vocab 50432,
  // untied. A layer: q, k, v 3 x (4096^2 + 4096) = 50,343,936; dense 4096^2 + 4096 = 16,781,312;
  // h_to_4h 4096 x 16384 + 16384 = 67,125,248; 4h_to_h 16384 x 4096 + 4096 = 67,112,960; two
  // LayerNorms 4 x 4096 = 16,384: 201,379,840, x 32 = 6,444,154,880; + 2 x 50432 x 4096 =
  // 413,138,944 + final LayerNorm 8,192 = 6,857,302,016 (the Pythia paper's count).
  const json neox = json::parse(R"({"model_type": "gpt_neox", "hidden_size": 4096, "num_hidden_layers": 32,
      "num_attention_heads": 32, "intermediate_size": 16384, "vocab_size": 50432, "tie_word_embeddings": false})");
  const ModelSpec p = ModelSpec::from_hf_config(neox, "pythia", "x/config.json");
  EXPECT_FALSE(p.gated_mlp);
  EXPECT_EQ(p.param_count(), 6857302016.0);
  // Phi-2 (phi): 32 layers, hidden 2560, 32 heads, intermediate 10240, vocab 51200, untied; one
  // LayerNorm a layer (attention and MLP in parallel), a bias on the LM head. A layer: 3 x
  // (2560^2 + 2560) + (2560^2 + 2560) + (2560 x 10240 + 10240) + (10240 x 2560 + 2560) + 2 x 2560
  // = 78,671,360, x 32 = 2,517,483,520; + embedding 131,072,000 + final LayerNorm 5,120 + LM
  // head 131,072,000 + its bias 51,200 = 2,779,683,840. Its config gives num_key_value_heads
  // as null.
  const json phi = json::parse(R"({"model_type": "phi", "hidden_size": 2560, "num_hidden_layers": 32,
      "num_attention_heads": 32, "num_key_value_heads": null, "intermediate_size": 10240, "vocab_size": 51200,
      "tie_word_embeddings": false})");
  const ModelSpec q = ModelSpec::from_hf_config(phi, "phi-2", "x/config.json");
  EXPECT_FALSE(q.gated_mlp);
  EXPECT_EQ(q.kv_heads, 32);
  EXPECT_EQ(q.param_count(), 2779683840.0);
  // StarCoder2 without biases (use_bias false): only the MLP's two matrices, 2 x h x I a layer.
  json sc = json::parse(R"({"model_type": "starcoder2", "hidden_size": 1024, "num_hidden_layers": 2,
      "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 4096, "vocab_size": 1000,
      "use_bias": false})");
  const ModelSpec c = ModelSpec::from_hf_config(sc, "sc2", "x/config.json");
  EXPECT_EQ(c.param_breakdown().dense_mlp, 2.0 * 2 * 1024 * 4096);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.qkv_bias);
}

TEST(ModelReader, GemmaTiesItsEmbeddingsUnlessTheConfigSaysOtherwise) {
  // Gemma-2B as published (no tie_word_embeddings key; transformers' GemmaConfig ties): 18
  // layers, hidden 2048, 8 query heads and 1 KV head of 256, intermediate 16384, vocab 256000.
  // A layer: q 2048 x 2048 + k, v 2 x 2048 x 256 + o 2048 x 2048 = 9,437,184; gated MLP 3 x 2048
  // x 16384 = 100,663,296; two RMSNorms 4,096: 110,104,576, x 18 = 1,981,882,368; + the
  // embedding 256000 x 2048 = 524,288,000 (no separate LM head) + final norm 2,048 =
  // 2,506,172,416.
  json g = json::parse(R"({"model_type": "gemma", "hidden_size": 2048, "num_hidden_layers": 18, "num_attention_heads": 8,
      "num_key_value_heads": 1, "head_dim": 256, "intermediate_size": 16384, "vocab_size": 256000})");
  EXPECT_EQ(ModelSpec::from_hf_config(g, "gemma-2b", "x/config.json").param_count(), 2506172416.0);
  g["tie_word_embeddings"] = false;
  EXPECT_EQ(ModelSpec::from_hf_config(g, "gemma-2b", "x/config.json").param_breakdown().lm_head, 256000.0 * 2048);
  // A Llama config without the key does not tie (LlamaConfig's default).
  json l = g;
  l.erase("tie_word_embeddings");
  l["model_type"] = "llama";
  EXPECT_EQ(ModelSpec::from_hf_config(l, "l", "x/config.json").param_breakdown().lm_head, 256000.0 * 2048);
}

TEST(ModelReader, GemmaConfigsWithoutLayerTypesAlternateTheirSlidingWindow) {
  // transformers' Gemma 2 slides on every even layer; Gemma 3 on every layer but each
  // sliding_window_pattern-th (here 6: layers 5 and 11 of 12 are global).
  json g2 = json::parse(R"({"model_type": "gemma2", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
      "num_key_value_heads": 2, "head_dim": 64, "intermediate_size": 512, "vocab_size": 1000, "sliding_window": 4096})");
  const ModelSpec a = ModelSpec::from_hf_config(g2, "g2", "x/config.json");
  EXPECT_EQ(a.layer_is_sliding, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(a.sliding_window, 4096);
  json g3 = g2;
  g3["model_type"] = "gemma3_text";
  g3["num_hidden_layers"] = 12;
  g3["sliding_window_pattern"] = 6;
  const ModelSpec b = ModelSpec::from_hf_config(g3, "g3", "x/config.json");
  EXPECT_EQ(b.num_sliding_layers(), 10);
  EXPECT_FALSE(b.is_sliding_layer(5));
  EXPECT_FALSE(b.is_sliding_layer(11));
  EXPECT_TRUE(b.qk_norm);
  g3["sliding_window_pattern"] = 0;  // found by reading the code: a modulo by zero before this check
  EXPECT_EQ(reject(g3), "x/config.json: sliding_window_pattern: got '0', expected a positive integer");
  // layer_types, where given, decide.
  g2["layer_types"] = json::array({"full_attention", "full_attention", "full_attention", "sliding_attention"});
  EXPECT_EQ(ModelSpec::from_hf_config(g2, "g2", "x/config.json").num_sliding_layers(), 1);
}

TEST(ModelReader, OptVariantsNotModelledAreNamed) {
  json c = json::parse(R"({"model_type": "opt", "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                           "ffn_dim": 4096, "vocab_size": 50272, "max_position_embeddings": 2048})");
  EXPECT_EQ(ModelSpec::from_hf_config(c, "x", "x/config.json").param_breakdown().dense_mlp, 24.0 * 2 * 1024 * 4096);
  c["word_embed_proj_dim"] = 512;  // OPT-350m projects its embeddings
  EXPECT_EQ(reject(c), "x/config.json: word_embed_proj_dim: got '512', expected hidden_size (1024); OPT's projected "
                       "embeddings (OPT-350m) are not modelled");
  c.erase("word_embed_proj_dim");
  c.erase("ffn_dim");
  EXPECT_EQ(reject(c), "x/config.json: ffn_dim: missing required field (a positive integer)");
}

TEST(ModelReader, BadConfigsAreNamed) {
  json c = tiny();
  c.erase("hidden_size");
  EXPECT_EQ(reject(c), "x/config.json: hidden_size: missing required field (a positive integer)");
  c = tiny();
  c["num_key_value_heads"] = 3;
  EXPECT_EQ(reject(c), "x/config.json: num_key_value_heads: got '3', expected a positive divisor of num_attention_heads (16)");
  c = tiny();
  c["layer_types"] = json::array({"sliding_attention", "full_attention"});
  c["sliding_window"] = 128;
  EXPECT_EQ(reject(c), "x/config.json: layer_types: got '2 entries', expected one entry per layer (num_hidden_layers = 24)");
  c = tiny();
  c["num_experts"] = 8;
  c["num_experts_per_tok"] = 2;
  c["mlp_only_layers"] = json::array({30});
  EXPECT_EQ(reject(c), "x/config.json: mlp_only_layers: got '30', expected a layer index in [0, 24)");
  c = tiny();
  c["num_experts"] = 8;
  c["num_experts_per_tok"] = 9;
  EXPECT_EQ(reject(c), "x/config.json: num_experts_per_tok: got '9', expected an integer in [1, 8]");
}

// Found by fuzz_hf_config (2026-12-05): a string field of another type escaped as an internal
// JSON type error instead of a named bad value.
TEST(ModelReader, StringFieldsOfAnotherTypeAreNamed) {
  json c = tiny();
  c["model_type"] = 28256;
  EXPECT_EQ(reject(c), "x/config.json: model_type: got '28256', expected a string");
  c = tiny();
  c["num_experts"] = 8;
  c["num_experts_per_tok"] = 2;
  c["topk_method"] = json::array();
  EXPECT_EQ(reject(c), "x/config.json: topk_method: got '[]', expected a string");
}

TEST(ModelReader, QwenMoeDenseLayersAndSharedExpert) {
  // Qwen2-MoE style: mlp_only_layers stay dense; one shared expert with its own width and
  // a hidden x 1 gate. 24 layers, layers 0 and 5 dense -> 22 MoE layers.
  json c = tiny();
  c["num_experts"] = 8;
  c["num_experts_per_tok"] = 2;
  c["moe_intermediate_size"] = 1024;
  c["shared_expert_intermediate_size"] = 4096;
  c["mlp_only_layers"] = json::array({0, 5});
  const ModelSpec m = ModelSpec::from_hf_config(c, "x", "x/config.json");
  EXPECT_EQ(m.num_moe_layers(), 22);
  EXPECT_FALSE(m.is_moe_layer(5));
  EXPECT_EQ(m.param_breakdown().dense_mlp, 2.0 * 3 * 2048 * 5632);
  EXPECT_EQ(m.param_breakdown().routed_experts, 22.0 * 8 * 3 * 2048 * 1024);
  EXPECT_EQ(m.param_breakdown().shared_experts, 22.0 * 3 * 2048 * 4096);
}

}  // namespace
}  // namespace servesim
