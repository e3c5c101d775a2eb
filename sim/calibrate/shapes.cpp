#include "sim/calibrate/shapes.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "sim/calibrate/csv_table.h"
#include "sim/core/error.h"
#include "sim/core/units.h"

namespace servesim::calib {

const std::vector<std::string>& shape_columns() {
  static const std::vector<std::string> cols = {"id", "op", "dtype", "m", "n", "k", "groups", "batch", "q_len", "ctx_len", "heads",
                                                "kv_heads", "head_dim", "kv_dtype", "layout", "window", "ranks", "bytes", "direction",
                                                "chunks", "host_mem", "page_bytes", "calls", "topk", "experts", "ep",
                                                "copies", "active", "measured_us"};
  return cols;
}

namespace {

// Bounds on a row's values: beyond them a shape is a typo, and the operator's int32/int64
// fields (and the cost models' arithmetic) would overflow.
constexpr double kMaxCount = 2147483647.0;        // int32 fields: tokens, heads, ranks
constexpr double kMaxTokens = 1099511627776.0;    // 2^40 tokens in one attention call
constexpr double kMaxBytes = 1125899906842624.0;  // 1 PiB: no operator moves more

struct RowReader {
  const CsvTable& t;
  std::size_t r;
  std::string op;

  std::optional<std::size_t> col(const std::string& name) const {
    if (!t.has(name)) return std::nullopt;
    const std::size_t c = t.col(name);
    if (t.cell(r, c).empty()) return std::nullopt;
    return c;
  }
  [[noreturn]] void missing(const std::string& name) const {
    const std::size_t c = t.has(name) ? t.col(name) : t.col("op");
    input_error(t.where(r, c), fmt::format("missing {}, needed by op {}", name, op));
  }
  // Counts are int32 fields of an operator (tokens, heads, ranks): at most 2^31 - 1.
  double count(const std::string& name, std::optional<double> def = std::nullopt, double min = 1) const {
    auto c = col(name);
    if (!c) {
      if (def) return *def;
      missing(name);
    }
    const double v = t.number(r, *c);
    if (v != std::floor(v) || v < min || v > kMaxCount) {
      bad_value(t.where(r, *c), t.cell(r, *c), fmt::format("a whole number in [{}, {}]", min, kMaxCount));
    }
    return v;
  }
  double size(const std::string& name) const {
    auto c = col(name);
    if (!c) missing(name);
    const std::string& s = t.cell(r, *c);
    const bool plain = s.find_first_not_of("0123456789.eE+-") == std::string::npos;
    const double v = plain ? t.number(r, *c) : units::parse_bytes(s, t.where(r, *c));
    if (!(v > 0) || v > kMaxBytes) bad_value(t.where(r, *c), t.cell(r, *c), "a positive size in bytes, at most 1 PiB");
    return v;
  }
  std::string text(const std::string& name, const std::string& def) const {
    auto c = col(name);
    return c ? t.cell(r, *c) : def;
  }
  DType dtype(const std::string& name, DType def) const {
    auto c = col(name);
    return c ? parse_dtype(t.cell(r, *c), t.where(r, *c)) : def;
  }
  std::string where(const std::string& name) const { return t.where(r, t.has(name) ? t.col(name) : t.col("op")); }
};

}  // namespace

ShapeTable read_shapes(const std::string& path) {
  const CsvTable t = CsvTable::read(path);
  const auto& allowed = shape_columns();
  for (std::size_t c = 0; c < t.columns().size(); ++c) {
    if (std::find(allowed.begin(), allowed.end(), t.columns()[c]) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      bad_value(fmt::format("{}:1:{}", path, c + 1), t.columns()[c], "a shape column (" + list + ")");
    }
  }
  (void)t.col("op");
  ShapeTable out;
  out.columns = t.columns();
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    RowReader rr{t, r, t.cell(r, t.col("op"))};
    const std::string& op = rr.op;
    Operator o;
    o.name = "shape";
    if (op == "gemm") {
      o.cls = OpClass::kGemm;
      o.gemm.m = static_cast<std::int64_t>(rr.count("m"));
      o.gemm.n = static_cast<std::int64_t>(rr.count("n"));
      o.gemm.k = static_cast<std::int64_t>(rr.count("k"));
      o.gemm.dtype = rr.dtype("dtype", DType::kBf16);
      o.gemm.groups = static_cast<std::int64_t>(rr.count("groups", 1.0));
    } else if (op == "attention_prefill" || op == "attention_decode") {
      const bool prefill = op == "attention_prefill";
      o.cls = prefill ? OpClass::kAttentionPrefill : OpClass::kAttentionDecode;
      auto& a = o.attn;
      a.heads = static_cast<std::int32_t>(rr.count("heads"));
      a.kv_heads = static_cast<std::int32_t>(rr.count("kv_heads"));
      a.head_dim = static_cast<std::int32_t>(rr.count("head_dim"));
      a.v_head_dim = a.head_dim;
      if (a.heads % a.kv_heads != 0) {
        bad_value(rr.where("kv_heads"), std::to_string(a.kv_heads), fmt::format("a divisor of heads ({})", a.heads));
      }
      a.dtype = rr.dtype("dtype", DType::kBf16);
      a.kv_dtype = rr.dtype("kv_dtype", a.dtype);
      const std::string layout = rr.text("layout", "paged");
      if (layout != "paged" && layout != "contiguous") bad_value(rr.where("layout"), layout, "paged or contiguous");
      a.paged = layout == "paged";
      a.kv_bytes_per_token = 2.0 * a.kv_heads * a.head_dim * dtype_bytes(a.kv_dtype);
      const double b = rr.count("batch");
      const double q = prefill ? rr.count("q_len") : rr.count("q_len", 1.0);
      const double ctx = prefill ? rr.count("ctx_len", 0.0, 0) : rr.count("ctx_len", std::nullopt, 0);
      if (b * (ctx + q) > kMaxTokens) {
        bad_value(rr.where("batch"), fmt::format("{} x ({} + {}) tokens", b, ctx, q),
                  "batch x (ctx_len + q_len) at most 2^40 tokens");
      }
      a.window = static_cast<std::int64_t>(rr.count("window", 0.0, 0));  // sliding window (0: none)
      const AttendedSpan span = attended_span(q, ctx, static_cast<double>(a.window));
      a.num_seqs = static_cast<std::int64_t>(b);
      a.sum_q = static_cast<std::int64_t>(b * q);
      a.sum_kv = static_cast<std::int64_t>(b * span.keys);
      a.sum_q_kv = b * span.pairs;
      a.max_kv = static_cast<std::int64_t>(span.keys);
      if (a.window > 0 && ctx + q > static_cast<double>(a.window)) {  // every sequence clipped alike
        a.window_seqs = a.num_seqs;
        a.window_q = a.sum_q;
        a.window_excess = static_cast<std::int64_t>(b * (ctx + q - static_cast<double>(a.window)));
      }
    } else if (op == "all_reduce" || op == "all_gather" || op == "reduce_scatter" || op == "all_to_all" || op == "send_recv") {
      o.cls = OpClass::kCollective;
      o.coll.kind = op == "all_reduce"       ? CollectiveKind::kAllReduce
                    : op == "all_gather"     ? CollectiveKind::kAllGather
                    : op == "reduce_scatter" ? CollectiveKind::kReduceScatter
                    : op == "all_to_all"     ? CollectiveKind::kAllToAll
                                             : CollectiveKind::kSendRecv;
      o.coll.ranks = static_cast<std::int32_t>(rr.count("ranks", std::nullopt, 2));
      o.coll.bytes = rr.size("bytes");
    } else if (op == "copy") {
      o.cls = OpClass::kCopy;
      const std::string dir = rr.text("direction", "");
      if (dir == "h2d") o.copy.kind = CopyKind::kHostToDevice;
      else if (dir == "d2h") o.copy.kind = CopyKind::kDeviceToHost;
      else if (dir == "d2d") o.copy.kind = CopyKind::kDeviceToDevice;
      else if (dir == "d2p") o.copy.kind = CopyKind::kDeviceToPeer;
      else if (dir.empty()) rr.missing("direction");
      else bad_value(rr.where("direction"), dir, "h2d, d2h, d2d or d2p");
      o.copy.bytes = rr.size("bytes");
      o.copy.chunks = static_cast<std::int64_t>(rr.count("chunks", 1.0));
      const std::string mem = rr.text("host_mem", "pinned");
      if (mem != "pinned" && mem != "pageable") bad_value(rr.where("host_mem"), mem, "pinned or pageable");
      o.copy.pinned = mem == "pinned";
    } else if (op == "page_map") {
      o.cls = OpClass::kPageMap;
      o.page_bytes = rr.size("page_bytes");
      o.items = static_cast<std::int64_t>(rr.count("calls", 1.0));
    } else if (op == "moe") {
      // A MoE layer's routed experts on one device (balanced routing): m tokens enter it, n is
      // one expert's width on the device, k the hidden size; `experts` over `ep` shards.
      const auto experts = static_cast<std::int32_t>(rr.count("experts"));
      const auto ep = static_cast<std::int32_t>(rr.count("ep", 1.0));
      if (experts % ep != 0) bad_value(rr.where("ep"), std::to_string(ep), fmt::format("a divisor of experts ({})", experts));
      const auto topk = static_cast<std::int32_t>(rr.count("topk"));
      if (topk > experts) bad_value(rr.where("topk"), std::to_string(topk), fmt::format("at most experts ({})", experts));
      const double tokens = rr.count("m");
      const bool mxfp4 = rr.text("dtype", "") == "mxfp4";  // gpt-oss's experts: int4 values in MXFP4
      MoeLayerShape layer = balanced_moe_layer(static_cast<std::int64_t>(tokens), static_cast<std::int64_t>(rr.count("k")),
                                               static_cast<std::int64_t>(rr.count("n")), topk, experts / ep, ep,
                                               mxfp4 ? DType::kInt4 : rr.dtype("dtype", DType::kBf16), DType::kBf16);
      layer.mxfp4 = mxfp4;
      // A skewed routing's device (e.g. the slowest EP shard): its routed copies and the
      // experts that got any, instead of an even spread's.
      if (auto c = rr.col("copies")) {
        const double v = t.number(r, *c);
        if (!(v >= 1) || v > tokens * topk) {
          bad_value(t.where(r, *c), t.cell(r, *c), fmt::format("routed copies in [1, m x topk = {}]", tokens * topk));
        }
        layer.copies = v;
        layer.active = std::min<std::int64_t>(layer.local_experts, static_cast<std::int64_t>(std::ceil(v)));
      }
      if (rr.col("active")) {
        layer.active = static_cast<std::int64_t>(rr.count("active"));
        if (layer.active > layer.local_experts || static_cast<double>(layer.active) > std::ceil(layer.copies)) {
          bad_value(rr.where("active"), std::to_string(layer.active),
                    fmt::format("at most the experts on the device ({}) and the routed copies ({})", layer.local_experts, layer.copies));
        }
      }
      layer.per_expert = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(layer.copies / static_cast<double>(layer.active))));
      o = moe_expert_operators(layer, 1)[0];  // the layer's first part; `cost predict` prices all three
    } else {
      bad_value(t.where(r, t.col("op")), op,
                "gemm, attention_prefill, attention_decode, all_reduce, all_gather, reduce_scatter, all_to_all, send_recv, "
                "copy, page_map or moe");
    }
    double measured = std::numeric_limits<double>::quiet_NaN();
    if (auto c = rr.col("measured_us")) measured = t.positive(r, *c);
    out.ops.push_back(o);
    out.measured_us.push_back(measured);
    std::vector<std::string> row;
    for (std::size_t c = 0; c < t.columns().size(); ++c) row.push_back(t.cell(r, c));
    out.cells.push_back(std::move(row));
  }
  return out;
}

}  // namespace servesim::calib
