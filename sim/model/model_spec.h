#pragma once
// A model architecture read from a Hugging Face `config.json` as published. Contract:
// - from_hf_config() reads the file as is (Llama/Mistral/Qwen2 dense; OPT, GPT-NeoX, Phi-2
//   and StarCoder2 with non-gated MLPs, biases and LayerNorms; Mixtral/Qwen3-MoE/gpt-oss MoE,
//   DeepSeek-V2/V3 MoE + MLA) and rejects missing or non-positive
//   architectural fields with the file and field named.
// - Derived sizes (parameters, weight bytes, KV bytes per token) are functions of the
//   spec, never stored back into it.
// - Storage formats are explicit (docs/planner.md): weights by role (quantized matrices vs
//   embeddings, LM head, norms, biases and routers, which quantized checkpoints keep in
//   16 bits), KV entries with the scales their format stores (KIVI groups for int4/int2).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/dtype.h"

namespace servesim {

enum class AttentionKind { kMha, kGqa, kMqa, kMla };
const char* attention_kind_name(AttentionKind k);

struct MoeSpec {
  std::int64_t num_experts = 0;          // routed experts (0 = dense model)
  std::int64_t experts_per_token = 0;    // top-k
  std::int64_t expert_intermediate = 0;  // intermediate size of one routed expert
  std::int64_t shared_experts = 0;       // always-active experts (DeepSeek) ...
  std::int64_t shared_intermediate = 0;  // ... of this intermediate size each
  std::int64_t first_dense_layers = 0;   // DeepSeek first_k_dense_replace
  std::int64_t layer_freq = 1;           // a MoE layer every layer_freq layers (after the dense ones)
  std::vector<std::int64_t> dense_layers;  // Qwen-MoE mlp_only_layers: these layers stay dense
  bool expert_bias = false;              // gpt-oss experts carry biases
  bool shared_expert_gate = false;       // Qwen2-MoE: a sigmoid gate (hidden x 1) on the shared expert
  bool score_correction_bias = false;    // DeepSeek-V3 noaux_tc routing: one bias per expert
};

// Parameters by role, summed over all layers. "Matrices" are the weights a quantized
// checkpoint stores in its low-bit format; `other` (norms, biases, attention sinks, router
// weights) stays in 16 bits, as do the embedding and the LM head.
struct ParamBreakdown {
  double embedding = 0;       // vocab x hidden
  double lm_head = 0;         // vocab x hidden, 0 when tied to the embedding
  double attention = 0;       // q, k, v, o (or MLA's projections) matrices
  double dense_mlp = 0;       // gate, up, down matrices of the dense layers
  double shared_experts = 0;  // matrices of always-active experts (DeepSeek, Qwen2-MoE)
  double routed_experts = 0;  // matrices of routed experts, all of them
  double other = 0;           // norms, biases, sinks, routers (weights and biases)
  double total() const { return embedding + lm_head + attention + dense_mlp + shared_experts + routed_experts + other; }
};

// Bytes of weights by role at a weight dtype (see ModelSpec::weight_bytes).
struct WeightBytes {
  double embedding = 0;
  double lm_head = 0;
  double layers = 0;          // attention, dense MLP, shared experts, other
  double routed_experts = 0;
  double total() const { return embedding + lm_head + layers + routed_experts; }
};

// Group sizes of the low-bit formats (docs/planner.md): MARLIN/GPTQ int4 weights carry one
// fp16 scale per 128 weights; KIVI int4/int2 KV carries an fp16 scale and an fp16 zero
// point per 32 elements; MXFP4 (gpt-oss experts) an 8-bit shared exponent per 32.
inline constexpr int kWeightQuantGroup = 128;
inline constexpr int kKiviGroup = 32;
inline constexpr int kMxfp4Group = 32;

// Bytes one cached K or V element takes at kv dtype, with its format's scales:
// bf16/fp16 2, fp8 1 (one scale per tensor), int8 1, int4 (4 + 32/32) / 8 = 0.625,
// int2 (2 + 32/32) / 8 = 0.375; fp32 4.
double kv_bytes_per_element(DType kv);

struct MlaSpec {
  std::int64_t q_lora_rank = 0;  // 0: q projected directly
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t v_head_dim = 0;
};

struct ModelSpec {
  std::string name;    // folder or file stem
  std::string source;  // path it was read from
  std::string model_type;
  std::int64_t hidden = 0;
  std::int64_t layers = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t intermediate = 0;  // dense MLP intermediate size (OPT: ffn_dim)
  bool gated_mlp = true;   // gate, up, down (SwiGLU); false: up, down (OPT's fc1, fc2 around a ReLU)
  bool mlp_bias = false;   // biases on the dense MLP's matrices (OPT)
  bool norm_bias = false;  // LayerNorm (weight and bias) instead of RMSNorm (weight only) (OPT)
  std::int64_t learned_positions = 0;  // rows of a learned position embedding (OPT: max positions + 2), 0: RoPE
  std::int64_t norms_per_layer = 2;    // Phi-2 runs attention and MLP in parallel behind one norm
  bool lm_head_bias = false;           // Phi-2's LM head carries a bias (vocab)
  std::int64_t vocab = 0;
  std::int64_t max_position = 0;
  bool tie_embeddings = false;
  std::string quant_method;  // quantization_config.quant_method of the checkpoint ("fp8", "mxfp4", ...; empty: none)
  std::int64_t quant_bits = 0;  // quantization_config.bits (GPTQ/AWQ), 0 when absent
  bool quant_block_scaled = false;  // quantization_config.weight_block_size given (block-scaled fp8)
  bool qkv_bias = false;   // Qwen2, gpt-oss
  bool attn_sinks = false; // gpt-oss learned sinks (one scalar per head)
  bool o_bias = false;     // bias on o_proj (gpt-oss)
  bool qk_norm = false;    // RMSNorm of head_dim on q and k (Qwen3)
  DType dtype = DType::kBf16;
  AttentionKind attention = AttentionKind::kGqa;
  std::int64_t sliding_window = 0;            // 0: none
  std::vector<bool> layer_is_sliding;         // per layer, when the config alternates
  MoeSpec moe;
  MlaSpec mla;

  bool is_moe() const { return moe.num_experts > 0; }
  bool is_moe_layer(std::int64_t layer) const;
  std::int64_t num_moe_layers() const;
  bool is_sliding_layer(std::int64_t layer) const;
  std::int64_t num_sliding_layers() const;

  // Parameters by role, counted from the architecture (README "How to count" in models/).
  ParamBreakdown param_breakdown() const;
  // Parameters, counted from the architecture (embeddings, LM head unless tied, norms, biases).
  double param_count() const;
  // Parameters touched by one token (routed experts: top-k of them).
  double active_param_count() const;
  // The weight dtype the checkpoint ships in: fp8 for quant_method "fp8" (fp8_block when its
  // weight_block_size is given), int4 for "mxfp4"
  // and 4-bit GPTQ/AWQ, int8 for 8-bit ones, else torch_dtype.
  DType checkpoint_weight_dtype() const;
  // Bytes per parameter of a weight matrix stored at `wd`, scales included: fp32 4, bf16 2,
  // fp8 and int8 1, int4 (4 + 16/128) / 8 (MARLIN), int2 (2 + 16/128) / 8. On an mxfp4
  // checkpoint int4 means MXFP4: (4 + 8/32) / 8 for routed experts, and every other matrix
  // stays 16-bit (the checkpoint's modules_to_not_convert).
  double matrix_bytes_per_param(DType wd, bool routed_expert) const;
  // Weight bytes by role at `wd`: matrices as above; embedding, LM head and `other` in
  // 16 bits whenever `wd` is a quantized format (fp8, int8, int4, int2), else at `wd`.
  WeightBytes weight_bytes(DType wd) const;

  // Bytes of KV cache one token adds across all layers at kv dtype `kv`.
  // MLA caches the latent (kv_lora_rank + qk_rope_head_dim) once per layer, not K and V per head.
  // Element sizes come from kv_bytes_per_element (KIVI scales included).
  double kv_bytes_per_token(DType kv) const;
  // Same, for one layer and `kv_heads_shard` KV heads (tensor-parallel shard).
  double kv_bytes_per_token_layer(DType kv, std::int64_t kv_heads_shard) const;

  static ModelSpec from_hf_config(const nlohmann::json& config, const std::string& name, const std::string& source);
};

// Finds `name` as a path to a config.json, a folder holding one, or models/<name>/config.json
// under data_dir; throws InputError naming what was looked for.
ModelSpec load_model(const std::string& name, const std::string& data_dir, const std::string& where);

}  // namespace servesim
