#pragma once
// The executor: a step's batch -> operators under the parallel plan (plus the KV manager's
// work as operators) -> the cost model -> the step's time, with where that time went.
// Contract:
// - cost_step(plan, layout) prices one step: the critical path of its device operators
//   (page maps and spills that overlap compute count only where they outlast it), composed
//   over pipeline stages, plus the CPU time the engine exposes for the step. The result is
//   the time of the step traversing every stage in turn: the sum of stage_ns() plus
//   (pp - 1) hand-offs of handoff_ns().
// - stage_ns()[s] is the last priced step's time on stage s: the per-layer operators scaled
//   by the stage's layers (stage_layers / layers_per_stage, integer ns), the embedding on
//   the first stage, the LM head and sampling on the last, the engine's exposed CPU time
//   before the first stage (the host forms and launches the step), and overlapping work that
//   outlasts the critical path after the last. With pp == 1 it is the step's device time
//   plus CPU time, exactly as before stages were priced apart.
// - With a drawn expert routing (the plan's expert_popularity is not empty), cost_step()
//   draws each step's token copies per expert from the replica's own seeded stream (one
//   draw per step, used by every MoE layer of it); a repeated decode step keeps the draw of
//   the step before it, so the replica does not merge steps then.
// - With engine.overlap (overlap.h) the per-layer operators of the batch's two halves are
//   also priced alone, and the stage's layer time is the overlapped time when that is
//   shorter than the whole batch's; the breakdown by class stays the whole batch's. The
//   replica does not merge steps then either.
// - With host offload (host_offload.h) the stage's layer time grows by the KV streamed
//   beyond the device's pool (each layer's transfer overlapped with the previous layer's
//   compute) and by the activated non-resident experts' copies; both are KV/weight copies
//   in the breakdown (OpClass::kCopy). The replica does not merge steps then (each step
//   streams more KV than the one before).
// - Context parallelism (plan degrees().cp > 1, context_parallel.h): the plan is handed one
//   CP rank's attention shapes; a stage's prefill attention (the ring's rounds) and the
//   ring's KV sends overlap (round time = max(compute, transfer)).
// - Attention data parallelism (degrees().attention_dp): the step's requests are split over
//   the tp ranks (dp_rank), each rank's operators priced, and the slowest rank's are the
//   step's (every rank waits for it at the MoE all-to-alls).
// - With either the replica does not merge decode steps (shards_attention()).
// - cost_repeated_decode_step() prices the step after the last one priced, which must have
//   been a pure-decode step: the same sequences, every context one token longer. Only the
//   attention operators are re-costed; the others repeat their summed cost (all sums are
//   integer ns, so the result does not depend on how steps are grouped).
// - Speculative decoding: a verify sequence (1 + draft query tokens) is priced as a
//   prefill-like chunk attending to its context, with 1 + draft logits; the drafter's
//   forwards (ExecutorContext::draft) are added to the step's critical path.
// - With engine.swap_overlap (FastSwitch), the step's KV swap copies (preemption by swap,
//   resumption of a swapped request) are issued on a copy stream, layer by layer, beside
//   the step's compute: each layer's swap-out and swap-in share the full-duplex host link,
//   one layer's transfer x = max(out, in) (a layer's bytes and copy calls, priced by the
//   cost model), and the stage's layers take x + (L - 1) max(c, x) + c, as streamed KV
//   does (host_offload.h): max(compute, copy) plus the first transfer and the last
//   compute, which nothing hides. Without it the copies precede the step's compute.
// - A co-located step (StepPlan::colocate_tpot_ns > 0, the nexus scheduler) with both
//   decode and prefill sequences, on one pipeline stage and without context parallelism or
//   attention DP (those steps run as one batch): the stage's per-layer operators
//   are priced as two streams side by side (colocate.h), and their co-located time replaces
//   the whole batch's layer time (engine.overlap is not applied to such a step); the
//   breakdown by class stays the whole batch's. last_decode_share() is the SM share the
//   decode stream got (1 after a step that was not co-located).
// - It owns no requests and no KV; it only reads the plan. One executor per replica (it
//   keeps that replica's cost breakdown); the cost model it calls may be shared.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <tuple>
#include <vector>

#include "sim/cost/i_cost_model.h"
#include "sim/core/rng.h"
#include "sim/cost/power_model.h"
#include "sim/kv/i_kv_manager.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/serving/host_offload.h"
#include "sim/serving/launch.h"
#include "sim/serving/overlap.h"
#include "sim/sched/i_scheduler.h"

namespace servesim {

class OperatorMemo;   // executor_memo.h
class OperatorMemos;  // executor_memo.h
class StepShapeMemo;  // executor_memo.h
struct StepShapePrice;  // executor_memo.h
struct OperatorPrice;

struct ExecutorContext {
  const ModelSpec& model;
  const IParallelPlan& plan;
  const ICostModel& cost;
  PlanLinks links;
  DType weight_dtype = DType::kBf16;
  DType act_dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  // The device's power model (null: no energy accounting, times as the cost model says).
  const PowerModel* power = nullptr;
  // The scenario's seed and the replica's id (the expert-routing draws' stream).
  std::uint64_t seed = 0;
  std::int32_t replica = 0;
  OverlapConfig overlap;  // engine.overlap
  // Speculative decoding's drafter (speculative.h; null: none): a step whose sequences
  // verify proposals (ScheduledSeq::draft) first runs max(draft) sequential decode forwards
  // of this model over them, the j-th over the sequences with draft > j at context + j.
  const ModelSpec* draft = nullptr;
  HostOffload offload;    // engine.kv_offload, engine.expert_offload
  bool swap_overlap = false;  // engine.swap_overlap
  // The device (co-located steps split operator time by its roofline; null: no co-location).
  const DeviceSpec* device = nullptr;
  LaunchConfig launch;  // engine.launch: a launch-bound step's exposed launch time (launch.h)
  // The pool's operator memos, shared by its replicas' executors (null: the executor keeps
  // its own). They must serve this context's cost model, in this executor's thread.
  OperatorMemos* memos = nullptr;
};

// The KV layout attention kernels read (from the KV manager).
struct KvLayout {
  bool paged = true;
  std::int32_t block_size = 16;
  const TokenDropConfig* drop = nullptr;  // KV token dropping: decode attention reads kept tokens only
};

// Where step time went, by operator class and by the cost model that answered.
struct CostBreakdown {
  std::array<double, 8> seconds_by_class{};  // indexed by OpClass
  std::map<std::string, double> seconds_by_source;
  double exposed_map_seconds = 0;  // page mapping on the critical path
  double swap_seconds = 0;
};

// The KV manager's work of one step as operators: page maps (synchronous or overlapping),
// swap and offload copies, copy-on-write copies. Appended to `ops`; without `swap_copies`
// the swap copies are left out (the executor overlaps them itself).
void kv_work_operators(const KvStepWork& w, std::vector<Operator>& ops, bool swap_copies = true);

class Executor {
 public:
  explicit Executor(ExecutorContext ctx);
  ~Executor();
  Executor(Executor&&) noexcept;

  // What one repeated decode step adds to the breakdown, kept until the step is known to
  // run (a merged run may be cut short): its attention operators and its CPU time; the
  // other operators repeat the last full step's sums.
  struct Charge {
    std::vector<std::tuple<OpClass, std::size_t, SimTime>> attention;  // (class, source slot, ns)
    SimTime cpu = 0;
    SimTime exposed = 0;  // overlapping work that outlasts the critical path
    std::int64_t energy_nj = 0;  // dynamic energy of its attention operators
  };

  SimTime cost_step(const StepPlan& plan, KvLayout layout);
  // Prices the next step (cost_step) under another power model (a power cap set or lifted).
  void set_power(const PowerModel* power);
  // Accounts the step at once, or, given `deferred`, records its charge there for account().
  SimTime cost_repeated_decode_step(Charge* deferred = nullptr);
  void account(const Charge& c);
  // The dynamic energy account(c) adds (nJ, one device).
  std::int64_t charge_energy_nj(const Charge& c) const { return static_.energy_nj + c.energy_nj; }

  const std::vector<SimTime>& stage_ns() const { return stage_ns_; }
  bool draws_routing() const { return !expert_p_.empty(); }
  double last_decode_share() const { return decode_share_; }
  std::int64_t colocated_steps() const { return colocated_steps_; }
  double decode_share_sum() const { return decode_share_sum_; }  // over the co-located steps
  bool overlaps() const { return ctx_.overlap.mode != OverlapMode::kNone; }
  bool host_offloads() const { return ctx_.offload.enabled(); }
  bool shards_attention() const { return ctx_.plan.degrees().cp > 1 || ctx_.plan.degrees().attention_dp; }
  // Host offload so far: KV bytes streamed in (host -> device) and out, the step time they
  // added; expert bytes fetched and the time it took.
  double kv_stream_in_bytes() const { return kv_in_bytes_; }
  double kv_stream_out_bytes() const { return kv_out_bytes_; }
  double host_attention_bytes() const { return host_attention_bytes_; }  // host_attention: KV the host read
  SimTime kv_stream_exposed_ns() const { return kv_stream_ns_; }
  double expert_fetch_bytes() const { return expert_bytes_; }
  SimTime expert_fetch_ns() const { return expert_ns_; }
  // Expert routing so far: the sum over steps of (copies on the slowest EP shard / the mean
  // shard's copies), and the number of steps drawn.
  double imbalance_sum() const { return imbalance_sum_; }
  std::int64_t routed_steps() const { return routed_steps_; }
  SimTime handoff_ns() const { return handoff_ns_; }
  std::int64_t step_seqs() const { return step_seqs_; }
  std::int64_t step_tokens() const { return step_tokens_; }
  const CostBreakdown& breakdown() const;
  // Dynamic energy of the device work accounted so far, on ONE device of the replica, in
  // integer nJ (so, like times, it does not depend on how steps are grouped).
  std::int64_t dynamic_energy_nj() const { return energy_nj_; }
  // The part of it from the last step priced without deferral (cost_step).
  std::int64_t last_step_energy_nj() const { return last_step_nj_; }
  // Operator time accounted so far by OpClass, exact ns (a step's share: the difference).
  const std::array<SimTime, 8>& ns_by_class() const { return ns_by_class_; }
  const ExecutorContext& context() const { return ctx_; }

 private:
  SimTime price_step(bool reuse_non_attention, Charge* deferred = nullptr);
  // Critical time by StagePart -> stage_ns_ and handoff_ns_ (the CPU time not yet added);
  // returns the device time of the step traversing every stage in turn.
  SimTime compose_stages(const std::array<SimTime, 4>& part, SimTime exposed_background);
  // The slot of a source name (by address), trying `hint` first; a new name gets one.
  std::size_t source_slot(std::string_view s, std::size_t hint = static_cast<std::size_t>(-1));
  // Predicts ops_[i] (under the power limit, with its energy) into op_ns_, op_nj_, op_source_.
  void price(const Operator& op, std::size_t i);
  // price() of operator i, the step's k-th attention operator, in a merged run: through its
  // cost cursor (the lookups the same operator's previous step made; ICostModel::predict_with).
  void price_repeated_attention(const Operator& op, std::size_t i, std::size_t k);
  // One execution of op under the power limit: its time and dynamic energy (nJ).
  std::pair<SimTime, std::int64_t> predict(const Operator& op, std::string_view* source) const;
  std::pair<SimTime, std::int64_t> predict_unmemoised(const Operator& op, std::string_view* source,
                                                      std::unique_ptr<CostCursor>* cursor = nullptr) const;
  // The memo's price of op, priced now if new (null: op is not memoisable, executor_memo.h).
  OperatorPrice* memoised(const Operator& op) const;
  // engine.overlap: the stage's per-layer time with the batch split in two halves (-1: no split).
  SimTime split_layers_ns(const StepBatch& whole);
  // The operators (in half_ops_) of part of the batch: `seqs` with their decode and token
  // counts, no LM head, balanced routing. For co-location's streams and the overlap's halves.
  const std::vector<Operator>& part_operators(const StepBatch& whole, std::span<const SeqAttention> seqs, std::int64_t num_decode,
                                              std::int64_t num_tokens);
  // Host offload: what the step's KV streaming and expert fetches add to the stage's layer
  // time `compute` (host_offload.h), accounted in the counters.
  SimTime host_offload_ns(SimTime compute);
  SimTime copy_ns(CopyKind kind, double bytes, std::int64_t chunks) const;
  // engine.swap_overlap: what the step's swap copies add to the stage's layer time `compute`.
  SimTime overlapped_swap_ns(SimTime compute);

  ExecutorContext ctx_;
  // The drafter's forwards of the step (ExecutorContext::draft); returns how many.
  std::size_t draft_operators(const StepPlan& plan, const StepBatch& target);
  // Attention DP: the operators of the rank whose step is slowest -> ops_.
  void slowest_dp_rank_operators(const StepPlan& plan, const StepBatch& whole);

  std::vector<SeqAttention> seqs_;
  std::vector<SeqAttention> cp_seqs_;                 // context parallel: one rank's view
  std::vector<std::vector<SeqAttention>> rank_seqs_;  // attention DP: each rank's sequences
  std::vector<std::vector<SeqAttention>> draft_seqs_;  // per draft forward
  std::vector<Operator> ops_;
  std::vector<SimTime> op_ns_;              // predicted time of each op of ops_ (x repeat)
  std::vector<std::int64_t> op_nj_;         // its dynamic energy in nJ (x repeat)
  std::vector<std::size_t> attention_ops_;  // indices of the attention operators in ops_
  std::vector<std::unique_ptr<CostCursor>> cursors_;  // per attention operator (its index in attention_ops_)
  // The part of a step's cost that merged decode steps repeat unchanged.
  struct StaticCost {
    SimTime critical = 0, background = 0;
    std::array<SimTime, 8> by_class{};
    std::array<SimTime, 4> by_part{};  // critical time by StagePart
    std::vector<std::pair<std::size_t, SimTime>> by_source;  // (source slot, ns)
    std::int64_t energy_nj = 0;
  } static_;
  // Where step time went, in exact integer ns (breakdown() converts to seconds).
  std::array<SimTime, 8> ns_by_class_{};  // indexed by OpClass
  SimTime exposed_map_ns_ = 0;
  std::int64_t energy_nj_ = 0;
  std::int64_t last_step_nj_ = 0;
  SimTime swap_ns_ = 0;
  std::vector<std::size_t> op_source_;  // its cost-model source slot
  std::vector<SimTime> stage_ns_;       // the last priced step, per pipeline stage
  SimTime handoff_ns_ = 0;
  std::vector<double> expert_p_, expert_cdf_;  // routing probabilities (empty: balanced)
  std::vector<std::int64_t> expert_tokens_;    // the last step's draw
  Rng rng_;
  std::vector<Operator> half_ops_;
  SimTime split_ns_ = -1;  // split_layers_ns of the step being priced
  // Co-location: the stage's layer time of the step being priced (-1: not co-located).
  SimTime colocate_ns_ = -1;
  SimTime colocated_layers_ns(const StepPlan& plan, const StepBatch& whole);
  double decode_share_ = 1;
  std::int64_t colocated_steps_ = 0;
  double decode_share_sum_ = 0;
  double imbalance_sum_ = 0;
  std::int64_t routed_steps_ = 0;
  std::int64_t step_kv_tokens_ = 0;     // sum of context + new tokens of the step
  std::int64_t step_seqs_ = 0;
  std::int64_t step_kernels_ = 0;  // kernels the step launches (engine.launch; launch.h)
  std::int64_t step_tokens_ = 0;
  double plan_kv_disk_s_ = 0;
  std::vector<char> resident_;  // expert offload: routed experts kept in HBM
  KvStreamBytes step_stream_;   // the step being priced
  KvStepWork step_swap_;        // its swap copies (engine.swap_overlap)
  std::int64_t step_fetched_ = 0;
  std::int64_t step_context_ = 0;  // context tokens of the step's sequences
  const TokenDropConfig* drop_ = nullptr;  // the last priced step's layout.drop
  bool step_all_decode_ = false;
  double kv_in_bytes_ = 0, kv_out_bytes_ = 0, expert_bytes_ = 0, host_attention_bytes_ = 0;
  SimTime kv_stream_ns_ = 0, expert_ns_ = 0;
  mutable CostBreakdown breakdown_;
  // Sources seen so far, matched by the address of the model-owned name (stable strings),
  // so the hot path compares pointers instead of strings.
  std::vector<std::pair<const char*, std::string>> source_names_;
  // Prices of the non-attention operators priced so far (predict() is const: a cache).
  std::unique_ptr<OperatorMemo> own_memo_;  // without ctx_.memos
  OperatorMemo* memo_ = nullptr;            // the memo for ctx_.power
  // Full steps' non-attention prices by num_tokens and num_logits (executor_memo.h: memo_'s,
  // for ctx_.links), and the step being priced's counts (tokens -1: not eligible, priced
  // operator by operator).
  StepShapeMemo* shape_memo_ = nullptr;
  std::int64_t shape_tokens_ = -1, shape_logits_ = 0;
  std::vector<StepShapePrice> shape_recorded_[2];  // the step's prices per sequence, as recorded
  std::vector<SimTime> by_source_;  // step time per source, same order as source_names_
};

}  // namespace servesim
