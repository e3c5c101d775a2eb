// The MoE family from the tables to the profile: which fused-MoE rows are read and how, the
// regression and per-shape curves the fit builds, and what a derived profile makes of them.
#include <cmath>

#include <gtest/gtest.h>

#include "sim/calibrate/fit.h"
#include "sim/core/error.h"

namespace servesim::calib {
namespace {

const std::string kData = std::string(SERVESIM_TEST_DATA);

DeviceSpec device(double bandwidth, const std::string& arch = "hopper") {
  DeviceSpec d;
  d.name = "moe_dev";
  d.arch = arch;
  d.peak_dense_flops = {{"bf16", 1e15}, {"fp16", 1e15}, {"fp8", 2e15}};
  d.hbm_bandwidth = bandwidth;
  d.sm_count = 100;
  d.intra_node_bandwidth = 4e11;
  d.host_link_bandwidth = 5e10;
  return d;
}

FitSettings no_holdout() {
  FitSettings s;
  s.holdout_modulus = 0;
  return s;
}

// vLLM's kernel per weight format on Hopper (Triton for bf16 and block fp8, FlashInfer's
// CUTLASS MoE for per-tensor fp8, OpenAI's Triton kernels for gpt-oss's MXFP4), balanced
// routing only; latency ms -> us; shape as measured (the per-device split is the fit's,
// moe_query).
TEST(Readers, AiconfiguratorMoeKeepsVllmsHopperKernelsAndBalancedRows) {
  MeasurementSet s;
  read_measurements(kData + "/formats/aic_moe.csv", "aic_moe.csv", s);
  ASSERT_EQ(s.rows.size(), 4u);
  const Measurement& m = s.rows[0];
  EXPECT_EQ(m.family, Family::kMoe);
  EXPECT_EQ(m.dtype, "bf16");
  EXPECT_EQ(m.kernel, "vllm_unquantizedfusedmoe_triton_tritonexperts");
  EXPECT_DOUBLE_EQ(m.us, 361.5);
  EXPECT_DOUBLE_EQ(m.m, 64);
  EXPECT_DOUBLE_EQ(m.k, 4096);
  EXPECT_DOUBLE_EQ(m.n, 14336);
  EXPECT_EQ(m.topk, 2);
  EXPECT_EQ(m.experts, 8);
  EXPECT_EQ(m.ranks, 2);
  EXPECT_EQ(m.ep, 1);
  EXPECT_EQ(m.key(), "moe|bf16|vllm_unquantizedfusedmoe_triton_tritonexperts|h=4096|i=14336|topk=2|e=8|tp=2|ep=1|tokens=64");
  EXPECT_EQ(s.rows[1].dtype, "fp8_block");
  EXPECT_EQ(s.rows[1].kernel, "vllm_fp8moe_triton_tritonexperts");
  EXPECT_EQ(s.rows[2].dtype, "mxfp4");
  EXPECT_EQ(s.rows[2].kernel, "vllm_gptossmxfp4moe_triton_oaitritonmxfp4expertsmonolithic");
  EXPECT_EQ(s.rows[3].dtype, "fp8");
  const InputFile& in = s.inputs[0];
  EXPECT_EQ(in.format, "aiconfigurator_moe");
  EXPECT_EQ(in.rows, 7u);
  EXPECT_EQ(in.skipped.size(), 3u);  // a routing, a block-fp8 kernel and an MXFP4 kernel
  EXPECT_EQ(in.skipped.at("moe kernel vllm_compressedtensorsw4a4mxfp4moe_marlin_marlinexperts_situ_as_silu (vLLM's default on "
                          "Hopper is vllm_gptossmxfp4moe_triton_oaitritonmxfp4expertsmonolithic)"),
            1u);
  EXPECT_EQ(in.skipped.at("moe routing power_law_1.2 (servesim spreads routed tokens evenly: balanced rows only)"), 1u);
  // Per device: width 14,336 over 2 expert-TP shards, 8 experts on the one EP shard.
  const MoeQuery q = moe_query(m);
  EXPECT_DOUBLE_EQ(q.inter, 7168);
  EXPECT_DOUBLE_EQ(q.local_experts, 8);
  EXPECT_DOUBLE_EQ(q.copies(), 128);  // 64 tokens x top-2 / EP 1
  const MoeQuery ep = moe_query(s.rows[3]);  // 8 experts over EP 2, 1 token x top-2
  EXPECT_DOUBLE_EQ(ep.local_experts, 4);
  EXPECT_DOUBLE_EQ(ep.copies(), 1);
}

TEST(Readers, MoeExpertShardsMustDivideTheLayer) {
  MeasurementSet s;
  try {
    read_measurements(kData + "/bad/moe_tp_not_divisor.csv", "b.csv", s);
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("moe_tp_not_divisor.csv:2:12"), std::string::npos) << what;
    EXPECT_NE(what.find("'3'"), std::string::npos) << what;
    EXPECT_NE(what.find("a divisor of inter_size"), std::string::npos) << what;
  }
}

Measurement moe_row(double tokens, double hidden, double inter, int tp, double us) {
  Measurement m;
  m.family = Family::kMoe;
  m.dtype = "bf16";
  m.kernel = "k";
  m.m = tokens;
  m.k = hidden;
  m.n = inter;
  m.topk = 2;
  m.experts = 8;
  m.ranks = tp;
  m.ep = 1;
  m.us = us;
  m.input = 0;
  return m;
}

MeasurementSet one_input() {
  MeasurementSet set;
  set.inputs.push_back(InputFile{"moe.csv", "moe.csv", "0", "aiconfigurator_moe", 0, 0, {}, ""});
  return set;
}

// Times that follow the regression's own terms exactly (latency 20 us, weights 1.5x their
// byte time, FLOPs 3x, activations 2x): the relative least squares recovers the law, and
// every residual is 1.
TEST(FitMoe, RecoversALawWrittenInItsTermsAndKeepsEachShapesCurve) {
  const DeviceSpec dev = device(1e12);
  const ProfileRates r = rates_of(dev);
  const std::array<double, 4> c{20, 1.5, 3, 2};
  MeasurementSet set = one_input();
  for (double hidden : {1024.0, 4096.0}) {
    for (double inter : {512.0, 2048.0}) {
      for (double tokens : {1.0, 16.0, 256.0, 4096.0}) {
        Measurement m = moe_row(tokens, hidden, inter, 1, 0);
        const auto t = moe_terms(moe_query(m), r);
        m.us = c[0] * t[0] + c[1] * t[1] + c[2] * t[2] + c[3] * t[3];
        set.rows.push_back(m);
      }
    }
  }
  const FittedProfile p = fit_profile(set, dev, no_holdout());
  ASSERT_EQ(p.moe.count("bf16"), 1u);
  const auto& f = p.moe.at("bf16");
  EXPECT_EQ(f.kernel, "k");
  ASSERT_EQ(f.coef.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(f.coef[i], c[i], 1e-6 * c[i]) << i;
  ASSERT_EQ(f.groups.size(), 4u);
  for (const auto& g : f.groups) {
    EXPECT_EQ(g.tokens, (std::vector<double>{1, 16, 256, 4096}));
    for (double lr : g.log_ratio) EXPECT_NEAR(lr, 0, 1e-9);
  }
  EXPECT_NE(std::find(p.families().begin(), p.families().end(), "moe"), p.families().end());
}

// Width 2,048 on 2 expert-TP shards and 1,024 on one are the same layer on a device: one
// group, the two times averaged.
TEST(FitMoe, OnePerDeviceShapeIsOneGroupItsTimesAveraged) {
  MeasurementSet set = one_input();
  set.rows.push_back(moe_row(64, 1024, 2048, 2, 100));
  set.rows.push_back(moe_row(64, 1024, 1024, 1, 120));
  const FittedProfile p = fit_profile(set, device(1e12), no_holdout());
  const auto& f = p.moe.at("bf16");
  ASSERT_EQ(f.groups.size(), 1u);
  EXPECT_DOUBLE_EQ(f.groups[0].inter, 1024);
  EXPECT_EQ(f.groups[0].us, (std::vector<double>{110}));
}

// A derived profile keeps the regression and scales each measured point by regression(target)
// / regression(source) between chips of one layout; across architectures it keeps no points
// (each would be the target's regression itself), so it answers with the target's regression
// (as GEMM points do).
TEST(DeriveMoe, PointsFollowTheRegressionRatioOrBecomeTheRegression) {
  const DeviceSpec src = device(1e12);
  MeasurementSet set = one_input();
  set.rows.push_back(moe_row(1, 1024, 512, 1, 500));  // 1 token: mostly weight reads
  set.rows.push_back(moe_row(4096, 1024, 512, 1, 900));
  const FittedProfile p = fit_profile(set, src, no_holdout());
  const auto& f = p.moe.at("bf16");
  for (const std::string arch : {"hopper", "blackwell"}) {
    const DeviceSpec dst = device(2e12, arch);
    const FittedProfile d = derive_profile(p, "p.json", "0", src, dst, 1.0);
    const auto& df = d.moe.at("bf16");
    EXPECT_EQ(df.coef, f.coef);
    EXPECT_EQ(df.groups.size(), arch == "hopper" ? 1u : 0u);
    for (std::size_t i = 0; i < 2; ++i) {
      const MoeQuery q = moe_query(set.rows[i]);
      const double a = moe_regression_us(f.coef, q, rates_of(src)), b = moe_regression_us(f.coef, q, rates_of(dst));
      const double expected = arch == "hopper" ? set.rows[i].us * b / a : b;
      if (arch == "hopper") EXPECT_NEAR(df.groups[0].us[i], expected, 1e-9 * expected) << i;
      EXPECT_NEAR(d.predict_moe(q)->us, expected, 1e-9 * expected) << arch << " " << i;
    }
  }
}

// `calibrate check` predicts held-out MoE rows through predict_moe: a row held out of a
// group whose neighbours in tokens were fitted is answered from that group's curve.
TEST(CheckMoe, HeldOutRowsArePredictedAndSummarised) {
  MeasurementSet set = one_input();
  for (double tokens : {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0})
    set.rows.push_back(moe_row(tokens, 1024, 512, 1, 50 + tokens * 0.1));
  FitSettings s;
  s.holdout_modulus = 3;
  const FittedProfile p = fit_profile(set, device(1e12), s);
  const auto rows = check_profile(p, set, s);
  const auto it = std::find_if(rows.begin(), rows.end(), [](const CheckRow& r) { return r.family == "moe" && !r.diagnostic; });
  ASSERT_NE(it, rows.end());
  EXPECT_GT(it->n, 0u);
  EXPECT_DOUBLE_EQ(it->target, 0.08);
  EXPECT_LT(it->mape, 0.08);
}

}  // namespace
}  // namespace servesim::calib
