#pragma once
// Operator descriptors: the vocabulary between the executor and the cost models. Contract:
// - An Operator describes ONE kernel (or host call) on ONE device of the parallel group,
//   shapes already sharded by the plan; `repeat` says how many times it runs in the step
//   (e.g. once per layer). Cost models predict one execution.
// - `overlap` marks work that may run concurrently with the step's compute (background
//   page mapping, asynchronous copies): the step pays only what does not fit under compute.
// - Attention descriptors point at per-sequence (query, context) pairs owned by the caller;
//   they are valid only during the prediction call.
#include <array>
#include <cstdint>
#include <span>

#include "sim/core/dtype.h"

namespace servesim {

enum class OpClass : std::uint8_t {
  kGemm,
  kAttentionPrefill,
  kAttentionDecode,
  kElementwise,
  kCollective,
  kCopy,
  kPageMap,
  kCpu,
};
const char* op_class_name(OpClass c);

enum class CollectiveKind : std::uint8_t { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kSendRecv };
const char* collective_name(CollectiveKind k);
enum class CopyKind : std::uint8_t { kHostToDevice, kDeviceToHost, kDeviceToDevice, kDeviceToPeer, kDiskToHost, kHostToDisk };
const char* copy_name(CopyKind k);

// One sequence's share of an attention kernel: `q` new tokens attend to `context` cached
// tokens plus themselves (causal among the new ones).
struct SeqAttention {
  std::int32_t q = 0;
  std::int32_t context = 0;
};

struct GemmShape {
  std::int64_t m = 0, n = 0, k = 0;  // C[m x n] = A[m x k] * B[k x n]; m = tokens
  std::int64_t groups = 1;           // grouped GEMM (MoE experts): `groups` GEMMs of this shape
  DType dtype = DType::kBf16;
};

struct AttentionShape {
  std::int32_t heads = 0;     // query heads on this device
  std::int32_t kv_heads = 0;  // KV heads on this device (latent: 1)
  std::int32_t head_dim = 0;  // q/k head dim
  std::int32_t v_head_dim = 0;
  DType dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  double kv_bytes_per_token = 0;  // per layer on this device, as the KV manager stores it
  bool paged = true;              // block table vs contiguous per-sequence KV
  std::int32_t block_size = 16;   // tokens per block/page as the kernel sees it
  std::int64_t window = 0;        // sliding window (0: none)
  std::span<const SeqAttention> seqs;
  // Aggregates over seqs, filled by the builder (cheap to use in fitted models).
  std::int64_t num_seqs = 0;
  std::int64_t sum_q = 0;
  std::int64_t sum_kv = 0;        // sum over seqs of (context + q), window-clipped
  double sum_q_kv = 0;            // sum over seqs of attended (query, key) pairs, causal
  std::int64_t max_kv = 0;
  // Sequences whose keys the sliding window clips, their new tokens, and the keys it cut
  // from them (context + q - window, summed): what a kernel that reads whole key tiles
  // reads beyond the window comes out of these (FittedProfile::predict_attention).
  std::int64_t window_seqs = 0, window_q = 0, window_excess = 0;
};

// Recomputes the aggregates of `a` from its per-sequence pairs (window-clipped).
void compute_attention_aggregates(AttentionShape& a);

// What one sequence of `q` new tokens after `context` cached ones attends: its keys (context
// + q) and query-key pairs (q x context + q (q + 1) / 2, causal). Under a sliding window of
// `window` tokens (0: none) the query at position p attends min(p + 1, window) keys: `window`
// keys (the last query's) and the sum of those over the q queries.
struct AttendedSpan {
  double keys = 0, pairs = 0;
};
AttendedSpan attended_span(double q, double context, double window);

struct CollectiveShape {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  double bytes = 0;  // per-rank buffer size (nccl-tests "size")
  std::int32_t ranks = 1;
  double link_bandwidth = 0;  // bytes/s per direction of the group's bottleneck link (0: cost model decides)
  double link_latency_s = 0;
};

struct CopyShape {
  CopyKind kind = CopyKind::kHostToDevice;
  double bytes = 0;   // total
  std::int64_t chunks = 1;
  bool pinned = true;
};

// The routed experts of one MoE layer on one device, for a cost model that prices them as
// one fused kernel (vLLM's fused_moe: routing, gate_up, activation, down, weighted sum). The
// plan emits them as three operators (moe_expert_operators), each carrying this shape and
// its `part`; such a model gives each part the fused kernel's time in proportion to the
// part's own physical bound, so the three sum to the kernel's time.
struct MoeLayerShape {
  std::int64_t hidden = 0;
  std::int64_t inter = 0;          // one expert's width on this device
  std::int32_t topk = 0;
  std::int32_t local_experts = 0;  // experts on this device
  std::int32_t ep = 0;             // expert-parallel shards (0: not a MoE expert operator)
  std::int8_t part = -1;           // 0 gate_up, 1 activation, 2 down
  DType weight_dtype = DType::kBf16, act_dtype = DType::kBf16;
  bool mxfp4 = false;  // int4 expert weights in MXFP4 (gpt-oss), not integer int4
  // The device's routed token copies (the slowest shard's under a routing draw), the experts
  // that get any and the rows each gets.
  double copies = 0;
  std::int64_t active = 0, per_expert = 0;
};

// Which pipeline stages run an operator (a plan with pp > 1): every stage, per layer it
// holds (the operator's repeat counts the most loaded stage's layers), the first stage only
// (embedding), the last only (final norm, LM head, sampling), or the hand-off of hidden
// states from one stage to the next (on the link between them, once per boundary).
enum class StagePart : std::uint8_t { kLayers, kFirst, kLast, kHandoff };

struct Operator {
  OpClass cls = OpClass::kElementwise;
  StagePart stage = StagePart::kLayers;
  const char* name = "";  // stable label: "qkv_proj", "attn_decode", "tp_all_reduce", ...
  std::int64_t repeat = 1;
  bool overlap = false;
  GemmShape gemm;
  AttentionShape attn;
  CollectiveShape coll;
  CopyShape copy;
  MoeLayerShape moe;         // the MoE expert operators' layer (moe.ep > 0)
  double bytes = 0;          // elementwise: bytes read + written
  double flops = 0;          // elementwise: arithmetic
  std::int64_t items = 0;    // page mapping: map calls; cpu: sequences in the step
  double page_bytes = 0;     // page mapping: bytes per page
  double cpu_seconds = 0;    // CPU work known directly (e.g. scheduler bookkeeping)
  // The engine's per-step CPU operator (kCpu) describes the step it drives: `items` = sequences,
  // cpu_tokens = new tokens, cpu_kv_tokens = keys/values attended (sum of context + new),
  // gpu_seconds = the step's device time. Its prediction is the CPU time the step EXPOSES
  // (what does not overlap with the device work), so an engine that launches kernels while
  // the GPU runs can hide part of its CPU time.
  std::int64_t cpu_tokens = 0;
  std::int64_t cpu_kv_tokens = 0;
  double gpu_seconds = 0;
};

// A MoE layer's experts on one device under balanced routing: `tokens` x topk / ep routed
// copies spread evenly over min(local experts, copies) active experts, ceil(copies / active)
// rows each (at least one of each).
MoeLayerShape balanced_moe_layer(std::int64_t tokens, std::int64_t hidden, std::int64_t inter, std::int32_t topk,
                                 std::int32_t local_experts, std::int32_t ep, DType weight_dtype, DType act_dtype);

// The three operators of a MoE layer's routed experts, each run `repeat` times a step: the
// grouped gate_up GEMM (per_expert x 2 inter x hidden, `active` groups), the activation (reads
// 2 inter, writes inter a copy), the grouped down GEMM (per_expert x hidden x inter).
std::array<Operator, 3> moe_expert_operators(const MoeLayerShape& s, std::int64_t repeat);

// The arithmetic and device-memory traffic of ONE execution of an operator on one device,
// by the counting rules of the roofline: a GEMM does 2mnk FLOPs per group and moves its
// weights once plus 16-bit activations in and out; attention counts (query, key) pairs
// and reads the KV it attends; element-wise work is as described; a collective moves the
// bytes each rank sends (ring volume); a device-to-device copy reads and writes its bytes,
// a host or peer copy writes them once. Page maps and CPU work do no device work.
struct OpWork {
  double flops = 0;
  double bytes = 0;
  DType dtype = DType::kBf16;  // the compute dtype of the FLOPs
};
OpWork op_work(const Operator& op);

}  // namespace servesim
