// The composite cost model: a fitted profile (calibration/profiles/<device>.json, built by
// `servesim calibrate fit` from measured kernels) answers first, the roofline last. Every
// prediction names its answer: "fit:<device>@<profile sha256 prefix>:<family>[:variant]"
// ("derived:..." for a derived profile) or "roofline".
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/cost/fitted_profile.h"
#include "sim/cost/i_cost_model.h"
#include "sim/cost/sha256.h"

namespace servesim {
namespace {

const std::vector<std::string> kFamilies = {"gemm", "attention_prefill", "attention_decode", "collective", "copy", "page_map"};

class CalibratedCostModel final : public ICostModel {
 public:
  struct Config {
    std::string profile;
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
                           "calibration/profiles/<name>.json under the data dir (empty: the scenario's device)");
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
                                         "collective, copy, page_map); the others go to the roofline");
      if (!fam.is_array()) bad_value(p.where("families"), fam.dump(), "an array of family names");
      for (const auto& f : fam) {
        if (!f.is_string() || std::find(kFamilies.begin(), kFamilies.end(), f.get<std::string>()) == kFamilies.end()) {
          bad_value(p.where("families"), f.dump(), "gemm, attention_prefill, attention_decode, collective, copy or page_map");
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

  CalibratedCostModel(const Config& c, const CostDeps& deps) : c_(c) {
    namespace fs = std::filesystem;
    std::string path = c.profile.empty() ? deps.device.name : c.profile;
    const bool is_path = path.find('/') != std::string::npos || path.ends_with(".json");
    if (!is_path) {
      path = (fs::path(deps.data_dir) / "calibration" / "profiles" / (path + ".json")).string();
    } else if (!fs::exists(path) && fs::path(path).is_relative() && fs::exists(fs::path(deps.data_dir) / path)) {
      path = (fs::path(deps.data_dir) / path).string();
    }
    if (!fs::exists(path)) {
      bad_value(c.where + ".profile", path,
                "an existing fitted profile (run `servesim calibrate fit --device " + deps.device.name +
                    "`, or use the roofline cost model)");
    }
    profile_ = FittedProfile::load(path);
    const std::string sha = sha256_file_hex(path).substr(0, 8);
    tag_ = fmt::format("{}:{}@{}", profile_.status == "derived" ? "derived" : "fit", profile_.device, sha);
    for (const auto& f : kFamilies) {
      use_[f] = c.families.empty() || std::find(c.families.begin(), c.families.end(), f) != c.families.end();
    }
    auto src = [&](const std::string& s) { return sources_.emplace(s, tag_ + ":" + s).first->second; };
    for (const char* v : {"gemm", "gemm:regression", "attention_prefill", "attention_prefill:global", "attention_decode",
                          "attention_decode:global", "copy", "page_map"}) {
      src(v);
    }
    for (const auto& cv : profile_.collectives) src("collective:" + cv.backend);
    roofline_ = CostModelRegistry::get().make(c.fallback, deps);
    intra_bw_ = profile_.rates.intra_node_bandwidth;
  }

  std::optional<Prediction> predict(const Operator& op) const override {
    if (auto p = fitted(op)) return p;
    return roofline_->predict(op);
  }

 private:
  std::optional<Prediction> answer(double us, const std::string& key) const {
    auto it = sources_.find(key);
    SERVESIM_ASSERT(it != sources_.end());
    return Prediction{from_seconds(us * 1e-6), it->second};
  }

  std::optional<Prediction> fitted(const Operator& op) const {
    switch (op.cls) {
      case OpClass::kGemm: {
        const auto& g = op.gemm;
        if (!use_.at("gemm") || g.groups != 1) return std::nullopt;
        std::string dt;
        if (g.dtype == DType::kBf16 || g.dtype == DType::kFp16) dt = "bf16";
        if (g.dtype == DType::kFp8) dt = "fp8";
        if (dt.empty()) return std::nullopt;
        auto a = profile_.predict_gemm(static_cast<double>(g.m), static_cast<double>(g.n), static_cast<double>(g.k), dt);
        if (!a) return std::nullopt;
        return answer(a->us, *a->variant ? std::string("gemm:") + a->variant : "gemm");
      }
      case OpClass::kAttentionPrefill:
      case OpClass::kAttentionDecode: {
        const bool prefill = op.cls == OpClass::kAttentionPrefill;
        const std::string fam = prefill ? "attention_prefill" : "attention_decode";
        if (!use_.at(fam)) return std::nullopt;
        auto a = profile_.predict_attention(prefill, AttentionQuery::from(op.attn), prefill ? c_.prefill_kernel : c_.decode_kernel);
        if (!a) return std::nullopt;
        return answer(a->us, *a->variant ? fam + ":" + a->variant : fam);
      }
      case OpClass::kCollective: {
        const auto& c = op.coll;
        if (!use_.at("collective") || c.ranks <= 1) return std::nullopt;
        // The fitted curves are intra-node (NVLink); a slower link is another network.
        if (c.link_bandwidth > 0 && c.link_bandwidth < 0.99 * intra_bw_) return std::nullopt;
        std::string backend;
        if (c.kind == CollectiveKind::kAllReduce && c_.all_reduce_backend != "best") backend = c_.all_reduce_backend;
        if (c.kind != CollectiveKind::kAllReduce) backend = "nccl";
        auto a = profile_.predict_collective(collective_op_name(c.kind), c.ranks, c.bytes, backend);
        if (!a) return std::nullopt;
        return answer(a->us, std::string("collective:") + a->variant);
      }
      case OpClass::kCopy: {
        const auto& c = op.copy;
        const std::string dir = copy_direction_name(c.kind);
        if (!use_.at("copy") || dir.empty()) return std::nullopt;
        auto a = profile_.predict_copy(dir, c.pinned, c.bytes, static_cast<double>(std::max<std::int64_t>(1, c.chunks)));
        if (!a) return std::nullopt;
        return answer(a->us, "copy");
      }
      case OpClass::kPageMap: {
        if (!use_.at("page_map") || op.items <= 0) return std::nullopt;
        auto a = profile_.predict_page_map(op.page_bytes);
        if (!a) return std::nullopt;
        return answer(a->us * static_cast<double>(op.items), "page_map");
      }
      case OpClass::kElementwise:
      case OpClass::kCpu:
        return std::nullopt;
    }
    return std::nullopt;
  }

  Config c_;
  FittedProfile profile_;
  std::string tag_;
  std::map<std::string, std::string> sources_;  // variant key -> stable source string
  std::map<std::string, bool> use_;
  std::unique_ptr<ICostModel> roofline_;
  double intra_bw_ = 0;
};

}  // namespace

SERVESIM_REGISTER(CostModelRegistry, CalibratedCostModel, "calibrated",
                  "fitted profile from measured kernels (calibration/profiles/<device>.json) first, roofline fallback")

}  // namespace servesim
