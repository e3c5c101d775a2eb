#include "sim/cost/fitted_profile.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <cstdint>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim {

double round_sig(double v, int sig) {
  if (v == 0 || !std::isfinite(v)) return v;
  return std::stod(fmt::format("{:.{}g}", v, sig));
}

double ProfileRates::peak(const std::string& dtype) const {
  static const std::string kFp8 = "fp8";
  auto it = peak_flops.find(dtype == "fp8_block" ? kFp8 : dtype);  // block scales: the fp8 rate (no copy of dtype)
  if (it != peak_flops.end()) return it->second;
  it = peak_flops.find("bf16");
  SERVESIM_ASSERT(it != peak_flops.end());
  return it->second;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  SERVESIM_ASSERT(a.size() == b.size());
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// ---- regression terms ---------------------------------------------------------------

const std::vector<std::string>& gemm_term_names() {
  static const std::vector<std::string> names = {"latency_us", "flop_time", "wave_padded_flop_time", "byte_time"};
  return names;
}

namespace {
// Bytes of a GEMM whose weights and activations have `element_bytes` each (output bf16).
double element_bytes_of(const std::string& dtype) { return dtype == "fp8" || dtype == "fp8_block" ? 1.0 : 2.0; }
double gemm_bytes(double m, double n, double k, double element_bytes) { return k * n * element_bytes + m * k * element_bytes + m * n * 2.0; }
double gemm_bytes(double m, double n, double k, const std::string& dtype) { return gemm_bytes(m, n, k, element_bytes_of(dtype)); }

// A GEMM's FLOP time at the peak and byte time at the HBM bandwidth, in us, for one dtype
// whose rates are looked up once (the grids' extrapolation calls it for every measured point
// at load and for shapes beyond them).
struct GemmTimes {
  double flop_us, byte_us;
};
struct GemmRates {
  double peak, element_bytes, hbm_bandwidth;
  GemmRates(const std::string& dt, const ProfileRates& r)
      : peak(r.peak(dt)), element_bytes(element_bytes_of(dt)), hbm_bandwidth(r.hbm_bandwidth) {}
  GemmTimes times(double m, double n, double k) const {
    return {2.0 * m * n * k / peak * 1e6, gemm_bytes(m, n, k, element_bytes) / hbm_bandwidth * 1e6};
  }
};

}  // namespace

double gemm_roofline_us(double m, double n, double k, const std::string& dtype, const ProfileRates& r) {
  const GemmTimes t = GemmRates(dtype, r).times(m, n, k);
  return std::max(t.flop_us, t.byte_us);
}

std::array<double, 4> gemm_terms_array(double m, double n, double k, const std::string& dtype, const ProfileRates& r) {
  constexpr double kTile = 128;  // output tile edge for wave quantisation
  const double peak = r.peak(dtype);
  const double tiles = std::ceil(m / kTile) * std::ceil(n / kTile);
  const double waves = std::ceil(tiles / r.sm_count);
  const double padded = 2.0 * k * kTile * kTile * waves * r.sm_count;
  const double bytes = gemm_bytes(m, n, k, dtype);
  return {1.0, 2.0 * m * n * k / peak * 1e6, padded / peak * 1e6, bytes / r.hbm_bandwidth * 1e6};
}

std::vector<double> gemm_terms(double m, double n, double k, const std::string& dtype, const ProfileRates& r) {
  const auto t = gemm_terms_array(m, n, k, dtype, r);
  return {t.begin(), t.end()};
}

double gemm_regression_us(const std::vector<double>& coef, double m, double n, double k, const std::string& dtype,
                          const ProfileRates& r) {
  SERVESIM_ASSERT(coef.size() == 4);
  const auto t = gemm_terms_array(m, n, k, dtype, r);
  double s = 0;
  for (std::size_t i = 0; i < t.size(); ++i) s += coef[i] * t[i];  // dot()'s order
  return s;
}

// ---- attention queries --------------------------------------------------------------

namespace {
const char* kv_dtype_key(DType d) {
  if (d == DType::kBf16 || d == DType::kFp16) return "bf16";
  return dtype_name(d);
}
}  // namespace

AttentionQuery AttentionQuery::from(const AttentionShape& a, bool with_tiles) {
  AttentionQuery q;
  q.heads = a.heads;
  q.kv_heads = a.kv_heads;
  q.head_dim = a.head_dim;
  q.v_head_dim = a.v_head_dim > 0 ? a.v_head_dim : a.head_dim;
  q.kv_dtype = kv_dtype_key(a.kv_dtype);
  q.paged = a.paged;
  q.kv_bytes_per_token = a.kv_bytes_per_token;
  q.act_bytes = dtype_bytes(a.dtype);
  q.num_seqs = static_cast<double>(a.num_seqs);
  q.sum_q = static_cast<double>(a.sum_q);
  q.sum_kv = static_cast<double>(a.sum_kv);
  q.sum_q_kv = a.sum_q_kv;
  q.max_kv = static_cast<double>(a.max_kv);
  q.window_seqs = static_cast<double>(a.window_seqs);
  q.window_q = static_cast<double>(a.window_q);
  q.window_excess = static_cast<double>(a.window_excess);
  if (!with_tiles) return q;
  if (!a.seqs.empty()) {
    for (const auto& s : a.seqs) q.q_tiles += std::ceil(s.q / 128.0);
  } else if (a.num_seqs > 0) {
    q.q_tiles = q.num_seqs * std::ceil(q.sum_q / q.num_seqs / 128.0);
  }
  return q;
}

AttentionQuery AttentionQuery::uniform(int heads, int kv_heads, int head_dim, const std::string& kv_dtype, bool paged,
                                       double batch, double qlen, double ctx, double window) {
  AttentionQuery q;
  q.heads = heads;
  q.kv_heads = kv_heads;
  q.head_dim = head_dim;
  q.v_head_dim = head_dim;
  q.kv_dtype = kv_dtype;
  q.paged = paged;
  q.kv_bytes_per_token = 2.0 * kv_heads * head_dim * (kv_dtype == "fp8" ? 1.0 : 2.0);
  q.act_bytes = 2;
  q.num_seqs = batch;
  q.sum_q = batch * qlen;
  const AttendedSpan span = attended_span(qlen, ctx, window);
  q.sum_kv = batch * span.keys;
  q.sum_q_kv = batch * span.pairs;
  q.max_kv = span.keys;
  if (window > 0 && ctx + qlen > window) {
    q.window_seqs = batch;
    q.window_q = batch * qlen;
    q.window_excess = batch * (ctx + qlen - window);
  }
  q.q_tiles = batch * std::ceil(qlen / 128.0);
  return q;
}

AttentionQuery::GridPoint AttentionQuery::grid_point(bool prefill) const {
  const double n = std::max(1.0, num_seqs);
  if (prefill) {
    const double qm = std::max(1.0, sum_q / n);
    const double ctx = std::max(0.0, (sum_q_kv / n - 0.5 * qm * (qm + 1)) / qm);
    return {{n, ctx + 1}, qm};
  }
  return {{n, 0}, std::max(1.0, sum_kv / n)};
}

std::string collective_op_name(CollectiveKind k) { return collective_name(k); }

const char* copy_direction_name(CopyKind k) {
  switch (k) {
    case CopyKind::kHostToDevice: return "h2d";
    case CopyKind::kDeviceToHost: return "d2h";
    case CopyKind::kDeviceToDevice: return "d2d";
    default: return "";
  }
}

// ---- predictions ----------------------------------------------------------------------

std::optional<FitAnswer> FittedProfile::predict_gemm(double m, double n, double k, const std::string& dtype) const {
  auto it = gemm.find(dtype);
  if (it == gemm.end() || m < 1 || n < 1 || k < 1) return std::nullopt;
  // Outside the measured (n, k) range the nearest measured edge answers: flat below it, and
  // above it scaled by (n / n_edge)(k / k_edge), the growth of the weight matrix, which
  // both the FLOPs and the weight bytes follow (so the edge's efficiency carries outwards;
  // the activation bytes grow less, so this never undershoots the roofline's growth).
  const LineGrid& grid = it->second.grid;
  if (!grid.axis(0).empty() && !grid.axis(1).empty()) {
    const double nc = std::clamp(n, grid.axis(0).front(), grid.axis(0).back());
    const double kc = std::clamp(k, grid.axis(1).front(), grid.axis(1).back());
    if (auto v = grid.at({nc, kc}, m)) {
      double us = *v;
      us *= std::max(1.0, n / nc) * std::max(1.0, k / kc);
      us = std::max(us, it->second.quant_us_per_mk * m * k);
      return FitAnswer{us, ""};
    }
  }
  // No box of lines around (n, k): the regression times its neighbours' residual.
  if (auto us = gemm_from_neighbours(it->second, m, n, k, dtype)) {
    return FitAnswer{std::max(*us, it->second.quant_us_per_mk * m * k), "regression_residual"};
  }
  if (it->second.coef.empty()) return std::nullopt;
  const double us = gemm_regression_us(it->second.coef, m, n, k, dtype, rates);
  if (!(us > 0)) return std::nullopt;
  return FitAnswer{us, "regression"};
}

const FittedProfile::AttentionConfig* FittedProfile::find_config(const AttentionFit& f, const AttentionQuery& q,
                                                                 const std::string& kernel) const {
  if (q.v_head_dim != q.head_dim) return nullptr;
  if (kernel.empty() && !f.preferred.empty()) {
    auto it = f.preferred.find({q.heads, q.kv_heads, q.head_dim, q.kv_dtype == "fp8", q.paged});
    return it == f.preferred.end() ? nullptr : &f.configs[it->second];
  }
  // Best: the query's layout, then the kernel asked for (or the most preferred one).
  const AttentionConfig* best = nullptr;
  std::size_t best_rank = SIZE_MAX;
  for (const auto& c : f.configs) {
    if (c.heads != q.heads || c.kv_heads != q.kv_heads || c.head_dim != q.head_dim || c.kv_dtype != q.kv_dtype) continue;
    if (!kernel.empty() && c.kernel != kernel) continue;
    const std::size_t pref = static_cast<std::size_t>(
        std::find(f.kernels.begin(), f.kernels.end(), c.kernel) - f.kernels.begin());
    const std::size_t rank = (c.layout == (q.paged ? "paged" : "contiguous") ? 0 : 1000) + pref;
    if (rank < best_rank) {
      best = &c;
      best_rank = rank;
    }
  }
  return best;
}

std::optional<FitAnswer> FittedProfile::predict_attention(bool is_prefill, const AttentionQuery& asked, const std::string& kernel,
                                                         AttentionCursor* cursor) const {
  const AttentionFit& f = is_prefill ? prefill : decode;
  if (asked.num_seqs <= 0) return std::nullopt;
  const AttentionConfig* c = nullptr;
  double peak = 0;
  if (cursor && cursor->valid && cursor->prefill == is_prefill && cursor->heads == asked.heads && cursor->kv_heads == asked.kv_heads &&
      cursor->head_dim == asked.head_dim && cursor->v_head_dim == asked.v_head_dim && cursor->paged == asked.paged &&
      cursor->kv_dtype == asked.kv_dtype && (cursor->kernel_at == &kernel || cursor->kernel == kernel)) {
    c = cursor->config;
    peak = cursor->peak;
  } else {
    c = find_config(f, asked, kernel);
    peak = rates.peak("bf16");
    if (cursor) {
      *cursor = AttentionCursor{true, is_prefill, asked.paged, asked.heads, asked.kv_heads, asked.head_dim, asked.v_head_dim,
                                asked.kv_dtype, kernel, c, peak, {std::nan(""), std::nan("")}, {}, &kernel};
    }
  }
  // Under a sliding window, a kernel that walks the keys in whole tiles computes more
  // query-key pairs than the window holds. Each clipped query row (one the window cut d >= 1
  // keys from) attends min(extra, d) more keys; rows the window does not reach are full
  // attention, untouched. The rows of a clipped sequence are its last min(q, excess), cut by
  // excess, excess - 1, ... keys; the batch is taken as uniform (its means).
  //   decode: extra = one key tile (the window's first tile is partial);
  //   prefill: a tile of M query rows (packed GQA: M / g positions, g query heads per KV
  //   head) spans window + M / g - 1 keys, rounded out to key tiles of N: about M / g + N
  //   keys per row beyond the window; the full-attention fit already carries a causal
  //   diagonal's (M / g + N) / 2, so extra = (M / g + N) / 2.
  AttentionQuery tiled;
  const AttentionQuery* qp = &asked;
  const std::string& kern = c ? c->kernel : kernel;
  const double tile = asked.window_seqs > 0 ? local_key_tile(kern, asked.head_dim) : 0;
  if (tile > 0) {
    tiled = asked;
    const double gqa = asked.kv_heads > 0 ? static_cast<double>(asked.heads) / asked.kv_heads : 1.0;
    const double extra = is_prefill ? 0.5 * (local_query_tile(kern, asked.head_dim) / gqa + tile) : tile;
    const double seqs = asked.window_seqs, excess = asked.window_excess / seqs;
    const double rows = std::min(asked.window_q / seqs, excess);
    // Σ_{d=1..x} min(extra, d), continued linearly beyond `extra`.
    const auto cut_sum = [extra](double x) {
      return x <= extra ? 0.5 * x * (x + 1) : 0.5 * extra * (extra + 1) + (x - extra) * extra;
    };
    tiled.sum_kv += seqs * std::min(tile, excess);
    tiled.sum_q_kv += seqs * (cut_sum(excess) - cut_sum(excess - rows));
    tiled.max_kv += std::min(tile, excess);
    qp = &tiled;
  }
  const AttentionQuery& q = *qp;
  std::array<double, 7> terms{};
  const std::size_t n = attention_terms_into(is_prefill, q, rates, peak, terms);
  if (c) {
    if (auto us = config_answer(is_prefill, *c, q, terms, n, peak, cursor)) return FitAnswer{*us, ""};
  }
  if (f.global.empty() || (!kernel.empty() && (f.kernels.empty() || f.kernels.front() != kernel))) return std::nullopt;
  const double us = dot_n(f.global, terms, n);
  if (!(us > 0)) return std::nullopt;
  // A head configuration never measured: times its measured neighbours' residual.
  return FitAnswer{std::max(us, f.global_floor_us) * attention_neighbour_factor(is_prefill, f, q, peak), "global"};
}

namespace {
// decode_beyond()'s first test: the first decode line of no smaller batch, and the longest mean
// length the grid answers there (that line's reach; any below the smallest batch; none above the largest).
using DecodeLines = std::vector<FittedProfile::AttentionConfig::DecodeLine>;
DecodeLines::const_iterator line_up(const DecodeLines& lines, double batch) {
  return std::lower_bound(lines.begin(), lines.end(), batch, [](const auto& l, double v) { return l.batch < v; });
}
double reach_from(const DecodeLines& lines, DecodeLines::const_iterator up, double batch) {
  if (lines.empty() || (up == lines.begin() && up->batch > batch)) return std::numeric_limits<double>::infinity();
  return up != lines.end() ? up->reach : -std::numeric_limits<double>::infinity();
}
}  // namespace

std::optional<double> FittedProfile::config_answer(bool prefill, const AttentionConfig& c, const AttentionQuery& q,
                                                   const std::array<double, 7>& terms, std::size_t n, double peak,
                                                   AttentionCursor* cursor) const {
  // Its regression times its residual at q's grid point, bounded below by its fastest call,
  // continued beyond its measured range.
  const double reg = dot_n(c.coef, terms, n);
  const auto g = q.grid_point(prefill);
  std::optional<double> corr;
  if (cursor && cursor->config == &c) {
    if (cursor->outer != g.outer) {
      cursor->residual = c.residual.locate(g.outer);
      cursor->outer = g.outer;
      cursor->decode_reach = prefill ? 0.0 : reach_from(c.decode_lines, line_up(c.decode_lines, g.outer[0]), g.outer[0]);
    }
    corr = c.residual.value_near(cursor->residual, g.x);
  } else {
    corr = c.residual.at(g.outer, g.x);
  }
  if (!(reg > 0) || !corr) return std::nullopt;
  const double us = std::max(reg * *corr, c.floor_us);
  if (prefill) return prefill_beyond(c, q, us, peak);
  return cursor && cursor->config == &c && g.x <= cursor->decode_reach ? us : decode_beyond(c, q, us);  // its first test
}

double FittedProfile::prefill_beyond(const AttentionConfig& c, const AttentionQuery& q, double us, double peak) const {
  // Beyond the measured range (a batch, mean query length or context larger than any
  // measured): a query holds the work of every measured point of no larger batch, query
  // length and context, and its extra FLOPs cost at least their time at the best efficiency
  // any config of this kernel reached. Inside the range the residual grid answers unchanged.
  if (!(c.kernel_best_efficiency > 0) || c.point_flops.size() != c.points.size()) return us;
  const auto g = q.grid_point(true);
  const double n = g.outer[0], ctx = g.outer[1] - 1, qm = g.x;
  if (n <= c.max_batch && qm <= c.max_q && ctx <= c.max_ctx) return us;
  const double flops = prefill_flops(q);
  const double us_per_flop = 1e6 / (peak * c.kernel_best_efficiency);
  double lower = 0;
  for (std::size_t i = 0; i < c.points.size(); ++i) {
    const auto& p = c.points[i];
    if (p.batch > n || p.q > qm || p.ctx > ctx) continue;
    lower = std::max(lower, p.us + (flops - c.point_flops[i]) * us_per_flop);
  }
  return std::max(us, lower);
}

double FittedProfile::decode_beyond(const AttentionConfig& c, const AttentionQuery& q, double us) const {
  // Decode attention is memory-bound: time = fixed + KV bytes / achieved bandwidth, the
  // achieved bandwidth never above the peak. Beyond the measured range (no measured batch at
  // least as large reached this mean length), from the line of the largest measured batch not
  // above the query's, its points no longer than the query:
  // - at least: the KV read on top of a measured point takes at least its bytes at the peak:
  //   that point's time plus the extra KV's byte time, for every such point, and for every
  //   point no longer than the query of every smaller measured batch (a batch holds a smaller
  //   batch's work: more sequences never take less time), and at least what the rule below
  //   gives each smaller batch's line at the query's length;
  // - at most, once the line is bandwidth-bound (its time grew over its last doubling at
  //   least as fast as that doubling's KV at the peak: measured from the point at or below
  //   half the last point's length): the last point's time plus the extra KV at that
  //   marginal rate. A streaming read's cost per byte does not grow with its size (overheads
  //   amortise, the achieved bandwidth does not fall), while the residual grid's
  //   extrapolation (regression times the edge's residual) can grow faster. A line still
  //   growing slower than the peak rate is overhead-bound (per-sequence work overlapping the
  //   read): its growth will steepen when the read takes over, so it bounds nothing.
  // Inside the measured range the residual grid answers unchanged.
  const auto g = q.grid_point(false);
  const auto& lines = c.decode_lines;
  const auto up = line_up(lines, g.outer[0]);
  if (g.x <= reach_from(lines, up, g.outer[0])) return us;
  const auto& l = up != lines.end() && up->batch == g.outer[0] ? *up : *(up - 1);
  const double byte_us = q.sum_kv * q.kv_bytes_per_token / rates.hbm_bandwidth * 1e6;
  // A line's last point no longer than the query and its marginal rate (time per byte time at
  // the peak) over the doubling that ends there; nullopt without such a doubling.
  const auto tail = [&g](const AttentionConfig::DecodeLine& o) -> std::optional<std::pair<std::size_t, double>> {
    std::size_t n = 0;
    while (n < o.x.size() && o.x[n] <= g.x) ++n;
    if (n < 2) return std::nullopt;
    const std::size_t last = n - 1;
    std::size_t half = last;
    while (half > 0 && o.x[half] > 0.5 * o.x[last]) --half;
    if (!(o.x[half] <= 0.5 * o.x[last] && o.byte_us[last] > o.byte_us[half])) return std::nullopt;
    return std::pair{last, (o.us[last] - o.us[half]) / (o.byte_us[last] - o.byte_us[half])};
  };
  double lower = 0;
  for (auto o = lines.begin(); o != lines.end() && o->batch <= g.outer[0]; ++o) {
    for (std::size_t i = 0; i < o->x.size() && o->x[i] <= g.x; ++i) lower = std::max(lower, o->us[i] + byte_us - o->byte_us[i]);
    if (o->batch >= g.outer[0]) continue;
    // A smaller batch at the query's length: its own line's answer (below) is a floor too.
    if (const auto t = tail(*o); t && t->second >= 1.0) {
      lower = std::max(lower, o->us[t->first] + (byte_us * o->batch / g.outer[0] - o->byte_us[t->first]) * t->second);
    }
  }
  if (const auto t = tail(l); t && t->second >= 1.0) us = std::min(us, l.us[t->first] + (byte_us - l.byte_us[t->first]) * t->second);
  return std::max(us, lower);
}

std::optional<FitAnswer> FittedProfile::predict_collective(const std::string& op, int ranks, double bytes,
                                                           const std::string& backend) const {
  if (bytes <= 0) return std::nullopt;
  auto it = curve_index_.find(op + "|" + std::to_string(ranks));
  if (it == curve_index_.end()) return between_rank_counts(op, ranks, bytes, backend);
  std::optional<FitAnswer> best;
  for (std::size_t i : it->second) {
    const Curve& c = collectives[i];
    if (!backend.empty() && c.backend != backend) continue;
    const double us = c.envelope.at(bytes);
    if (!best || us < best->us) best = FitAnswer{us, c.backend.c_str()};
  }
  return best;
}

std::optional<FitAnswer> FittedProfile::predict_copy(const std::string& direction, bool pinned, double bytes,
                                                     double chunks) const {
  if (bytes <= 0 || chunks < 1) return std::nullopt;
  const std::string mem = direction == "d2d" ? "device" : (pinned ? "pinned" : "pageable");
  for (const Curve& c : copies) {
    if (c.op != direction || c.backend != mem) continue;
    // A chain of copies on one stream: each after the first starts when both the previous
    // copy has finished (plus the engine's gap) and the host has issued it.
    const double one = c.envelope.at(bytes / chunks);
    return FitAnswer{one + (chunks - 1) * std::max(one + c.gap_us, c.issue_floor_us), ""};
  }
  return std::nullopt;
}

std::optional<FitAnswer> FittedProfile::predict_page_map(double page_bytes) const {
  if (!page_map || page_bytes <= 0) return std::nullopt;
  return FitAnswer{page_map_envelope_->at(page_bytes), ""};
}

std::vector<std::string> FittedProfile::families() const {
  static const std::array<std::string, 7> names = {"gemm", "attention_prefill", "attention_decode", "collective", "copy", "page_map", "moe"};
  const std::array<bool, 7> present = {!gemm.empty(),
                                       !prefill.configs.empty() || !prefill.global.empty(),
                                       !decode.configs.empty() || !decode.global.empty(),
                                       !collectives.empty(),
                                       !copies.empty(),
                                       page_map.has_value(),
                                       !moe.empty()};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (present[i]) out.push_back(names[i]);
  return out;
}

void FittedProfile::finalize() {
  // vLLM runs an activation-quantisation kernel in front of its fp8 GEMMs (per token) and its
  // block-scaled ones (per group of 128); the other kernel sets' GEMMs take their inputs as
  // they are.
  const bool quantises = kernel_set_name() == "vllm";
  for (auto& [dt, g] : gemm) {
    g.grid.finalize();
    g.log_keys.clear();
    for (const auto& [nk, line] : g.grid.lines()) g.log_keys.push_back({std::log(nk[0]), std::log(nk[1])});
    g.quant_us_per_mk = 0;
    if (quantises && (dt == "fp8" || dt == "fp8_block")) {
      double least = std::numeric_limits<double>::infinity();
      for (const auto& [nk, line] : g.grid.lines())
        for (std::size_t i = 0; i < line.x.size(); ++i) least = std::min(least, line.y[i] / (line.x[i] * nk[1]));
      if (std::isfinite(least)) g.quant_us_per_mk = least;
    }
    const GemmRates r(dt, rates);
    using Nk = std::array<double, 2>;
    g.grid.set_extrapolation([r](const Nk& nk, double m) { const GemmTimes t = r.times(m, nk[0], nk[1]); return std::max(t.flop_us, t.byte_us); },
                             [r](const Nk& nk, double m) { const GemmTimes t = r.times(m, nk[0], nk[1]); return t.flop_us + t.byte_us; });
    g.grid.set_equal_area([r](const Nk& nk, double m) { const GemmTimes t = r.times(m, nk[0], nk[1]); return t.flop_us >= t.byte_us; });
  }
  for (AttentionFit* f : {&prefill, &decode}) {
    const bool is_prefill = f == &prefill;
    for (auto& c : f->configs) {
      c.log_shape = {std::log(static_cast<double>(c.heads)), std::log(static_cast<double>(c.kv_heads)),
                     std::log(static_cast<double>(c.head_dim))};
      c.residual = LineGrid(LineGrid::Options{is_prefill ? 2 : 1, 0.0, true, false});
      for (const auto& p : c.points) {
        const auto q = AttentionQuery::uniform(c.heads, c.kv_heads, c.head_dim, c.kv_dtype, c.layout == "paged", p.batch, p.q, p.ctx);
        const double reg = dot(c.coef, attention_terms(is_prefill, q, rates));
        const auto g = q.grid_point(is_prefill);
        if (reg > 0) c.residual.add(g.outer, g.x, p.us / reg);
      }
      c.residual.finalize();
      c.floor_us = 0;
      for (const auto& p : c.points) c.floor_us = c.floor_us == 0 ? p.us : std::min(c.floor_us, p.us);
    }
    // Prefill: each point's FLOPs, the measured range, and the kernel's best efficiency.
    std::map<std::string, double> best_eff;
    const double pk = rates.peak_flops.count("bf16") ? rates.peak("bf16") : 0;
    for (auto& c : f->configs) {
      c.point_flops.clear();
      c.max_batch = c.max_q = c.max_ctx = 0;
      if (!is_prefill || !(pk > 0)) continue;
      for (const auto& p : c.points) {
        const auto q = AttentionQuery::uniform(c.heads, c.kv_heads, c.head_dim, c.kv_dtype, c.layout == "paged", p.batch, p.q, p.ctx);
        const double flops = prefill_flops(q);
        c.point_flops.push_back(flops);
        c.max_batch = std::max(c.max_batch, p.batch);
        c.max_q = std::max(c.max_q, p.q);
        c.max_ctx = std::max(c.max_ctx, p.ctx);
        if (p.us > 0) best_eff[c.kernel] = std::max(best_eff[c.kernel], std::min(1.0, flops / pk * 1e6 / p.us));
      }
    }
    for (auto& c : f->configs) c.kernel_best_efficiency = is_prefill ? best_eff[c.kernel] : 0;
    for (auto& c : f->configs) {
      c.decode_lines.clear();
      if (is_prefill || !(rates.hbm_bandwidth > 0)) continue;
      std::map<double, std::vector<std::array<double, 3>>> by_batch;  // batch -> (x, us, byte_us)
      for (const auto& p : c.points) {
        const auto q = AttentionQuery::uniform(c.heads, c.kv_heads, c.head_dim, c.kv_dtype, c.layout == "paged", p.batch, p.q, p.ctx);
        const double byte_us = q.sum_kv * q.kv_bytes_per_token / rates.hbm_bandwidth * 1e6;
        const auto g = q.grid_point(false);
        by_batch[g.outer[0]].push_back({g.x, p.us, byte_us});
      }
      for (auto& [batch, pts] : by_batch) {
        std::sort(pts.begin(), pts.end());
        AttentionConfig::DecodeLine l;
        l.batch = batch;
        for (const auto& [x, us, byte_us] : pts) {
          l.x.push_back(x);
          l.us.push_back(us);
          l.byte_us.push_back(byte_us);
        }
        c.decode_lines.push_back(std::move(l));
      }
      double reach = 0;
      for (auto l = c.decode_lines.rbegin(); l != c.decode_lines.rend(); ++l) l->reach = reach = std::max(reach, l->x.back());
    }
    for (auto& pool : f->neighbour_pool) pool.clear();
    for (std::size_t i = 0; i < f->configs.size(); ++i) {
      const AttentionConfig& c = f->configs[i];
      if (!f->kernels.empty() && c.kernel == f->kernels.front()) {
        f->neighbour_pool[(c.kv_dtype == "fp8" ? 2 : 0) + (c.layout == "paged" ? 1 : 0)].push_back(i);
      }
    }
    f->preferred.clear();  // empty: find_config scans
    std::map<std::tuple<int, int, int, bool, bool>, std::size_t> preferred;
    for (const auto& c : f->configs) {
      for (const bool paged : {false, true}) {
        AttentionQuery q;
        q.heads = c.heads, q.kv_heads = c.kv_heads, q.head_dim = q.v_head_dim = c.head_dim;
        q.kv_dtype = c.kv_dtype, q.paged = paged;
        if (const AttentionConfig* best = find_config(*f, q, "")) {
          preferred[{q.heads, q.kv_heads, q.head_dim, q.kv_dtype == "fp8", paged}] = static_cast<std::size_t>(best - f->configs.data());
        }
      }
    }
    f->preferred = std::move(preferred);
    f->global_floor_us = 0;
    for (const auto& c : f->configs) {
      if (f->kernels.empty() || c.kernel != f->kernels.front() || c.floor_us <= 0) continue;
      f->global_floor_us = f->global_floor_us == 0 ? c.floor_us : std::min(f->global_floor_us, c.floor_us);
    }
  }
  // Above the largest measured size a curve goes on at its marginal bandwidth, never faster
  // than the physical bound's bytes at the peak of the path (PhysicalBound: an all-reduce
  // moves (n-1)/n of its buffer per rank over NVLink, a host copy its bytes over the host
  // link, a device copy reads and writes its bytes in HBM). A collective's marginal
  // bandwidth rises towards the bus bandwidth NCCL reaches on large messages
  // (rates.collective_busbw, nccl-tests convention: an all-reduce's bus traffic is 2(n-1)/n
  // of its buffer, an all-gather's, reduce-scatter's and all-to-all's (n-1)/n, a send's all of it;
  // an all-reduce of 8 or more ranks reduces in the switch, rates.nvls_allreduce_busbw).
  auto us_per_byte = [](double share, double bandwidth) { return bandwidth > 0 ? share * 1e6 / bandwidth : 0.0; };
  for (Curve& c : collectives) {
    c.envelope = c.curve.monotone();
    const double share = c.op == "send_recv" || c.ranks <= 1 ? 1.0 : (c.ranks - 1.0) / c.ranks;
    c.envelope.min_slope = us_per_byte(share, rates.intra_node_bandwidth);
    const double bus_share = c.op == "all_reduce" ? 2 * share : share;
    const bool nvls = c.op == "all_reduce" && c.ranks >= 8 && rates.nvls_allreduce_busbw > 0;
    c.envelope.saturated_slope = us_per_byte(bus_share, nvls ? rates.nvls_allreduce_busbw : rates.collective_busbw);
  }
  // A pageable copy is staged through pinned buffers by a host memcpy, pipelined with the DMA:
  // its marginal time per byte is at least the host link's and the staging rate's
  // (rates.pageable_*_bandwidth, measured on the host), whichever is slower.
  for (Curve& c : copies) {
    c.envelope = c.curve.monotone();
    c.envelope.min_slope = c.op == "d2d" ? us_per_byte(2.0, rates.hbm_bandwidth) : us_per_byte(1.0, rates.host_link_bandwidth);
    if (c.backend == "pageable") {
      const double staging = c.op == "h2d" ? rates.pageable_h2d_bandwidth : c.op == "d2h" ? rates.pageable_d2h_bandwidth : 0.0;
      c.envelope.min_slope = std::max(c.envelope.min_slope, us_per_byte(1.0, staging));
    }
  }
  page_map_envelope_.reset();
  if (page_map) {
    page_map_envelope_ = page_map->monotone();
    page_map_envelope_->fixed_call = true;  // cuMemMap + cuMemSetAccess: a driver call's fixed cost
  }
  curve_index_.clear();
  for (std::size_t i = 0; i < collectives.size(); ++i) {
    curve_index_[collectives[i].op + "|" + std::to_string(collectives[i].ranks)].push_back(i);
  }
  finalize_moe();
}

}  // namespace servesim
