// Megatron-style tensor parallelism (column-parallel QKV and gate/up, row-parallel O and
// down, one all-reduce after each), pipeline stages of contiguous layers, and expert
// parallelism for MoE layers (experts split over EP ranks, tokens exchanged by all-to-all).
#include <algorithm>
#include <cmath>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/parallel/expert_routing.h"
#include "sim/parallel/i_parallel_plan.h"

namespace servesim {
namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }


class MegatronPlan final : public IParallelPlan {
 public:
  struct Config {
    ParallelDegrees d;
    std::int32_t micro_batches = 0;  // as given (0: pp)
    std::string routing = "balanced";
    double zipf_exponent = 1.0;
    std::vector<double> loads;
    static Config parse(Params& p) {
      Config c;
      c.d.tp = static_cast<std::int32_t>(p.integer("tp", 1, "tensor-parallel degree (devices per stage)", 1, 1024));
      c.d.pp = static_cast<std::int32_t>(p.integer("pp", 1, "pipeline-parallel degree (stages)", 1, 1024));
      c.d.ep = static_cast<std::int32_t>(p.integer("ep", 1, "expert-parallel degree for MoE layers (divides tp)", 1, 1024));
      c.micro_batches = static_cast<std::int32_t>(p.integer(
          "micro_batches", 0,
          "micro-batches in flight through the pipeline stages, at most pp (0: one per stage, as vLLM's virtual "
          "engines; 1: a step traverses every stage before the next one starts)",
          0, 1024));
      c.d.micro_batches = c.micro_batches == 0 ? c.d.pp : c.micro_batches;
      c.d.cp = static_cast<std::int32_t>(p.integer(
          "cp", 1,
          "context-parallel degree: ranks that each hold 1/cp of every sequence's tokens and KV, attention as a "
          "ring over them (GPUs per replica: tp x pp x cp)",
          1, 1024));
      c.d.attention_dp = p.choice("attention", "tp", {"tp", "dp"},
                                  "how a stage's tp devices run attention: tensor-parallel (tp), or data-parallel "
                                  "over them with full attention weights, each device its own requests (dp; MoE "
                                  "models with ep == tp, DeepSeek-style)") == "dp";
      c.routing = p.choice("routing", "balanced", {"balanced", "uniform", "zipf", "loads"},
                           "how MoE token copies pick experts: spread evenly (balanced), or drawn every step uniformly, "
                           "from a Zipf popularity over a seeded expert order (zipf_exponent), or from measured "
                           "per-expert loads (routing_loads)");
      c.zipf_exponent = p.real("zipf_exponent", 1.0,
                               "routing zipf: the expert of popularity rank r (1, 2, ...) gets weight 1 / r^s", 0.0, 10.0);
      const nlohmann::json loads = p.value("routing_loads", nlohmann::json::array(),
                                           "routing loads: one non-negative weight per routed expert, in expert "
                                           "order (e.g. a measured token histogram)");
      double sum = 0;
      if (loads.is_array()) {
        for (const auto& v : loads) {
          if (!v.is_number() || v.get<double>() < 0) {
            c.loads.clear();
            sum = -1;
            break;
          }
          c.loads.push_back(v.get<double>());
          sum += v.get<double>();
        }
      }
      if (!loads.is_array() || sum < 0 || (!c.loads.empty() && sum <= 0)) {
        bad_value(p.where("routing_loads"), loads.dump(), "an array of non-negative numbers, not all 0");
      }
      return c;
    }
  };
  explicit MegatronPlan(const Config& c) : d_(c.d), micro_batches_given_(c.micro_batches), c_(c) {}

  const ParallelDegrees& degrees() const override { return d_; }

  void validate(const ModelSpec& m, const std::string& where) const override {
    if (d_.micro_batches > d_.pp) {
      bad_value(where + ".micro_batches", std::to_string(micro_batches_given_),
                "at most pp (" + std::to_string(d_.pp) + "), or 0 for one per stage");
    }
    if (m.heads % d_.tp != 0) {
      bad_value(where + ".tp", std::to_string(d_.tp), "a divisor of the model's num_attention_heads (" + std::to_string(m.heads) + ")");
    }
    if (m.layers < d_.pp) {
      bad_value(where + ".pp", std::to_string(d_.pp), "at most the model's num_hidden_layers (" + std::to_string(m.layers) + ")");
    }
    if (c_.routing == "loads" && m.is_moe() && static_cast<std::int64_t>(c_.loads.size()) != m.moe.num_experts) {
      bad_value(where + ".routing_loads", nlohmann::json(c_.loads).dump(),
                "one weight per routed expert (" + std::to_string(m.moe.num_experts) + ")");
    }
    if (d_.cp > 1 && (m.sliding_window > 0 || !m.layer_is_sliding.empty())) {
      bad_value(where + ".cp", std::to_string(d_.cp), "1 for a model with sliding-window attention layers");
    }
    if (d_.attention_dp) {
      if (!m.is_moe() || d_.ep != d_.tp || d_.tp < 2) {
        bad_value(where + ".attention", "dp",
                  "tp (attention data parallelism needs a MoE model with ep == tp >= 2; here tp " +
                      std::to_string(d_.tp) + ", ep " + std::to_string(d_.ep) + ")");
      }
      if (d_.cp > 1) bad_value(where + ".cp", std::to_string(d_.cp), "1 with attention dp");
    }
    if (d_.ep > 1) {
      if (!m.is_moe()) bad_value(where + ".ep", std::to_string(d_.ep), "1 for a dense model");
      if (d_.tp % d_.ep != 0 || m.moe.num_experts % d_.ep != 0) {
        bad_value(where + ".ep", std::to_string(d_.ep), "a divisor of tp and of the number of experts");
      }
    }
  }

  std::int64_t kv_heads_per_device(const ModelSpec& m) const override {
    if (m.attention == AttentionKind::kMla) return 1;  // the latent is replicated per TP rank
    if (d_.attention_dp) return m.kv_heads;           // each rank attends with every head
    return std::max<std::int64_t>(1, m.kv_heads / d_.tp);  // KV heads replicate when tp > kv_heads
  }

  std::int64_t layers_per_stage(const ModelSpec& m) const override { return ceil_div(m.layers, d_.pp); }

  // Contiguous layers, as vLLM's get_pp_indices: layers / pp each, and the remainder one
  // more each on the stages before the last (which also runs the LM head), from the
  // second-last backwards.
  std::int64_t stage_layers(const ModelSpec& m, std::int32_t stage) const override {
    const std::int64_t base = m.layers / d_.pp;
    const std::int64_t extra = m.layers % d_.pp;  // < pp
    const bool gets_extra = stage < d_.pp - 1 && stage >= d_.pp - 1 - extra;
    return base + (gets_extra ? 1 : 0);
  }

  double weight_bytes_per_device(const ModelSpec& m, DType wd) const override {
    // Everything but experts is split over TP; routed experts over EP, then what remains of
    // TP splits each expert (tp/ep-way). Embedding and LM head sit on the first/last stage;
    // we charge the heavier of the two to the most loaded stage.
    // Bytes by role come from the model (quantized matrices vs 16-bit embeddings, norms, ...).
    const WeightBytes w = m.weight_bytes(wd);
    const double layer_share = static_cast<double>(layers_per_stage(m)) / static_cast<double>(m.layers);
    // Attention DP: attention, dense MLP, shared experts and the ends are whole on every rank.
    const double split = d_.attention_dp ? 1.0 : static_cast<double>(d_.tp);
    const double body = w.layers * layer_share / split;
    const double expert_share = w.routed_experts * layer_share / d_.tp;  // ep * (tp/ep) = tp devices share them
    const double ends = (d_.pp == 1 ? w.embedding + w.lm_head : std::max(w.embedding, w.lm_head)) / split;
    return body + expert_share + ends;
  }

  std::vector<double> expert_popularity(const ModelSpec& m, std::uint64_t seed) const override {
    if (!m.is_moe() || c_.routing == "balanced") return {};
    const auto n = static_cast<std::size_t>(m.moe.num_experts);
    std::vector<double> w(n, 1.0);
    if (c_.routing == "loads") w = c_.loads;
    if (c_.routing == "zipf") {
      // Which experts are popular is a seeded shuffle (Fisher-Yates), the same for every
      // replica of the scenario; rank r (from 1) has weight r^-s.
      std::vector<std::size_t> order(n);
      for (std::size_t i = 0; i < n; ++i) order[i] = i;
      Rng rng = Rng::for_component(seed, "expert_order");
      for (std::size_t i = n - 1; i > 0; --i) {
        std::swap(order[i], order[static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(i)))]);
      }
      for (std::size_t r = 0; r < n; ++r) w[order[r]] = std::pow(static_cast<double>(r + 1), -c_.zipf_exponent);
    }
    double sum = 0;
    for (const double x : w) sum += x;
    for (double& x : w) x /= sum;
    return w;
  }

  void step_operators(const ModelSpec& m, const StepBatch& bt, const PlanLinks& links,
                      std::vector<Operator>& out) const override {
    if (bt.num_tokens == 0) return;
    // Context parallel: each of the cp ranks runs the linear layers on its share of the tokens.
    const std::int64_t cp = d_.cp;
    const std::int64_t T = ceil_div(bt.num_tokens, cp);
    // The devices attention, dense MLPs, shared experts and the LM head are split over
    // (attention DP: none, every rank holds them whole).
    const std::int64_t tp = d_.attention_dp ? 1 : d_.tp;
    const std::int64_t L = layers_per_stage(m);
    const double act = dtype_bytes(bt.act_dtype);
    const std::int64_t H = m.hidden;
    const std::int64_t heads = m.heads / tp;
    const std::int64_t kvh = kv_heads_per_device(m);

    auto gemm = [&](const char* name, std::int64_t mm, std::int64_t n, std::int64_t k, std::int64_t repeat,
                    std::int64_t groups = 1, StagePart stage = StagePart::kLayers) {
      Operator& op = out.emplace_back();  // built in place
      op.cls = OpClass::kGemm;
      op.stage = stage;
      op.name = name;
      op.repeat = repeat;
      op.gemm = GemmShape{mm, n, k, groups, bt.weight_dtype};
    };
    auto elementwise = [&](const char* name, double bytes, double flops, std::int64_t repeat,
                           StagePart stage = StagePart::kLayers) {
      Operator& op = out.emplace_back();  // built in place
      op.cls = OpClass::kElementwise;
      op.stage = stage;
      op.name = name;
      op.repeat = repeat;
      op.bytes = bytes;
      op.flops = flops;
    };
    auto collective = [&](const char* name, CollectiveKind kind, double bytes, std::int32_t ranks, std::int64_t repeat,
                          StagePart stage = StagePart::kLayers) {
      if (ranks <= 1) return;
      Operator& op = out.emplace_back();  // built in place
      op.cls = OpClass::kCollective;
      op.stage = stage;
      op.name = name;
      op.repeat = repeat;
      op.coll = CollectiveShape{kind, bytes, ranks, links.tp_bandwidth, links.tp_latency_s};
    };
    auto cp_collective = [&](const char* name, CollectiveKind kind, double bytes, std::int64_t repeat) {
      if (cp <= 1 || repeat <= 0) return;
      Operator& op = out.emplace_back();  // built in place
      op.cls = OpClass::kCollective;
      op.name = name;
      op.repeat = repeat;
      op.coll = CollectiveShape{kind, bytes, static_cast<std::int32_t>(cp), links.cp_bandwidth, links.cp_latency_s};
    };

    const double tok_hidden_bytes = static_cast<double>(T) * static_cast<double>(H) * act;
    elementwise("embedding", 2 * tok_hidden_bytes, 0, 1, StagePart::kFirst);

    // Attention block, per layer.
    elementwise("input_norm", 2 * tok_hidden_bytes, 4.0 * T * H, L);
    std::int64_t qk_dim = m.head_dim;
    std::int64_t v_dim = m.head_dim;
    if (m.attention == AttentionKind::kMla) {
      const auto& a = m.mla;
      qk_dim = a.qk_nope_head_dim + a.qk_rope_head_dim;
      v_dim = a.v_head_dim;
      if (a.q_lora_rank > 0) {
        gemm("q_a_proj", T, a.q_lora_rank, H, L);
        gemm("q_b_proj", T, heads * qk_dim, a.q_lora_rank, L);
      } else {
        gemm("q_proj", T, heads * qk_dim, H, L);
      }
      gemm("kv_a_proj", T, a.kv_lora_rank + a.qk_rope_head_dim, H, L);
      gemm("kv_b_proj", T, heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank, L);
    } else {
      gemm("qkv_proj", T, (heads + 2 * kvh) * m.head_dim, H, L);
    }
    elementwise("rope", 2.0 * T * (heads + kvh) * qk_dim * act, 3.0 * T * (heads + kvh) * qk_dim, L);

    AttentionShape base;
    base.heads = static_cast<std::int32_t>(heads);
    base.kv_heads = static_cast<std::int32_t>(m.attention == AttentionKind::kMla ? 1 : kvh);
    base.head_dim = static_cast<std::int32_t>(qk_dim);
    base.v_head_dim = static_cast<std::int32_t>(v_dim);
    base.dtype = bt.act_dtype;
    base.kv_dtype = bt.kv_dtype;
    base.kv_bytes_per_token = m.kv_bytes_per_token_layer(bt.kv_dtype, kvh);
    base.paged = bt.paged_kv;
    base.block_size = bt.block_size;
    const std::size_t nd = static_cast<std::size_t>(bt.num_decode);
    // Sliding-window layers (gpt-oss alternates them) are costed with their window.
    std::int64_t sliding_layers = 0;
    if (!m.layer_is_sliding.empty()) {
      for (bool s : m.layer_is_sliding) sliding_layers += s ? 1 : 0;
      sliding_layers = sliding_layers * L / m.layers;
    } else if (m.sliding_window > 0) {
      sliding_layers = L;
    }
    for (int windowed = 0; windowed < 2; ++windowed) {
      const std::int64_t reps = windowed ? sliding_layers : L - sliding_layers;
      if (reps == 0) continue;
      if (nd > 0) {
        // Context parallel: every rank attends all decode queries (gathered) against its share
        // of their KV; the partial outputs (fp32, with their log-sum-exp) go back to the
        // queries' ranks by a reduce-scatter.
        cp_collective("cp_query_all_gather", CollectiveKind::kAllGather,
                      static_cast<double>(nd) * static_cast<double>(heads * qk_dim) * act, reps);
        cp_collective("cp_attn_reduce_scatter", CollectiveKind::kReduceScatter,
                      static_cast<double>(nd) * static_cast<double>(heads * (v_dim + 1)) * 4.0, reps);
        Operator op;
        op.cls = OpClass::kAttentionDecode;
        op.name = "attn_decode";
        op.repeat = reps;
        op.attn = base;
        op.attn.window = windowed ? m.sliding_window : 0;
        op.attn.seqs = bt.seqs.subspan(0, nd);
        compute_attention_aggregates(op.attn);
        out.push_back(op);
      }
      if (bt.seqs.size() > nd) {
        // Context parallel: ring attention, cp rounds a layer (each this rank's queries against
        // one rank's KV block), the blocks passed on around the ring (cp - 1 sends a layer).
        Operator op;
        op.cls = OpClass::kAttentionPrefill;
        op.name = "attn_prefill";
        op.repeat = reps * cp;
        op.attn = base;
        op.attn.window = windowed ? m.sliding_window : 0;
        op.attn.seqs = bt.seqs.subspan(nd);
        compute_attention_aggregates(op.attn);
        out.push_back(op);
        cp_collective(kRingKvSend, CollectiveKind::kSendRecv,
                      static_cast<double>(op.attn.sum_kv) * base.kv_bytes_per_token, reps * (cp - 1));
      }
    }
    gemm("o_proj", T, H, heads * v_dim, L);
    collective("tp_all_reduce", CollectiveKind::kAllReduce, tok_hidden_bytes, static_cast<std::int32_t>(tp), L);
    elementwise("post_attn_norm", 2 * tok_hidden_bytes, 4.0 * T * H, L);

    // MLP block: dense layers and MoE layers of this stage.
    const std::int64_t moe_layers = m.is_moe() ? (m.num_moe_layers() * L + m.layers - 1) / m.layers : 0;
    const std::int64_t dense_layers = L - moe_layers;
    if (dense_layers > 0) {
      const std::int64_t I = m.intermediate / tp;
      if (m.gated_mlp) {
        gemm("gate_up_proj", T, 2 * I, H, dense_layers);
        elementwise("act_mul", 3.0 * T * I * act, 4.0 * T * I, dense_layers);
      } else {  // OPT: fc1, then the activation alone (reads and writes I a token)
        gemm("up_proj", T, I, H, dense_layers);
        elementwise("act", 2.0 * T * I * act, 1.0 * T * I, dense_layers);
      }
      gemm("down_proj", T, H, I, dense_layers);
      collective("tp_all_reduce", CollectiveKind::kAllReduce, tok_hidden_bytes, static_cast<std::int32_t>(tp), dense_layers);
    }
    if (moe_layers > 0) {
      const auto& moe = m.moe;
      gemm("router", T, moe.num_experts, H, moe_layers);
      // Experts on this device and the share of each expert's width it holds.
      const std::int64_t local_experts = moe.num_experts / d_.ep;
      const std::int64_t I = moe.expert_intermediate / (d_.tp / d_.ep);
      // Routed token copies are spread uniformly over experts (balanced routing assumed).
      const std::int64_t group_T = d_.attention_dp && bt.group_tokens > 0 ? bt.group_tokens : T;
      MoeLayerShape experts =
          balanced_moe_layer(group_T, H, I, static_cast<std::int32_t>(moe.experts_per_token), static_cast<std::int32_t>(local_experts),
                             static_cast<std::int32_t>(d_.ep), bt.weight_dtype, bt.act_dtype);
      experts.mxfp4 = m.quant_method == "mxfp4";
      std::int64_t& active = experts.active;
      std::int64_t& per_expert = experts.per_expert;
      double& shard_copies = experts.copies;
      double a2a_bytes = static_cast<double>(T) * moe.experts_per_token * H * act / d_.ep;
      if (!bt.expert_tokens.empty()) {
        // A routing draw: the slowest EP shard sets the layer's time (every rank waits for it
        // at the combine). Groups = the most active experts on any rank, rows = the most
        // copies on any rank spread over them: under a roofline, max(weights, FLOPs) of
        // this GEMM is the slowest rank's (see slowest_shard).
        const ShardLoad s = slowest_shard(bt.expert_tokens, d_.ep);
        shard_copies = static_cast<double>(s.copies);
        active = std::max<std::int64_t>(1, s.active_experts);
        per_expert = std::max<std::int64_t>(1, (s.copies + active - 1) / active);
        a2a_bytes = shard_copies * static_cast<double>(H) * act;
      }
      if (d_.attention_dp) {
        // Each rank sends every copy of its own tokens and receives its experts' copies; the
        // larger side sets the all-to-all.
        a2a_bytes = std::max(shard_copies, static_cast<double>(T * moe.experts_per_token)) * static_cast<double>(H) * act;
      }
      if (d_.ep > 1) {
        collective("ep_dispatch", CollectiveKind::kAllToAll, a2a_bytes, d_.ep, moe_layers);
      }
      for (const Operator& op : moe_expert_operators(experts, moe_layers)) out.push_back(op);
      if (d_.ep > 1) {
        collective("ep_combine", CollectiveKind::kAllToAll, a2a_bytes, d_.ep, moe_layers);
      }
      if (moe.shared_experts > 0) {
        const std::int64_t SI = moe.shared_experts * moe.shared_intermediate / tp;
        gemm("shared_gate_up", T, 2 * SI, H, moe_layers);
        gemm("shared_down", T, H, SI, moe_layers);
      }
      collective("tp_all_reduce", CollectiveKind::kAllReduce, tok_hidden_bytes, static_cast<std::int32_t>(tp), moe_layers);
    }

    // Pipeline hand-off of hidden states from one stage to the next (once per boundary).
    if (d_.pp > 1) {
      Operator& op = out.emplace_back();  // built in place
      op.cls = OpClass::kCollective;
      op.stage = StagePart::kHandoff;
      op.name = "pp_send";
      op.coll = CollectiveShape{CollectiveKind::kSendRecv, tok_hidden_bytes, 2, links.pp_bandwidth, links.pp_latency_s};
    }

    // Final norm, LM head on the last token of each sampling sequence, sampling.
    if (bt.num_logits > 0) {
      const std::int64_t S = ceil_div(bt.num_logits, cp);
      elementwise("final_norm", 2.0 * S * H * act, 4.0 * S * H, 1, StagePart::kLast);
      gemm("lm_head", S, m.vocab / tp, H, 1, 1, StagePart::kLast);
      collective("logits_all_gather", CollectiveKind::kAllGather, static_cast<double>(S) * m.vocab * act, static_cast<std::int32_t>(tp), 1,
                 StagePart::kLast);
      elementwise("sampling", static_cast<double>(S) * m.vocab * 4.0 * 2, 8.0 * S * m.vocab, 1, StagePart::kLast);
    }
  }


 private:
  ParallelDegrees d_;
  std::int32_t micro_batches_given_ = 0;
  Config c_;
};

}  // namespace

SERVESIM_REGISTER(ParallelPlanRegistry, MegatronPlan, "megatron",
                  "Megatron tensor parallelism + contiguous pipeline stages + expert parallelism for MoE")

}  // namespace servesim
