#include <array>
#include <cmath>

#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/cost/fitted_profile.h"

namespace servesim {
namespace {

const std::string kProfile = std::string(SERVESIM_TEST_DATA) + "/profile_small.json";

TEST(FittedProfile, GemmOnTheMeasuredLineInterpolatesLogLog) {
  const FittedProfile p = FittedProfile::load(kProfile);
  // Line (1024, 1024): (1, 10 us) and (100, 1000 us): exponent 1, so m = 10 -> 100 us.
  const auto a = p.predict_gemm(10, 1024, 1024, "bf16");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 100, 1e-9);
  EXPECT_STREQ(a->variant, "");
}

TEST(FittedProfile, GemmBeyondTheMeasuredNAndKScalesTheEdgeLineByTheWeightMatrix) {
  const FittedProfile p = FittedProfile::load(kProfile);
  // The only line is (n, k) = (1024, 1024): 10 us at m = 1, 1000 us at m = 100, so 100 us at
  // m = 10 (log-log). n = k = 2048 lies beyond it: the weight matrix is 2 x 2 = 4 times
  // larger, so 400 us.
  const auto a = p.predict_gemm(10, 2048, 2048, "bf16");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 400.0, 1e-9);
  EXPECT_STREQ(a->variant, "");
  // Below the measured n and k the edge answers as it is (a smaller GEMM is not slower).
  EXPECT_NEAR(p.predict_gemm(10, 512, 256, "bf16")->us, 100.0, 1e-9);
  EXPECT_FALSE(p.predict_gemm(10, 2048, 2048, "fp8"));  // no fp8 fit
}

TEST(FittedProfile, GemmInsideTheRangeWithoutABracketTakesTheRegressionTimesItsNeighboursResidual) {
  FittedProfile p = FittedProfile::load(kProfile);
  // A second line at (4096, 4096): n = 1024, k = 4096 is inside both axes, but the corner
  // lines (1024, 4096) and (4096, 1024) were never measured, so there is no box: the
  // regression answers, times the residual of the lines near (1024, 4096) at the same m.
  p.gemm["bf16"].grid.add({4096, 4096}, 1, 40);
  p.gemm["bf16"].grid.add({4096, 4096}, 100, 4000);
  p.finalize();
  // coef (2, 1, 0, 1): 2 us + FLOP time + byte time at 1e15 FLOP/s, 1e12 B/s.
  // The query, m 10, n 1024, k 4096: FLOPs 2*10*1024*4096 = 83886080 -> 0.08388608 us;
  // bytes 1024*4096*2 + 10*4096*2 + 10*1024*2 = 8491008 -> 8.491008 us; 10.57489408 us.
  const double reg = 2 + 0.08388608 + 8.491008;
  // Line (1024, 1024) at m = 10: 100 us (exponent 1 between (1, 10) and (100, 1000)); its
  // regression 2 + 0.02097152 + 2.138112 (bytes 2097152 + 20480 + 20480) = 4.15908352 us.
  // Line (4096, 4096) at m = 10: 400 us; its regression 2 + 0.33554432 + 33.718272 (bytes
  // 33554432 + 81920 + 81920) = 36.05381632 us. Both lie at d = log 4 (one dimension 4x away),
  // weight exp(-(log 4 / 0.7)^2) each; the regression's own residual (log 1 = 0) weighs
  // exp(-(1 / 0.7)^2).
  const double w = std::exp(-std::pow(std::log(4.0) / 0.7, 2)), w0 = std::exp(-std::pow(1.0 / 0.7, 2));
  const double log_residual = (w * std::log(100 / 4.15908352) + w * std::log(400 / 36.05381632)) / (w0 + 2 * w);
  const auto a = p.predict_gemm(10, 1024, 4096, "bf16");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, reg * std::exp(log_residual), 1e-9);  // 20.3069 us: both lines run ~11-24x their regression
  EXPECT_STREQ(a->variant, "regression_residual");
}

TEST(FittedProfile, GemmFarFromEveryLineIsTheRegression) {
  FittedProfile p = FittedProfile::load(kProfile);
  // Lines at (1024, 1024), (1024, 1048576) and (1048576, 1024): (32768, 32768) has no box (the
  // corner (1048576, 1048576) is missing) and lies at d = 2 log 32 = 6.93 from each line,
  // weight exp(-(6.93 / 0.7)^2) = e^-98 (skipped below e^-30): the regression alone.
  for (const std::array<double, 2> key : {std::array<double, 2>{1024, 1048576}, std::array<double, 2>{1048576, 1024}}) {
    p.gemm["bf16"].grid.add(key, 1, 10);
    p.gemm["bf16"].grid.add(key, 100, 1000);
  }
  p.finalize();
  // m 10: FLOPs 2*10*32768^2 = 21474836480 -> 21.47483648 us; bytes 32768^2*2 + 10*32768*2*2
  // = 2148794368 -> 2148.794368 us; + 2 us.
  const auto a = p.predict_gemm(10, 32768, 32768, "bf16");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 2 + 21.47483648 + 2148.794368, 1e-6);
  EXPECT_STREQ(a->variant, "regression_residual");
}

TEST(FittedProfile, GemmBeyondTheLargestMeasuredMKeepsTheLastEfficiencyAgainstTheRoofline) {
  const FittedProfile p = FittedProfile::load(kProfile);
  // Line (1024, 1024) ends at m = 100 (1000 us). Roofline at 1e15 FLOP/s and 1e12 B/s:
  // m = 100: FLOPs 2*100*1024*1024 = 209715200 -> 0.2097152 us; bytes 1024*1024*2 +
  //   100*1024*2*2 = 2506752 -> 2.506752 us; roofline 2.506752 us (memory-bound).
  // m = 10000: FLOPs 20971520000 -> 20.97152 us; bytes 2097152 + 10000*1024*4 = 43057152
  //   -> 43.057152 us; roofline 43.057152 us.
  // So 1000 us * 43.057152 / 2.506752 = 17176.47... us.
  const auto a = p.predict_gemm(10000, 1024, 1024, "bf16");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 1000.0 * 43.057152 / 2.506752, 1e-6);
}

// vLLM's fp8 GEMMs quantise their m x k activations first, so in its kernel set no call is
// faster per activation element than the grid's least time per element. fp8 lines (rates:
// 2e15 FLOP/s fp8, 1e12 B/s): (n 64, k 1000) 10 us at m = 100 and at 200; (64, 4000) 20 us at
// m = 100. Least time per element: min(10 / 1e5, 10 / 2e5, 20 / 4e5) = 5e-5 us. At m = 10000,
// k = 1000: 5e-5 x 1e7 = 500 us. The line's own extrapolation (memory-bound: bytes 64000 +
// 1128 m, 11.344 us of roofline at m = 10000) gives about 340 us, which another kernel set
// keeps.
TEST(FittedProfile, AQuantisingKernelSetIsNeverFasterPerActivationElementThanMeasured) {
  for (const std::string set : {"vllm", "harness"}) {
    FittedProfile p = FittedProfile::load(kProfile);
    p.kernel_set = {{"name", set}};
    p.gemm["fp8"].grid.add({64, 1000}, 100, 10);
    p.gemm["fp8"].grid.add({64, 1000}, 200, 10);
    p.gemm["fp8"].grid.add({64, 4000}, 100, 20);
    p.finalize();
    const auto a = p.predict_gemm(10000, 64, 1000, "fp8");
    ASSERT_TRUE(a);
    if (set == "vllm") {
      EXPECT_NEAR(a->us, 500, 1e-9);
    } else {
      EXPECT_GT(a->us, 300);
      EXPECT_LT(a->us, 400);
    }
    // bf16 is never quantised: the line (1024, 1024) at m = 10 stays 100 us.
    EXPECT_NEAR(p.predict_gemm(10, 1024, 1024, "bf16")->us, 100, 1e-9);
  }
}

// The small profile plus one decode config (8 q / 2 KV heads of 64, bf16, paged, kernel "k").
// coef: latency, byte time, per-seq, per-1k seq-heads, per-1k longest kv.
FittedProfile with_decode_config(std::vector<double> coef, std::vector<FittedProfile::AttentionPoint> points) {
  FittedProfile p = FittedProfile::load(kProfile);
  FittedProfile::AttentionConfig c;
  c.heads = 8, c.kv_heads = 2, c.head_dim = 64;
  c.kv_dtype = "bf16", c.layout = "paged", c.kernel = "k";
  c.coef = std::move(coef);
  c.points = std::move(points);
  p.decode.configs.push_back(c);
  p.decode.kernels = {"k"};
  p.finalize();
  return p;
}

// Decode config (8 q / 2 KV heads of 64, bf16, paged, kernel "k") with a byte-time-only
// regression and two measured batches of one sequence: 5 us at 100 cached tokens, 9 us at
// 1000. A query of 1 sequence with 10 cached tokens lies below the grid: the residual at the
// nearest point (5 us / regression(101 tokens)) times regression(11 tokens) is about
// 5 x 11 / 101 = 0.54 us (KV bytes dominate). No call of the kernel was measured under 5 us,
// so the kernel's floor, 5 us, answers.
TEST(FittedProfile, NoAttentionCallIsFasterThanItsKernelsFastestMeasuredCall) {
  const FittedProfile p = with_decode_config({0, 1, 0, 0, 0}, {{1, 1, 99, 5.0}, {1, 1, 999, 9.0}});
  const auto a = p.predict_attention(false, AttentionQuery::uniform(8, 2, 64, "bf16", true, 1, 1, 10));
  ASSERT_TRUE(a);
  EXPECT_DOUBLE_EQ(a->us, 5.0);
  // At a measured point the measurement answers (the floor is below it).
  EXPECT_NEAR(p.predict_attention(false, AttentionQuery::uniform(8, 2, 64, "bf16", true, 1, 1, 999))->us, 9.0, 1e-9);
}

// Prefill beyond the measured range: a query holds the work of every measured point of no
// larger batch, query length and context, and its extra FLOPs cost at least their time at the
// best efficiency the kernel reached. 8 query / 2 KV heads of 64: FLOPs = 2 x pairs x 8 x 128;
// peak 1e15 FLOP/s (1e9 per us). Points (batch 1, context 0): q 1000 (500,500 pairs,
// 1.025024 us at the peak) in 5 us, q 2000 (2,001,000 pairs, 4.098048 us) in 8.196096 us:
// efficiency 0.5, the best. At q 8000 (32,004,000 pairs, 65.544192 us at the peak) the flat
// residual beyond the last point gives 65.544192 x 8.196096 / 4.098048 = 131.088384 us; the
// point q 1000 plus the extra FLOPs at efficiency 0.5 gives 5 + (65.544192 - 1.025024) / 0.5
// = 134.038336 us (q 2000's gives 131.088384): the answer. Inside the range: the grid.
TEST(FittedProfile, PrefillBeyondTheMeasuredRangeCostsItsExtraFlopsAtTheKernelsBestEfficiency) {
  FittedProfile p = FittedProfile::load(kProfile);
  FittedProfile::AttentionConfig c;
  c.heads = 8, c.kv_heads = 2, c.head_dim = 64;
  c.kv_dtype = "bf16", c.layout = "contiguous", c.kernel = "k";
  c.coef = {0, 1, 0, 0, 0, 0, 0};  // the FLOP time at the peak
  c.points = {{1, 1000, 0, 5.0}, {1, 2000, 0, 8.196096}};
  p.prefill.configs.push_back(c);
  p.prefill.kernels = {"k"};
  p.finalize();
  auto at = [&](double q) { return p.predict_attention(true, AttentionQuery::uniform(8, 2, 64, "bf16", false, 1, q, 0))->us; };
  EXPECT_NEAR(at(8000), 134.038336, 1e-6);
  EXPECT_NEAR(at(2000), 8.196096, 1e-9);
  EXPECT_GT(at(1500), 5.0);
  EXPECT_LT(at(1500), 8.196096);
}

// Decode beyond the measured range reads its extra KV at no more than the peak bandwidth.
// 8 query / 2 KV heads of 64, bf16: 512 KV bytes per token; HBM 1e12 B/s, so 1000 tokens of
// KV are 0.512 us. Measured at batch 1: mean length 1000 -> 9 us, 2000 -> 10 us. The
// regression (5 us + 0.25 x byte time) claims 4x the peak bandwidth; its flat residual
// beyond length 2000 would give, at 8000: reg 5 + 0.25 (4.096 + 0.002048) = 6.024512 us
// times 10 / reg(2000) = 10 / 5.256512 -> 11.461 us, faster than reading the 6000 extra
// tokens (3.072 us) on top of the 10 us point: the answer is 10 + 3.072 = 13.072 us. Beyond
// the largest batch (2 sequences of length 1000): 9 + (1.024 - 0.512) = 9.512 us, above the
// residual's 9 x 5.257024 / 5.128512 = 9.2255 us.
TEST(FittedProfile, DecodeBeyondTheMeasuredRangeReadsTheExtraKvAtMostAtThePeak) {
  const FittedProfile p = with_decode_config({5, 0.25, 0, 0, 0}, {{1, 1, 999, 9.0}, {1, 1, 1999, 10.0}});
  auto at = [&](double batch, double ctx) { return p.predict_attention(false, AttentionQuery::uniform(8, 2, 64, "bf16", true, batch, 1, ctx))->us; };
  EXPECT_NEAR(at(1, 7999), 10 + 3.072, 1e-9);
  EXPECT_NEAR(at(2, 999), 9 + 0.512, 1e-9);
  EXPECT_NEAR(at(1, 1999), 10, 1e-9);  // measured points and the range between: the residual grid
  const double w = std::log(1.5) / std::log(2.0);  // length 1500 between 1000 and 2000, log space
  EXPECT_NEAR(at(1, 1499), (5 + 0.25 * (0.768 + 0.002048)) * std::exp((1 - w) * std::log(9 / 5.128512) + w * std::log(10 / 5.256512)), 1e-6);
}

// Beyond the measured range a bandwidth-bound line's growth is capped at its own marginal
// rate. Regression: byte time only (KV bytes + 2,048 B of query and output per sequence,
// HBM 1e12 B/s), so its flat residual beyond the last point grows as fast as the bytes times
// that residual. Batch 1, 512 KV bytes per token: length 1000 -> 0.512 us of KV, 2000 ->
// 1.024, 8000 -> 4.096.
// - Measured 9 us at 1000, 10 us at 2000: the last doubling grew 1 us for 0.512 us of KV at
//   the peak, rate 1.953125 >= 1 (bandwidth-bound). The residual says 10 / 1.026048 x
//   4.098048 = 39.94 us at 8000; the cap: 10 + (4.096 - 1.024) x 1.953125 = 16 us, above the
//   lower bound max(9 + 3.584, 10 + 3.072) = 13.072 us: 16 us answers.
// - Measured 9 us at 1000, 9.2 us at 2000: rate 0.2 / 0.512 < 1, overhead-bound: no cap,
//   the residual's 9.2 / 1.026048 x 4.098048 us answers (above the lower bound 12.584 us).
TEST(FittedProfile, DecodeBeyondABandwidthBoundLineGrowsAtMostAtItsLastMarginalRate) {
  const FittedProfile bw = with_decode_config({0, 1, 0, 0, 0}, {{1, 1, 999, 9.0}, {1, 1, 1999, 10.0}});
  auto at = [](const FittedProfile& p, double ctx) { return p.predict_attention(false, AttentionQuery::uniform(8, 2, 64, "bf16", true, 1, 1, ctx))->us; };
  EXPECT_NEAR(at(bw, 7999), 10 + (4.096 - 1.024) * (1.0 / 0.512), 1e-9);
  EXPECT_NEAR(at(bw, 1999), 10, 1e-9);  // inside the range: the residual grid
  const FittedProfile overhead = with_decode_config({0, 1, 0, 0, 0}, {{1, 1, 999, 9.0}, {1, 1, 1999, 9.2}});
  EXPECT_NEAR(at(overhead, 7999), 9.2 / 1.026048 * 4.098048, 1e-9);
}

// More sequences never take less time: beyond the measured range a batch's answer is at least
// a smaller batch's at the same length. Same regression and device as above. Batch 1 measured
// 9 / 10 / 16 us at lengths 1000 / 2000 / 4000 (last doubling: 6 us for 1.024 us of KV at the
// peak, rate 5.859375); batch 2 measured 9.5 / 11 us at 1000 / 2000 (rate 1.5 / 1.024 =
// 1.46484375). At length 8000:
// - batch 1: its own cap 16 + (4.096 - 2.048) x 5.859375 = 28 us (its residual says 63.9);
// - batch 2 (8.192 us of KV): its own cap 11 + (8.192 - 2.048) x 1.46484375 = 20 us, but
//   batch 1's line gives 28 us there, and the best point-plus-KV floor is 16 + 8.192 - 2.048
//   = 22.144 us: 28 us answers, not 20.
TEST(FittedProfile, DecodeBeyondTheMeasuredRangeIsNeverFasterThanASmallerBatchThere) {
  const FittedProfile p = with_decode_config({0, 1, 0, 0, 0}, {{1, 1, 999, 9.0}, {1, 1, 1999, 10.0}, {1, 1, 3999, 16.0},
                                                               {2, 1, 999, 9.5}, {2, 1, 1999, 11.0}});
  auto at = [&](double batch, double ctx) { return p.predict_attention(false, AttentionQuery::uniform(8, 2, 64, "bf16", true, batch, 1, ctx))->us; };
  EXPECT_NEAR(at(1, 7999), 28.0, 1e-9);
  EXPECT_NEAR(at(2, 7999), 28.0, 1e-9);
}

TEST(FittedProfile, AttentionWithoutItsConfigUsesTheGlobalRegression) {
  const FittedProfile p = FittedProfile::load(kProfile);
  // 4 sequences, 999 cached + 1 new token each, 8 query / 2 KV heads of 64, bf16 KV:
  // KV bytes/token 2*2*64*2 = 512; KV read 4*1000*512 = 2048000 B; query and output
  // 4*8*(64+64)*2 = 8192 B; byte time (2048000 + 8192) / 1e12 s = 2.056192 us; t = 5 + that.
  const auto q = AttentionQuery::uniform(8, 2, 64, "bf16", true, 4, 1, 999);
  const auto a = p.predict_attention(false, q);
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 5 + 2.056192, 1e-9);
  EXPECT_STREQ(a->variant, "global");
  EXPECT_FALSE(p.predict_attention(true, q));              // no prefill family
  EXPECT_FALSE(p.predict_attention(false, q, "other"));    // a kernel the profile lacks
}

// A head configuration never measured takes the global regression times the residual of the
// measured configurations near it. Measured: 8 q / 2 KV heads of 64 (with_decode_config), 9 us
// at 1 sequence of 999 cached + 1 new token; the global regression there (5 us + byte time):
// KV 1000 x 512 B + query and output 8 x 128 x 2 B = 514048 B -> 5.514048 us; residual 9 /
// 5.514048. Asked: 16 q / 4 KV heads of 64 at the same batch: global 5 + (1000 x 1024 + 16 x
// 128 x 2) / 1e6 = 6.028096 us. Distance log 2 + log 2 (heads and KV heads twice as many):
// weight exp(-(2 log 2 / 0.7)^2), beside the global regression's own residual, 0, weighing
// exp(-(1 / 0.7)^2).
TEST(FittedProfile, AttentionOfAnUnmeasuredConfigTakesItsNeighboursResidual) {
  const FittedProfile p = with_decode_config({0, 1, 0, 0, 0}, {{1, 1, 99, 5.0}, {1, 1, 999, 9.0}});
  const double w = std::exp(-std::pow(2 * std::log(2.0) / 0.7, 2)), w0 = std::exp(-std::pow(1.0 / 0.7, 2));
  const auto a = p.predict_attention(false, AttentionQuery::uniform(16, 4, 64, "bf16", true, 1, 1, 999));
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 6.028096 * std::exp(w * std::log(9 / 5.514048) / (w0 + w)), 1e-9);
  EXPECT_STREQ(a->variant, "global");
  // fp8 KV: no measured configuration of that KV dtype, so the global regression alone (KV
  // 1000 x 512 B, query and output 4096 B: 5 + 0.516096 us).
  const auto f = p.predict_attention(false, AttentionQuery::uniform(16, 4, 64, "fp8", true, 1, 1, 999));
  ASSERT_TRUE(f);
  EXPECT_NEAR(f->us, 5 + 0.516096, 1e-9);
}

TEST(FittedProfile, AttentionQueryAggregatesOfAUniformBatch) {
  // 3 sequences of 100 new tokens after 50 cached: pairs per sequence 100*50 + 100*101/2.
  const auto q = AttentionQuery::uniform(32, 8, 128, "bf16", true, 3, 100, 50);
  EXPECT_DOUBLE_EQ(q.sum_q, 300);
  EXPECT_DOUBLE_EQ(q.sum_kv, 450);
  EXPECT_DOUBLE_EQ(q.sum_q_kv, 3 * (5000 + 5050));
  EXPECT_DOUBLE_EQ(q.max_kv, 150);
  EXPECT_DOUBLE_EQ(q.q_tiles, 3);  // ceil(100 / 128) per sequence
  const auto g = q.grid_point(true);
  EXPECT_DOUBLE_EQ(g.outer[0], 3);
  EXPECT_NEAR(g.outer[1], 51, 1e-9);  // context recovered from the pairs, plus one
  EXPECT_DOUBLE_EQ(g.x, 100);
}

TEST(FittedProfile, AttentionQueryFromAShapeCountsQueryTilesPerSequence) {
  const std::vector<SeqAttention> seqs = {{200, 0}, {10, 500}};
  AttentionShape a;
  a.heads = 4;
  a.kv_heads = 4;
  a.head_dim = 64;
  a.seqs = seqs;
  a.num_seqs = 2;
  a.sum_q = 210;
  a.sum_kv = 710;
  a.max_kv = 510;
  const auto q = AttentionQuery::from(a);
  EXPECT_DOUBLE_EQ(q.q_tiles, 2 + 1);  // ceil(200/128) + ceil(10/128)
  EXPECT_DOUBLE_EQ(q.max_kv, 510);
  EXPECT_EQ(q.v_head_dim, 64);  // v_head_dim 0 means "same as head_dim"
}

TEST(FittedProfile, CollectivePicksTheFasterBackendUnlessOneIsNamed) {
  const FittedProfile p = FittedProfile::load(kProfile);
  // 1500 B: nccl 10 + 0.01*500 = 15 us, vllm_custom 5 + 0.025*500 = 17.5 us.
  auto a = p.predict_collective("all_reduce", 2, 1500, "");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 15, 1e-9);
  EXPECT_STREQ(a->variant, "nccl");
  // 1100 B: nccl 11, vllm_custom 7.5.
  a = p.predict_collective("all_reduce", 2, 1100, "");
  EXPECT_NEAR(a->us, 7.5, 1e-9);
  EXPECT_STREQ(a->variant, "vllm_custom");
  a = p.predict_collective("all_reduce", 2, 1100, "nccl");
  EXPECT_NEAR(a->us, 11, 1e-9);
  EXPECT_FALSE(p.predict_collective("all_reduce", 4, 1100, ""));  // no 4-rank curve
}

// Above the last knot a collective's marginal bandwidth rises towards the device's bus
// bandwidth on large messages (rates.collective_busbw). nccl, 2 ranks: knots (1000, 10) and
// (2000, 20), slope 0.01 us/B; an all-reduce's bus traffic is 2(n-1)/n = 1 times its buffer,
// so at 2e8 B/s the saturated slope is 0.005 us/B and at 4000 B
// 20 + 0.005 * 2000 + (0.01 - 0.005) * 2000 * ln 2 = 36.93 us (40 without the saturation).
TEST(FittedProfile, CollectiveBeyondItsLargestSizeSaturatesAtTheAchievedBusBandwidth) {
  FittedProfile p = FittedProfile::load(kProfile);
  EXPECT_NEAR(p.predict_collective("all_reduce", 2, 4000, "nccl")->us, 40, 1e-9);
  p.rates.collective_busbw = 2e8;
  p.finalize();
  EXPECT_NEAR(p.predict_collective("all_reduce", 2, 4000, "nccl")->us, 30 + 2000 * 0.005 * std::log(2.0), 1e-9);
  EXPECT_NEAR(p.predict_collective("all_reduce", 2, 1500, "nccl")->us, 15, 1e-9);  // inside: unchanged
  const auto j = p.to_json();
  EXPECT_EQ(j["rates"]["collective_busbw"], 2e8);
  EXPECT_EQ(FittedProfile::from_json(j, "roundtrip").to_json().dump(), j.dump());
  // A profile without the figure writes none (profiles fitted before it stay byte-identical).
  EXPECT_FALSE(FittedProfile::load(kProfile).to_json()["rates"].contains("collective_busbw"));
}

// An all-reduce of 8 ranks reduces in the switch (NVLink SHARP) and saturates at
// rates.nvls_allreduce_busbw instead. Its bus traffic is 2 * 7/8 = 1.75 times the buffer:
// ring 1.75e8 B/s gives 0.01 us/B, the curve's own slope (no change: 40 us at 4000 B);
// NVLS 3.5e8 B/s gives 0.005 us/B: 20 + 0.005 * 2000 + 0.005 * 2000 * ln 2 = 36.93 us.
// Smaller groups keep the ring figure (none here: unchanged).
// The test profile with an NCCL all-reduce curve of 8 ranks: `us` at 1000 and 2000 B.
FittedProfile with_nccl_all_reduce_of_8(std::array<double, 2> us) {
  FittedProfile p = FittedProfile::load(kProfile);
  FittedProfile::Curve c;
  c.op = "all_reduce", c.backend = "nccl", c.ranks = 8;
  c.curve = KnotCurve{{1000, 2000}, {us[0], us[1]}};
  p.collectives.push_back(c);
  return p;
}

TEST(FittedProfile, AllReduceOfEightRanksSaturatesAtTheInSwitchBusBandwidth) {
  FittedProfile p = with_nccl_all_reduce_of_8({10, 20});
  p.rates.collective_busbw = 1.75e8;
  p.finalize();
  EXPECT_NEAR(p.predict_collective("all_reduce", 8, 4000, "nccl")->us, 40, 1e-9);
  p.rates.nvls_allreduce_busbw = 3.5e8;
  p.rates.collective_busbw = 0;
  p.finalize();
  EXPECT_NEAR(p.predict_collective("all_reduce", 8, 4000, "nccl")->us, 30 + 2000 * 0.005 * std::log(2.0), 1e-9);
  EXPECT_NEAR(p.predict_collective("all_reduce", 2, 4000, "nccl")->us, 40, 1e-9);  // 2 ranks: no NVLS
  const auto j = p.to_json();
  EXPECT_EQ(j["rates"]["nvls_allreduce_busbw"], 3.5e8);
  EXPECT_EQ(FittedProfile::from_json(j, "roundtrip").to_json().dump(), j.dump());
}

// A rank count between two measured ones interpolates their bus bandwidth in log ranks. NCCL
// all-reduce measured at 2 ranks (10 us at 1000 B) and 8 (14 us): bus bandwidths 1000 x 2 x 1/2
// / 10 = 100 B/us and 1000 x 2 x 7/8 / 14 = 125 B/us; 4 ranks sit halfway in log ranks:
// sqrt(100 x 125) = 111.80 B/us, so 1000 x 2 x 3/4 / 111.80 = 13.416 us. Beyond the measured
// counts (16) nothing answers; vLLM's custom all-reduce, measured at 2 ranks only, never does.
TEST(FittedProfile, CollectiveBetweenTwoMeasuredRankCountsInterpolatesTheirBusBandwidth) {
  FittedProfile p = with_nccl_all_reduce_of_8({14, 28});
  p.finalize();
  const double busbw = std::sqrt(100.0 * 125.0);
  const auto a = p.predict_collective("all_reduce", 4, 1000, "");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 1000 * 1.5 / busbw, 1e-9);
  EXPECT_STREQ(a->variant, "nccl");
  EXPECT_NEAR(p.predict_collective("all_reduce", 4, 1000, "nccl")->us, 1000 * 1.5 / busbw, 1e-9);
  EXPECT_FALSE(p.predict_collective("all_reduce", 4, 1000, "vllm_custom"));
  EXPECT_FALSE(p.predict_collective("all_reduce", 16, 1000, ""));
  EXPECT_FALSE(p.predict_collective("all_gather", 4, 1000, ""));  // no all-gather curves
}

TEST(FittedProfile, CopyChainIsFirstCopyPlusSlowerOfEngineAndHost) {
  const FittedProfile p = FittedProfile::load(kProfile);
  // 10 chunks of 1000 B: one copy 2 us; each further copy max(2 + 0.5, 4) = 4 us -> 38 us.
  const auto a = p.predict_copy("h2d", true, 10000, 10);
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 2 + 9 * 4, 1e-9);
  // One chunk of 100000 B: 20 us, no chain.
  EXPECT_NEAR(p.predict_copy("h2d", true, 100000, 1)->us, 20, 1e-9);
  EXPECT_FALSE(p.predict_copy("h2d", false, 1000, 1));  // pageable not fitted
}

// Pageable copies are staged by a host memcpy: beyond the largest measured size their
// marginal time per byte is at least 1 / the staging rate. Curve (1e6 B, 20 us), (2e6 B,
// 40 us): marginal 2e-5 us/B, the host link's (5e10 B/s) too. At 4e6 B: 40 + 2e6 * 2e-5 =
// 80 us; with an h2d staging rate of 1e10 B/s (1e-4 us/B): 40 + 2e6 * 1e-4 = 240 us. Inside
// the measured range (1.5e6 B: 30 us) and for d2h (no d2h rate) nothing changes.
TEST(FittedProfile, PageableCopiesBeyondTheMeasuredSizesMoveAtMostAtTheHostStagingRate) {
  FittedProfile p = FittedProfile::load(kProfile);
  for (const char* dir : {"h2d", "d2h"}) {
    FittedProfile::Curve c;
    c.op = dir, c.backend = "pageable";
    c.curve = KnotCurve{{1e6, 2e6}, {20, 40}};
    p.copies.push_back(c);
  }
  p.finalize();
  EXPECT_NEAR(p.predict_copy("h2d", false, 4e6, 1)->us, 80, 1e-9);
  p.rates.pageable_h2d_bandwidth = 1e10;
  p.finalize();
  EXPECT_NEAR(p.predict_copy("h2d", false, 4e6, 1)->us, 240, 1e-9);
  EXPECT_NEAR(p.predict_copy("h2d", false, 1.5e6, 1)->us, 30, 1e-9);
  EXPECT_NEAR(p.predict_copy("d2h", false, 4e6, 1)->us, 80, 1e-9);
  const auto j = p.to_json();
  EXPECT_EQ(j["rates"]["pageable_h2d_bandwidth"], 1e10);
  EXPECT_FALSE(j["rates"].contains("pageable_d2h_bandwidth"));
  EXPECT_EQ(FittedProfile::from_json(j, "roundtrip").to_json().dump(), j.dump());
}

TEST(FittedProfile, PageMapInterpolatesOverPageSize) {
  const FittedProfile p = FittedProfile::load(kProfile);
  EXPECT_NEAR(p.predict_page_map(3 * 1048576.0)->us, 25, 1e-9);  // half way between 20 and 30
}

// A page map is driver calls (cuMemMap + cuMemSetAccess): a fixed cost, hardly growing with
// the page (H200: 18.4 us at 2 MiB, 19.0 at 8 MiB). Beyond the largest page measured it goes
// on at its last doubling's slope, or flat where that fell; never in proportion to the page
// size (which put 32 MiB at 8x the 4 MiB time, +350 % on the H200's largest-35 % split).
TEST(FittedProfile, PageMapsBeyondTheMeasuredPagesAreNotProportionalToThePageSize) {
  FittedProfile p = FittedProfile::load(kProfile);
  p.page_map = KnotCurve{{2.0 * 1048576, 4.0 * 1048576}, {20, 20}};
  p.finalize();
  EXPECT_NEAR(p.predict_page_map(32.0 * 1048576)->us, 20, 1e-9);
  p.page_map = KnotCurve{{2.0 * 1048576, 4.0 * 1048576}, {20, 22}};  // 1 us per MiB over the doubling
  p.finalize();
  EXPECT_NEAR(p.predict_page_map(32.0 * 1048576)->us, 22 + 28, 1e-9);
}

TEST(FittedProfile, JsonRoundTripIsIdentical) {
  const FittedProfile p = FittedProfile::load(kProfile);
  const auto j1 = p.to_json();
  const auto j2 = FittedProfile::from_json(j1, "roundtrip").to_json();
  EXPECT_EQ(j1.dump(), j2.dump());
  EXPECT_EQ(p.families(), (std::vector<std::string>{"gemm", "attention_decode", "collective", "copy", "page_map"}));
}

TEST(FittedProfile, MalformedProfilesNameTheField) {
  auto j = read_json_file(kProfile);
  auto expect_error = [](const nlohmann::json& bad, const std::string& needle) {
    try {
      (void)FittedProfile::from_json(bad, "p.json");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto bad = j;
  bad["schema"] = "other/1";
  expect_error(bad, "p.json: schema");
  bad = j;
  bad["families"]["collective"]["curves"][0]["us"][1] = -3;
  expect_error(bad, "collective: curves[0]: us[1]");
  bad = j;
  bad["families"]["collective"]["curves"][0]["bytes"] = {2000, 1000};
  expect_error(bad, "strictly increasing");
  bad = j;
  bad["families"]["gemm"]["bf16"]["regression"]["coef"] = {1, 2};
  expect_error(bad, "gemm: bf16: regression: coef");
  bad = j;
  bad["status"] = "guessed";
  expect_error(bad, "p.json: status");
}

TEST(FittedProfile, RoundSignificantDigits) {
  EXPECT_DOUBLE_EQ(round_sig(123456.7, 5), 123460);
  EXPECT_DOUBLE_EQ(round_sig(0.000123456, 3), 0.000123);
  EXPECT_DOUBLE_EQ(round_sig(0, 5), 0);
}

// A merged decode run prices one attention operator step after step, each context one key
// longer: through a cursor (the kernel configuration and the residual lines located once per
// batch size) the answers are exactly those without one, also where the batch (the grid key)
// or the head shape changes under the same cursor, on the committed H100 profile (batches on
// and between its measured lines and above the largest, contexts inside and beyond its range,
// where the cursor's decode_reach decides whether decode_beyond() is asked).
TEST(FittedProfile, AnAttentionCursorAnswersExactlyAsWithout) {
  const FittedProfile p = FittedProfile::load(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h100_sxm.json");
  FittedProfile::AttentionCursor cursor;
  int asked = 0;
  for (const auto& [heads, kv_heads] : {std::pair{32, 8}, std::pair{64, 8}, std::pair{32, 8}}) {
    for (const double batch : {1.0, 24.0, 64.0, 24.0, 1024.0}) {
      for (double ctx = 100; ctx < 300000; ctx = std::ceil(ctx * 1.7)) {
        for (int step = 0; step < 3; ++step) {
          const AttentionQuery q = AttentionQuery::uniform(heads, kv_heads, 128, "bf16", true, batch, 1, ctx + step);
          const auto plain = p.predict_attention(false, q, "");
          const auto kept = p.predict_attention(false, q, "", &cursor);
          ASSERT_EQ(plain.has_value(), kept.has_value());
          if (!plain) continue;
          EXPECT_EQ(plain->us, kept->us) << heads << "/" << kv_heads << " b=" << batch << " ctx=" << ctx + step;
          EXPECT_STREQ(plain->variant, kept->variant);
          ++asked;
        }
      }
    }
  }
  EXPECT_GT(asked, 300);
  EXPECT_TRUE(cursor.valid);
}

}  // namespace
}  // namespace servesim
