// The Hugging Face transformers continuous-batching engine (paged|sdpa attention, eager
// PyTorch, no CUDA graphs) as a cost model. An engine step is strictly sequential:
//   loop  -> prep (CPU) -> [cuDNN plan build] -> forward: host launches while the GPU runs
//   -> sync -> post (CPU)
// so its time is
//   step = loop + prep + build + max(launch, device) + post
// where device = the plan's operators (GEMMs, norms, ... answered by the `inner` cost model;
// the K/V gather of the attention operators answered here) + the engine's extra device work.
//
// Attention (paged|sdpa): per layer the batch's K/V are gathered from the paged cache
// (index_select), GQA heads expanded (repeat_kv), then ONE scaled_dot_product_attention call
// runs over the packed batch with a dense additive mask [Σq, Σkv]: it computes Σq x Σkv
// scores per head, across sequences. Its cost has two terms:
//   - gather/expand, linear in the keys attended: bytes = Σkv x 2 (K, V) x heads x head_dim
//     x dtype, at `kv_gather_bandwidth`. Additive over sequences, so each attention
//     operator (decode or prefill part) is answered with its own share.
//   - dense SDPA: flops = 4 x Σq x Σkv x heads x head_dim per layer, at `sdpa_dense_flops`.
//     Σq and Σkv span decode AND prefill sequences of the step together (the cross terms
//     dominate a step that mixes a prompt with many decodes), so no per-kind attention
//     operator can cost it; it is charged once per step, in the engine_step (kCpu)
//     operator, which carries the step's Σq (cpu_tokens) and Σkv (cpu_kv_tokens).
//
// The engine_step operator's answer is the time the step adds to its device time
// (op.gpu_seconds = the plan's operators), as the Operator contract asks:
//   exposed = loop + prep + build + max(launch, device) + post - gpu_seconds
//   device  = gpu_seconds + gpu_step_base + gpu_per_token_layer x Σq x layers + dense SDPA
// which is never negative.
//
// cuDNN plan cache: torch builds a cuDNN graph for every (Σq, Σkv) shape it has not seen.
// Σkv grows by the batch size every decode step, so in practice every step has a new shape
// (0 repeated shapes in 2,200 steps of the ground-truth runs); predict() stays pure by
// charging one build to every step.
//
// Host speed: every host term (loop, prep, plan build, launch, post) is CPU work, so on a
// slower or faster host than the fit's they all move together: `host_scale` multiplies them
// (1 = the fit machine). Device terms do not move with it.
//
// Model dimensions (layers, heads, head_dim) scale the launch time and the dense SDPA; they
// come from `model`, which must name the scenario's model (`servesim validate` sets both).
// Constants are fitted by `servesim validate fit` (engines/*.json keeps them with their
// provenance).
#include <algorithm>
#include <memory>

#include "sim/core/error.h"
#include "sim/cost/i_cost_model.h"
#include "sim/cost/inner_cost.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/model_spec.h"

namespace servesim {
namespace {

class HfEngineCostModel final : public ICostModel {
 public:
  struct Config {
    ComponentConfig inner;
    std::string model;
    std::string where;
    double loop_overhead = 0;
    double prep_base = 0, prep_per_seq = 0, prep_per_token = 0, prep_per_kv_token = 0;
    double post_base = 0, post_per_seq = 0;
    double launch_per_layer = 0;
    double sdpa_plan_build = 0;
    double gpu_step_base = 0;
    double gpu_per_token_layer = 0;
    double kv_gather_bandwidth = 0;
    double sdpa_dense_flops = 0;
    std::string fitted_device;
    double host_scale = 1.0;

    static Config parse(Params& p) {
      Config c;
      c.where = p.where();
      c.inner = parse_inner_cost(p, "cost model of the plan's non-attention operators ({impl, ...}; default roofline)", "roofline",
                                 "hf_engine");
      c.model = p.string("model", std::nullopt,
                         "the scenario's model (name in models/ or a config.json path): its layers and heads scale the "
                         "launch time and the dense SDPA");
      // Every constant is required: its value belongs to an engine profile (engines/*.json,
      // fitted by `servesim validate fit`), never to a default here.
      auto secs = [&](const char* key, const char* help) { return to_seconds(p.duration(key, std::nullopt, help)); };
      auto rate = [&](const char* key, const char* help) { return p.real(key, std::nullopt, help, 0.0); };
      c.loop_overhead = secs("loop_overhead", "host time between two steps (loop, queue drain, wake-up)");
      c.prep_base = secs("prep_base", "prepare_next_batch: fixed host time per step");
      c.prep_per_seq = rate("prep_per_seq", "prepare_next_batch: host seconds per request in the step");
      c.prep_per_token = rate("prep_per_token", "prepare_next_batch: host seconds per new token (Σq)");
      c.prep_per_kv_token = rate("prep_per_kv_token", "prepare_next_batch: host seconds per cached+new token attended (Σkv)");
      c.post_base = secs("post_base", "update_batch: fixed host time per step");
      c.post_per_seq = rate("post_per_seq", "update_batch: host seconds per request in the step");
      c.launch_per_layer = rate("launch_per_layer", "host seconds to launch one decoder layer of the eager forward (Python + kernel launches)");
      c.sdpa_plan_build = secs("sdpa_plan_build", "host time of the cuDNN SDPA graph build that every step pays (a new (Σq, Σkv) shape)");
      c.gpu_step_base = secs("gpu_step_base", "device time per step beyond the plan's operators (eager extras, sampling)");
      c.gpu_per_token_layer = rate("gpu_per_token_layer", "device seconds per new token per layer beyond the plan's operators");
      c.kv_gather_bandwidth = p.bandwidth("kv_gather_bandwidth", std::nullopt,
                                          "effective rate of the per-layer K/V gather + GQA expansion, over the expanded "
                                          "K/V bytes (Σkv x 2 x heads x head_dim x dtype)");
      c.sdpa_dense_flops = p.real("sdpa_dense_flops", std::nullopt,
                                  "effective FLOP/s of the packed SDPA over its dense mask (4 x Σq x Σkv x heads x head_dim "
                                  "per layer)", 1.0);
      c.fitted_device = p.string("fitted_device", "",
                                 "device the constants were fitted on (hardware_profiles/devices/): on another device the "
                                 "two device rates, kv_gather_bandwidth and sdpa_dense_flops, scale by the HBM bandwidth and "
                                 "bf16 peak ratios (empty: used as they are)");
      c.host_scale = p.real("host_scale", 1.0,
                            "host speed of the machine against the one the constants were fitted on, as a time ratio: "
                            "loop, prep, plan build, launch and post are multiplied by it (e.g. the machine's cuDNN "
                            "plan-build probe over the profile's fitted.host_probe; `servesim validate --host-probe`)",
                            1e-3, 1e3);
      if (!p.doc_mode() && c.kv_gather_bandwidth <= 0) {
        bad_value(p.where("kv_gather_bandwidth"), "0", "a positive bandwidth");
      }
      return c;
    }
  };

  HfEngineCostModel(const Config& c, const CostDeps& deps) : c_(c) {
    const ModelSpec m = load_model(c.model, deps.data_dir, c.where + ".model");
    layers_ = static_cast<double>(m.layers);
    head_units_ = static_cast<double>(m.heads) * static_cast<double>(m.head_dim);
    inner_ = CostModelRegistry::get().make(c.inner, deps);
    gather_bandwidth_ = c.kv_gather_bandwidth;
    dense_flops_ = c.sdpa_dense_flops;
    if (!c.fitted_device.empty() && c.fitted_device != deps.device.name) {
      // The gather streams K/V through HBM; the dense SDPA runs on the tensor cores.
      const DeviceSpec ref = load_device(c.fitted_device, deps.data_dir, c.where + ".fitted_device");
      gather_bandwidth_ *= deps.device.hbm_bandwidth / ref.hbm_bandwidth;
      dense_flops_ *= deps.device.peak_flops(DType::kBf16) / ref.peak_flops(DType::kBf16);
    }
  }

  std::optional<Prediction> predict(const Operator& op) const override {
    switch (op.cls) {
      case OpClass::kAttentionPrefill:
      case OpClass::kAttentionDecode:
        return Prediction{from_seconds(gather_seconds(op.attn)), "hf_engine:kv_gather"};
      case OpClass::kCpu:
        return Prediction{from_seconds(exposed_seconds(op)), "hf_engine:step_host"};
      default:
        return inner_->predict(op);
    }
  }

 private:
  // One layer's gather + expansion of the K/V this operator's sequences attend to.
  double gather_seconds(const AttentionShape& a) const {
    const double bytes = static_cast<double>(a.sum_kv) * 2.0 * a.heads * a.head_dim * dtype_bytes(a.kv_dtype);
    return bytes / gather_bandwidth_;
  }

  double exposed_seconds(const Operator& op) const {
    if (op.items == 0) return 0.0;  // nothing scheduled: no step
    const double seqs = static_cast<double>(op.items);
    const double q = static_cast<double>(op.cpu_tokens);
    const double kv = static_cast<double>(op.cpu_kv_tokens);
    const double h = c_.host_scale;
    const double prep = h * (c_.prep_base + c_.prep_per_seq * seqs + c_.prep_per_token * q + c_.prep_per_kv_token * kv);
    const double post = h * (c_.post_base + c_.post_per_seq * seqs);
    const double launch = h * (c_.launch_per_layer * layers_);
    const double dense_sdpa = 4.0 * q * kv * head_units_ * layers_ / dense_flops_;
    const double device = op.gpu_seconds + c_.gpu_step_base + c_.gpu_per_token_layer * q * layers_ + dense_sdpa;
    const double step = h * c_.loop_overhead + prep + h * c_.sdpa_plan_build + std::max(launch, device) + post;
    return std::max(0.0, step - op.gpu_seconds);
  }

  Config c_;
  double layers_ = 0;
  double head_units_ = 0;  // query heads x head_dim
  double gather_bandwidth_ = 0, dense_flops_ = 0;  // the device rates on the scenario's device
  std::unique_ptr<ICostModel> inner_;
};

}  // namespace

SERVESIM_REGISTER(CostModelRegistry, HfEngineCostModel, "hf_engine",
                  "HF transformers continuous batching (paged|sdpa, eager): host prep/launch/cuDNN plan build vs device "
                  "time, dense packed SDPA; other operators from an inner model")

}  // namespace servesim
