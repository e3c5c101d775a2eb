#include "sim/cost/physical_bound.h"

#include <algorithm>

namespace servesim {
namespace {

double over(double amount, double rate) { return rate > 0 ? amount / rate : 0.0; }

}  // namespace

PhysicalBound::PhysicalBound(const DeviceSpec& dev)
    : hbm_(dev.hbm_bandwidth), intra_(dev.intra_node_bandwidth), host_(dev.host_link_bandwidth) {
  for (std::size_t d = 0; d < peak_.size(); ++d) peak_[d] = dev.peak_flops(static_cast<DType>(d));
}

double PhysicalBound::seconds(const Operator& op) const {
  switch (op.cls) {
    case OpClass::kGemm: {
      const auto& g = op.gemm;
      const double m = static_cast<double>(g.m), n = static_cast<double>(g.n), k = static_cast<double>(g.k);
      const double groups = static_cast<double>(g.groups);
      const double flops = 2.0 * m * n * k * groups;
      const double bytes = groups * (k * n + m * k + m * n) * dtype_bytes(g.dtype);
      return std::max(over(flops, peak(g.dtype)), over(bytes, hbm_));
    }
    case OpClass::kAttentionPrefill:
    case OpClass::kAttentionDecode: {
      const auto& a = op.attn;
      const bool prefill = op.cls == OpClass::kAttentionPrefill;
      const double pairs = prefill ? a.sum_q_kv : static_cast<double>(a.sum_kv);
      const double flops = 2.0 * pairs * a.heads * (a.head_dim + a.v_head_dim);
      // A kernel may compute in the KV's dtype when it is narrower (FP8 attention).
      const double best_peak = std::max(peak(a.dtype), peak(a.kv_dtype));
      const double bytes = static_cast<double>(a.sum_kv) * a.kv_bytes_per_token;
      return std::max(over(flops, best_peak), over(bytes, hbm_));
    }
    case OpClass::kElementwise:
      return std::max(over(op.flops, peak(DType::kFp32)), over(op.bytes, hbm_));
    case OpClass::kCollective: {
      const auto& c = op.coll;
      const double n = static_cast<double>(c.ranks);
      if (n <= 1) return 0.0;
      const double share = c.kind == CollectiveKind::kSendRecv ? 1.0 : (n - 1) / n;
      const double bw = c.link_bandwidth > 0 ? c.link_bandwidth : intra_;
      return over(share * c.bytes, bw);
    }
    case OpClass::kCopy: {
      const auto& c = op.copy;
      switch (c.kind) {
        case CopyKind::kHostToDevice:
        case CopyKind::kDeviceToHost: return over(c.bytes, host_);
        case CopyKind::kDeviceToDevice: return over(2.0 * c.bytes, hbm_);
        case CopyKind::kDeviceToPeer: return over(c.bytes, intra_);
        case CopyKind::kDiskToHost:
        case CopyKind::kHostToDisk: return 0.0;  // the storage path is not in the device profile
      }
      return 0.0;
    }
    case OpClass::kPageMap:
    case OpClass::kCpu:
      return 0.0;
  }
  return 0.0;
}

}  // namespace servesim
