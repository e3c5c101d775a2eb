// The executor's operator memo (sim/serving/executor_memo.h): exact keys, what it keeps.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/serving/catalog.h"
#include "sim/serving/executor.h"
#include "sim/serving/executor_memo.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {

Operator gemm(std::int64_t m) {
  Operator op;
  op.cls = OpClass::kGemm;
  op.name = "qkv_proj";
  op.gemm = GemmShape{m, 1280, 8192, 1, DType::kBf16};
  return op;
}

TEST(OperatorMemo, FindsAnOperatorDifferingOnlyInLabelsNoModelReads) {
  // Rule: name, stage, repeat and overlap are not read by any cost or power model.
  OperatorMemo memo;
  memo.insert(gemm(64), OperatorPrice{1234, 5, "fit"});
  Operator other = gemm(64);
  other.name = "o_proj";
  other.repeat = 80;
  other.stage = StagePart::kLast;
  other.overlap = true;
  const OperatorPrice* hit = memo.find(other);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->ns, 1234);
  EXPECT_EQ(hit->nj, 5);
}

TEST(OperatorMemo, MissesAnOperatorDifferingInAnyShapeField) {
  // Rule: every field a model may read is in the key, bit for bit.
  OperatorMemo memo;
  memo.insert(gemm(64), OperatorPrice{1234, 0, "fit"});
  Operator m = gemm(65);
  Operator n = gemm(64);
  n.gemm.n = 1281;
  Operator dtype = gemm(64);
  dtype.gemm.dtype = DType::kFp8;
  Operator bytes = gemm(64);
  bytes.bytes = 1;  // a field a GEMM's models do not read today is still part of the key
  for (const Operator& op : {m, n, dtype, bytes}) EXPECT_EQ(memo.find(op), nullptr);
}

TEST(OperatorMemo, MoeExpertOperatorsKeyOnTheirLayerToo) {
  // Rule: a MoE expert operator's price depends on its layer (a fused-MoE fit prices the
  // layer and shares it), so two expert GEMMs of one shape in different layers are two keys,
  // neither the plain GEMM's; its activation (element-wise) is memoised like the GEMMs.
  OperatorMemo memo;
  const auto a = moe_expert_operators(balanced_moe_layer(40, 64, 32, 2, 4, 2, DType::kBf16, DType::kBf16), 1);
  const auto b = moe_expert_operators(balanced_moe_layer(20, 64, 32, 4, 4, 2, DType::kBf16, DType::kBf16), 1);  // top-4
  ASSERT_EQ(a[0].gemm.m, b[0].gemm.m);  // 40 copies over 4 experts either way: 10 rows, 4 groups
  ASSERT_EQ(a[1].bytes, b[1].bytes);
  ASSERT_EQ(a[0].gemm.groups, b[0].gemm.groups);
  EXPECT_TRUE(OperatorMemo::memoisable(a[1]));
  memo.insert(a[0], OperatorPrice{111, 0, "fit"});
  memo.insert(a[1], OperatorPrice{222, 0, "fit"});
  EXPECT_EQ(memo.find(a[0])->ns, 111);
  EXPECT_EQ(memo.find(a[1])->ns, 222);
  EXPECT_EQ(memo.find(b[0]), nullptr);
  EXPECT_EQ(memo.find(b[1]), nullptr);
  Operator plain = a[0];
  plain.moe = MoeLayerShape{};
  EXPECT_EQ(memo.find(plain), nullptr);
}

TEST(OperatorMemo, AnOperatorWithFieldsBeyondItsShapeIsStillFoundExactly) {
  // Rule: a GEMM carrying a non-default word outside its GEMM shape (here the element-wise
  // bytes, then the attention's heads) is keyed on every word: found only by an operator
  // equal in all of them, and never confused with the plain GEMM of the same shape.
  OperatorMemo memo;
  Operator odd = gemm(64);
  odd.bytes = 1;
  Operator heads = gemm(64);
  heads.attn.heads = 8;
  memo.insert(odd, OperatorPrice{7, 0, "fit"});
  memo.insert(heads, OperatorPrice{8, 0, "fit"});
  EXPECT_EQ(memo.find(gemm(64)), nullptr);
  Operator odd_again = gemm(64);
  odd_again.bytes = 1;
  odd_again.name = "o_proj";
  ASSERT_NE(memo.find(odd_again), nullptr);
  EXPECT_EQ(memo.find(odd_again)->ns, 7);
  ASSERT_NE(memo.find(heads), nullptr);
  EXPECT_EQ(memo.find(heads)->ns, 8);
  memo.insert(gemm(64), OperatorPrice{9, 0, "fit"});
  EXPECT_EQ(memo.find(gemm(64))->ns, 9);
  EXPECT_EQ(memo.find(odd)->ns, 7);
}

TEST(OperatorMemo, NegativeZeroIsNotZero) {
  // Rule: doubles are compared bit for bit, so -0.0 (a different bit pattern) is another key.
  OperatorMemo memo;
  memo.insert(gemm(64), OperatorPrice{1, 0, "fit"});
  Operator neg = gemm(64);
  neg.flops = -0.0;
  EXPECT_EQ(memo.find(neg), nullptr);
}

TEST(OperatorMemo, CollectivesCopiesAndPageMapsKeyOnTheirOwnShapes) {
  // Rule: two all-reduces differing only in link latency, two copies only in chunks, two
  // page maps only in page bytes, are different keys; equal ones are found.
  OperatorMemo memo;
  Operator ar;
  ar.cls = OpClass::kCollective;
  ar.coll = CollectiveShape{CollectiveKind::kAllReduce, 1 << 20, 2, 300e9, 0};
  Operator ar_slow = ar;
  ar_slow.coll.link_latency_s = 1e-6;
  Operator copy;
  copy.cls = OpClass::kCopy;
  copy.copy = CopyShape{CopyKind::kDeviceToHost, 4096, 1, true};
  Operator copy2 = copy;
  copy2.copy.chunks = 2;
  Operator map;
  map.cls = OpClass::kPageMap;
  map.items = 3;
  map.page_bytes = 2 << 20;
  Operator map2 = map;
  map2.page_bytes = 64 << 10;
  memo.insert(ar, OperatorPrice{1, 0, "a"});
  memo.insert(copy, OperatorPrice{2, 0, "c"});
  memo.insert(map, OperatorPrice{3, 0, "m"});
  EXPECT_EQ(memo.find(ar)->ns, 1);
  EXPECT_EQ(memo.find(copy)->ns, 2);
  EXPECT_EQ(memo.find(map)->ns, 3);
  for (const Operator& op : {ar_slow, copy2, map2}) EXPECT_EQ(memo.find(op), nullptr);
}

TEST(OperatorMemo, AttentionIsNeverMemoisable) {
  // Rule: attention depends on per-sequence pairs that are not in the key.
  Operator a;
  a.cls = OpClass::kAttentionDecode;
  EXPECT_FALSE(OperatorMemo::memoisable(a));
  EXPECT_TRUE(OperatorMemo::memoisable(gemm(1)));
  const SeqAttention seq{1, 10};
  Operator g = gemm(1);
  g.attn.seqs = std::span<const SeqAttention>(&seq, 1);
  EXPECT_FALSE(OperatorMemo::memoisable(g));
}

TEST(OperatorMemo, ForgetsEverythingWhenFull) {
  // Rule: at kMaxEntries the next insert starts from an empty memo (bounded memory).
  OperatorMemo memo;
  // kMaxEntries prices, one of them of an operator keyed on every word (an element-wise
  // byte count on a GEMM): both kinds count towards the bound.
  Operator odd = gemm(1);
  odd.bytes = 1;
  memo.insert(odd, OperatorPrice{1, 0, "x"});
  for (std::size_t i = 1; i < OperatorMemo::kMaxEntries; ++i) memo.insert(gemm(static_cast<std::int64_t>(i) + 1), OperatorPrice{1, 0, "x"});
  EXPECT_NE(memo.find(gemm(2)), nullptr);
  EXPECT_NE(memo.find(odd), nullptr);
  memo.insert(gemm(0), OperatorPrice{2, 0, "x"});
  EXPECT_EQ(memo.find(gemm(2)), nullptr);
  EXPECT_EQ(memo.find(odd), nullptr);
  EXPECT_NE(memo.find(gemm(0)), nullptr);
}

// A cost model that answers as another and counts the GEMMs it was asked to price.
class CountingCost : public ICostModel {
 public:
  explicit CountingCost(const ICostModel& inner) : inner_(inner) {}
  std::optional<Prediction> predict(const Operator& op) const override {
    if (op.cls == OpClass::kGemm) ++gemms;
    if (op.cls == OpClass::kElementwise) ++elementwise;
    return inner_.predict(op);
  }
  mutable int gemms = 0;
  mutable int elementwise = 0;  // never memoised by OperatorMemo

 private:
  const ICostModel& inner_;
};

// The default scenario's pool; executors over it price through `cost` and share its memos.
struct PoolExecutors {
  explicit PoolExecutors(int tp = 1) {
    nlohmann::json j = nlohmann::json::parse(default_scenario_text());
    j["parallel"]["tp"] = tp;
    const ScenarioConfig c = parse_scenario(j, "scenario.json");
    config = c.pools[0];
    pool = build_pool(config, catalog, c.source);
    cost = std::make_unique<CountingCost>(*pool.cost);
  }
  Executor make(const PowerModel* power, double tp_bandwidth = 450e9) const {
    const ExecutorContext p = pool.exec_context(PlanLinks{tp_bandwidth, 5e-6, 450e9, 5e-6});
    return Executor(ExecutorContext{p.model, p.plan, *cost, p.links, p.weight_dtype, p.act_dtype, p.kv_dtype, power, 0, 0,
                                    p.overlap, p.draft, p.offload, p.swap_overlap, p.device, p.launch, p.memos});
  }
  Catalog catalog{SimOptions{}.data_dir};
  PoolConfig config;
  PoolRuntime pool;
  std::unique_ptr<CountingCost> cost;
};

// One prefill step of reqs.size() whole prompts of `tokens` tokens each.
SimTime price(Executor& e, std::vector<Request>& reqs, std::int32_t tokens = 512) {
  StepPlan plan;
  for (Request& r : reqs) {
    r.spec.prompt_tokens = tokens;
    r.spec.output_tokens = 10;
    r.state = RequestState::kRunning;
    plan.seqs.push_back(ScheduledSeq{&r, tokens, 0});
    plan.num_tokens += tokens;
  }
  return e.cost_step(plan, KvLayout{true, 16});
}

TEST(OperatorMemos, ReplicasOfAPoolShareThePricesOneOfThemMade) {
  // Rule: a memo hit is exactly what pricing again gives, so the pool's replicas share one
  // memo per power model: a step one replica priced costs another no GEMM prediction.
  PoolExecutors px;
  Executor a = px.make(px.pool.power.get()), b = px.make(px.pool.power.get());
  std::vector<Request> ra(3), rb(3);
  const SimTime ta = price(a, ra);
  const int priced = px.cost->gemms;
  EXPECT_GT(priced, 0);
  EXPECT_EQ(price(b, rb), ta);
  EXPECT_EQ(px.cost->gemms, priced);
}

TEST(OperatorMemos, EachPowerModelHasItsOwnMemoAndKeepsItAcrossSwitches) {
  // Rule: prices under one power model are not another's (a cap slows operators), and an
  // executor switching between power models (a cap set, then lifted) finds its earlier
  // prices again instead of starting from an empty memo.
  PoolExecutors px;
  Executor a = px.make(px.pool.power.get()), b = px.make(nullptr);
  std::vector<Request> r1(2), r2(2), r3(2), r4(2);
  const SimTime powered = price(a, r1);
  const int priced = px.cost->gemms;
  price(b, r2);  // another power model: priced again
  EXPECT_EQ(px.cost->gemms, 2 * priced);
  a.set_power(nullptr);
  price(a, r3);  // b's prices: no GEMM priced
  a.set_power(px.pool.power.get());
  EXPECT_EQ(price(a, r4), powered);  // its own again
  EXPECT_EQ(px.cost->gemms, 2 * priced);
}

TEST(StepShapeMemo, AStepOfTheSameTokenAndLogitCountsReusesItsNonAttentionPricesExactly) {
  // Rule (i_parallel_plan.h): outside attention, the plan's operators depend on the batch
  // only through num_tokens (all but the last stage's) and num_logits (the last stage's:
  // final norm, LM head, sampling). Four 256-token prompts after two 512-token ones: the
  // same 1,024 tokens, so the token-keyed operators come from the step-shape memo; 4 logits
  // instead of 2, so the last stage's are priced (the default model's element-wise
  // operators: embedding, norms, rope and activation by tokens, final_norm and sampling by
  // logits). The step's time is exactly what an executor of another pool (its own memos)
  // gives, and another replica of the pool prices no operator outside attention.
  PoolExecutors px, other;
  Executor a = px.make(px.pool.power.get()), b = px.make(px.pool.power.get());
  Executor fresh = other.make(other.pool.power.get());
  std::vector<Request> two(2), four(4), again(4), more(4);
  price(a, two, 512);
  const int before = px.cost->elementwise;
  const SimTime shared = price(a, four, 256);
  EXPECT_EQ(px.cost->elementwise - before, 2);
  EXPECT_EQ(price(fresh, again, 256), shared);
  EXPECT_EQ(other.cost->elementwise, 7);
  const int elementwise = px.cost->elementwise, gemms = px.cost->gemms;
  EXPECT_EQ(price(b, more, 256), shared);
  EXPECT_EQ(px.cost->elementwise, elementwise);
  EXPECT_EQ(px.cost->gemms, gemms);
}

TEST(StepShapeMemo, APowerModelSwitchForgetsTheShapesPrices) {
  // Rule: the shape memo's prices carry the power model's energy (and its time limits); an
  // executor without a power model accounts no energy, so a step of a shape priced under
  // the pool's power model and repeated without one adds none, and switching back gives
  // the first step's energy again.
  PoolExecutors px;
  Executor a = px.make(px.pool.power.get());
  std::vector<Request> r1(2), r2(2), r3(2);
  price(a, r1);
  const std::int64_t powered = a.last_step_energy_nj();
  EXPECT_GT(powered, 0);
  a.set_power(nullptr);
  price(a, r2);
  EXPECT_EQ(a.last_step_energy_nj(), 0);
  a.set_power(px.pool.power.get());
  price(a, r3);
  EXPECT_EQ(a.last_step_energy_nj(), powered);
}

TEST(StepShapeMemo, ReplicasOverOtherLinksDoNotShareShapes) {
  // Rule: a step's collectives carry its replica's link bandwidth, so replicas of one pool
  // over different links keep separate shape memos: at TP 2 the all-reduces of a replica
  // over 100 GB/s links are priced for it (slower than over 450 GB/s), not taken from a
  // replica over faster links.
  PoolExecutors px(2);
  Executor fast = px.make(px.pool.power.get(), 450e9), slow = px.make(px.pool.power.get(), 100e9);
  std::vector<Request> r1(2), r2(2), r3(2);
  const SimTime t_fast = price(fast, r1);
  const int gemms = px.cost->gemms, elementwise = px.cost->elementwise;
  const SimTime t_slow = price(slow, r2);
  EXPECT_GT(t_slow, t_fast);
  // Its GEMMs come from the operator memo (no link in their key); its element-wise
  // operators are priced again (its own shape memo is empty).
  EXPECT_EQ(px.cost->gemms, gemms);
  EXPECT_EQ(px.cost->elementwise, 2 * elementwise);
  Executor slow2 = px.make(px.pool.power.get(), 100e9);
  EXPECT_EQ(price(slow2, r3), t_slow);
  EXPECT_EQ(px.cost->elementwise, 2 * elementwise);
}

}  // namespace
}  // namespace servesim
