// The composite cost model: a fitted profile (calibration/profiles/<device>.json, built by
// `servesim calibrate fit` from measured kernels) answers first, the roofline last. Every
// prediction names its answer: "fit:<device>@<profile sha256 prefix>:<family>[:variant]"
// ("derived:..." for a derived profile) or "roofline". A fitted answer is never below the
// operator's physical bound on the scenario's device (sim/cost/physical_bound.h): where a
// fit would answer faster than peak compute or bandwidth allow, the bound answers, under
// the fit's source name.
#include <array>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/cost/fitted_profile.h"
#include "sim/cost/i_cost_model.h"
#include "sim/cost/physical_bound.h"
#include "sim/cost/sha256.h"

namespace servesim {
namespace {

const std::vector<std::string> kFamilies = {"gemm", "attention_prefill", "attention_decode", "collective", "copy", "page_map", "moe"};

class CalibratedCostModel final : public ICostModel {
 public:
  struct Config {
    std::string profile;
    std::string kernel_set;
    std::string all_reduce_backend;
    std::string prefill_kernel, decode_kernel;
    std::vector<std::string> families;
    ComponentConfig fallback;
    std::string where;

    static Config parse(Params& p) {
      Config c;
      c.where = p.where();
      c.profile = p.string("profile", "",
                           "fitted profile: a path to a .json file, or a device name looked up as "
                           "calibration/profiles/<name>.json under the data dir (empty: the scenario's device's, "
                           "or none if it has none: then the roofline answers everything)");
      c.kernel_set = p.string("kernel_set", "",
                              "the kernels (engine) the costs come from: the device's profile whose kernel set has this "
                              "name, calibration/profiles/<device>@<kernel_set>.json or <device>.json (e.g. vllm, pytorch, "
                              "harness; empty: the device's default profile, whatever its set)");
      if (!c.kernel_set.empty() && !valid_kernel_set_name(c.kernel_set)) {
        bad_value(p.where("kernel_set"), c.kernel_set, "a kernel-set name without '/', '@' or spaces (e.g. vllm, pytorch)");
      }
      c.all_reduce_backend = p.choice("all_reduce_backend", "best", {"best", "nccl", "vllm_custom"},
                                      "all-reduce implementation: the faster fitted one at each size, or one by name");
      c.prefill_kernel = p.string("prefill_kernel", "",
                                  "measured prefill attention kernel to use (e.g. cudnn_sdpa, flash_varlen, vllm_flash_attn_fa3; "
                                  "empty: the profile's preference, same KV layout first)");
      c.decode_kernel = p.string("decode_kernel", "",
                                 "measured decode attention kernel to use (e.g. flash_varlen_contig, servesim_paged; empty: the "
                                 "profile's preference, same KV layout first)");
      const nlohmann::json fam = p.value("families", nlohmann::json::array(),
                                         "fitted families to use (empty: all of gemm, attention_prefill, attention_decode, "
                                         "collective, copy, page_map, moe); the others go to the roofline");
      if (!fam.is_array()) bad_value(p.where("families"), fam.dump(), "an array of family names");
      for (const auto& f : fam) {
        if (!f.is_string() || std::find(kFamilies.begin(), kFamilies.end(), f.get<std::string>()) == kFamilies.end()) {
          bad_value(p.where("families"), f.dump(), "gemm, attention_prefill, attention_decode, collective, copy, page_map or moe");
        }
        c.families.push_back(f.get<std::string>());
      }
      nlohmann::json fb = p.object("fallback", "parameters of the roofline that answers what the fit cannot (see roofline)");
      fb["impl"] = "roofline";
      c.fallback = CostModelRegistry::get().parse(fb, p.where("fallback"));
      p.set_resolved("fallback", c.fallback.resolved);
      return c;
    }
  };

  CalibratedCostModel(const Config& c, const CostDeps& deps) : c_(c), bound_(deps.device) {
    namespace fs = std::filesystem;
    std::string path = c.profile.empty() ? deps.device.name : c.profile;
    const bool is_path = path.find('/') != std::string::npos || path.ends_with(".json");
    if (!is_path) {
      path = (fs::path(deps.data_dir) / "calibration" / "profiles" / (path + ".json")).string();
    } else if (!fs::exists(path) && fs::path(path).is_relative() && fs::exists(fs::path(deps.data_dir) / path)) {
      path = (fs::path(deps.data_dir) / path).string();
    }
    roofline_ = CostModelRegistry::get().make(c.fallback, deps);
    if (!c.kernel_set.empty() && c.profile.empty()) {
      // The set's own file first; else the device's default profile if its set has that name.
      const fs::path own = fs::path(path).parent_path() / (kernel_set_stem(deps.device.name, c.kernel_set) + ".json");
      if (fs::exists(own)) path = own.string();
    }
    if (!fs::exists(path)) {
      // No profile for the device and none asked for: only the roofline answers.
      if (c.profile.empty() && c.kernel_set.empty()) return;
      if (c.profile.empty()) {
        bad_value(c.where + ".kernel_set", c.kernel_set,
                  fmt::format("a kernel set with a fitted profile for {} (there is none; fit one with `servesim calibrate "
                              "fit --device {} --kernel-set {} --data ...`)",
                              deps.device.name, deps.device.name, c.kernel_set));
      }
      bad_value(c.where + ".profile", path,
                "an existing fitted profile (run `servesim calibrate fit --device " + deps.device.name +
                    "`, or use the roofline cost model)");
    }
    has_profile_ = true;
    profile_ = FittedProfile::load(path);
    if (!c.kernel_set.empty() && profile_.kernel_set_name() != c.kernel_set) {
      std::string have = profile_.kernel_set_name().empty() ? "an unnamed set" : profile_.kernel_set_name();
      bad_value(c.where + ".kernel_set", c.kernel_set,
                fmt::format("a kernel set with a fitted profile for {} ({} has {}; fit one with `servesim calibrate fit "
                            "--device {} --kernel-set {} --data ...`)",
                            deps.device.name, path, have, deps.device.name, c.kernel_set));
    }
    const std::string sha = sha256_file_hex(path).substr(0, 8);
    tag_ = fmt::format("{}:{}@{}", profile_.status == "derived" ? "derived" : "fit", profile_.device, sha);
    for (std::size_t f = 0; f < kFamilies.size(); ++f) {
      use_[f] = c.families.empty() || std::find(c.families.begin(), c.families.end(), kFamilies[f]) != c.families.end();
    }
    // Every source string an answer can name, built once (the hot path compares no strings
    // it has to build and allocates nothing).
    auto src = [&](Family f, const std::string& variant) {
      const std::string key = kFamilies[f] + (variant.empty() ? "" : ":" + variant);
      sources_[f].emplace_back(variant, tag_ + ":" + key);
    };
    src(kGemm, "");
    src(kGemm, "regression");
    src(kGemm, "regression_residual");
    // Block-scaled fp8 GEMMs where the profile has no such kernels: its per-tensor fp8 ones.
    has_fp8_block_ = profile_.gemm.count("fp8_block") > 0;
    src(kGemm, "per_tensor_fp8");
    src(kGemm, "per_tensor_fp8:regression");
    src(kGemm, "per_tensor_fp8:regression_residual");
    src(kPrefill, "");
    src(kPrefill, "global");
    src(kDecode, "");
    src(kDecode, "global");
    src(kCopy, "");
    src(kPageMap, "");
    src(kMoe, "");
    src(kMoe, "regression_residual");
    for (const auto& cv : profile_.collectives) {
      bool seen = false;
      for (const auto& [v, full] : sources_[kCollective]) seen |= v == cv.backend;
      if (!seen) src(kCollective, cv.backend);
    }
    intra_bw_ = profile_.rates.intra_node_bandwidth;
  }

  std::optional<Prediction> predict(const Operator& op) const override {
    if (auto p = has_profile_ ? fitted(op) : std::nullopt) {
      p->ns = std::max(p->ns, from_seconds(bound_.seconds(op)));
      return p;
    }
    return roofline_->predict(op);
  }

  // Attention keeps its kernel configuration and residual lines between calls (the cursor);
  // everything else is predict().
  std::optional<Prediction> predict_with(const Operator& op, std::unique_ptr<CostCursor>& cursor) const override {
    const bool attention = op.cls == OpClass::kAttentionPrefill || op.cls == OpClass::kAttentionDecode;
    if (!has_profile_ || !attention || op.moe.ep > 0) return predict(op);
    if (cursor == nullptr || cursor->owner != this) {
      cursor = std::make_unique<AttentionCursor>();
      cursor->owner = this;
    }
    auto* cur = static_cast<AttentionCursor*>(cursor.get());
    if (auto p = attention_answer(op, cur)) {
      p->ns = std::max(p->ns, from_seconds(bound_.seconds(op)));
      return p;
    }
    return roofline_->predict(op);
  }

 private:
  enum Family : std::size_t { kGemm, kPrefill, kDecode, kCollective, kCopy, kPageMap, kMoe };

  std::optional<Prediction> answer(double us, Family f, const char* variant) const {
    for (const auto& [v, full] : sources_[f]) {
      if (v == variant) return Prediction{from_seconds(us * 1e-6), full};
    }
    SERVESIM_ASSERT(false);
    return std::nullopt;
  }

  struct AttentionCursor final : CostCursor {
    FittedProfile::AttentionCursor fit;
    const char* variant = nullptr;  // the last answer's variant and family, and their source
    Family family = kGemm;
    std::string_view source;
  };

  std::optional<Prediction> attention_answer(const Operator& op, AttentionCursor* cursor) const {
    const bool prefill = op.cls == OpClass::kAttentionPrefill;
    const Family fam = prefill ? kPrefill : kDecode;
    if (!use_[fam]) return std::nullopt;
    auto a = profile_.predict_attention(prefill, AttentionQuery::from(op.attn, prefill), prefill ? c_.prefill_kernel : c_.decode_kernel,
                                        cursor ? &cursor->fit : nullptr);
    if (!a) return std::nullopt;
    if (cursor == nullptr) return answer(a->us, fam, a->variant);
    // The source named once per variant (a variant is a string literal: its address names it).
    if (cursor->variant != a->variant || cursor->family != fam) {
      cursor->source = answer(0, fam, a->variant)->source;
      cursor->variant = a->variant;
      cursor->family = fam;
    }
    return Prediction{from_seconds(a->us * 1e-6), cursor->source};
  }

  // A MoE layer's expert operator where the profile measured the fused layer (its weight
  // dtype): the layer's time, this part's share of it by the parts' physical bounds.
  std::optional<Prediction> fused_moe_part(const Operator& op) const {
    const MoeLayerShape& s = op.moe;
    static const std::string kBf16 = "bf16", kFp8 = "fp8", kFp8Block = "fp8_block", kMxfp4 = "mxfp4";
    const std::string* dt = s.weight_dtype == DType::kBf16 || s.weight_dtype == DType::kFp16 ? &kBf16
                            : s.weight_dtype == DType::kFp8                                 ? &kFp8
                            : s.weight_dtype == DType::kFp8Block                            ? &kFp8Block
                            : s.weight_dtype == DType::kInt4 && s.mxfp4                    ? &kMxfp4
                                                                                            : nullptr;
    if (!dt || s.part < 0 || s.part > 2 || s.topk <= 0 || !(s.copies > 0)) return std::nullopt;
    MoeQuery q;
    q.dtype = *dt;
    q.ep = s.ep;
    q.tokens = s.copies * s.ep / s.topk;  // the balanced layer with as many copies on this device
    q.hidden = static_cast<double>(s.hidden);
    q.inter = static_cast<double>(s.inter);
    q.topk = s.topk;
    q.local_experts = s.local_experts;
    // A routing draw's slowest shard may read fewer experts than an even spread: the
    // regression takes its active experts, the measured (balanced) layers their residual at
    // as many copies.
    q.active = static_cast<double>(s.active);
    const auto a = profile_.predict_moe(q);
    if (!a) return std::nullopt;
    const std::array<Operator, 3> parts = moe_expert_operators(s, op.repeat);
    double total = 0;
    for (const Operator& p : parts) total += bound_.seconds(p);
    if (!(total > 0)) return std::nullopt;
    return answer(a->us * bound_.seconds(parts[static_cast<std::size_t>(s.part)]) / total, kMoe, a->variant);
  }

  std::optional<Prediction> fitted(const Operator& op) const {
    if (op.moe.ep > 0 && use_[kMoe]) {
      if (auto p = fused_moe_part(op)) return p;
    }
    switch (op.cls) {
      case OpClass::kGemm: {
        const auto& g = op.gemm;
        if (!use_[kGemm] || g.groups != 1) return std::nullopt;  // grouped (MoE) GEMMs: the roofline (FITTING.md, "Grouped GEMMs")
        static const std::string kBf16 = "bf16", kFp8 = "fp8", kFp8Block = "fp8_block";
        const bool as_per_tensor = g.dtype == DType::kFp8Block && !has_fp8_block_;
        const std::string* dt = g.dtype == DType::kBf16 || g.dtype == DType::kFp16 ? &kBf16
                                : g.dtype == DType::kFp8 || as_per_tensor       ? &kFp8
                                : g.dtype == DType::kFp8Block                   ? &kFp8Block
                                                                                : nullptr;
        if (!dt) return std::nullopt;
        auto a = profile_.predict_gemm(static_cast<double>(g.m), static_cast<double>(g.n), static_cast<double>(g.k), *dt);
        if (!a) return std::nullopt;
        if (as_per_tensor) {
          const std::string_view v = a->variant;
          return answer(a->us, kGemm, v.empty() ? "per_tensor_fp8" : v == "regression" ? "per_tensor_fp8:regression" : "per_tensor_fp8:regression_residual");
        }
        return answer(a->us, kGemm, a->variant);
      }
      case OpClass::kAttentionPrefill:
      case OpClass::kAttentionDecode:
        return attention_answer(op, nullptr);
      case OpClass::kCollective: {
        const auto& c = op.coll;
        if (!use_[kCollective] || c.ranks <= 1) return std::nullopt;
        // The fitted curves are intra-node (NVLink); a slower link is another network.
        if (c.link_bandwidth > 0 && c.link_bandwidth < 0.99 * intra_bw_) return std::nullopt;
        std::string backend;
        if (c.kind == CollectiveKind::kAllReduce && c_.all_reduce_backend != "best") backend = c_.all_reduce_backend;
        if (c.kind != CollectiveKind::kAllReduce) backend = "nccl";
        auto a = profile_.predict_collective(collective_op_name(c.kind), c.ranks, c.bytes, backend);
        if (!a) return std::nullopt;
        return answer(a->us, kCollective, a->variant);
      }
      case OpClass::kCopy: {
        const auto& c = op.copy;
        const std::string dir = copy_direction_name(c.kind);
        if (!use_[kCopy] || dir.empty()) return std::nullopt;
        auto a = profile_.predict_copy(dir, c.pinned, c.bytes, static_cast<double>(std::max<std::int64_t>(1, c.chunks)));
        if (!a) return std::nullopt;
        return answer(a->us, kCopy, "");
      }
      case OpClass::kPageMap: {
        if (!use_[kPageMap] || op.items <= 0) return std::nullopt;
        auto a = profile_.predict_page_map(op.page_bytes);
        if (!a) return std::nullopt;
        return answer(a->us * static_cast<double>(op.items), kPageMap, "");
      }
      case OpClass::kElementwise:
      case OpClass::kCpu:
        return std::nullopt;
    }
    return std::nullopt;
  }

  Config c_;
  PhysicalBound bound_;
  FittedProfile profile_;
  std::string tag_;
  // Per family: (variant, stable source string "fit:<device>@<sha>:<family>[:variant]").
  std::array<std::vector<std::pair<std::string, std::string>>, 7> sources_;
  std::array<bool, 7> use_{};
  std::unique_ptr<ICostModel> roofline_;
  bool has_profile_ = false;
  bool has_fp8_block_ = false;
  double intra_bw_ = 0;
};

}  // namespace

SERVESIM_REGISTER(CostModelRegistry, CalibratedCostModel, "calibrated",
                  "fitted profile from measured kernels (calibration/profiles/<device>.json) first, roofline fallback")

}  // namespace servesim
