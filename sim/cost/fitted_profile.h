#pragma once
// A fitted cost profile: per operator family, the model `servesim calibrate fit` built from
// measured kernels (calibration/profiles/<device>.json, schema servesim.fitted_profile/1,
// documented in calibration/FITTING.md). Contract:
// - Each family answers only inside what was measured or can be extrapolated physically,
//   and returns nullopt otherwise (the composite then asks the roofline).
// - Times are microseconds of one kernel execution (one call for host-side families).
// - The regression terms are physical (a latency, a FLOP time at the device's peak, a byte
//   time at its bandwidth, a per-sequence cost), so rates of another device can be swapped
//   in to derive a profile for it (status "derived").
// - Loading validates everything; a malformed profile is an InputError naming file and field.
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/cost/line_grid.h"
#include "sim/model/operator.h"

namespace servesim {

struct ProfileRates {
  std::map<std::string, double> peak_flops;  // "bf16", "fp8" -> FLOP/s (dense); "fp8_block" reads "fp8"
  double hbm_bandwidth = 0;                  // bytes/s
  double sm_count = 0;
  double intra_node_bandwidth = 0;           // bytes/s per direction
  double host_link_bandwidth = 0;            // bytes/s per direction
  // NCCL bus bandwidth (nccl-tests convention) on large messages without in-switch reduction,
  // bytes/s (0: unknown): where a collective curve's marginal bandwidth saturates beyond its
  // largest measured size (KnotCurve::saturated_slope).
  double collective_busbw = 0;
  // The same for all-reduce on 8 or more GPUs of an NVSwitch node, which NCCL reduces in the
  // switch (NVLink SHARP) and so passes collective_busbw (0: none, collective_busbw applies).
  double nvls_allreduce_busbw = 0;
  // The host's staging rate for pageable host memory (bytes/s; 0: unknown): a pageable copy
  // curve's marginal bandwidth beyond its largest measured size never exceeds it.
  double pageable_h2d_bandwidth = 0, pageable_d2h_bandwidth = 0;
  double peak(const std::string& dtype) const;
};

// What the attention models read from a batch: per-device head shape and the aggregates.
struct AttentionQuery {
  int heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0;
  std::string kv_dtype = "bf16";   // "bf16" or "fp8" (fp16 counts as bf16)
  bool paged = true;
  double kv_bytes_per_token = 0;   // K and V of one token, one layer, this device
  double act_bytes = 2;            // query/output element size
  double num_seqs = 0, sum_q = 0, sum_kv = 0, sum_q_kv = 0;
  double max_kv = 0;    // the longest sequence's KV (its own new tokens included)
  double q_tiles = 0;   // sum over sequences of ceil(q / 128): query tiles per head
  double window_seqs = 0, window_q = 0, window_excess = 0;  // as AttentionShape's (sliding window)

  // with_tiles false leaves q_tiles 0 (a pass over the sequences saved; decode's terms and
  // grid point do not read it).
  static AttentionQuery from(const AttentionShape& a, bool with_tiles = true);
  // A uniform batch: `batch` sequences of `q` new tokens after `ctx` cached ones, under a
  // sliding window of `window` tokens (0: none) as compute_attention_aggregates clips one.
  static AttentionQuery uniform(int heads, int kv_heads, int head_dim, const std::string& kv_dtype, bool paged,
                                double batch, double q, double ctx, double window = 0);
  // Where the residual grids index a batch: prefill, (sequences, equivalent cached
  // context + 1) along the mean query length, the context solving
  // sum_q_kv / n = q ctx + q (q + 1) / 2; decode, (sequences) along the mean KV length.
  struct GridPoint {
    std::array<double, 2> outer;
    double x;
  };
  GridPoint grid_point(bool prefill) const;
};

// Keys per tile a kernel reads under a sliding window (FA3 on Hopper: 160, 128, 96 or 64 by
// head dim); 0 for a kernel whose tiles are not known (priced at the exact window).
double local_key_tile(const std::string& kernel, int head_dim);
// Query rows per tile of the same kernel (FA3 on Hopper: 192 up to head dim 96, else 128); 0
// when not known.
double local_query_tile(const std::string& kernel, int head_dim);

// A GEMM's roofline time (us) at the profile's peak and bandwidth: the scale a measured line
// follows beyond its largest m.
double gemm_roofline_us(double m, double n, double k, const std::string& dtype, const ProfileRates& r);

// Regression terms, each in microseconds per unit coefficient.
std::vector<double> gemm_terms(double m, double n, double k, const std::string& dtype, const ProfileRates& r);
std::array<double, 4> gemm_terms_array(double m, double n, double k, const std::string& dtype, const ProfileRates& r);
// dot(coef, gemm_terms(...)) without allocating (the pricing path).
double gemm_regression_us(const std::vector<double>& coef, double m, double n, double k, const std::string& dtype,
                          const ProfileRates& r);
std::vector<double> attention_terms(bool prefill, const AttentionQuery& q, const ProfileRates& r);
const std::vector<std::string>& gemm_term_names();
const std::vector<std::string>& attention_term_names(bool prefill);
double dot(const std::vector<double>& a, const std::vector<double>& b);
// A prefill call's FLOPs: every query-key pair, both matmuls, every query head.
double prefill_flops(const AttentionQuery& q);
// attention_terms into a fixed array (the hot path allocates nothing); returns how many.
std::size_t attention_terms_into(bool prefill, const AttentionQuery& q, const ProfileRates& r, double peak,
                                 std::array<double, 7>& t);
// dot(coef, terms) over the first n terms, summed in the same order as dot().
double dot_n(const std::vector<double>& coef, const std::array<double, 7>& t, std::size_t n);

// A fused MoE layer's routed experts as one device runs them (vLLM's fused_moe: routing, the
// gate_up and down expert GEMMs, the activation, the weighted sum), what the MoE family reads.
struct MoeQuery {
  std::string dtype = "bf16";  // expert weights: bf16, fp8 (per tensor), fp8_block or mxfp4
  double tokens = 0;           // tokens entering the layer on this device (balanced routing)
  double hidden = 0;
  double inter = 0;            // one expert's width on this device (expert width / expert TP)
  double topk = 0;
  double local_experts = 0;    // experts on this device (experts / EP)
  double ep = 1;               // EP shards: this device gets tokens x topk / ep routed copies
  // Experts that get any copy (0: as many as an even spread gives, min(local experts,
  // copies)); a routing draw's slowest shard may have fewer, reading fewer weights.
  double active = 0;
  double copies() const { return tokens * topk / ep; }
};
// The MoE regression's terms (us per unit coefficient): a fixed latency, the active experts'
// weights at the HBM bandwidth, the routed copies' FLOPs at the peak, their activations (in,
// gate_up out, activation, down out) at the bandwidth.
std::array<double, 4> moe_terms(const MoeQuery& q, const ProfileRates& r);
const std::vector<std::string>& moe_term_names();
// dot(coef, moe_terms(q, r)) without allocating.
double moe_regression_us(const std::vector<double>& coef, const MoeQuery& q, const ProfileRates& r);

struct FitAnswer {
  double us = 0;
  const char* variant = "";  // "" primary model; "regression", "global"; a collective backend
};

std::string collective_op_name(CollectiveKind k);  // all_reduce, all_gather, reduce_scatter, all_to_all, send_recv
const char* copy_direction_name(CopyKind k);         // h2d, d2h, d2d, or "" when not fittable

class FittedProfile {
 public:
  struct GemmFit {
    // Lines (n, k) along m, values us; monotone in m, and beyond a line's largest measured m
    // it keeps its last measured efficiency against the roofline (set by finalize()).
    LineGrid grid{LineGrid::Options{2, 1.0, false, true, true}};
    std::vector<double> coef;                                 // over gemm_terms
    std::vector<std::array<double, 2>> log_keys;  // log n, log k of grid.lines(), in its order (finalize())
    // Kernels that quantise their activations first (vLLM's fp8 and block-scaled fp8: a
    // per-token or per-group pass over the m x k input): no call takes less than m x k times
    // the least time per activation element measured on the grid (0: no such pass).
    double quant_us_per_mk = 0;
  };
  struct AttentionPoint {
    double batch = 0, q = 0, ctx = 0, us = 0;
  };
  struct AttentionConfig {
    int heads = 0, kv_heads = 0, head_dim = 0;
    std::string kv_dtype, layout, kernel;
    std::vector<double> coef;
    std::vector<AttentionPoint> points;  // training points (uniform batches)
    LineGrid residual;  // measured / regression, see AttentionQuery::grid_point
    double floor_us = 0;  // the fastest call measured: no call of this kernel is faster (finalize())
    std::array<double, 3> log_shape{};  // log heads, KV heads, head dim (finalize())
    // Decode, per measured batch (ascending; finalize()): the points along the mean KV length
    // and their KV byte time at the peak bandwidth (see predict_attention).
    struct DecodeLine {
      double batch = 0;
      std::vector<double> x, us, byte_us;
      double reach = 0;  // the longest mean length measured at this batch or a larger one
    };
    std::vector<DecodeLine> decode_lines;
    // Prefill (finalize()): the measured points' FLOPs and the largest batch, query length and
    // context measured, and the best efficiency (FLOP time at the peak / time) any config of
    // this kernel reached: beyond the measured range a query's extra FLOPs over a point it
    // contains cost at least their time at that efficiency (see predict_attention).
    std::vector<double> point_flops;
    double max_batch = 0, max_q = 0, max_ctx = 0;
    double kernel_best_efficiency = 0;
  };
  struct AttentionFit {
    std::vector<AttentionConfig> configs;
    std::vector<std::string> kernels;  // measured kernels, preferred first
    std::vector<double> global;        // over all configs of the preferred kernel
    double global_floor_us = 0;        // the fastest call of the preferred kernel (finalize())
    // The config the preferred kernel order picks per (heads, kv_heads, head_dim, fp8 KV,
    // paged), built by finalize() so the hot path does not scan and compare strings.
    std::map<std::tuple<int, int, int, bool, bool>, std::size_t> preferred;
    // The configurations of the preferred kernel by (fp8 KV, paged): the neighbours an
    // unmeasured head configuration may borrow from (finalize(); fitted_neighbours.cpp).
    std::array<std::vector<std::size_t>, 4> neighbour_pool;
  };
  // MoE: per weight dtype, one kernel's measured layers (one group per per-device shape, a
  // curve along the tokens) and a regression over every group (fitted_moe.cpp).
  struct MoeGroup {
    double hidden = 0, inter = 0, topk = 0, local_experts = 0, ep = 1;  // as MoeQuery's
    std::vector<double> tokens, us;  // ascending tokens
    std::vector<double> log_tokens, log_ratio;  // log(measured / regression) per point (finalize())
    std::array<double, 5> log_key{};             // logs of the five shape values (finalize())
    MoeQuery query(const std::string& dtype, double at_tokens) const;  // this shape at `at_tokens`
  };
  struct MoeFit {
    std::string kernel;
    std::vector<double> coef;  // over moe_terms
    std::vector<MoeGroup> groups;
  };
  struct Curve {
    std::string op, backend;  // collectives: op and backend; copies: direction and host_mem
    int ranks = 0;
    KnotCurve curve;          // collectives: bytes -> us; copies: one copy's device time by its bytes
    KnotCurve envelope;       // curve made non-decreasing (what predictions read; set by finalize())
    double issue_floor_us = 0;  // copies: per-call host issue time bounding a chain of copies
    double gap_us = 0;          // copies: idle time between back-to-back copies of a chain
  };

  std::string device;
  std::string status = "measured";  // or "derived"
  nlohmann::json derived_from;       // null unless derived
  nlohmann::json provenance = nlohmann::json::object();
  // The kernels the measurements ran (calibration/FITTING.md, "Kernel sets"): null, or
  // {"name": "vllm" | "pytorch" | "harness" | ..., "kernels": {family: [description, ...]}}.
  // A profile belongs to its kernels: the same GPU runs another engine's kernels at other speeds.
  nlohmann::json kernel_set;
  ProfileRates rates;
  std::map<std::string, GemmFit> gemm;  // by dtype
  AttentionFit prefill, decode;
  std::vector<Curve> collectives;
  std::vector<Curve> copies;
  std::optional<KnotCurve> page_map;  // page bytes -> us per map call
  std::map<std::string, MoeFit> moe;  // by expert weight dtype
  nlohmann::json launch;              // measured launch figures (informational)

  // kernel_set's name, or "" when the profile does not say.
  std::string kernel_set_name() const;
  static FittedProfile from_json(const nlohmann::json& j, const std::string& where);
  // A profile's JSON text: from_json(parse_json_text(text, where), where), the same profile
  // and the same errors, read in place where it can (from_text_fast), which takes a third of
  // the time and of the memory on the largest profiles (no nlohmann tree of the document).
  static FittedProfile from_text(std::string_view text, const std::string& where);
  // The in-place read alone: nullopt where the text is not a valid profile or the reader is
  // unsure (json_view.h); from_text then reads it through nlohmann for the answer or message.
  static std::optional<FittedProfile> from_text_fast(std::string_view text, const std::string& where);
  // A profile whose provenance.moe_from names another profile (calibrate fit --moe-from) takes
  // that profile's MoE family by derive_moe at load: beside it (or at the recorded path), with
  // the SHA-256 recorded at the fit, else an InputError naming both files.
  static FittedProfile load(const std::string& path);  // from_text of the file
  nlohmann::json to_json() const;
  // Builds the lookup structures (residual grids, indices); call after filling by hand.
  void finalize();

  std::optional<FitAnswer> predict_gemm(double m, double n, double k, const std::string& dtype) const;
  // kernel "" picks by the profile's preference (same layout first).
  std::optional<FitAnswer> predict_attention(bool prefill, const AttentionQuery& q, const std::string& kernel = "") const {
    return predict_attention(prefill, q, kernel, nullptr);
  }
  // What predict_attention looks up for one head shape and batch size (the kernel
  // configuration, its residual grid's lines at that batch, the peak), kept by a caller that
  // prices one operator step after step while only its lengths grow (a merged decode run).
  // It checks what it holds on every call and looks again where the shape, the kernel or the
  // grid key changed, so answers with a cursor equal those without, exactly.
  struct AttentionCursor {
    bool valid = false, prefill = false, paged = false;
    int heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0;
    std::string kv_dtype, kernel;
    const AttentionConfig* config = nullptr;
    double peak = 0;
    std::array<double, 2> outer{};  // the residual grid key `residual` was located at
    LineGrid::Located residual;
    const std::string* kernel_at = nullptr;  // where the kernel name was passed (equal there: no compare)
    double decode_reach = 0;                 // decode_beyond()'s reach at `outer` (decode)
  };
  std::optional<FitAnswer> predict_attention(bool prefill, const AttentionQuery& q, const std::string& kernel,
                                             AttentionCursor* cursor) const;
  // backend "" picks the fastest fitted backend at that size.
  // A rank count not measured but between two measured ones interpolates their bus bandwidth
  // (see between_rank_counts); outside them, nullopt.
  std::optional<FitAnswer> predict_collective(const std::string& op, int ranks, double bytes, const std::string& backend) const;
  std::optional<FitAnswer> predict_copy(const std::string& direction, bool pinned, double bytes, double chunks) const;
  std::optional<FitAnswer> predict_page_map(double page_bytes) const;
  // A measured group's curve times the regression between its points ("" variant; beyond its
  // tokens, its nearest point's residual); a shape never measured, the regression times its
  // neighbours' residuals at the same tokens ("regression_residual"). nullopt: no fit of the dtype.
  std::optional<FitAnswer> predict_moe(const MoeQuery& q) const;

  // The fitted families present, for reports: "gemm", "attention_prefill", ...
  std::vector<std::string> families() const;

 private:
  // `cursor` (optional): where c's residual lines were located last (see AttentionCursor).
  std::optional<double> config_answer(bool prefill, const AttentionConfig& c, const AttentionQuery& q,
                                      const std::array<double, 7>& terms, std::size_t n, double peak,
                                      AttentionCursor* cursor = nullptr) const;
  // What was never measured, from measured neighbours (fitted_neighbours.cpp).
  std::optional<double> gemm_from_neighbours(const GemmFit& g, double m, double n, double k, const std::string& dtype) const;
  double attention_neighbour_factor(bool prefill, const AttentionFit& f, const AttentionQuery& q, double peak) const;
  double moe_neighbour_factor(const MoeFit& f, const MoeQuery& q) const;
  void finalize_moe();  // the MoE family's logs and residuals (part of finalize())
  std::optional<FitAnswer> between_rank_counts(const std::string& op, int ranks, double bytes, const std::string& backend) const;
  double decode_beyond(const AttentionConfig& c, const AttentionQuery& q, double us) const;
  double prefill_beyond(const AttentionConfig& c, const AttentionQuery& q, double us, double peak) const;
  const AttentionConfig* find_config(const AttentionFit& f, const AttentionQuery& q, const std::string& kernel) const;
  std::map<std::string, std::vector<std::size_t>> curve_index_;  // "op|ranks" -> collectives
  std::optional<KnotCurve> page_map_envelope_;
};

// A measured MoE group's log(measured / regression) at log(tokens): linear between its points,
// its first point's below them, its last step's marginal ratio beyond them (fitted_moe.cpp).
double moe_group_log_ratio(const FittedProfile::MoeGroup& g, double log_tokens, const std::vector<double>& coef,
                           const std::string& dtype, const ProfileRates& r);

// Rounds to `sig` significant digits (profiles store 5, which keeps files small and
// deterministic).
double round_sig(double v, int sig = 5);

// A kernel-set name as profiles, scenarios and file names use it: non-empty, no '/', '@' or
// spaces (it becomes part of calibration/profiles/<device>@<kernel_set>.json).
bool valid_kernel_set_name(const std::string& name);
// The file stem of a device's profile of a kernel set: "<device>@<kernel_set>".
inline std::string kernel_set_stem(const std::string& device, const std::string& kernel_set) {
  return device + "@" + kernel_set;
}

}  // namespace servesim
