#pragma once
// KV-cache managers. Contract (the scheduler and the engine rely on every point):
// - Capacity is fixed at construction from the memory the engine leaves for KV.
// - cached_prefix(r) has no side effects: it says how many leading tokens of r could be
//   served from cache if r were admitted now (from device memory, or from an offload tier
//   where loading is cheaper than recomputing). It is a multiple of the manager's
//   granularity and always less than r's tokens, so at least one token is computed.
// - allocate(r, total, work) makes r hold KV for `total` tokens (computed plus this step's
//   new ones). On r's first allocation it claims the cached prefix it reported (device hits
//   are shared, tier hits loaded) or, for a request preempted by swap, its swapped-out KV
//   (swapped_tokens(r) of them, copied back in). When memory is short it returns false and
//   changes NOTHING (no exception: shortage is normal). Work the allocation costs (pages
//   mapped, copies) is added to `work`.
// - commit(r) runs after a step advanced r.num_computed: full blocks become cacheable.
// - fork(parent, child, work): the child (holding nothing) comes to hold the parent's KV,
//   shared copy-on-write (parallel sampling); false and nothing changed when memory is short.
// - free(r) releases a finished request. preempt(r, mode, work) releases a preempted one:
//   by recompute (returns 0), or by swapping its KV out to host memory (work records the
//   copy; returns the tokens kept there, and r resumes with num_computed = that), falling
//   back to recompute (0) when the swap space is full. Afterwards r.kv_slot == -1 and r
//   holds no device memory.
// - Managers never throw for normal operation; misuse (double free) is a bug (assert).
// - check_invariants() verifies the manager's own invariants (units conserved, none both
//   free and in use, nothing mapped twice, capacity respected); tests call it after every
//   operation.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/registry.h"
#include "sim/core/time.h"
#include "sim/hardware/device_spec.h"
#include "sim/kv/token_drop.h"
#include "sim/model/model_spec.h"
#include "sim/workload/request.h"

namespace servesim {

// Upper bound of a KV manager's block / page-group count overrides: 2^24 units (2^28 tokens
// at 16 tokens a block); a KV manager keeps state per unit, so an input value beyond this
// would be an allocation of tens of GB.
inline constexpr std::int64_t kMaxKvUnits = std::int64_t{1} << 24;

// Costs that KV actions add to the step in which they happen. Copies on the critical path
// are costed by the cost model as kCopy operators (bytes plus a per-chunk overhead: many
// small copies cost more than one large one); spills and async maps may overlap compute.
struct KvStepWork {
  std::int64_t sync_map_calls = 0;   // page map/unmap calls the step waits for (prefill pages, reclaim)
  std::int64_t async_map_calls = 0;  // page map/unmap calls that may overlap the step's compute
  double page_bytes = 0;             // bytes per mapped page
  double swap_out_bytes = 0;         // preemption by swap: device -> host
  std::int64_t swap_out_chunks = 0;  //   copy calls
  double swap_in_bytes = 0;          // resume of a swapped request: host -> device
  std::int64_t swap_in_chunks = 0;
  double load_bytes = 0;             // offloaded prefix blocks loaded back: host -> device
  std::int64_t load_chunks = 0;
  double disk_read_seconds = 0;      // SSD -> host part of those loads, at the tier's own bandwidth
  double spill_bytes = 0;            // evicted prefix blocks copied to the host tier (asynchronous)
  std::int64_t spill_chunks = 0;
  double cow_bytes = 0;              // device -> device copies (copy-on-write, partial-page prefix reuse)
  std::int64_t cow_chunks = 0;
  void clear() { *this = KvStepWork{}; }
  void add(const KvStepWork& o);
};

// The manager's state now (for routers, the time series and tests).
struct KvUsage {
  std::int64_t capacity_tokens = 0;  // tokens the pool holds when full
  std::int64_t used_tokens = 0;      // token slots held by live requests (allocated units x granularity)
  std::int64_t cached_tokens = 0;    // reusable tokens held by no live request
  double allocated_bytes = 0;        // physical memory live requests' tokens occupy (incl. the
                                     // unfilled rest of their last block/page: fragmentation)
  double used_bytes = 0;             // bytes of actual KV content of live requests
  double reserved_bytes = 0;         // mapped to live requests beyond their tokens' pages (vTensor's
                                     // grace window, pages left over in a reused vAttention slot)
  double cached_bytes = 0;           // physical memory held for reuse by no live request
                                     // (prefix cache, vAttention's deferred-reclamation slots)
  std::int64_t units_in_use = 0;     // blocks / mapped page groups in use (live or cached)
};

// Cumulative counters over the run.
struct KvCounters {
  std::int64_t prefix_lookup_tokens = 0;  // tokens of requests at admission (incl. re-admissions)
  std::int64_t prefix_hit_tokens = 0;     // of which served from cache (device or offload tier)
  std::int64_t offload_hit_tokens = 0;    // of which loaded back from an offload tier
  std::int64_t units_allocated = 0;       // blocks taken from the pool / page groups mapped
  std::int64_t pages_mapped = 0;          // physical page map calls (0 for managers that map nothing)
  std::int64_t pages_unmapped = 0;
  std::int64_t cache_evictions = 0;       // cached units dropped from device memory
  std::int64_t preemptions_recompute = 0;
  std::int64_t preemptions_swap = 0;
  double swap_out_bytes = 0, swap_in_bytes = 0;
  double spill_bytes = 0, load_bytes = 0;
  double cow_bytes = 0;
  // Physical bytes held for vs KV bytes of the sequences a step ran, summed over
  // (sequence, step) pairs: the fragmentation a running sequence sees.
  double step_allocated_bytes = 0, step_used_bytes = 0;
  double step_reserved_bytes = 0;  // mapped beyond the sequence's tokens' pages, same sum
  double peak_allocated_bytes = 0, used_bytes_at_peak = 0;
};

struct KvDeps {
  const ModelSpec& model;
  double kv_bytes_available = 0;   // per device, after weights and activations
  double kv_bytes_per_token = 0;   // per device, all layers on it, at the KV dtype
  std::int64_t layers_per_device = 0;
  std::uint64_t seed = 0;
  const DeviceSpec* device = nullptr;  // host link and host memory for swap/offload (null: defaults)
  std::int32_t tensor_parallel = 1;    // for the recompute-time estimate of offload decisions
};

enum class PreemptMode : std::uint8_t { kRecompute, kSwap };
const char* preempt_mode_name(PreemptMode m);

class IKvManager {
 public:
  virtual ~IKvManager() = default;
  virtual bool paged_layout() const = 0;       // attention kernels read through a block table
  virtual std::int32_t kernel_block_size() const = 0;
  virtual std::int64_t capacity_tokens() const = 0;
  // KV token dropping (token_drop.h): the policy whose kept tokens decode attention reads
  // (null: none, every token is kept).
  virtual const TokenDropConfig* token_drop() const { return nullptr; }
  virtual std::int64_t cached_prefix(const Request& r) const = 0;
  virtual bool allocate(Request& r, std::int64_t total_tokens, KvStepWork& work) = 0;
  virtual void commit(Request& r) = 0;
  virtual bool fork(const Request& parent, Request& child, KvStepWork& work) = 0;
  virtual void free(Request& r) = 0;
  virtual std::int64_t preempt(Request& r, PreemptMode mode, KvStepWork& work) = 0;
  virtual std::int64_t swapped_tokens(const Request& r) const = 0;  // tokens r has in swap space
  virtual KvUsage usage() const = 0;
  virtual const KvCounters& counters() const = 0;
  virtual nlohmann::json summary() const = 0;  // counters plus manager-specific figures, for summary.json
  virtual void check_invariants() const = 0;

  // Multi-step advance: of the next `max_steps` decode steps of `reqs` (each request one
  // token more per step, allocated step by step in this order), how many are certain to
  // allocate successfully and to cost no KV work (no copies, no page maps), so that doing
  // their allocations at once is indistinguishable from doing them step by step.
  // 0 (the default): the engine never advances several steps at once with this manager.
  virtual std::int64_t work_free_decode_steps(std::span<Request* const> reqs, std::int64_t max_steps) const {
    (void)reqs;
    (void)max_steps;
    return 0;
  }
  // The allocations of `steps` such decode steps (a number work_free_decode_steps allowed):
  // request i holds tokens[i] tokens before them and one more after each step. The state and
  // counters afterwards are exactly those of the step-by-step calls
  //   for j in 1..steps: for i: allocate(reqs[i], tokens[i] + j)
  // (a manager may do them in bulk; the default makes those calls).
  virtual void allocate_decode_steps(std::span<Request* const> reqs, std::span<const std::int64_t> tokens, std::int64_t steps);
};

template <>
struct InterfaceName<IKvManager> {
  static constexpr const char* value = "kv_manager";
};
using KvManagerRegistry = Registry<IKvManager, const KvDeps&>;

// Chained hash of block `index` (block_size tokens) of r's token sequence: equal for two
// requests exactly when their first (index+1)*block_size tokens are equal, as far as the
// spec's prefix ids tell. Ids describe the prompt in units of prefix_unit tokens (the last
// one may cover a partial unit, as Mooncake's hash_ids); ids beyond those the prompt needs
// continue over the output (multi-turn: a turn's output is the next turn's context).
// Blocks the ids do not cover are unique to the request.
class BlockHasher {
 public:
  explicit BlockHasher(std::int32_t block_size) : block_size_(block_size) {}
  std::uint64_t block_hash(const Request& r, std::int64_t index, std::uint64_t parent) const;
  // Appends the hashes of blocks hashes.size() .. count - 1 (hashes: r's first blocks' hashes).
  void extend(const Request& r, std::int64_t count, std::vector<std::uint64_t>& hashes) const;
  std::int32_t block_size() const { return block_size_; }
  // Leading tokens of the spec that its prefix ids describe.
  static std::int64_t covered_tokens(const RequestSpec& s);

 private:
  std::int32_t block_size_;
};

// The common part of every manager's summary(): counters, rates and the state now.
nlohmann::json kv_common_summary(const char* impl, const KvUsage& u, const KvCounters& c);

}  // namespace servesim
