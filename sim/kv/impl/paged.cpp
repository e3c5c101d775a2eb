// The paged KV manager's registration (the manager: paged_kv.h; its multi-step advance and
// invariant checks: paged_bulk.cpp; its prefix-cache lookup: paged_hits.cpp; its growth
// under token dropping: paged_drop.cpp).
#include "sim/kv/impl/paged_kv.h"

namespace servesim {

SERVESIM_REGISTER(KvManagerRegistry, PagedKvManager, "paged",
                  "vLLM paged KV: fixed blocks, LRU free queue, prefix caching, copy-on-write forks, swap, offload tiers")

}  // namespace servesim
