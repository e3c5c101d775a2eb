#include <cmath>
#include "sim/model/operator.h"

#include <algorithm>

namespace servesim {

void compute_attention_aggregates(AttentionShape& a) {
  a.num_seqs = static_cast<std::int64_t>(a.seqs.size());
  a.sum_q = 0;
  a.sum_kv = 0;
  a.sum_q_kv = 0;
  a.max_kv = 0;
  a.window_seqs = a.window_q = a.window_excess = 0;
  for (const auto& s : a.seqs) {
    const AttendedSpan span = attended_span(static_cast<double>(s.q), static_cast<double>(s.context), static_cast<double>(a.window));
    const auto kv = static_cast<std::int64_t>(span.keys);
    a.sum_q += s.q;
    a.sum_kv += kv;
    a.sum_q_kv += span.pairs;
    a.max_kv = std::max(a.max_kv, kv);
    if (a.window > 0 && static_cast<std::int64_t>(s.context) + s.q > a.window) {
      ++a.window_seqs;
      a.window_q += s.q;
      a.window_excess += static_cast<std::int64_t>(s.context) + s.q - a.window;
    }
  }
}

AttendedSpan attended_span(double q, double context, double window) {
  // Query at position p (context <= p < context + q) attends min(p + 1, window) keys; summed
  // over its x = p + 1 from context + 1 to context + q.
  AttendedSpan s{context + q, q * context + 0.5 * q * (q + 1)};
  if (window > 0 && s.keys > window) {
    s.keys = window;
    const double first = context + 1;  // the first query's x
    s.pairs = first >= window ? q * window : 0.5 * (first + window) * (window - first + 1) + (context + q - window) * window;
  }
  return s;
}

MoeLayerShape balanced_moe_layer(std::int64_t tokens, std::int64_t hidden, std::int64_t inter, std::int32_t topk,
                                 std::int32_t local_experts, std::int32_t ep, DType weight_dtype, DType act_dtype) {
  MoeLayerShape s;
  s.hidden = hidden;
  s.inter = inter;
  s.topk = topk;
  s.local_experts = local_experts;
  s.ep = ep;
  s.weight_dtype = weight_dtype;
  s.act_dtype = act_dtype;
  s.copies = static_cast<double>(tokens) * static_cast<double>(topk) / ep;
  s.active = std::min<std::int64_t>(local_experts, static_cast<std::int64_t>(std::ceil(s.copies)));
  s.per_expert = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(s.copies / std::max<std::int64_t>(1, s.active))));
  return s;
}

std::array<Operator, 3> moe_expert_operators(const MoeLayerShape& s, std::int64_t repeat) {
  std::array<Operator, 3> ops;
  const char* names[3] = {"expert_gate_up", "expert_act", "expert_down"};
  for (std::size_t i = 0; i < ops.size(); ++i) {
    Operator& op = ops[i];
    op.name = names[i];
    op.repeat = repeat;
    op.moe = s;
    op.moe.part = static_cast<std::int8_t>(i);
  }
  ops[0].cls = OpClass::kGemm;
  ops[0].gemm = GemmShape{s.per_expert, 2 * s.inter, s.hidden, s.active, s.weight_dtype};
  const double act = dtype_bytes(s.act_dtype), inter = static_cast<double>(s.inter);
  ops[1].cls = OpClass::kElementwise;
  ops[1].bytes = 3.0 * s.copies * inter * act;
  ops[1].flops = 4.0 * s.copies * inter;
  ops[2].cls = OpClass::kGemm;
  ops[2].gemm = GemmShape{s.per_expert, s.hidden, s.inter, s.active, s.weight_dtype};
  return ops;
}

OpWork op_work(const Operator& op) {
  OpWork w;
  switch (op.cls) {
    case OpClass::kGemm: {
      const auto& g = op.gemm;
      const double m = static_cast<double>(g.m), n = static_cast<double>(g.n), k = static_cast<double>(g.k);
      const double groups = static_cast<double>(g.groups);
      w.flops = 2.0 * m * n * k * groups;
      w.bytes = groups * (k * n * dtype_bytes(g.dtype) + (m * k + m * n) * 2.0);
      w.dtype = g.dtype;
      break;
    }
    case OpClass::kAttentionPrefill:
    case OpClass::kAttentionDecode: {
      const auto& a = op.attn;
      const bool prefill = op.cls == OpClass::kAttentionPrefill;
      const double pairs = prefill ? a.sum_q_kv : static_cast<double>(a.sum_kv);
      const double queries = prefill ? static_cast<double>(a.sum_q) : static_cast<double>(a.num_seqs);
      w.flops = 2.0 * pairs * a.heads * (a.head_dim + a.v_head_dim);
      w.bytes = static_cast<double>(a.sum_kv) * a.kv_bytes_per_token + queries * a.heads * (a.head_dim + a.v_head_dim) * dtype_bytes(a.dtype);
      w.dtype = a.dtype;
      break;
    }
    case OpClass::kElementwise:
      w.flops = op.flops;
      w.bytes = op.bytes;
      w.dtype = DType::kFp32;
      break;
    case OpClass::kCollective: {
      const double n = static_cast<double>(op.coll.ranks);
      if (n > 1) {
        const double share = op.coll.kind == CollectiveKind::kAllReduce ? 2.0 * (n - 1) / n
                             : op.coll.kind == CollectiveKind::kSendRecv ? 1.0
                                                                         : (n - 1) / n;
        w.bytes = share * op.coll.bytes;
      }
      break;
    }
    case OpClass::kCopy:
      w.bytes = op.copy.kind == CopyKind::kDeviceToDevice ? 2.0 * op.copy.bytes : op.copy.bytes;
      break;
    case OpClass::kPageMap:
    case OpClass::kCpu:
      break;
  }
  return w;
}

const char* op_class_name(OpClass c) {
  switch (c) {
    case OpClass::kGemm: return "gemm";
    case OpClass::kAttentionPrefill: return "attention_prefill";
    case OpClass::kAttentionDecode: return "attention_decode";
    case OpClass::kElementwise: return "elementwise";
    case OpClass::kCollective: return "collective";
    case OpClass::kCopy: return "copy";
    case OpClass::kPageMap: return "page_map";
    case OpClass::kCpu: return "cpu";
  }
  return "?";
}

const char* collective_name(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::kAllReduce: return "all_reduce";
    case CollectiveKind::kAllGather: return "all_gather";
    case CollectiveKind::kReduceScatter: return "reduce_scatter";
    case CollectiveKind::kAllToAll: return "all_to_all";
    case CollectiveKind::kSendRecv: return "send_recv";
  }
  return "?";
}

const char* copy_name(CopyKind k) {
  switch (k) {
    case CopyKind::kHostToDevice: return "h2d";
    case CopyKind::kDeviceToHost: return "d2h";
    case CopyKind::kDeviceToDevice: return "d2d";
    case CopyKind::kDeviceToPeer: return "p2p";
    case CopyKind::kDiskToHost: return "disk2h";
    case CopyKind::kHostToDisk: return "h2disk";
  }
  return "?";
}

}  // namespace servesim
