#include <nlohmann/json.hpp>

#include "sim/kv/i_kv_manager.h"

#include "sim/core/error.h"

namespace servesim {

void KvStepWork::add(const KvStepWork& o) {
  sync_map_calls += o.sync_map_calls;
  async_map_calls += o.async_map_calls;
  if (o.page_bytes > 0) page_bytes = o.page_bytes;
  swap_out_bytes += o.swap_out_bytes;
  swap_out_chunks += o.swap_out_chunks;
  swap_in_bytes += o.swap_in_bytes;
  swap_in_chunks += o.swap_in_chunks;
  load_bytes += o.load_bytes;
  load_chunks += o.load_chunks;
  disk_read_seconds += o.disk_read_seconds;
  spill_bytes += o.spill_bytes;
  spill_chunks += o.spill_chunks;
  cow_bytes += o.cow_bytes;
  cow_chunks += o.cow_chunks;
}

const char* preempt_mode_name(PreemptMode m) { return m == PreemptMode::kSwap ? "swap" : "recompute"; }

nlohmann::json kv_common_summary(const char* impl, const KvUsage& u, const KvCounters& c) {
  auto pct = [](double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; };
  nlohmann::json j;
  j["impl"] = impl;
  j["capacity_tokens"] = u.capacity_tokens;
  // Fragmentation: the share of the physical memory held for running sequences that holds
  // no KV, averaged over every (sequence, step) pair, and at the peak of allocation.
  j["fragmentation_pct"] = pct(c.step_allocated_bytes - c.step_used_bytes, c.step_allocated_bytes);
  // Reserved: pages mapped to running sequences beyond what their tokens occupy.
  j["reserved_pct"] = pct(c.step_reserved_bytes, c.step_allocated_bytes + c.step_reserved_bytes);
  j["peak_allocated_bytes"] = c.peak_allocated_bytes;
  j["used_bytes_at_peak"] = c.used_bytes_at_peak;
  j["fragmentation_at_peak_pct"] = pct(c.peak_allocated_bytes - c.used_bytes_at_peak, c.peak_allocated_bytes);
  j["prefix_lookup_tokens"] = c.prefix_lookup_tokens;
  j["prefix_hit_tokens"] = c.prefix_hit_tokens;
  j["prefix_hit_rate"] = c.prefix_lookup_tokens > 0 ? static_cast<double>(c.prefix_hit_tokens) / static_cast<double>(c.prefix_lookup_tokens) : 0.0;
  j["offload_hit_tokens"] = c.offload_hit_tokens;
  j["units_allocated"] = c.units_allocated;
  j["pages_mapped"] = c.pages_mapped;
  j["pages_unmapped"] = c.pages_unmapped;
  j["cache_evictions"] = c.cache_evictions;
  j["preemptions"] = c.preemptions_recompute + c.preemptions_swap;
  j["preemptions_recompute"] = c.preemptions_recompute;
  j["preemptions_swap"] = c.preemptions_swap;
  j["swap_out_bytes"] = c.swap_out_bytes;
  j["swap_in_bytes"] = c.swap_in_bytes;
  j["offload_spill_bytes"] = c.spill_bytes;
  j["offload_load_bytes"] = c.load_bytes;
  j["copy_on_write_bytes"] = c.cow_bytes;
  j["end_allocated_bytes"] = u.allocated_bytes;
  j["end_reserved_bytes"] = u.reserved_bytes;
  j["end_cached_bytes"] = u.cached_bytes;
  return j;
}

void IKvManager::allocate_decode_steps(std::span<Request* const> reqs, std::span<const std::int64_t> tokens, std::int64_t steps) {
  KvStepWork scratch;
  for (std::int64_t j = 1; j <= steps; ++j) {
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      scratch.clear();
      const bool ok = allocate(*reqs[i], tokens[i] + j, scratch);
      SERVESIM_ASSERT(ok && scratch.sync_map_calls == 0 && scratch.async_map_calls == 0 && scratch.swap_in_bytes == 0 &&
                      scratch.spill_bytes == 0 && scratch.cow_bytes == 0);
    }
  }
}

}  // namespace servesim
