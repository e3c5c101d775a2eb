// Property test over every committed fitted profile (calibration/profiles/*.json) and every
// fitted family (MoE layers: the floor is the routed copies' FLOPs or the active experts'
// weights): on tens of thousands of random shapes, including 8x beyond the measured
// range in each dimension, the composite (calibrated) cost model
//   1. never answers faster than the device's physical limits, computed here from the
//      device profile by the plain rule time >= max(FLOPs / dense peak, bytes / bandwidth)
//      (GEMM: 2mnk FLOPs, A, B and C at the compute dtype; attention: 2 x pairs x heads x
//      (d_qk + d_v) FLOPs and the KV read once; collectives: (n-1)/n of the buffer over the
//      link; copies: the bytes over the host link);
//   2. never answers a larger problem faster than a smaller one: growing any one size
//      (m, n or k; context, query length or batch; bytes) never lowers the time.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sim/cost/fitted_profile.h"
#include "sim/cost/i_cost_model.h"
#include "sim/hardware/device_spec.h"

namespace servesim {
namespace {

namespace fs = std::filesystem;

struct Subject {
  std::string name;
  DeviceSpec dev;
  FittedProfile profile;
  std::unique_ptr<ICostModel> model;
};

std::vector<std::unique_ptr<Subject>> subjects() {
  std::vector<std::unique_ptr<Subject>> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(SERVESIM_DATA_DIR) / "calibration" / "profiles")) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".json") && !name.ends_with(".residuals.json")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto s = std::make_unique<Subject>();
    s->name = f.stem().string();  // <device> or <device>@<kernel set>
    s->profile = FittedProfile::load(f.string());
    s->dev = load_device(s->profile.device, SERVESIM_DATA_DIR, "test");
    nlohmann::json cfg = {{"impl", "calibrated"}, {"profile", f.string()}};
    s->model = CostModelRegistry::get().build(cfg, "test: cost", nullptr, CostDeps{s->dev, SERVESIM_DATA_DIR});
    out.push_back(std::move(s));
  }
  return out;
}

double peak(const DeviceSpec& d, DType t) { return d.peak_flops(t); }

// Each subject (profile and family) draws from its own stream, seeded by its name (FNV-1a),
// so adding a profile does not change the shapes drawn for the others.
std::mt19937_64 stream(std::uint64_t seed, const std::string& subject) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : subject) h = (h ^ c) * 1099511628211ull;
  return std::mt19937_64(seed ^ h);
}

// Log-uniform integer in [lo, hi].
std::int64_t draw(std::mt19937_64& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(std::log(lo), std::log(hi));
  return std::max<std::int64_t>(1, std::llround(std::exp(u(rng))));
}

// Monotonicity is checked in two regions. Beyond the measured range of the size that grows
// (extrapolation: the model's own rules) it must hold exactly. Inside it, the models
// interpolate measurements of real kernels, which are not monotone themselves (cuBLAS and
// the attention kernels switch tile configurations and split-K with the shape, so a larger
// problem is sometimes measured faster); there the test bounds how often and by how much a
// larger shape is predicted faster (calibration/FITTING.md, "Physical bounds").
struct Tally {
  int checked = 0, below_bound = 0, not_monotone = 0, not_monotone_beyond = 0, monotone_checks = 0;
  double worst_drop = 0;  // largest relative decrease seen when a size grew
  std::string first, worst;
  void bound(bool ok, const std::string& what) {
    ++checked;
    if (!ok && below_bound++ == 0 && first.empty()) first = "below bound: " + what;
  }
  void monotone(SimTime bigger, SimTime base, bool beyond, const std::string& what) {
    ++monotone_checks;
    if (bigger >= base) return;
    if (beyond && not_monotone_beyond++ == 0) first = "not monotone beyond the measured range: " + what;
    if (not_monotone++ == 0 && first.empty()) first = "not monotone: " + what;
    const double drop = 1.0 - static_cast<double>(bigger) / static_cast<double>(base);
    if (drop > worst_drop) {
      worst_drop = drop;
      worst = what;
    }
  }
  // Inside the measured range: at most `max_rate` of the checks, each at most `max_drop`.
  bool clean(double max_rate, double max_drop) const {
    return below_bound == 0 && not_monotone_beyond == 0 && not_monotone <= max_rate * monotone_checks && worst_drop <= max_drop;
  }
  std::string report() const {
    return fmt::format("{} of {} below bound; {} of {} growths not monotone ({} beyond the measured range); first {}; worst drop "
                       "{:.2f}% {}",
                       below_bound, checked, not_monotone, monotone_checks, not_monotone_beyond, first, worst_drop * 100, worst);
  }
};

SimTime ns(const ICostModel& m, const Operator& op) {
  auto p = m.predict(op);
  EXPECT_TRUE(p.has_value());
  return p ? p->ns : 0;
}

Operator gemm(std::int64_t m, std::int64_t n, std::int64_t k, DType dt) {
  Operator op;
  op.cls = OpClass::kGemm;
  op.gemm = GemmShape{m, n, k, 1, dt};
  return op;
}

TEST(PhysicalBounds, GemmNeverBeatsPeakAndGrowsWithEverySize) {
  for (const auto& s : subjects()) {
    for (const auto& [dts, fit] : s->profile.gemm) {
      std::mt19937_64 rng = stream(20261204, s->name + " gemm " + dts);
      const DType dt = parse_dtype(dts, "gemm dtype");
      double max_m = 1, max_n = 1, max_k = 1;
      for (const auto& [key, line] : fit.grid.lines()) {
        max_n = std::max(max_n, key[0]);
        max_k = std::max(max_k, key[1]);
        max_m = std::max(max_m, line.x.back());
      }
      Tally t;
      for (int i = 0; i < 3000; ++i) {
        const std::int64_t m = draw(rng, 1, 8 * max_m), n = draw(rng, 16, 8 * max_n), k = draw(rng, 16, 8 * max_k);
        const SimTime base = ns(*s->model, gemm(m, n, k, dt));
        const double flops = 2.0 * m * n * k, bytes = (double(m) * k + double(k) * n + double(m) * n) * dtype_bytes(dt);
        const double floor_s = std::max(flops / peak(s->dev, dt), bytes / s->dev.hbm_bandwidth);
        t.bound(static_cast<double>(base) >= floor_s * 1e9 - 1.0, fmt::format("m={} n={} k={}: {} ns < {:.0f} ns", m, n, k, base, floor_s * 1e9));
        const double r = std::uniform_real_distribution<double>(1.01, 8.0)(rng);
        const auto up = [&](std::int64_t v) { return std::max<std::int64_t>(v + 1, std::llround(static_cast<double>(v) * r)); };
        t.monotone(ns(*s->model, gemm(up(m), n, k, dt)), base, m >= max_m, fmt::format("m {}->{} (n={} k={})", m, up(m), n, k));
        t.monotone(ns(*s->model, gemm(m, up(n), k, dt)), base, n >= max_n, fmt::format("n {}->{} (m={} k={})", n, up(n), m, k));
        t.monotone(ns(*s->model, gemm(m, n, up(k), dt)), base, k >= max_k, fmt::format("k {}->{} (m={} n={})", k, up(k), m, n));
      }
      // Measured 2026-12-07 (each subject its own stream): at most 437 of 9,000 (4.9 %,
      // h100_sxm fp8), worst drop 24 % (the shared stream of 2026-12-06: 420, 24 %).
      // Block-scaled fp8 (vLLM's DeepGEMM and FlashInfer kernels, h100_sxm): 748 of 9,000, worst
      // drop 37 %; its measured rows fall at 30 % of the adjacent steps in n (26 % in k, worst
      // -89 %), against 7 % for per-tensor fp8, so its ceiling is wider.
      const bool block = dt == DType::kFp8Block;
      EXPECT_TRUE(t.clean(block ? 0.10 : 0.05, block ? 0.40 : 0.25)) << s->name << " gemm " << dts << ": " << t.report();
    }
  }
}

// A uniform attention batch: `batch` sequences, each `q` new tokens after `ctx` cached.
struct AttnOp {
  std::vector<SeqAttention> seqs;
  Operator op;
  AttnOp(bool prefill, const FittedProfile::AttentionConfig& c, std::int64_t batch, std::int64_t q, std::int64_t ctx) {
    seqs.assign(static_cast<std::size_t>(batch), SeqAttention{static_cast<std::int32_t>(q), static_cast<std::int32_t>(ctx)});
    op.cls = prefill ? OpClass::kAttentionPrefill : OpClass::kAttentionDecode;
    auto& a = op.attn;
    a.heads = c.heads;
    a.kv_heads = c.kv_heads;
    a.head_dim = a.v_head_dim = c.head_dim;
    a.kv_dtype = c.kv_dtype == "fp8" ? DType::kFp8 : DType::kBf16;
    a.kv_bytes_per_token = 2.0 * c.kv_heads * c.head_dim * dtype_bytes(a.kv_dtype);
    a.paged = c.layout == "paged";
    a.seqs = seqs;
    compute_attention_aggregates(a);
  }
};

TEST(PhysicalBounds, AttentionNeverBeatsPeakAndGrowsWithBatchQueryAndContext) {
  for (const auto& s : subjects()) {
    for (const bool prefill : {true, false}) {
      std::mt19937_64 rng = stream(7, s->name + (prefill ? " prefill" : " decode"));
      const auto& fit = prefill ? s->profile.prefill : s->profile.decode;
      if (fit.configs.empty()) continue;
      double max_b = 1, max_q = 1, max_ctx = 1;
      for (const auto& c : fit.configs) {
        for (const auto& p : c.points) {
          max_b = std::max(max_b, p.batch);
          max_q = std::max(max_q, p.q);
          max_ctx = std::max(max_ctx, p.ctx + 1);
        }
      }
      Tally t;
      for (int i = 0; i < 2000; ++i) {
        const auto& c = fit.configs[std::uniform_int_distribution<std::size_t>(0, fit.configs.size() - 1)(rng)];
        // Keep one operator under ~2M tokens of work so the test stays fast.
        const std::int64_t b = draw(rng, 1, std::min(8 * max_b, 512.0));
        const std::int64_t q = prefill ? draw(rng, 1, std::min(8 * max_q, 16384.0)) : 1;
        const std::int64_t ctx = draw(rng, 1, std::min(8 * max_ctx, 131072.0)) - 1;
        const AttnOp base_op(prefill, c, b, q, ctx);
        const SimTime base = ns(*s->model, base_op.op);
        const auto& a = base_op.op.attn;
        const double pairs = prefill ? a.sum_q_kv : static_cast<double>(a.sum_kv);
        const double flops = 2.0 * pairs * a.heads * (a.head_dim + a.v_head_dim);
        const double floor_s = std::max(flops / std::max(peak(s->dev, a.dtype), peak(s->dev, a.kv_dtype)),
                                        a.sum_kv * a.kv_bytes_per_token / s->dev.hbm_bandwidth);
        const std::string what = fmt::format("{} {}/{}x{} {} b={} q={} ctx={}", prefill ? "prefill" : "decode", c.heads, c.kv_heads,
                                             c.head_dim, c.kernel, b, q, ctx);
        t.bound(static_cast<double>(base) >= floor_s * 1e9 - 1.0, what);
        // The profile's own decode answer beyond the measured range (no bound applied after it)
        // reads the KV at most at the peak bandwidth.
        double cfg_b = 1, cfg_ctx = 1;
        for (const auto& p : c.points) cfg_b = std::max(cfg_b, p.batch), cfg_ctx = std::max(cfg_ctx, p.ctx + 1);
        if (!prefill && (static_cast<double>(b) > cfg_b || static_cast<double>(ctx + 1) > cfg_ctx)) {
          const auto own = s->profile.predict_attention(false, AttentionQuery::from(a, false), c.kernel);
          t.bound(!own || own->us >= a.sum_kv * a.kv_bytes_per_token / s->profile.rates.hbm_bandwidth * 1e6 * (1 - 1e-9), what + " (profile)");
        }
        const double r = std::uniform_real_distribution<double>(1.01, 8.0)(rng);
        const auto up = [&](std::int64_t v) { return std::max<std::int64_t>(v + 1, std::llround(static_cast<double>(v) * r)); };
        t.monotone(ns(*s->model, AttnOp(prefill, c, up(b), q, ctx).op), base, b >= max_b, what + " batch up");
        t.monotone(ns(*s->model, AttnOp(prefill, c, b, q, up(ctx)).op), base, ctx + 1 >= max_ctx, what + " context up");
        if (prefill) t.monotone(ns(*s->model, AttnOp(prefill, c, b, up(q), ctx).op), base, q >= max_q, what + " query up");
      }
      // Measured 2026-12-07 (each subject its own stream): at most 284 of 4,000 (7.1 %,
      // h100_sxm decode, worst drop there 5.5 %: vLLM's measured FA3 decode rows dip by a few
      // % themselves), worst drop anywhere 18.0 % (h100_pcie prefill, derived from h100_sxm).
      // The shared stream of 2026-12-05 drew 225 of 4,000 (5.6 %) there.
      EXPECT_TRUE(t.clean(0.08, 0.20)) << s->name << (prefill ? " prefill" : " decode") << ": " << t.report();
    }
  }
}

// A MoE layer's three expert operators (balanced routing) priced by the calibrated model.
SimTime moe_layer_ns(const ICostModel& m, std::int64_t tokens, std::int64_t hidden, std::int64_t inter, std::int32_t topk,
                     std::int32_t local, std::int32_t ep, DType dt, bool mxfp4) {
  SimTime t = 0;
  MoeLayerShape l = balanced_moe_layer(tokens, hidden, inter, topk, local, ep, dt, DType::kBf16);
  l.mxfp4 = mxfp4;
  for (const Operator& op : moe_expert_operators(l, 1)) {
    t += ns(m, op);
  }
  return t;
}

TEST(PhysicalBounds, MoeLayersNeverBeatPeakAndGrowWithTokensAndWidth) {
  for (const auto& s : subjects()) {
    for (const auto& [dts, fit] : s->profile.moe) {
      std::mt19937_64 rng = stream(13, s->name + " moe " + dts);
      const bool mxfp4 = dts == "mxfp4";  // int4 values in MXFP4 (gpt-oss)
      const DType dt = mxfp4 ? DType::kInt4 : parse_dtype(dts, "moe dtype");
      // A family of the regression alone (derived across chip layouts) has no measured
      // range: draw as the H200's measurements span.
      double max_t = fit.groups.empty() ? 16384 : 1, max_h = fit.groups.empty() ? 7168 : 1, max_i = fit.groups.empty() ? 14336 : 1;
      for (const auto& g : fit.groups) {
        max_t = std::max(max_t, g.tokens.back());
        max_h = std::max(max_h, g.hidden);
        max_i = std::max(max_i, g.inter);
      }
      Tally t;
      for (int i = 0; i < 1000; ++i) {
        const std::int64_t tokens = draw(rng, 1, 8 * max_t), hidden = draw(rng, 512, 8 * max_h), inter = draw(rng, 64, 8 * max_i);
        const auto local = static_cast<std::int32_t>(draw(rng, 1, 512));
        const auto ep = static_cast<std::int32_t>(1 << std::uniform_int_distribution<int>(0, 3)(rng));
        const auto topk = static_cast<std::int32_t>(std::min<std::int64_t>(draw(rng, 1, 16), std::int64_t{local} * ep));
        const SimTime base = moe_layer_ns(*s->model, tokens, hidden, inter, topk, local, ep, dt, mxfp4);
        const MoeLayerShape l = balanced_moe_layer(tokens, hidden, inter, topk, local, ep, dt, DType::kBf16);
        const double params = 3.0 * static_cast<double>(hidden) * static_cast<double>(inter);
        const double floor_s = std::max(2.0 * l.copies * params / peak(s->dev, dt),
                                        static_cast<double>(l.active) * params * (mxfp4 ? 4.25 / 8 : dtype_bytes(dt)) / s->dev.hbm_bandwidth);
        const std::string what = fmt::format("{} tokens={} hidden={} inter={} topk={} local={} ep={}", dts, tokens, hidden, inter, topk, local, ep);
        t.bound(static_cast<double>(base) >= floor_s * 1e9 - 3.0, what);
        const double r = std::uniform_real_distribution<double>(1.01, 8.0)(rng);
        const auto up = [&](std::int64_t v) { return std::max<std::int64_t>(v + 1, std::llround(static_cast<double>(v) * r)); };
        t.monotone(moe_layer_ns(*s->model, up(tokens), hidden, inter, topk, local, ep, dt, mxfp4), base, tokens >= max_t, what + " tokens up");
        t.monotone(moe_layer_ns(*s->model, tokens, hidden, up(inter), topk, local, ep, dt, mxfp4), base, inter >= max_i, what + " width up");
      }
      // Measured 2026-12-07: no layer below its floor; at most 15 of 2,000 growths not monotone
      // (h100_sxm fp8, worst drop 21 %; h200_sxm@vllm, whose draws differ, 27.5 % on the same
      // measured H200 family: FlashInfer's per-tensor fp8 rows themselves fall from 2.7 to
      // 0.96 ms between 80 and 512 tokens of one shape), none beyond the measured range.
      EXPECT_TRUE(t.clean(0.02, 0.30)) << s->name << " moe " << dts << ": " << t.report();
    }
  }
}

TEST(PhysicalBounds, CollectivesAndCopiesNeverBeatTheLinkAndGrowWithBytes) {
  for (const auto& s : subjects()) {
    std::mt19937_64 rng = stream(11, s->name);
    Tally t;
    for (const auto& c : s->profile.collectives) {
      const double max_bytes = c.curve.x.back();
      CollectiveKind kind = CollectiveKind::kAllReduce;
      for (auto k : {CollectiveKind::kAllReduce, CollectiveKind::kAllGather, CollectiveKind::kReduceScatter,
                     CollectiveKind::kAllToAll, CollectiveKind::kSendRecv}) {
        if (collective_op_name(k) == c.op) kind = k;
      }
      for (int i = 0; i < 300; ++i) {
        Operator op;
        op.cls = OpClass::kCollective;
        op.coll = CollectiveShape{kind, static_cast<double>(draw(rng, 1, 8 * max_bytes)), c.ranks, 0, 0};
        const SimTime base = ns(*s->model, op);
        const double n = c.ranks;
        const double share = kind == CollectiveKind::kSendRecv ? 1.0 : (n - 1) / n;
        t.bound(static_cast<double>(base) >= share * op.coll.bytes / s->dev.intra_node_bandwidth * 1e9 - 1.0,
                fmt::format("{} x{} {} B", c.op, c.ranks, op.coll.bytes));
        // Above the largest measured size the curve itself (no bound applied after it) goes
        // on at no more than the link's peak.
        if (op.coll.bytes > max_bytes) {
          const auto own = s->profile.predict_collective(c.op, c.ranks, op.coll.bytes, c.backend);
          t.bound(own && own->us >= share * op.coll.bytes / s->profile.rates.intra_node_bandwidth * 1e6 * (1 - 1e-9),
                  fmt::format("{} x{} {} {} B (profile)", c.op, c.ranks, c.backend, op.coll.bytes));
        }
        Operator bigger = op;
        bigger.coll.bytes *= std::uniform_real_distribution<double>(1.01, 8.0)(rng);
        t.monotone(ns(*s->model, bigger), base, false, fmt::format("{} x{} {} -> {} B", c.op, c.ranks, op.coll.bytes, bigger.coll.bytes));
      }
    }
    for (const auto& c : s->profile.copies) {
      if (c.op == "d2d") continue;
      for (int i = 0; i < 300; ++i) {
        Operator op;
        op.cls = OpClass::kCopy;
        op.copy = CopyShape{c.op == "h2d" ? CopyKind::kHostToDevice : CopyKind::kDeviceToHost,
                            static_cast<double>(draw(rng, 1, 8 * c.curve.x.back())), 1, c.backend == "pinned"};
        const SimTime base = ns(*s->model, op);
        t.bound(static_cast<double>(base) >= op.copy.bytes / s->dev.host_link_bandwidth * 1e9 - 1.0,
                fmt::format("{} {} B", c.op, op.copy.bytes));
        if (op.copy.bytes > c.curve.x.back()) {
          const auto own = s->profile.predict_copy(c.op, c.backend == "pinned", op.copy.bytes, 1);
          t.bound(own && own->us >= op.copy.bytes / s->profile.rates.host_link_bandwidth * 1e6 * (1 - 1e-9),
                  fmt::format("{} {} {} B (profile)", c.op, c.backend, op.copy.bytes));
        }
        Operator bigger = op;
        bigger.copy.bytes *= std::uniform_real_distribution<double>(1.01, 8.0)(rng);
        t.monotone(ns(*s->model, bigger), base, false, fmt::format("{} {} -> {} B", c.op, op.copy.bytes, bigger.copy.bytes));
      }
    }
    EXPECT_TRUE(t.clean(0.0, 0.0)) << s->name << ": " << t.report();
  }
}

}  // namespace
}  // namespace servesim
