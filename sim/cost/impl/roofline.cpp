// Roofline cost model with efficiency curves: each kernel takes the longer of its compute
// time at an achievable fraction of peak and its memory time at an achievable fraction of
// bandwidth, plus a fixed per-kernel overhead. It answers every operator class and is the
// fallback of the composite model.
#include <algorithm>
#include <array>
#include <cmath>

#include "sim/cost/i_cost_model.h"

namespace servesim {
namespace {

class RooflineCostModel final : public ICostModel {
 public:
  struct Config {
    double gemm_efficiency = 0;  // 0: the device profile's measured fraction, else 0.75
    double gemm_m_half = 0;
    double gemm_nk_half = 0;
    std::int64_t gemm_tile = 0;
    double bandwidth_fraction = 0;  // 0: the device profile's measured fraction, else 0.85
    double prefill_attention_efficiency = 0;
    double decode_attention_bandwidth_fraction = 0;
    double paged_decode_factor = 1;
    SimTime kernel_overhead = 0;
    double collective_efficiency = 0;
    SimTime collective_latency = 0;
    double copy_efficiency = 0;
    SimTime copy_chunk_overhead = 0;
    SimTime page_map_time = 0;
    SimTime cpu_step_overhead = 0;
    SimTime cpu_per_seq_overhead = 0;

    static Config parse(Params& p) {
      Config c;
      c.gemm_efficiency = p.real("gemm_efficiency", 0.0,
                                 "best fraction of dense peak a large GEMM reaches (0: the device profile's measured "
                                 "achievable.bf16_gemm_fraction, or 0.75 without one)", 0.0, 1.0);
      c.gemm_m_half = p.real("gemm_m_half", 32.0, "tokens (m) at which GEMM efficiency is half its best", 0.0);
      c.gemm_nk_half = p.real("gemm_nk_half", 256.0, "n or k at which GEMM efficiency is half its best", 0.0);
      c.gemm_tile = p.integer("gemm_tile", 128, "output tile edge for wave quantisation (0: off)", 0, 1024);
      c.bandwidth_fraction = p.real("bandwidth_fraction", 0.0,
                                    "fraction of HBM bandwidth streaming kernels reach (0: the device profile's "
                                    "measured achievable.hbm_bandwidth_fraction, or 0.85 without one)", 0.0, 1.0);
      c.prefill_attention_efficiency =
          p.real("prefill_attention_efficiency", 0.5, "fraction of dense peak reached by prefill attention", 0.01, 1.0);
      c.decode_attention_bandwidth_fraction = p.real(
          "decode_attention_bandwidth_fraction", 0.7, "fraction of HBM bandwidth reached reading KV in decode", 0.01, 1.0);
      c.paged_decode_factor = p.real("paged_decode_factor", 1.0,
                                     "slowdown of paged (block-table) attention kernels against contiguous ones", 1.0, 10.0);
      c.kernel_overhead = p.duration("kernel_overhead", "2us", "fixed time added to every kernel (launch and tail)");
      c.collective_efficiency =
          p.real("collective_efficiency", 0.8, "fraction of link bandwidth collectives reach at large sizes", 0.01, 1.0);
      c.collective_latency = p.duration("collective_latency", "8us", "latency per collective step (ring hop)");
      c.copy_efficiency = p.real("copy_efficiency", 0.8, "fraction of host-link bandwidth copies reach", 0.01, 1.0);
      c.copy_chunk_overhead = p.duration("copy_chunk_overhead", "5us", "fixed cost per copy call (per chunk)");
      c.page_map_time = p.duration("page_map_time", "30us", "time of one physical page map call (cuMemMap + SetAccess)");
      c.cpu_step_overhead = p.duration("cpu_step_overhead", "1ms", "CPU time per engine step (scheduling, launch, sampling)");
      c.cpu_per_seq_overhead = p.duration("cpu_per_seq_overhead", "10us", "CPU time per scheduled sequence per step");
      return c;
    }
  };

  RooflineCostModel(const Config& c, const CostDeps& deps) : c_(c), dev_(deps.device) {
    if (c_.gemm_efficiency == 0) c_.gemm_efficiency = dev_.achievable_gemm_fraction.value_or(0.75);
    if (c_.bandwidth_fraction == 0) c_.bandwidth_fraction = dev_.achievable_hbm_fraction.value_or(0.85);
    // Peak rates per dtype, looked up once here rather than by name on the hot path.
    for (std::size_t d = 0; d < peak_.size(); ++d) peak_[d] = dev_.peak_flops(static_cast<DType>(d));
  }

  std::optional<Prediction> predict(const Operator& op) const override {
    return Prediction{predict_ns(op), "roofline"};
  }

 private:
  static double half_curve(double x, double half) { return half <= 0 ? 1.0 : x / (x + half); }

  SimTime kernel(double compute_s, double memory_s) const {
    return from_seconds(std::max(compute_s, memory_s)) + c_.kernel_overhead;
  }

  double hbm() const { return dev_.hbm_bandwidth * c_.bandwidth_fraction; }

  SimTime predict_ns(const Operator& op) const {
    const OpWork w = op_work(op);
    switch (op.cls) {
      case OpClass::kGemm: {
        const auto& g = op.gemm;
        const double m = static_cast<double>(g.m), n = static_cast<double>(g.n), k = static_cast<double>(g.k);
        double eff = c_.gemm_efficiency * half_curve(m, c_.gemm_m_half) * half_curve(n, c_.gemm_nk_half) *
                     half_curve(k, c_.gemm_nk_half) / (half_curve(4096, c_.gemm_m_half) * half_curve(4096, c_.gemm_nk_half) *
                                                        half_curve(4096, c_.gemm_nk_half));
        eff = std::min(eff, c_.gemm_efficiency);
        if (c_.gemm_tile > 0) {
          // Wave quantisation: the last wave of output tiles leaves SMs idle.
          const double t = static_cast<double>(c_.gemm_tile);
          const double tiles = std::ceil(m / t) * std::ceil(n / t) * static_cast<double>(g.groups);
          const double waves = std::ceil(tiles / dev_.sm_count);
          eff *= tiles / (waves * dev_.sm_count);
        }
        return kernel(w.flops / (peak(g.dtype) * eff), w.bytes / hbm());
      }
      case OpClass::kAttentionPrefill:
        return kernel(w.flops / (peak(w.dtype) * c_.prefill_attention_efficiency), w.bytes / hbm());
      case OpClass::kAttentionDecode: {
        double memory_s = w.bytes / (dev_.hbm_bandwidth * c_.decode_attention_bandwidth_fraction);
        if (op.attn.paged) memory_s *= c_.paged_decode_factor;
        return kernel(w.flops / (peak(w.dtype) * 0.5), memory_s);
      }
      case OpClass::kElementwise:
        return kernel(w.flops / peak(DType::kFp32), w.bytes / hbm());
      case OpClass::kCollective: {
        const auto& c = op.coll;
        const double n = static_cast<double>(c.ranks);
        if (n <= 1) return 0;
        const double bw = (c.link_bandwidth > 0 ? c.link_bandwidth : dev_.intra_node_bandwidth) * c_.collective_efficiency;
        // Latency-bound steps of the ring (the volume each rank sends is w.bytes).
        double steps = 0;
        switch (c.kind) {
          case CollectiveKind::kAllReduce: steps = 2.0 * (n - 1); break;
          case CollectiveKind::kAllGather:
          case CollectiveKind::kReduceScatter: steps = n - 1; break;
          case CollectiveKind::kAllToAll:
          case CollectiveKind::kSendRecv: steps = 1; break;
        }
        const double lat = c.link_latency_s > 0 ? c.link_latency_s : to_seconds(c_.collective_latency);
        return from_seconds(w.bytes / bw + steps * lat) + c_.kernel_overhead;
      }
      case OpClass::kCopy: {
        const auto& c = op.copy;
        double bw = dev_.host_link_bandwidth;
        if (c.kind == CopyKind::kDeviceToDevice) bw = dev_.hbm_bandwidth / 2;  // read + write
        if (c.kind == CopyKind::kDeviceToPeer) bw = dev_.intra_node_bandwidth;
        return from_seconds(c.bytes / (bw * c_.copy_efficiency)) + c_.copy_chunk_overhead * c.chunks;
      }
      case OpClass::kPageMap:
        return c_.page_map_time * op.items;
      case OpClass::kCpu:
        return from_seconds(op.cpu_seconds) + c_.cpu_step_overhead + c_.cpu_per_seq_overhead * op.items;
    }
    return 0;
  }

  double peak(DType d) const { return peak_[static_cast<std::size_t>(d)]; }

  Config c_;
  const DeviceSpec& dev_;
  std::array<double, kNumDTypes> peak_{};  // indexed by DType
};

}  // namespace

SERVESIM_REGISTER(CostModelRegistry, RooflineCostModel, "roofline",
                  "roofline with GEMM/attention efficiency curves, per-kernel overhead and CPU step overhead")

}  // namespace servesim
