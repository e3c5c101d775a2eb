// The executor's step variants (executor.h): attention DP's slowest rank, a co-located
// step's two streams, the drafter's forwards, and the overlapped split of a batch in two
// halves. Each builds its own operators and prices them through the executor's memo.
#include "sim/serving/executor.h"

#include <algorithm>

#include "sim/core/error.h"
#include "sim/serving/colocate.h"
#include "sim/serving/context_parallel.h"

namespace servesim {

void Executor::slowest_dp_rank_operators(const StepPlan& plan, const StepBatch& whole) {
  // Attention DP: each rank runs its own requests' attention and the MoE layers' share of
  // the whole group's tokens; every rank waits for the slowest at each MoE layer's
  // all-to-all, so the step is the rank whose operators take longest on the critical path.
  const std::int32_t dp = ctx_.plan.degrees().tp;
  rank_seqs_.resize(static_cast<std::size_t>(dp));
  SimTime slowest = -1;
  for (std::int32_t r = 0; r < dp; ++r) {
    std::vector<SeqAttention>& seqs = rank_seqs_[static_cast<std::size_t>(r)];
    seqs.clear();
    StepBatch b = whole;
    b.num_decode = b.num_tokens = b.num_logits = 0;
    b.group_tokens = whole.num_tokens;
    for (int pass = 0; pass < 2; ++pass) {
      for (const ScheduledSeq& s : plan.seqs) {
        const bool decode = s.new_tokens == 1 && s.context > 0;
        if (decode != (pass == 0) || dp_rank(s.req->spec.id, dp) != r) continue;
        seqs.push_back(SeqAttention{s.new_tokens, static_cast<std::int32_t>(s.context)});
        b.num_decode += decode ? 1 : 0;
        b.num_tokens += s.new_tokens;
        if (s.context + s.new_tokens >= s.req->num_tokens()) b.num_logits += 1 + s.draft;
      }
    }
    if (seqs.empty()) continue;  // an idle rank's dummy forward is never the slowest
    b.seqs = seqs;
    half_ops_.clear();
    ctx_.plan.step_operators(ctx_.model, b, ctx_.links, half_ops_);
    SimTime t = 0;
    for (const Operator& op : half_ops_) t += op.overlap ? 0 : predict(op, nullptr).first * op.repeat;
    if (t > slowest) {
      slowest = t;
      ops_.swap(half_ops_);
    }
  }
}

const std::vector<Operator>& Executor::part_operators(const StepBatch& whole, std::span<const SeqAttention> seqs,
                                                     std::int64_t num_decode, std::int64_t num_tokens) {
  StepBatch b = whole;
  b.seqs = seqs;
  b.num_decode = num_decode;
  b.num_tokens = num_tokens;
  b.num_logits = 0;  // the LM head is not a per-layer operator
  b.expert_tokens = {};
  half_ops_.clear();
  ctx_.plan.step_operators(ctx_.model, b, ctx_.links, half_ops_);
  return half_ops_;
}

SimTime Executor::colocated_layers_ns(const StepPlan& plan, const StepBatch& whole) {
  // The decode stream: the batch's first num_decode sequences; the prefill stream: the rest.
  const auto h = static_cast<std::size_t>(whole.num_decode);
  const std::span<const SeqAttention> all(seqs_);
  StreamWork work[2];
  for (int stream = 0; stream < 2; ++stream) {
    const auto& ops = part_operators(whole, stream == 0 ? all.subspan(0, h) : all.subspan(h), stream == 0 ? whole.num_decode : 0,
                                     stream == 0 ? whole.num_decode : whole.num_tokens - whole.num_decode);
    for (const Operator& op : ops) {
      if (op.stage != StagePart::kLayers || op.overlap) continue;
      add_operator(work[stream], op, static_cast<double>(predict(op, nullptr).first * op.repeat), *ctx_.device);
    }
  }
  const Partition p = choose_partition(work[0], work[1], plan.colocate_tpot_ns, plan.colocate_grid);
  decode_share_ = p.decode_share;
  ++colocated_steps_;
  decode_share_sum_ += p.decode_share;
  return p.step_ns();
}

std::size_t Executor::draft_operators(const StepPlan& plan, const StepBatch& target) {
  std::int32_t forwards = 0;
  for (const ScheduledSeq& s : plan.seqs) forwards = std::max(forwards, s.draft);
  if (draft_seqs_.size() < static_cast<std::size_t>(forwards)) draft_seqs_.resize(static_cast<std::size_t>(forwards));
  for (std::int32_t j = 0; j < forwards; ++j) {
    std::vector<SeqAttention>& seqs = draft_seqs_[static_cast<std::size_t>(j)];
    seqs.clear();
    for (const ScheduledSeq& s : plan.seqs) {
      if (s.draft > j) seqs.push_back(SeqAttention{1, static_cast<std::int32_t>(s.context + j)});
    }
    StepBatch b = target;
    b.seqs = seqs;
    b.num_decode = static_cast<std::int64_t>(seqs.size());
    b.num_tokens = b.num_decode;
    b.num_logits = b.num_decode;
    b.expert_tokens = {};
    ctx_.plan.step_operators(*ctx_.draft, b, ctx_.links, ops_);
  }
  return static_cast<std::size_t>(forwards);
}

SimTime Executor::split_layers_ns(const StepBatch& whole) {
  // Halves of about equal tokens, in the batch's order (decode sequences first).
  if (seqs_.size() < 2) return -1;
  std::int64_t cum = 0;
  std::size_t h = 0;
  while (h + 1 < seqs_.size() && 2 * (cum + seqs_[h].q) <= whole.num_tokens) cum += seqs_[h++].q;
  if (h == 0) cum += seqs_[h++].q;  // the first sequence alone is more than half
  HalfCost cost[2];
  const std::span<const SeqAttention> all(seqs_);
  for (int half = 0; half < 2; ++half) {
    const auto& ops = part_operators(whole, half == 0 ? all.subspan(0, h) : all.subspan(h),
                                     half == 0 ? std::min<std::int64_t>(whole.num_decode, static_cast<std::int64_t>(h))
                                               : std::max<std::int64_t>(0, whole.num_decode - static_cast<std::int64_t>(h)),
                                     half == 0 ? cum : whole.num_tokens - cum);
    for (const Operator& op : ops) {
      if (op.stage != StagePart::kLayers || op.overlap) continue;
      const SimTime t = predict(op, nullptr).first * op.repeat;
      (op.cls == OpClass::kCollective ? cost[half].network
       : op.cls == OpClass::kAttentionDecode ? cost[half].memory
                                              : cost[half].compute) += t;
    }
  }
  return overlapped_layers_ns(ctx_.overlap, cost[0], cost[1], ctx_.plan.layers_per_stage(ctx_.model));
}

}  // namespace servesim
