// A cost model whose fitted answers carry one draw of the fit's own error: for prediction
// intervals (`servesim run --uncertainty N`). Contract:
// - It wraps `inner` and answers what inner answers. An answer from a fitted or derived
//   profile (source "fit:..." or "derived:...") of family F (gemm, attention_prefill,
//   attention_decode, collective, copy) is multiplied by 1 / (1 + r_F), where r_F is one
//   value of F's held-out residual distribution (predicted / measured - 1, from
//   `servesim calibrate check --residuals-out`): what the measurement would have been had
//   the fit erred by r_F. Other answers (roofline, engine host time) are unchanged.
// - r_F is drawn once per (seed, draw, family): an error that repeats on every call of the
//   family, as a fit's errors do, not noise that averages out over a run. Draw 0 is the
//   unperturbed model.
// - A GEMM whose family has per-dtype residuals (`by_dtype`) takes r from the distribution of
//   the profile line that answered it (bf16 and fp16: bf16's; fp8: fp8's; block-scaled fp8:
//   fp8_block's, or fp8's where the profile answered it with its per-tensor lines), at the
//   same rank as the family's draw (quantile i of 100 -> the dtype's quantile at the same
//   position); a dtype without its own distribution takes the family's.
// - The result is never below the operator's physical bound on the device.
// - Which residuals each family draws from: sim/cost/residual_sources.h (the profile's own
//   held-out errors; for a derived profile its transfer check's and its source's).
// - Families without residuals are unperturbed.
#include <array>

#include "sim/core/dtype.h"
#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/cost/i_cost_model.h"
#include "sim/cost/inner_cost.h"
#include "sim/cost/physical_bound.h"
#include "sim/cost/residual_sources.h"

namespace servesim {
namespace {

// The family's index in kResidualFamilies, or -1 for classes no fit answers. A MoE layer's
// expert operators answered by the fused-MoE fit are that family's, whatever their class.
int family_of(OpClass c, std::string_view source) {
  if (source.find(":moe") != std::string_view::npos) return 5;
  switch (c) {
    case OpClass::kGemm: return 0;
    case OpClass::kAttentionPrefill: return 1;
    case OpClass::kAttentionDecode: return 2;
    case OpClass::kCollective: return 3;
    case OpClass::kCopy: return 4;
    default: return -1;
  }
}

// The dtype of the profile line that answered a GEMM of `dtype` (the calibrated model's rule,
// sim/cost/impl/calibrated.cpp): fp16 reads bf16's lines, block-scaled fp8 the per-tensor
// ones where its source says so.
DType gemm_line(DType dtype, std::string_view source) {
  if (dtype == DType::kFp16) return DType::kBf16;
  if (dtype == DType::kFp8Block && source.find(":per_tensor_fp8") != std::string_view::npos) return DType::kFp8;
  return dtype;
}

class PerturbedCostModel final : public ICostModel {
 public:
  struct Config {
    ComponentConfig inner;
    std::string residuals;
    std::int64_t draw = 0;
    std::int64_t seed = 0;
    std::string where;

    static Config parse(Params& p) {
      Config c;
      c.where = p.where();
      c.inner = parse_inner_cost(p, "the cost model whose fitted answers are perturbed ({impl, ...})", "calibrated", "perturbed");
      c.residuals = p.string("residuals", "",
                             "residuals file (servesim calibrate check --residuals-out); empty: "
                             "calibration/profiles/<device>.residuals.json under the data dir (<device>@<kernel_set>.residuals.json "
                             "when the inner model names a kernel set with its own file; for a derived profile, its "
                             "transfer check's and its source profile's: sim/cost/residual_sources.h)");
      c.draw = p.integer("draw", 0, "which draw (0: unperturbed)", 0, 1'000'000);
      c.seed = p.integer("seed", 0, "seed of the draws", 0, INT64_MAX);
      return c;
    }
  };

  PerturbedCostModel(const Config& c, const CostDeps& deps) : bound_(deps.device) {
    gemm_factor_.fill(1.0);
    inner_ = CostModelRegistry::get().make(c.inner, deps);
    const ResidualSources src = residual_sources(deps.device.name, c.inner.resolved, c.residuals, deps.data_dir, c.where);
    if (c.draw == 0) return;
    for (std::size_t f = 0; f < kResidualFamilies.size(); ++f) {
      const std::vector<double>& q = src.families[f].quantiles;
      if (q.empty()) continue;
      Rng rng(mix64(static_cast<std::uint64_t>(c.seed), mix64(static_cast<std::uint64_t>(c.draw), stable_hash(kResidualFamilies[f]))));
      const auto rank = static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(q.size()) - 1));
      factor_[f] = 1.0 / (1.0 + q[rank]);
      if (f != 0) continue;
      gemm_factor_.fill(factor_[f]);
      for (const auto& [name, qd] : src.families[f].by_dtype) {
        if (qd.empty()) continue;
        const DType d = parse_dtype(name, c.where + ".residuals: by_dtype");
        gemm_factor_[static_cast<std::size_t>(d)] = 1.0 / (1.0 + qd[rank * qd.size() / q.size()]);
      }
    }
  }

  std::optional<Prediction> predict(const Operator& op) const override {
    auto p = inner_->predict(op);
    const int f = p ? family_of(op.cls, p->source) : -1;
    if (!p || f < 0 || !(p->source.starts_with("fit:") || p->source.starts_with("derived:"))) return p;
    const double factor = f == 0 ? gemm_factor_[static_cast<std::size_t>(gemm_line(op.gemm.dtype, p->source))] : factor_[static_cast<std::size_t>(f)];
    const double ns = static_cast<double>(p->ns) * factor;
    p->ns = std::max(static_cast<SimTime>(std::llround(ns)), from_seconds(bound_.seconds(op)));
    return p;
  }

 private:
  std::unique_ptr<ICostModel> inner_;
  PhysicalBound bound_;
  std::array<double, kResidualFamilies.size()> factor_{1, 1, 1, 1, 1, 1};
  std::array<double, kNumDTypes> gemm_factor_{};  // GEMMs by the dtype of the answering line
};

}  // namespace

SERVESIM_REGISTER(CostModelRegistry, PerturbedCostModel, "perturbed",
                  "another cost model with one draw of its fits' held-out errors per family (prediction intervals)")

}  // namespace servesim
