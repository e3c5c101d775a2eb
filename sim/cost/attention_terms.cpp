// Attention's regression terms (what each fitted coefficient multiplies) and the tile
// geometry of the kernels whose tiles are known; declared in fitted_profile.h.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "sim/core/error.h"
#include "sim/cost/fitted_profile.h"

namespace servesim {

const std::vector<std::string>& attention_term_names(bool prefill) {
  static const std::vector<std::string> p = {"latency_us", "flop_time",        "byte_time", "per_seq_us", "per_1k_query_head_rows_us",
                                             "per_1k_longest_kv_us", "wave_padded_flop_time"};
  // Decode has no FLOP term: for one head shape its FLOPs are proportional to the KV bytes
  // it reads, so the split between the two would be arbitrary (and a derived profile would
  // scale it by the wrong rate); decode attention is memory-bound.
  static const std::vector<std::string> d = {"latency_us", "byte_time", "per_seq_us", "per_1k_seq_heads_us",
                                             "per_1k_longest_kv_us"};
  return prefill ? p : d;
}

double local_key_tile(const std::string& kernel, int head_dim) {
  // FA3 on Hopper, 16-bit inputs, local (sliding-window) attention: keys per tile by head
  // dim (flash-attention's hopper/tile_size.h). Other kernels: unknown, 0 (the exact window).
  if (!kernel.starts_with("vllm_flash_attn_fa3")) return 0;
  return head_dim <= 64 ? 160 : head_dim <= 128 ? 128 : head_dim <= 192 ? 96 : 64;
}

double local_query_tile(const std::string& kernel, int head_dim) {
  // The same kernel's query rows per tile (local attention, 16-bit): 192 up to head dim 96,
  // 128 above. Other kernels: 0.
  if (!kernel.starts_with("vllm_flash_attn_fa3")) return 0;
  return head_dim <= 96 ? 192 : 128;
}

double prefill_flops(const AttentionQuery& q) {
  return 2.0 * q.sum_q_kv * (static_cast<double>(q.heads) * (q.head_dim + q.v_head_dim));
}

std::size_t attention_terms_into(bool prefill, const AttentionQuery& q, const ProfileRates& r, double peak,
                                 std::array<double, 7>& t) {
  const double dims = static_cast<double>(q.heads) * (q.head_dim + q.v_head_dim);
  if (prefill) {
    const double flops = prefill_flops(q);
    const double bytes = q.sum_kv * q.kv_bytes_per_token + q.sum_q * dims * q.act_bytes;
    // Work is spread as one block per (query tile of 128 rows, head); the last wave of
    // blocks leaves SMs idle, and the longest sequence bounds the time (critical path).
    const double blocks = std::max(1.0, q.q_tiles * q.heads);
    const double waves = std::ceil(blocks / r.sm_count);
    t = {1.0,
         flops / peak * 1e6,
         bytes / r.hbm_bandwidth * 1e6,
         q.num_seqs,
         q.sum_q * q.heads / 1000.0,
         q.max_kv / 1000.0,
         flops / peak * 1e6 * waves * r.sm_count / blocks};
    return 7;
  }
  const double bytes = q.sum_kv * q.kv_bytes_per_token + q.num_seqs * dims * q.act_bytes;
  t = {1.0, bytes / r.hbm_bandwidth * 1e6, q.num_seqs, q.num_seqs * q.heads / 1000.0, q.max_kv / 1000.0, 0, 0};
  return 5;
}

double dot_n(const std::vector<double>& coef, const std::array<double, 7>& t, std::size_t n) {
  SERVESIM_ASSERT(coef.size() == n);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += coef[i] * t[i];
  return s;
}

std::vector<double> attention_terms(bool prefill, const AttentionQuery& q, const ProfileRates& r) {
  std::array<double, 7> t{};
  const std::size_t n = attention_terms_into(prefill, q, r, r.peak("bf16"), t);
  return {t.begin(), t.begin() + static_cast<std::ptrdiff_t>(n)};
}

}  // namespace servesim
