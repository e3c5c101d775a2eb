// The hf_engine cost model's formulas (sim/cost/impl/hf_engine.cpp), with constants chosen
// so that every expected value is a short hand computation. Model: Llama-3.1-8B (32 layers,
// 32 query heads of 128 dims: heads x head_dim = 4096).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/cost/i_cost_model.h"
#include "sim/hardware/device_spec.h"

namespace servesim {
namespace {
using nlohmann::json;

json constants() {
  return json{{"impl", "hf_engine"},
              {"model", "Llama-3.1-8B"},
              {"inner", {{"impl", "roofline"}}},
              {"loop_overhead", 0.0002},      // 0.2 ms
              {"prep_base", 0.0005},          // 0.5 ms
              {"prep_per_seq", 1e-4},         // 0.1 ms per request
              {"prep_per_token", 0.0},
              {"prep_per_kv_token", 1e-6},    // 1 ms per 1000 KV tokens
              {"post_base", 0.0001},          // 0.1 ms
              {"post_per_seq", 0.0},
              {"launch_per_layer", 0.001},    // 32 layers: 32 ms
              {"sdpa_plan_build", 0.030},     // 30 ms
              {"gpu_step_base", 0.002},       // 2 ms
              {"gpu_per_token_layer", 0.0},
              {"kv_gather_bandwidth", 4e11},  // 400 GB/s
              {"sdpa_dense_flops", 1e14}};    // 100 TFLOP/s
}

struct Fixture {
  DeviceSpec dev = load_device("h200_sxm", SERVESIM_DATA_DIR, "test");
  std::unique_ptr<ICostModel> make(const json& cfg) const {
    return CostModelRegistry::get().build(cfg, "test: cost", nullptr, CostDeps{dev, SERVESIM_DATA_DIR});
  }
};

Operator step_op(std::int64_t seqs, std::int64_t q, std::int64_t kv, double gpu_seconds) {
  Operator op;
  op.cls = OpClass::kCpu;
  op.name = "engine_step";
  op.items = seqs;
  op.cpu_tokens = q;
  op.cpu_kv_tokens = kv;
  op.gpu_seconds = gpu_seconds;
  return op;
}

double seconds(const std::optional<Prediction>& p) { return to_seconds(p.value().ns); }

TEST(HfEngine, HostBoundStepExposesEverythingButTheDeviceTime) {
  Fixture f;
  auto m = f.make(constants());
  // 1 request, q = 1, kv = 1000, device 5 ms:
  //   prep = 0.5 + 0.1 + 1000 x 0.001 = 1.6 ms; launch = 32 x 1 = 32 ms;
  //   dense SDPA = 4 x 1 x 1000 x 4096 x 32 / 1e14 = 0.00524288 ms;
  //   device = 5 + 2 + 0.00524288 = 7.00524288 ms < launch, so the host bounds the step:
  //   step = 0.2 + 1.6 + 30 + 32 + 0.1 = 63.9 ms; exposed = 63.9 - 5 = 58.9 ms.
  EXPECT_NEAR(seconds(m->predict(step_op(1, 1, 1000, 0.005))), 0.0589, 1e-9);
}

TEST(HfEngine, DeviceBoundStepAddsHostWorkOutsideTheForward) {
  Fixture f;
  auto m = f.make(constants());
  // Same step with 50 ms of device work: device = 50 + 2 + 0.00524288 = 52.00524288 ms > 32:
  //   step = 0.2 + 1.6 + 30 + 52.00524288 + 0.1 = 83.90524288 ms; exposed = step - 50.
  EXPECT_NEAR(seconds(m->predict(step_op(1, 1, 1000, 0.050))), 0.03390524288, 1e-9);
}

TEST(HfEngine, DenseSdpaIsQuadraticInTheWholeBatch) {
  Fixture f;
  auto m = f.make(constants());
  // A prompt of 2048 with 64 decodes of 1024 context: q = 2112, kv = 67648 (the sweep's mixed
  // row). Dense SDPA = 4 x 2112 x 67648 x 4096 x 32 / 1e14 = 0.74906377125888 s (the cross terms
  // between the prompt and the decodes included). With 0.1 s of device work the device bounds
  // the step: exposed = loop + prep + build + (device - gpu_seconds) + post
  //   = 0.0002 + (0.0005 + 65 x 1e-4 + 67648 x 1e-6) + 0.030 + (0.002 + 0.74906377125888) + 0.0001.
  const double expected = 0.0002 + (0.0005 + 0.0065 + 0.067648) + 0.030 + (0.002 + 0.74906377125888) + 0.0001;
  EXPECT_NEAR(seconds(m->predict(step_op(65, 2112, 67648, 0.1))), expected, 1e-9);
}

// One decode sequence attending 1000 keys, 32 heads of 128 dims, bf16 K/V.
Operator decode_of_1000_keys() {
  Operator op;
  op.cls = OpClass::kAttentionDecode;
  op.attn.heads = 32;
  op.attn.kv_heads = 8;
  op.attn.head_dim = 128;
  op.attn.kv_dtype = DType::kBf16;
  op.attn.sum_kv = 1000;
  op.attn.sum_q = 1;
  op.attn.num_seqs = 1;
  return op;
}

TEST(HfEngine, AttentionOperatorsCostTheirKvGatherOnly) {
  Fixture f;
  auto m = f.make(constants());
  Operator op = decode_of_1000_keys();
  // One layer: 1000 keys x 2 (K, V) x 32 heads x 128 x 2 bytes = 16,384,000 B at 400 GB/s = 40.96 us.
  const auto p = m->predict(op);
  EXPECT_EQ(p->ns, 40960);
  EXPECT_EQ(p->source, "hf_engine:kv_gather");
  op.cls = OpClass::kAttentionPrefill;
  EXPECT_EQ(m->predict(op)->ns, 40960);
}

// Constants fitted on another device: the gather is HBM-bound, so on the scenario's H200
// (4.8 TB/s) a rate fitted on an H100 (3.35 TB/s) grows by 4.8 / 3.35: the 40.96 us gather
// above takes 40.96 x 3.35 / 4.8 = 28.5867 us. Fitted on the scenario's own device: unchanged.
TEST(HfEngine, ConstantsFittedOnAnotherDeviceScaleByItsHbmBandwidth) {
  Fixture f;
  json c = constants();
  c["fitted_device"] = "h100_sxm";
  auto m = f.make(c);
  Operator op = decode_of_1000_keys();
  EXPECT_NEAR(static_cast<double>(m->predict(op)->ns), 40960.0 * 3.35 / 4.8, 1.0);
  c["fitted_device"] = "h200_sxm";
  EXPECT_EQ(f.make(c)->predict(op)->ns, 40960);
}

TEST(HfEngine, HostScaleMultipliesEveryHostTermAndNoDeviceTerm) {
  Fixture f;
  json c = constants();
  c["host_scale"] = 2.0;
  auto m = f.make(c);
  // The host-bound step of the first test on a host twice as slow: loop 0.4, prep 3.2, plan
  // build 60, launch 64 (device 7.00524288 ms, unchanged, still below it), post 0.2:
  //   step = 0.4 + 3.2 + 60 + 64 + 0.2 = 127.8 ms; exposed = 127.8 - 5 = 122.8 ms.
  EXPECT_NEAR(seconds(m->predict(step_op(1, 1, 1000, 0.005))), 0.1228, 1e-9);
  // The second test's step (50 ms of device work, 52.00524288 ms with the extras) is now
  // host-bound, the doubled launch being longer: step = 127.8 ms as above, exposed 77.8 ms.
  EXPECT_NEAR(seconds(m->predict(step_op(1, 1, 1000, 0.050))), 0.0778, 1e-9);
  // 100 ms of device work stays device-bound: step = 0.4 + 3.2 + 60 + 102.00524288 + 0.2.
  EXPECT_NEAR(seconds(m->predict(step_op(1, 1, 1000, 0.100))), 0.16580524288 - 0.100, 1e-9);
  // The K/V gather is device work: unchanged by the host scale.
  EXPECT_EQ(m->predict(decode_of_1000_keys())->ns, f.make(constants())->predict(decode_of_1000_keys())->ns);
}

TEST(HfEngine, OtherOperatorsComeFromTheInnerModel) {
  Fixture f;
  auto m = f.make(constants());
  auto roofline = f.make(json{{"impl", "roofline"}});
  Operator g;
  g.cls = OpClass::kGemm;
  g.gemm = GemmShape{512, 4096, 4096, 1, DType::kBf16};
  EXPECT_EQ(m->predict(g)->ns, roofline->predict(g)->ns);
  EXPECT_EQ(m->predict(g)->source, "roofline");
}

TEST(HfEngine, BadConfigurationIsAnInputError) {
  Fixture f;
  json c = constants();
  c.erase("model");
  EXPECT_THROW(f.make(c), InputError);
  c = constants();
  c["inner"] = {{"impl", "hf_engine"}};
  EXPECT_THROW(f.make(c), InputError);
  c = constants();
  c["kv_gather_bandwidth"] = 0;
  EXPECT_THROW(f.make(c), InputError);
  c = constants();
  c["model"] = "no-such-model";
  EXPECT_THROW(f.make(c), InputError);
  c = constants();
  c["launch_per_layr"] = 0.001;  // misspelt key
  EXPECT_THROW(f.make(c), InputError);
  c = constants();
  c.erase("sdpa_plan_build");  // every constant belongs to a profile: none has a default
  EXPECT_THROW(f.make(c), InputError);
  c = constants();
  c["host_scale"] = 0.0;  // a host takes some time
  EXPECT_THROW(f.make(c), InputError);
}

}  // namespace
}  // namespace servesim
