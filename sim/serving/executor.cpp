#include "sim/serving/executor.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "sim/core/error.h"
#include "sim/parallel/expert_routing.h"
#include "sim/serving/context_parallel.h"
#include "sim/serving/executor_memo.h"

namespace servesim {

void kv_work_operators(const KvStepWork& w, std::vector<Operator>& ops, bool swap_copies) {
  auto add_map = [&](std::int64_t calls, bool overlap) {
    if (calls == 0) return;
    Operator op;
    op.cls = OpClass::kPageMap;
    op.name = overlap ? "page_map_async" : "page_map_sync";
    op.items = calls;
    op.page_bytes = w.page_bytes;
    op.overlap = overlap;
    ops.push_back(op);
  };
  add_map(w.sync_map_calls, false);
  add_map(w.async_map_calls, true);
  auto add_copy = [&](CopyKind kind, double bytes, std::int64_t chunks, const char* name, bool overlap) {
    if (bytes <= 0) return;
    Operator op;
    op.cls = OpClass::kCopy;
    op.name = name;
    op.copy = CopyShape{kind, bytes, std::max<std::int64_t>(1, chunks), true};
    op.overlap = overlap;
    ops.push_back(op);
  };
  if (swap_copies) {
    add_copy(CopyKind::kDeviceToHost, w.swap_out_bytes, w.swap_out_chunks, "kv_swap_out", false);
    add_copy(CopyKind::kHostToDevice, w.swap_in_bytes, w.swap_in_chunks, "kv_swap_in", false);
  }
  add_copy(CopyKind::kHostToDevice, w.load_bytes, w.load_chunks, "kv_offload_load", false);
  add_copy(CopyKind::kDeviceToHost, w.spill_bytes, w.spill_chunks, "kv_offload_spill", true);  // a side stream
  add_copy(CopyKind::kDeviceToDevice, w.cow_bytes, w.cow_chunks, "kv_copy", false);
}

namespace {
OperatorMemo::LinksKey links_key(const PlanLinks& l) {
  return {std::bit_cast<std::uint64_t>(l.tp_bandwidth), std::bit_cast<std::uint64_t>(l.tp_latency_s),
          std::bit_cast<std::uint64_t>(l.pp_bandwidth), std::bit_cast<std::uint64_t>(l.pp_latency_s),
          std::bit_cast<std::uint64_t>(l.cp_bandwidth), std::bit_cast<std::uint64_t>(l.cp_latency_s)};
}
}  // namespace

Executor::~Executor() = default;
Executor::Executor(Executor&&) noexcept = default;

void Executor::set_power(const PowerModel* power) {
  if (power != ctx_.power) {
    if (ctx_.memos) {
      memo_ = &ctx_.memos->for_power(power);
    } else {
      memo_->clear();
      memo_->clear_shapes();
    }
    shape_memo_ = &memo_->shapes(links_key(ctx_.links));
  }
  ctx_.power = power;
}

Executor::Executor(ExecutorContext ctx)
    : ctx_(std::move(ctx)),
      rng_(Rng::for_component(ctx_.seed, "expert_routing/" + std::to_string(ctx_.replica))),
      own_memo_(ctx_.memos ? nullptr : std::make_unique<OperatorMemo>()),
      memo_(ctx_.memos ? &ctx_.memos->for_power(ctx_.power) : own_memo_.get()),
      shape_memo_(&memo_->shapes(links_key(ctx_.links))) {
  expert_p_ = ctx_.plan.expert_popularity(ctx_.model, ctx_.seed);
  double run = 0;
  for (const double p : expert_p_) expert_cdf_.push_back(run += p);
  if (ctx_.offload.experts) {
    resident_ = resident_experts(expert_p_, ctx_.model.moe.num_experts, ctx_.plan.degrees().ep, ctx_.offload.resident_experts);
  }
}

SimTime Executor::cost_step(const StepPlan& plan, KvLayout layout) {
  // Decode sequences (one new token on a non-empty context) first, as StepBatch requires.
  seqs_.clear();
  drop_ = layout.drop;
  std::int64_t logits = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (const ScheduledSeq& s : plan.seqs) {
      const bool decode = s.new_tokens == 1 && s.context > 0;
      if (decode != (pass == 0)) continue;
      const std::int64_t attended = drop_ ? attended_context(*drop_, s.context, s.new_tokens) : s.context;
      seqs_.push_back(SeqAttention{s.new_tokens, static_cast<std::int32_t>(attended)});
    }
  }
  std::int64_t num_decode = 0, context = 0;
  step_kv_tokens_ = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    num_decode += (s.new_tokens == 1 && s.context > 0) ? 1 : 0;
    if (s.context + s.new_tokens >= s.req->num_tokens()) logits += 1 + s.draft;
    step_kv_tokens_ += s.context + s.new_tokens;
    context += s.context;
  }
  step_stream_ = kv_stream_bytes(ctx_.offload, context, step_kv_tokens_ - context);
  step_context_ = context;
  step_all_decode_ = num_decode == static_cast<std::int64_t>(plan.seqs.size());
  step_seqs_ = static_cast<std::int64_t>(plan.seqs.size());
  step_tokens_ = plan.num_tokens;
  plan_kv_disk_s_ = plan.kv_work.disk_read_seconds;
  StepBatch batch;
  batch.seqs = seqs_;
  batch.num_decode = num_decode;
  batch.num_tokens = plan.num_tokens;
  batch.num_logits = logits;
  batch.weight_dtype = ctx_.weight_dtype;
  batch.act_dtype = ctx_.act_dtype;
  batch.kv_dtype = ctx_.kv_dtype;
  batch.paged_kv = layout.paged;
  batch.block_size = layout.block_size;
  if (!expert_p_.empty() && plan.num_tokens > 0) {
    const std::int64_t copies = plan.num_tokens * ctx_.model.moe.experts_per_token;
    draw_expert_tokens(rng_, expert_p_, expert_cdf_, copies, expert_tokens_);
    batch.expert_tokens = expert_tokens_;
    const std::int32_t ep = ctx_.plan.degrees().ep;
    imbalance_sum_ += static_cast<double>(slowest_shard(expert_tokens_, ep).copies) * ep / static_cast<double>(copies);
    ++routed_steps_;
  }
  step_fetched_ = fetched_experts(ctx_.offload, expert_p_.empty() ? std::span<const std::int64_t>{} : std::span<const std::int64_t>(expert_tokens_),
                                  resident_, ctx_.plan.degrees().ep, plan.num_tokens * ctx_.model.moe.experts_per_token);

  ops_.clear();
  const ParallelDegrees& deg = ctx_.plan.degrees();
  // The step-shape memo answers when the plan's operators outside attention depend on
  // (num_tokens, num_logits) alone (i_parallel_plan.h).
  const bool by_shape = deg.cp == 1 && !deg.attention_dp && ctx_.draft == nullptr && expert_p_.empty();
  shape_tokens_ = by_shape ? plan.num_tokens : -1;
  shape_logits_ = logits;
  if (deg.cp > 1) {
    // Context parallel: the plan sees one CP rank's attention shapes.
    shard_context(seqs_, num_decode, deg.cp, cp_seqs_);
    batch.seqs = cp_seqs_;
  }
  if (deg.attention_dp) {
    slowest_dp_rank_operators(plan, batch);
  } else {
    ctx_.plan.step_operators(ctx_.model, batch, ctx_.links, ops_);
  }
  if (ctx_.draft) draft_operators(plan, batch);
  kv_work_operators(plan.kv_work, ops_, !ctx_.swap_overlap);
  step_swap_ = plan.kv_work;
  colocate_ns_ = -1;
  decode_share_ = 1;
  if (plan.colocate_tpot_ns > 0 && ctx_.device != nullptr && ctx_.plan.degrees().pp == 1 && !shards_attention() && num_decode > 0 &&
      num_decode < static_cast<std::int64_t>(seqs_.size())) {
    colocate_ns_ = colocated_layers_ns(plan, batch);
  }
  split_ns_ = overlaps() && colocate_ns_ < 0 ? split_layers_ns(batch) : -1;
  return price_step(false);
}

SimTime Executor::price_step(bool reuse_non_attention, Charge* deferred) {
  // A merged decode step differs from the step before it only in its attention operators
  // (every context one token longer). The other operators' times were summed once, for the
  // first step (static_); KV work (maps, copies) belongs to the step that caused it only.
  // All sums are integer ns, so they do not depend on the order steps are accounted in.
  SimTime critical = 0, background = 0;
  SimTime plan_layers = 0;  // the plan's per-layer operators on the critical path (not KV work)
  std::array<SimTime, 4> part{};  // critical time by StagePart
  const std::int64_t energy_before = energy_nj_;
  auto on_path = [&](const Operator& op, SimTime t) {
    if (op.overlap) {
      background += t;
    } else {
      critical += t;
      part[static_cast<std::size_t>(op.stage)] += t;
      if (op.stage == StagePart::kLayers && op.cls != OpClass::kPageMap && op.cls != OpClass::kCopy) plan_layers += t;
    }
  };
  auto account = [&](const Operator& op, std::size_t i, SimTime t) {
    on_path(op, t);
    energy_nj_ += op_nj_[i];
    ns_by_class_[static_cast<std::size_t>(op.cls)] += t;
    by_source_[op_source_[i]] += t;
    if (op.cls == OpClass::kPageMap && !op.overlap) exposed_map_ns_ += t;
    if (op.cls == OpClass::kCopy) swap_ns_ += t;
  };
  if (!reuse_non_attention) {
    op_ns_.assign(ops_.size(), 0);
    op_nj_.assign(ops_.size(), 0);
    op_source_.assign(ops_.size(), 0);
    attention_ops_.clear();
    static_ = StaticCost{};
    step_kernels_ = 0;
    // The operators outside attention and KV work: from the step-shape memo, or priced one
    // by one, recorded, and put there after the loop for the next step of this shape; per
    // sequence (0: by num_tokens; 1: the last stage's, by num_logits) the entry found.
    const StepShapeMemo::Part parts[2] = {StepShapeMemo::kByTokens, StepShapeMemo::kByLogits};
    const std::int64_t counts[2] = {shape_tokens_, shape_logits_};
    const std::vector<StepShapeMemo::Price>* shaped[2] = {nullptr, nullptr};
    std::size_t next[2] = {0, 0};
    for (int s = 0; s < 2; ++s) {
      shape_recorded_[s].clear();
      if (shape_tokens_ >= 0) shaped[s] = shape_memo_->find(parts[s], counts[s]);
    }
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const Operator& op = ops_[i];
      if (op.cls != OpClass::kPageMap && op.cls != OpClass::kCpu) step_kernels_ += op.repeat;
      const bool attention = op.cls == OpClass::kAttentionDecode || op.cls == OpClass::kAttentionPrefill;
      const bool kv_work = op.cls == OpClass::kPageMap || op.cls == OpClass::kCopy;
      const int s = op.stage == StagePart::kLast ? 1 : 0;
      if (shaped[s] != nullptr && !attention && !kv_work) {
        SERVESIM_ASSERT(next[s] < shaped[s]->size());
        const StepShapeMemo::Price& p = (*shaped[s])[next[s]++];
        op_ns_[i] = p.ns;
        op_nj_[i] = p.nj;
        op_source_[i] = source_slot(p.source);
      } else {
        price(op, i);
        if (!attention && !kv_work) {
          const auto& [name, text] = source_names_[op_source_[i]];
          shape_recorded_[s].push_back({op_ns_[i], op_nj_[i], std::string_view(name, text.size())});
        }
      }
      account(op, i, op_ns_[i]);
      if (attention) {
        attention_ops_.push_back(i);
      } else if (!kv_work) {
        (op.overlap ? static_.background : static_.critical) += op_ns_[i];
        if (!op.overlap) static_.by_part[static_cast<std::size_t>(op.stage)] += op_ns_[i];
        static_.by_class[static_cast<std::size_t>(op.cls)] += op_ns_[i];
        static_.by_source.emplace_back(op_source_[i], op_ns_[i]);
        static_.energy_nj += op_nj_[i];
      }
    }
    SERVESIM_ASSERT((shaped[0] == nullptr || next[0] == shaped[0]->size()) && (shaped[1] == nullptr || next[1] == shaped[1]->size()));
    // Inserts last: one may move the entries found.
    for (int s = 0; s < 2; ++s) {
      if (shape_tokens_ >= 0 && shaped[s] == nullptr) shape_memo_->insert(parts[s], counts[s]) = shape_recorded_[s];
    }
  } else {
    critical = static_.critical;
    background = static_.background;
    part = static_.by_part;
    if (deferred) {
      deferred->attention.clear();
      deferred->energy_nj = 0;
    } else {
      energy_nj_ += static_.energy_nj;
      for (std::size_t c = 0; c < ns_by_class_.size(); ++c) ns_by_class_[c] += static_.by_class[c];
      for (const auto& [slot, t] : static_.by_source) by_source_[slot] += t;
    }
    for (std::size_t k = 0; k < attention_ops_.size(); ++k) {
      const std::size_t i = attention_ops_[k];
      Operator& op = ops_[i];
      AttentionShape& a = op.attn;
      if (drop_ == nullptr && op.cls == OpClass::kAttentionDecode && a.window == 0 && a.num_seqs > 0 &&
          a.sum_q == a.num_seqs && a.sum_q_kv < 0x1p52) {
        // Every sequence (one query each) attends one more key: the aggregates move by
        // exact integer amounts (sum_q_kv holds integers below 2^53), as recomputing gives.
        a.sum_kv += a.num_seqs;
        a.sum_q_kv += static_cast<double>(a.num_seqs);
        a.max_kv += 1;
      } else {
        compute_attention_aggregates(a);
      }
      price_repeated_attention(op, i, k);
      if (deferred) {
        on_path(op, op_ns_[i]);
        deferred->energy_nj += op_nj_[i];
        deferred->attention.emplace_back(op.cls, op_source_[i], op_ns_[i]);
      } else {
        account(op, i, op_ns_[i]);
      }
    }
  }
  if (!reuse_non_attention && ctx_.plan.degrees().cp > 1) {
    // Context parallel: each ring round's attention hides the next KV block's send.
    SimTime rounds = 0, sends = 0;
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const Operator& op = ops_[i];
      if (op.stage != StagePart::kLayers) continue;
      if (op.cls == OpClass::kAttentionPrefill) rounds += op_ns_[i];
      if (op.cls == OpClass::kCollective && std::string_view(op.name) == kRingKvSend) sends += op_ns_[i];
    }
    const SimTime hidden = rounds + sends - ring_attention_ns(rounds, sends, ctx_.plan.degrees().cp);
    part[static_cast<std::size_t>(StagePart::kLayers)] -= hidden;
    critical -= hidden;
    plan_layers -= hidden;
  }
  // SSD reads of offloaded KV (at the tier's own bandwidth) precede their host -> device copy.
  if (!reuse_non_attention && plan_kv_disk_s_ > 0) {
    const SimTime disk = from_seconds(plan_kv_disk_s_);
    critical += disk;
    part[static_cast<std::size_t>(StagePart::kLayers)] += disk;
    ns_by_class_[static_cast<std::size_t>(OpClass::kCopy)] += disk;
    swap_ns_ += disk;
  }
  // engine.overlap: the split batch's overlapped layers replace the whole batch's when
  // shorter; a co-located step's two streams replace them always.
  const SimTime layers = reuse_non_attention ? plan_layers
                         : colocate_ns_ >= 0 ? colocate_ns_
                         : split_ns_ >= 0 && split_ns_ < plan_layers ? split_ns_ : plan_layers;
  part[static_cast<std::size_t>(StagePart::kLayers)] += layers - plan_layers;
  critical += layers - plan_layers;
  if (!reuse_non_attention && ctx_.offload.enabled()) {
    const SimTime extra = host_offload_ns(layers);
    part[static_cast<std::size_t>(StagePart::kLayers)] += extra;
    critical += extra;
    ns_by_class_[static_cast<std::size_t>(OpClass::kCopy)] += extra;
  }
  if (!reuse_non_attention && ctx_.swap_overlap) {
    const SimTime extra = overlapped_swap_ns(layers);
    part[static_cast<std::size_t>(StagePart::kLayers)] += extra;
    critical += extra;
  }
  if (background > critical) (deferred ? deferred->exposed : exposed_map_ns_) += background - critical;
  const SimTime device = compose_stages(part, std::max<SimTime>(0, background - critical));

  // The engine's CPU work for the step: what it exposes beyond the device time.
  Operator cpu;
  cpu.cls = OpClass::kCpu;
  cpu.name = "engine_step";
  cpu.items = step_seqs_;
  cpu.cpu_tokens = step_tokens_;
  cpu.cpu_kv_tokens = step_kv_tokens_;
  cpu.gpu_seconds = to_seconds(device);
  const std::optional<Prediction> cp = ctx_.cost.predict(cpu);
  SERVESIM_ASSERT(cp.has_value());
  // engine.launch: launches the device work does not hide.
  const SimTime cpu_ns =
      cp->ns + from_seconds(ctx_.launch.exposed_seconds(step_kernels_, step_all_decode_, step_seqs_, to_seconds(device)));
  if (deferred) {
    deferred->cpu = cpu_ns;
  } else {
    ns_by_class_[static_cast<std::size_t>(OpClass::kCpu)] += cpu_ns;
    last_step_nj_ = energy_nj_ - energy_before;
  }
  stage_ns_.front() += cpu_ns;
  return device + cpu_ns;
}

SimTime Executor::copy_ns(CopyKind kind, double bytes, std::int64_t chunks) const {
  if (bytes <= 0) return 0;
  Operator op;
  op.cls = OpClass::kCopy;
  op.name = "host_offload";
  op.copy = CopyShape{kind, bytes, chunks, true};
  return predict(op, nullptr).first;
}

SimTime Executor::overlapped_swap_ns(SimTime compute) {
  const KvStepWork& w = step_swap_;
  if (w.swap_out_bytes <= 0 && w.swap_in_bytes <= 0) return 0;
  const std::int64_t layers = ctx_.plan.layers_per_stage(ctx_.model);
  const auto per_layer = [layers](std::int64_t chunks) { return std::max<std::int64_t>(1, (chunks + layers - 1) / layers); };
  const double l = static_cast<double>(layers);
  const SimTime x = std::max(copy_ns(CopyKind::kDeviceToHost, w.swap_out_bytes / l, per_layer(w.swap_out_chunks)),
                             copy_ns(CopyKind::kHostToDevice, w.swap_in_bytes / l, per_layer(w.swap_in_chunks)));
  const SimTime extra = streamed_layers_ns(compute, x, layers) - compute;
  ns_by_class_[static_cast<std::size_t>(OpClass::kCopy)] += extra;
  swap_ns_ += extra;
  return extra;
}

SimTime Executor::host_offload_ns(SimTime compute) {
  const HostOffload& h = ctx_.offload;
  SimTime extra = 0;
  if (step_stream_.in > 0 || step_stream_.out > 0) {
    // One layer's transfer: the longer direction of the full-duplex link.
    const double layers = static_cast<double>(h.layers);
    const SimTime out = copy_ns(CopyKind::kDeviceToHost, step_stream_.out / layers, 1);
    SimTime kv = 0;
    if (h.host_attention && step_all_decode_) {
      // The host attends to the host-resident context; the device's attention shrinks by
      // that share of the context, each layer's two parts in sequence.
      SimTime attention = 0;
      for (const std::size_t i : attention_ops_) attention += ops_[i].stage == StagePart::kLayers ? op_ns_[i] : 0;
      const double context_bytes = static_cast<double>(step_context_) * h.kv_bytes_per_token;
      const auto device_share = static_cast<SimTime>(static_cast<double>(attention) * step_stream_.in / context_bytes);
      const SimTime host = from_seconds(step_stream_.in / h.host_bandwidth);
      const SimTime layer_work = compute - device_share + host;
      kv = streamed_layers_ns(layer_work, out, h.layers) - compute;
      host_attention_bytes_ += step_stream_.in;
    } else {
      const SimTime x = std::max(copy_ns(CopyKind::kHostToDevice, step_stream_.in / layers, 1), out);
      kv = streamed_layers_ns(compute, x, h.layers) - compute;
      kv_in_bytes_ += step_stream_.in;
    }
    kv_out_bytes_ += step_stream_.out;
    kv_stream_ns_ += kv;
    swap_ns_ += kv;
    extra += kv;
  }
  if (step_fetched_ > 0) {
    const double bytes = static_cast<double>(step_fetched_) * h.expert_bytes;
    const SimTime f = copy_ns(CopyKind::kHostToDevice, bytes, step_fetched_) * h.moe_layers;
    expert_bytes_ += bytes * static_cast<double>(h.moe_layers);
    expert_ns_ += f;
    extra += f;
  }
  return extra;
}

SimTime Executor::compose_stages(const std::array<SimTime, 4>& part, SimTime exposed_background) {
  const std::int32_t pp = ctx_.plan.degrees().pp;
  const SimTime most = ctx_.plan.layers_per_stage(ctx_.model);
  const SimTime layers = part[static_cast<std::size_t>(StagePart::kLayers)];
  stage_ns_.assign(static_cast<std::size_t>(pp), 0);
  SimTime total = 0;
  for (std::int32_t s = 0; s < pp; ++s) {
    SimTime t = layers * ctx_.plan.stage_layers(ctx_.model, s) / most;
    if (s == 0) t += part[static_cast<std::size_t>(StagePart::kFirst)];
    if (s == pp - 1) t += part[static_cast<std::size_t>(StagePart::kLast)] + exposed_background;
    stage_ns_[static_cast<std::size_t>(s)] = t;
    total += t;
  }
  handoff_ns_ = part[static_cast<std::size_t>(StagePart::kHandoff)];
  return total + handoff_ns_ * (pp - 1);
}

std::pair<SimTime, std::int64_t> Executor::predict_unmemoised(const Operator& op, std::string_view* source,
                                                               std::unique_ptr<CostCursor>* cursor) const {
  const std::optional<Prediction> p = cursor ? ctx_.cost.predict_with(op, *cursor) : ctx_.cost.predict(op);
  SERVESIM_ASSERT(p.has_value());
  if (source) *source = p->source;
  if (!ctx_.power) return {p->ns, 0};
  const PowerModel::OpPower w = ctx_.power->apply(op, p->ns);
  return {w.ns, std::llround(w.joules * 1e9)};
}

OperatorPrice* Executor::memoised(const Operator& op) const {
  if (!OperatorMemo::memoisable(op)) return nullptr;
  if (OperatorMemo::Price* hit = memo_->find(op)) return hit;
  OperatorMemo::Price p;
  std::tie(p.ns, p.nj) = predict_unmemoised(op, &p.source);
  return &memo_->insert(op, p);
}

std::pair<SimTime, std::int64_t> Executor::predict(const Operator& op, std::string_view* source) const {
  if (const OperatorMemo::Price* m = memoised(op)) {
    if (source) *source = m->source;
    return {m->ns, m->nj};
  }
  return predict_unmemoised(op, source);
}

void Executor::price(const Operator& op, std::size_t i) {
  if (OperatorPrice* m = memoised(op)) {
    op_ns_[i] = m->ns * op.repeat;
    op_nj_[i] = m->nj * op.repeat;
    op_source_[i] = source_slot(m->source);
    return;
  }
  std::string_view source;
  const auto [ns, nj] = predict_unmemoised(op, &source);
  op_ns_[i] = ns * op.repeat;
  op_nj_[i] = nj * op.repeat;
  op_source_[i] = source_slot(source, op_source_[i]);  // the run's previous step's, most likely
}

void Executor::price_repeated_attention(const Operator& op, std::size_t i, std::size_t k) {
  // Attention is never memoised (OperatorMemo::memoisable).
  if (cursors_.size() <= k) cursors_.resize(k + 1);
  std::string_view source;
  const auto [ns, nj] = predict_unmemoised(op, &source, &cursors_[k]);
  op_ns_[i] = ns * op.repeat;
  op_nj_[i] = nj * op.repeat;
  op_source_[i] = source_slot(source, op_source_[i]);  // the run's previous step's, most likely
}

void Executor::account(const Charge& c) {
  energy_nj_ += static_.energy_nj + c.energy_nj;
  for (std::size_t k = 0; k < ns_by_class_.size(); ++k) ns_by_class_[k] += static_.by_class[k];
  for (const auto& [slot, t] : static_.by_source) by_source_[slot] += t;
  for (const auto& [cls, slot, t] : c.attention) {
    ns_by_class_[static_cast<std::size_t>(cls)] += t;
    by_source_[slot] += t;
  }
  ns_by_class_[static_cast<std::size_t>(OpClass::kCpu)] += c.cpu;
  exposed_map_ns_ += c.exposed;
}

std::size_t Executor::source_slot(std::string_view s, std::size_t hint) {
  if (hint < source_names_.size() && source_names_[hint].first == s.data()) return hint;
  for (std::size_t i = 0; i < source_names_.size(); ++i) {
    if (source_names_[i].first == s.data()) return i;
  }
  source_names_.emplace_back(s.data(), std::string(s));
  by_source_.push_back(0);
  return source_names_.size() - 1;
}

const CostBreakdown& Executor::breakdown() const {
  for (std::size_t i = 0; i < source_names_.size(); ++i) breakdown_.seconds_by_source[source_names_[i].second] = to_seconds(by_source_[i]);
  for (std::size_t c = 0; c < ns_by_class_.size(); ++c) breakdown_.seconds_by_class[c] = to_seconds(ns_by_class_[c]);
  breakdown_.exposed_map_seconds = to_seconds(exposed_map_ns_);
  breakdown_.swap_seconds = to_seconds(swap_ns_);
  return breakdown_;
}

SimTime Executor::cost_repeated_decode_step(Charge* deferred) {
  for (SeqAttention& a : seqs_) {  // all decodes: one token further (what the kept tokens allow)
    a.context = drop_ ? static_cast<std::int32_t>(attended_context(*drop_, a.context + 1, 1)) : a.context + 1;
  }
  step_kv_tokens_ += step_seqs_;
  return price_step(true, deferred);
}

}  // namespace servesim
