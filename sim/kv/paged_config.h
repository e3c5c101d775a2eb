#pragma once
// The paged KV manager's parameters (sim/kv/impl/paged_kv.h), declared once here.
#include <cstdint>

#include "sim/core/params.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/kv/offload_tiers.h"
#include "sim/kv/token_drop.h"

namespace servesim {

struct PagedKvConfig {
  std::int32_t block_size = 16;
  bool prefix_caching = true;
  std::int64_t num_blocks_override = 0;
  double swap_space = 0;
  bool coalesced_swap = false;
  bool swap_reuse = false;
  OffloadConfig offload;
  TokenDropConfig drop;
  static PagedKvConfig parse(Params& p) {
    PagedKvConfig c;
    c.block_size = static_cast<std::int32_t>(p.integer("block_size", 16, "tokens per KV block", 1, 4096));
    c.prefix_caching = p.boolean("enable_prefix_caching", true, "reuse computed blocks by chained prefix hashes");
    c.num_blocks_override = p.integer("num_gpu_blocks_override", 0, "use this many blocks instead of the memory plan (0: off)", 0, kMaxKvUnits);
    c.swap_space = p.bytes("swap_space", "4GiB", "host memory for requests preempted by swap (vLLM's --swap-space default)");
    c.coalesced_swap = p.choice("swap_copy", "per_block", {"per_block", "coalesced"},
                                "swap copies: one per block per layer and K/V (vLLM) or one per buffer (FastSwitch's "
                                "block groups)") == "coalesced";
    c.swap_reuse = (p.has("swap_reuse") || p.doc_mode()) &&  // absent: off, and not in the resolved config
                   p.boolean("swap_reuse", false, "FastSwitch's KV reuse: swapped-in blocks' host copies stay valid; a later swap-out copies only the others");
    c.offload = OffloadConfig::parse(p);
    c.drop = TokenDropConfig::parse_in(p);
    return c;
  }
};

}  // namespace servesim
