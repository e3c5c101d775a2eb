#include "sim/model/model_spec.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim {

const char* attention_kind_name(AttentionKind k) {
  switch (k) {
    case AttentionKind::kMha: return "MHA";
    case AttentionKind::kGqa: return "GQA";
    case AttentionKind::kMqa: return "MQA";
    case AttentionKind::kMla: return "MLA";
  }
  return "?";
}

namespace {

struct Reader {
  const nlohmann::json& c;
  const std::string& where;

  const nlohmann::json* find_any(std::initializer_list<const char*> keys) const {
    for (const char* k : keys) {
      auto it = c.find(k);
      if (it != c.end() && !it->is_null()) return &*it;
    }
    return nullptr;
  }
  std::int64_t positive(const char* key) const {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) input_error(where + ": " + key, "missing required field (a positive integer)");
    if (!it->is_number_integer() || it->get<std::int64_t>() <= 0) bad_value(where + ": " + key, it->dump(), "a positive integer");
    return it->get<std::int64_t>();
  }
  std::int64_t optional_int(std::initializer_list<const char*> keys, std::int64_t def) const {
    const nlohmann::json* v = find_any(keys);
    if (!v) return def;
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0) {
      bad_value(where + ": " + *keys.begin(), v->dump(), "a non-negative integer");
    }
    return v->get<std::int64_t>();
  }
  bool optional_bool(const char* key, bool def) const {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) return def;
    if (!it->is_boolean()) bad_value(where + ": " + key, it->dump(), "true or false");
    return it->get<bool>();
  }
};

}  // namespace

ModelSpec ModelSpec::from_hf_config(const nlohmann::json& c, const std::string& name, const std::string& source) {
  const std::string& where = source;
  if (!c.is_object()) bad_value(where, c.dump().substr(0, 40), "a JSON object (a Hugging Face config.json)");
  Reader r{c, where};
  ModelSpec m;
  m.name = name;
  m.source = source;
  m.model_type = optional_string(c, "model_type", "unknown", where);  // fuzz_hf_config: was an internal error for a number
  m.hidden = r.positive("hidden_size");
  m.layers = r.positive("num_hidden_layers");
  m.heads = r.positive("num_attention_heads");
  m.kv_heads = r.optional_int({"num_key_value_heads"}, m.heads);
  if (m.kv_heads <= 0 || m.heads % m.kv_heads != 0) {
    bad_value(where + ": num_key_value_heads", std::to_string(m.kv_heads),
              "a positive divisor of num_attention_heads (" + std::to_string(m.heads) + ")");
  }
  m.head_dim = r.optional_int({"head_dim"}, 0);
  if (m.head_dim == 0) m.head_dim = m.hidden / m.heads;
  m.vocab = r.positive("vocab_size");
  m.max_position = r.optional_int({"max_position_embeddings"}, 0);
  // Absent, tie_word_embeddings takes the model class's default: transformers' Gemma configs
  // (and OPT's, the base class's) tie, the others read here do not.
  const bool ties_by_default = m.model_type == "opt" || m.model_type == "gemma" || m.model_type == "gemma2" ||
                               m.model_type == "gemma3_text";
  m.tie_embeddings = r.optional_bool("tie_word_embeddings", ties_by_default);
  m.qkv_bias = r.optional_bool("attention_bias", m.model_type == "qwen2");
  if (const auto* td = r.find_any({"torch_dtype", "dtype"}); td && td->is_string()) {
    m.dtype = parse_dtype(td->get<std::string>(), where + ": torch_dtype");
  }
  // Sliding windows: one window for all layers (Mistral) or per-layer types (gpt-oss, Qwen).
  if (const auto* sw = r.find_any({"sliding_window"}); sw && sw->is_number_integer()) {
    const bool use = r.optional_bool("use_sliding_window", true);
    if (use) m.sliding_window = sw->get<std::int64_t>();
  }
  if (const auto* lt = r.find_any({"layer_types"}); lt && lt->is_array()) {
    for (const auto& t : *lt) m.layer_is_sliding.push_back(t.is_string() && t.get<std::string>() == "sliding_attention");
    if (static_cast<std::int64_t>(m.layer_is_sliding.size()) != m.layers) {
      bad_value(where + ": layer_types", std::to_string(m.layer_is_sliding.size()) + " entries",
                "one entry per layer (num_hidden_layers = " + std::to_string(m.layers) + ")");
    }
    if (m.sliding_window == 0 && m.num_sliding_layers() > 0) {
      input_error(where + ": sliding_window", "missing (layer_types names sliding_attention layers; expected a positive window)");
    }
  }
  // Gemma 2 and 3 configs published before layer_types existed alternate implicitly (as
  // transformers' modules do): Gemma 2 every other layer from the first sliding, Gemma 3 every
  // layer sliding but each sliding_window_pattern-th (default 6).
  if (m.layer_is_sliding.empty() && m.sliding_window > 0 && (m.model_type == "gemma2" || m.model_type == "gemma3_text")) {
    const std::int64_t period = m.model_type == "gemma2" ? 2 : r.optional_int({"sliding_window_pattern"}, 6);
    if (period <= 0) bad_value(where + ": sliding_window_pattern", std::to_string(period), "a positive integer");
    for (std::int64_t l = 0; l < m.layers; ++l) {
      m.layer_is_sliding.push_back(m.model_type == "gemma2" ? l % 2 == 0 : (l + 1) % period != 0);
    }
  }
  m.attn_sinks = m.model_type == "gpt_oss";
  m.o_bias = m.model_type == "gpt_oss";
  m.qk_norm = m.model_type == "qwen3" || m.model_type == "qwen3_moe" || m.model_type == "gemma3_text";
  // Gemma 2 and 3 normalise before and after both the attention and the MLP.
  if (m.model_type == "gemma2" || m.model_type == "gemma3_text") m.norms_per_layer = 4;
  if (const auto* q = r.find_any({"quantization_config"}); q && q->is_object()) {
    if (auto it = q->find("quant_method"); it != q->end() && it->is_string()) m.quant_method = it->get<std::string>();
    if (auto it = q->find("bits"); it != q->end() && it->is_number_integer()) m.quant_bits = it->get<std::int64_t>();
    if (auto it = q->find("weight_block_size"); it != q->end() && it->is_array() && !it->empty()) m.quant_block_scaled = true;
  }

  // MoE: the field names differ between families.
  m.moe.num_experts = r.optional_int({"n_routed_experts", "num_local_experts", "num_experts"}, 0);
  if (m.moe.num_experts > 0) {
    m.moe.experts_per_token = r.optional_int({"num_experts_per_tok", "experts_per_token"}, 0);
    if (m.moe.experts_per_token <= 0 || m.moe.experts_per_token > m.moe.num_experts) {
      bad_value(where + ": num_experts_per_tok", std::to_string(m.moe.experts_per_token),
                "an integer in [1, " + std::to_string(m.moe.num_experts) + "]");
    }
    m.moe.expert_intermediate = r.optional_int({"moe_intermediate_size"}, 0);
    m.moe.shared_experts = r.optional_int({"n_shared_experts"}, 0);
    m.moe.first_dense_layers = r.optional_int({"first_k_dense_replace"}, 0);
    m.moe.layer_freq = std::max<std::int64_t>(1, r.optional_int({"moe_layer_freq", "decoder_sparse_step"}, 1));
    m.moe.expert_bias = m.model_type == "gpt_oss";
    m.moe.score_correction_bias = optional_string(c, "topk_method", "", where) == "noaux_tc";
    if (const auto* dl = r.find_any({"mlp_only_layers"}); dl) {
      if (!dl->is_array()) bad_value(where + ": mlp_only_layers", dl->dump(), "an array of layer indices");
      for (const auto& l : *dl) {
        if (!l.is_number_integer() || l.get<std::int64_t>() < 0 || l.get<std::int64_t>() >= m.layers) {
          bad_value(where + ": mlp_only_layers", l.dump(), "a layer index in [0, " + std::to_string(m.layers) + ")");
        }
        m.moe.dense_layers.push_back(l.get<std::int64_t>());
      }
    }
  }
  if (c.contains("intermediate_size")) m.intermediate = r.positive("intermediate_size");
  if (m.model_type == "opt") {
    // OPT (transformers' OPTForCausalLM): fc1 -> ReLU -> fc2 (no gate), biases on every
    // projection unless enable_bias is false, LayerNorms, a learned position embedding of
    // max_position_embeddings + 2 rows (the first two are an offset), and the LM head tied to
    // the token embedding unless the config says otherwise.
    m.intermediate = r.positive("ffn_dim");
    m.gated_mlp = false;
    const bool bias = r.optional_bool("enable_bias", true);
    m.qkv_bias = m.o_bias = m.mlp_bias = bias;
    m.norm_bias = r.optional_bool("layer_norm_elementwise_affine", true);
    m.learned_positions = r.positive("max_position_embeddings") + 2;
    if (const std::int64_t proj = r.optional_int({"word_embed_proj_dim"}, m.hidden); proj != m.hidden) {
      bad_value(where + ": word_embed_proj_dim", std::to_string(proj),
                "hidden_size (" + std::to_string(m.hidden) + "); OPT's projected embeddings (OPT-350m) are not modelled");
    }
    if (!m.norm_bias) {
      bad_value(where + ": layer_norm_elementwise_affine", "false", "true (OPT without affine LayerNorms is not modelled)");
    }
  } else if (m.model_type == "gpt_neox" || m.model_type == "phi" || m.model_type == "starcoder2") {
    // Non-gated MLPs of intermediate_size behind LayerNorms, biases on the projections:
    // GPT-NeoX (Pythia: dense_h_to_4h -> GeLU -> dense_4h_to_h, the attention's biases per
    // attention_bias), Phi-2 (fc1 -> GeLU -> fc2, attention and MLP in parallel behind one
    // LayerNorm, a bias on the LM head), StarCoder2 (c_fc -> GeLU -> c_proj, every bias per
    // use_bias); transformers' modules of those names.
    m.gated_mlp = false;
    m.norm_bias = true;
    const bool bias = m.model_type != "starcoder2" || r.optional_bool("use_bias", true);
    m.mlp_bias = bias;
    m.qkv_bias = m.o_bias = m.model_type == "gpt_neox" ? r.optional_bool("attention_bias", true) : bias;
    if (m.model_type == "phi") {
      m.norms_per_layer = 1;
      m.lm_head_bias = true;
    }
  }
  if (m.is_moe() && m.moe.expert_intermediate == 0) m.moe.expert_intermediate = m.intermediate;  // Mixtral, gpt-oss
  if (m.moe.shared_experts > 0) m.moe.shared_intermediate = m.moe.expert_intermediate;
  // Qwen2-MoE: one shared expert of its own width, behind a sigmoid gate.
  if (const std::int64_t si = r.optional_int({"shared_expert_intermediate_size"}, 0); m.is_moe() && si > 0) {
    m.moe.shared_experts = 1;
    m.moe.shared_intermediate = si;
    m.moe.shared_expert_gate = true;
  }
  if (!m.is_moe() && m.intermediate == 0) input_error(where + ": intermediate_size", "missing required field (a positive integer)");

  // MLA (DeepSeek-V2/V3).
  m.mla.kv_lora_rank = r.optional_int({"kv_lora_rank"}, 0);
  if (m.mla.kv_lora_rank > 0) {
    m.attention = AttentionKind::kMla;
    m.mla.q_lora_rank = r.optional_int({"q_lora_rank"}, 0);
    m.mla.qk_rope_head_dim = r.positive("qk_rope_head_dim");
    m.mla.qk_nope_head_dim = r.positive("qk_nope_head_dim");
    m.mla.v_head_dim = r.positive("v_head_dim");
    m.head_dim = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim;
  } else if (m.kv_heads == m.heads) {
    m.attention = AttentionKind::kMha;
  } else if (m.kv_heads == 1) {
    m.attention = AttentionKind::kMqa;
  } else {
    m.attention = AttentionKind::kGqa;
  }
  return m;
}

bool ModelSpec::is_moe_layer(std::int64_t layer) const {
  if (!is_moe() || layer < moe.first_dense_layers) return false;
  for (std::int64_t d : moe.dense_layers) {
    if (d == layer) return false;
  }
  return (layer - moe.first_dense_layers) % moe.layer_freq == 0;
}

std::int64_t ModelSpec::num_moe_layers() const {
  std::int64_t n = 0;
  for (std::int64_t l = 0; l < layers; ++l) n += is_moe_layer(l) ? 1 : 0;
  return n;
}

bool ModelSpec::is_sliding_layer(std::int64_t layer) const {
  if (!layer_is_sliding.empty()) return layer_is_sliding[static_cast<std::size_t>(layer)];
  return sliding_window > 0;
}

std::int64_t ModelSpec::num_sliding_layers() const {
  std::int64_t n = 0;
  for (std::int64_t l = 0; l < layers; ++l) n += is_sliding_layer(l) ? 1 : 0;
  return n;
}

namespace {
// One layer's attention: weight matrices and the small tensors (norms, biases, sinks).
struct AttentionParams {
  double matrices = 0;
  double other = 0;
};

AttentionParams attention_params(const ModelSpec& m) {
  const double h = static_cast<double>(m.hidden);
  const double heads = static_cast<double>(m.heads);
  AttentionParams p;
  if (m.attention == AttentionKind::kMla) {
    const auto& a = m.mla;
    const double qk = static_cast<double>(a.qk_nope_head_dim + a.qk_rope_head_dim);
    if (a.q_lora_rank > 0) {
      const double ql = static_cast<double>(a.q_lora_rank);
      p.matrices += h * ql + ql * heads * qk;  // q_a_proj, q_b_proj
      p.other += ql;                           // q_a_layernorm
    } else {
      p.matrices += h * heads * qk;  // q_proj
    }
    const double kl = static_cast<double>(a.kv_lora_rank);
    p.matrices += h * (kl + static_cast<double>(a.qk_rope_head_dim));                        // kv_a_proj_with_mqa
    p.other += kl;                                                                           // kv_a_layernorm
    p.matrices += kl * heads * static_cast<double>(a.qk_nope_head_dim + a.v_head_dim);      // kv_b_proj
    p.matrices += heads * static_cast<double>(a.v_head_dim) * h;                            // o_proj
    return p;
  }
  const double q = heads * static_cast<double>(m.head_dim);
  const double kv = static_cast<double>(m.kv_heads) * static_cast<double>(m.head_dim);
  p.matrices = h * (q + 2 * kv) + q * h;
  if (m.qkv_bias) p.other += q + 2 * kv;
  if (m.o_bias) p.other += h;
  if (m.attn_sinks) p.other += heads;
  if (m.qk_norm) p.other += 2.0 * static_cast<double>(m.head_dim);
  return p;
}

bool is_quantized(DType d) {
  return d == DType::kFp8 || d == DType::kFp8Block || d == DType::kInt8 || d == DType::kInt4 || d == DType::kInt2;
}
}  // namespace

ParamBreakdown ModelSpec::param_breakdown() const {
  const double h = static_cast<double>(hidden);
  ParamBreakdown b;
  b.embedding = static_cast<double>(vocab) * h;
  b.lm_head = tie_embeddings ? 0.0 : b.embedding;
  const double L = static_cast<double>(layers);
  const AttentionParams att = attention_params(*this);
  b.attention = L * att.matrices;
  const double norm = norm_bias ? 2.0 * h : h;  // LayerNorm: weight and bias; RMSNorm: weight
  b.other = norm;                                // final norm
  b.other += L * (att.other + static_cast<double>(norms_per_layer) * norm);  // + input and post-attention norms
  if (lm_head_bias) b.other += static_cast<double>(vocab);
  b.other += static_cast<double>(learned_positions) * h;
  const double moe_layers = static_cast<double>(num_moe_layers());
  const double I_dense = static_cast<double>(intermediate);
  b.dense_mlp = (L - moe_layers) * (gated_mlp ? 3.0 : 2.0) * h * I_dense;
  if (mlp_bias) b.other += (L - moe_layers) * ((gated_mlp ? 2.0 : 1.0) * I_dense + h);
  if (moe_layers > 0) {
    const double E = static_cast<double>(moe.num_experts);
    const double I = static_cast<double>(moe.expert_intermediate);
    b.routed_experts = moe_layers * E * 3.0 * h * I;
    double small = h * E;                                     // router weight
    if (moe.expert_bias) small += E + E * (2.0 * I + h);      // router bias, gate_up and down biases
    if (moe.score_correction_bias) small += E;                // e_score_correction_bias
    if (moe.shared_expert_gate) small += h;                   // shared_expert_gate
    b.other += moe_layers * small;
    b.shared_experts = moe_layers * static_cast<double>(moe.shared_experts) * 3.0 * h * static_cast<double>(moe.shared_intermediate);
  }
  return b;
}

double ModelSpec::param_count() const { return param_breakdown().total(); }

double ModelSpec::active_param_count() const {
  if (!is_moe()) return param_count();
  const double h = static_cast<double>(hidden);
  const double I = static_cast<double>(moe.expert_intermediate);
  const double per_expert = 3.0 * h * I + (moe.expert_bias ? 2.0 * I + h : 0.0);
  const double inactive = static_cast<double>(num_moe_layers()) * static_cast<double>(moe.num_experts - moe.experts_per_token) * per_expert;
  return param_count() - inactive;
}

DType ModelSpec::checkpoint_weight_dtype() const {
  if (quant_method == "fp8") return quant_block_scaled ? DType::kFp8Block : DType::kFp8;
  if (quant_method == "mxfp4") return DType::kInt4;
  if (quant_bits == 4) return DType::kInt4;
  if (quant_bits == 8) return DType::kInt8;
  return dtype;
}

double ModelSpec::matrix_bytes_per_param(DType wd, bool routed_expert) const {
  if (wd == DType::kInt4 && quant_method == "mxfp4") {
    if (!routed_expert) return 2.0;  // attention and everything but the experts stays 16-bit
    return (4.0 + 8.0 / kMxfp4Group) / 8.0;
  }
  switch (wd) {
    case DType::kInt4: return (4.0 + 16.0 / kWeightQuantGroup) / 8.0;
    case DType::kInt2: return (2.0 + 16.0 / kWeightQuantGroup) / 8.0;
    default: return dtype_bytes(wd);  // fp32/tf32 4, bf16/fp16 2, fp8/int8 1 (per-tensor/channel/block scales < 0.05 %)
  }
}

WeightBytes ModelSpec::weight_bytes(DType wd) const {
  const ParamBreakdown p = param_breakdown();
  const double keep = is_quantized(wd) ? 2.0 : dtype_bytes(wd);
  WeightBytes w;
  w.embedding = p.embedding * keep;
  w.lm_head = p.lm_head * keep;
  w.layers = (p.attention + p.dense_mlp + p.shared_experts) * matrix_bytes_per_param(wd, false) + p.other * keep;
  w.routed_experts = p.routed_experts * matrix_bytes_per_param(wd, true);
  return w;
}

double kv_bytes_per_element(DType kv) {
  switch (kv) {
    // KIVI: packed values plus an fp16 scale and an fp16 zero point per group of kKiviGroup.
    case DType::kInt4: return (4.0 + 32.0 / kKiviGroup) / 8.0;
    case DType::kInt2: return (2.0 + 32.0 / kKiviGroup) / 8.0;
    default: return dtype_bytes(kv);  // fp32 4, bf16/fp16 2, fp8/int8 1 (one scale per tensor)
  }
}

double ModelSpec::kv_bytes_per_token_layer(DType kv, std::int64_t kv_heads_shard) const {
  const double e = kv_bytes_per_element(kv);
  if (attention == AttentionKind::kMla) {
    return static_cast<double>(mla.kv_lora_rank + mla.qk_rope_head_dim) * e;
  }
  return 2.0 * static_cast<double>(kv_heads_shard) * static_cast<double>(head_dim) * e;
}

double ModelSpec::kv_bytes_per_token(DType kv) const {
  return static_cast<double>(layers) * kv_bytes_per_token_layer(kv, kv_heads);
}

ModelSpec load_model(const std::string& name, const std::string& data_dir, const std::string& where) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  fs::path p(name);
  if (p.extension() == ".json") {
    candidates.push_back(p);
  } else {
    candidates.push_back(p / "config.json");
    candidates.push_back(fs::path(data_dir) / "models" / name / "config.json");
  }
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) {
      const std::string stem = p.extension() == ".json" ? p.parent_path().filename().string() : p.filename().string();
      return ModelSpec::from_hf_config(read_json_file(c.string()), stem.empty() ? name : stem, c.string());
    }
  }
  bad_value(where, name, "a model in " + (fs::path(data_dir) / "models").string() +
                             "/<name>/config.json or a path to a Hugging Face config.json");
}

}  // namespace servesim
