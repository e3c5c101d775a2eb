// Fitting: the synthetic tables in data/synthetic follow laws written in the fit's own
// terms (data/make_synthetic.py), so the fitted coefficients and curves are known by hand.
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "sim/cost/profile_derive.h"

#include "sim/calibrate/fit.h"
#include "sim/cost/sha256.h"

namespace servesim::calib {
namespace {

const std::string kSynthetic = std::string(SERVESIM_TEST_DATA) + "/synthetic";

// The rates make_synthetic.py used (hardware_profiles/devices/h100_sxm.json when written).
DeviceSpec synthetic_device() {
  DeviceSpec d;
  d.name = "synthetic_h100";
  d.peak_dense_flops = {{"bf16", 989.4e12}, {"fp16", 989.4e12}, {"fp8", 1978.9e12}, {"fp32", 67e12}, {"tf32", 494.7e12}, {"int8", 1978.9e12}};
  d.hbm_bandwidth = 3.35e12;
  d.sm_count = 132;
  d.intra_node_bandwidth = 450e9;
  d.host_link_bandwidth = 64e9;
  return d;
}

MeasurementSet synthetic() { return read_inputs(resolve_inputs({kSynthetic}, kSynthetic)); }

FitSettings no_holdout() {
  FitSettings s;
  s.holdout_modulus = 0;
  return s;
}

TEST(HoldOut, DeterministicAndAboutOneInModulus) {
  FitSettings s;  // modulus 10
  Measurement m;
  std::size_t held = 0;
  for (int i = 0; i < 10000; ++i) {
    m.m = i;
    if (is_held_out(m, s)) ++held;
    EXPECT_EQ(is_held_out(m, s), is_held_out(m, s));
  }
  // Binomial(10000, 0.1): mean 1000, sd 30; 5 sd either side.
  EXPECT_GT(held, 850u);
  EXPECT_LT(held, 1150u);
  EXPECT_FALSE(is_held_out(m, no_holdout()));
}

// Per row of `set`, whether the size hold-out of `s` (thresholds from `set`) holds it out.
std::vector<bool> held_out_rows(const MeasurementSet& set, const FitSettings& s) {
  const FitSettings t = with_size_holdout(s, set);
  std::vector<bool> held;
  for (const auto& r : set.rows) held.push_back(is_held_out(r, t));
  return held;
}

// Largest-sizes hold-out with F = 0.25 over GEMM rows m = 1..8 (sizes 1..8): the (1 - F)
// quantile is the value at index floor(0.75 x 8) = 6 of the sorted sizes, m = 7; so m = 7
// and 8 are held out. Attention rows are ranked by batch x (q + ctx) on their own: sizes
// 2 x (1 + 9) = 20 and 1 x (1 + 3) = 4: index floor(0.75 x 2) = 1 -> 20, held out.
TEST(HoldOut, LargestSizesPerFamily) {
  MeasurementSet set;
  for (int i = 1; i <= 8; ++i) {
    Measurement m;
    m.family = Family::kGemm;
    m.m = i;
    set.rows.push_back(m);
  }
  Measurement a;
  a.family = Family::kAttentionDecode;
  a.batch = 2, a.q = 1, a.ctx = 9;
  set.rows.push_back(a);
  a.batch = 1, a.ctx = 3;
  set.rows.push_back(a);
  FitSettings s;
  s.holdout_largest = 0.25;
  EXPECT_EQ(held_out_rows(set, s), (std::vector<bool>{false, false, false, false, false, false, true, true, true, false}));
  // Saved in the profile and read back (check recomputes the thresholds on the same data).
  const FitSettings back = FitSettings::from_json(s.to_json(), "test");
  EXPECT_DOUBLE_EQ(back.holdout_largest, 0.25);
  EXPECT_EQ(back.holdout_modulus, 0u);
}

// Copies are ranked by the bytes of one copy, not bytes x chunks: single copies of 1, 2, 4
// and 8 MiB and a chain of 64 copies of 1 MiB (64 MiB in all). F = 0.25 over the sizes
// {1, 1, 2, 4, 8} MiB: index floor(0.75 x 5) = 3 -> 4 MiB, so the 4 and 8 MiB copies are held
// out and the chain, whose copies are 1 MiB, stays in the fit (its gap and issue time
// are fitted).
TEST(HoldOut, CopiesAreRankedByTheBytesOfOneCopy) {
  MeasurementSet set;
  for (double mib : {1.0, 2.0, 4.0, 8.0}) {
    Measurement c;
    c.family = Family::kCopy;
    c.bytes = mib * 1048576;
    set.rows.push_back(c);
  }
  Measurement chain;
  chain.family = Family::kCopy;
  chain.bytes = 1048576, chain.chunks = 64;
  set.rows.push_back(chain);
  FitSettings s;
  s.holdout_largest = 0.25;
  EXPECT_EQ(held_out_rows(set, s), (std::vector<bool>{false, false, true, true, false}));
}

TEST(Fit, GemmRegressionRecoversTheLaw) {
  const auto p = fit_profile(synthetic(), synthetic_device(), no_holdout());
  // Law: 4 us + 1.25 FLOP time + 0 wave-padded FLOP time + 1.1 byte time (both dtypes).
  for (const char* dt : {"bf16", "fp8"}) {
    const auto& c = p.gemm.at(dt).coef;
    ASSERT_EQ(c.size(), 4u);
    EXPECT_NEAR(c[0], 4, 1e-4) << dt;
    EXPECT_NEAR(c[1], 1.25, 1e-5) << dt;
    EXPECT_NEAR(c[2], 0, 1e-5) << dt;
    EXPECT_NEAR(c[3], 1.1, 1e-5) << dt;
  }
}

TEST(Fit, AttentionRegressionRecoversTheLawAndPredictsExactly) {
  const auto p = fit_profile(synthetic(), synthetic_device(), no_holdout());
  ASSERT_EQ(p.prefill.configs.size(), 1u);
  const auto& c = p.prefill.configs[0];
  // Prefill law: 8 + 1.5 FLOP time + 1.2 byte time + 0.5 per sequence; other terms 0.
  const std::vector<double> want = {8, 1.5, 1.2, 0.5, 0, 0, 0};
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(c.coef[i], want[i], 1e-4) << attention_term_names(true)[i];
  EXPECT_EQ(c.kernel, "flash_varlen");
  // A shape off the grid (batch 3, 300 new after 100 cached), straight from the law.
  const double b = 3, q = 300, ctx = 100, H = 32, KV = 8, D = 128;
  const double F = 2 * b * (q * ctx + q * (q + 1) / 2) * H * 2 * D / 989.4e12 * 1e6;
  const double B = (b * (ctx + q) * 2 * KV * D * 2 + b * q * H * 2 * D * 2) / 3.35e12 * 1e6;
  const auto a = p.predict_attention(true, AttentionQuery::uniform(32, 8, 128, "bf16", false, b, q, ctx));
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->us, 8 + 1.5 * F + 1.2 * B + 0.5 * b, 1e-3);
  // Decode law: 6 + 1.3 byte time + 0.2 per sequence.
  ASSERT_EQ(p.decode.configs.size(), 1u);
  EXPECT_NEAR(p.decode.configs[0].coef[0], 6, 1e-4);
  EXPECT_NEAR(p.decode.configs[0].coef[1], 1.3, 1e-5);
  EXPECT_NEAR(p.decode.configs[0].coef[2], 0.2, 1e-5);
  EXPECT_EQ(p.decode.kernels, (std::vector<std::string>{"servesim_paged"}));
}

TEST(Fit, CollectiveCurvesReproduceAlphaBeta) {
  const auto p = fit_profile(synthetic(), synthetic_device(), no_holdout());
  // all_reduce on 2: 10 + bytes / 2e5 is linear, so the piecewise-linear curve is exact
  // between knots and along the last segment above them.
  for (double bytes : {3000.0, 5e6, 4e9}) {
    EXPECT_NEAR(p.predict_collective("all_reduce", 2, bytes, "")->us, 10 + bytes / 2e5, 1e-6 * (10 + bytes / 2e5));
  }
  EXPECT_NEAR(p.predict_collective("all_gather", 4, 1e6, "nccl")->us, 12 + 1e6 / 1e5, 1e-6);
  EXPECT_NEAR(p.predict_collective("all_reduce", 2, 10, "")->us, 10 + 1024 / 2e5, 1e-9);  // below: the floor
}

TEST(Fit, CopyChainsRecoverGapAndIssueTime) {
  const auto p = fit_profile(synthetic(), synthetic_device(), no_holdout());
  ASSERT_EQ(p.copies.size(), 1u);
  EXPECT_NEAR(p.copies[0].gap_us, 0.5, 1e-5);
  EXPECT_NEAR(p.copies[0].issue_floor_us, 4, 1e-5);
  // 64 MiB in 1 MiB chunks: one = 1 + 1048576 / 5e4; 63 more at max(one + 0.5, 4).
  const double one = 1 + 1048576 / 5e4;
  EXPECT_NEAR(p.predict_copy("h2d", true, 64.0 * 1048576, 64)->us, one + 63 * (one + 0.5), 1e-3);
}

TEST(Fit, PageMapIsMapPlusSetAccess) {
  const auto p = fit_profile(synthetic(), synthetic_device(), no_holdout());
  // 0.5 + 18 + 0.25 per MiB: 2 MiB -> 19, 8 MiB -> 20.5; 6 MiB lies between 4 and 8 MiB.
  EXPECT_NEAR(p.predict_page_map(2.0 * 1048576)->us, 19, 1e-9);
  EXPECT_NEAR(p.predict_page_map(6.0 * 1048576)->us, 18.5 + 1.5, 1e-9);
  EXPECT_EQ(p.launch["graph"]["gpu_per_kernel_us"]["100"].get<double>(), 0.81);
}

TEST(Fit, HeldOutShapesAreNotFittedAndCheckPredictsThem) {
  const auto set = synthetic();
  const FitSettings s;  // modulus 10
  const auto p = fit_profile(set, synthetic_device(), s);
  std::set<double> fitted_m;
  for (const auto& [key, line] : p.gemm.at("bf16").grid.lines())
    if (key[0] == 1024 && key[1] == 1024) fitted_m.insert(line.x.begin(), line.x.end());
  for (const auto& m : set.rows) {
    if (m.family == Family::kGemm && m.dtype == "bf16" && m.n == 1024 && m.k == 1024) {
      EXPECT_EQ(fitted_m.count(m.m) == 0, is_held_out(m, s)) << m.key();
    }
  }
  const auto rows = check_profile(p, set, s);
  std::size_t held = 0;
  for (const auto& m : set.rows) held += is_held_out(m, s) && m.family != Family::kPageMap;
  std::size_t checked = 0;
  for (const auto& r : rows) {
    if (r.diagnostic) continue;
    checked += r.n;
    // Attention follows its laws exactly (the residual grid is 1 everywhere).
    if (r.family == "attention_prefill" || r.family == "attention_decode") EXPECT_LT(r.mape, 1e-4) << r.family;
  }
  EXPECT_EQ(checked, held);
  // GEMM: the law grows with m, so a held-out point interpolated between its line's
  // neighbours lies between their measured times.
  for (const auto& m : set.rows) {
    if (m.family != Family::kGemm || !is_held_out(m, s)) continue;
    const auto& line = p.gemm.at(m.dtype).grid.lines().at({m.n, m.k});
    auto hi = std::lower_bound(line.x.begin(), line.x.end(), m.m);
    if (hi == line.x.begin() || hi == line.x.end()) continue;  // an end of the line: extrapolated
    const double lo_t = line.y[static_cast<std::size_t>(hi - line.x.begin()) - 1];
    const double hi_t = line.y[static_cast<std::size_t>(hi - line.x.begin())];
    const double pred = p.predict_gemm(m.m, m.n, m.k, m.dtype)->us;
    EXPECT_GE(pred, lo_t) << m.key();
    EXPECT_LE(pred, hi_t) << m.key();
  }
}

TEST(Fit, DeterministicProfileText) {
  const auto a = dump_profile_json(fit_profile(synthetic(), synthetic_device(), FitSettings{}).to_json());
  const auto b = dump_profile_json(fit_profile(synthetic(), synthetic_device(), FitSettings{}).to_json());
  EXPECT_EQ(sha256_hex(a), sha256_hex(b));
  EXPECT_NE(a.find("\"data_date\": \"2026-01-02T03:04:05Z\""), std::string::npos);
}

// Profile text: an object of numbers, strings and flat arrays (a GEMM line) takes one line;
// others open one line per member; integral numbers carry no fraction. It parses back equal.
TEST(Fit, ProfileTextPutsFlatObjectsOnOneLine) {
  const auto j = nlohmann::json::parse(R"({"a": {"k": 1.0, "m": [1, 2.5], "s": "x"}, "b": [{"n": 2.5}, {"c": {"d": 1}}]})");
  const std::string text = dump_profile_json(j);
  EXPECT_EQ(text,
            "{\n"
            "  \"a\": {\"k\": 1, \"m\": [1,2.5], \"s\": \"x\"},\n"
            "  \"b\": [\n"
            "    {\"n\": 2.5},\n"
            "    {\n"
            "      \"c\": {\"d\": 1}\n"
            "    }\n"
            "  ]\n"
            "}\n");
  EXPECT_EQ(nlohmann::json::parse(text), j);
}

TEST(Fit, FirstInputOwnsAGroup) {
  // The same table twice: every row of the second copy is shadowed by the first.
  MeasurementSet s;
  read_measurements(kSynthetic + "/nccl.csv", "a.csv", s);
  read_measurements(kSynthetic + "/nccl.csv", "b.csv", s);
  const auto owned = owned_rows(s);
  for (std::size_t i = 0; i < s.rows.size(); ++i) EXPECT_EQ(owned[i], s.rows[i].input == 0);
}

// Derivation: FLOP terms scale with peak, byte terms with bandwidth, latency kept.
TEST(Derive, ScalesEachTermByItsRate) {
  const auto src = fit_profile(synthetic(), synthetic_device(), no_holdout());
  DeviceSpec t = synthetic_device();
  t.name = "faster";
  for (auto& [k, v] : t.peak_dense_flops) v *= 2;
  t.hbm_bandwidth *= 4;
  t.intra_node_bandwidth *= 2;
  const auto d = derive_profile(src, "src.json", "abc", synthetic_device(), t, 1.5);
  EXPECT_EQ(d.status, "derived");
  // A measured GEMM point: law 4 + 1.25 F + 1.1 B -> 4 + 1.25 F/2 + 1.1 B/4.
  const double m = 256, n = 4096, k = 4096;
  const double F = 2 * m * n * k / 989.4e12 * 1e6, B = (k * n * 2 + m * k * 2 + m * n * 2) / 3.35e12 * 1e6;
  EXPECT_NEAR(d.predict_gemm(m, n, k, "bf16")->us, 4 + 1.25 * F / 2 + 1.1 * B / 4, 1e-3);
  // Collective: the latency floor (knot at 1 KiB) stays, the rest halves.
  const double floor = 10 + 1024 / 2e5, at = 10 + 4194304 / 2e5;
  EXPECT_NEAR(d.predict_collective("all_reduce", 2, 4194304, "")->us, floor + (at - floor) / 2, 1e-6 * at);
  // Page mapping is a host call: times cpu_scale.
  EXPECT_NEAR(d.predict_page_map(2.0 * 1048576)->us, 19 * 1.5, 1e-9);
  EXPECT_EQ(d.derived_from["device"], "synthetic_h100");
}

// A collective's latency floor (its per-step latency, spent in NCCL's kernels) scales with
// the SM boost clocks: A100 1410 MHz -> H100 1980 MHz, 1410/1980 of the floor; the rest by the
// link peaks (450 -> 900 GB/s: half).
TEST(Derive, CollectiveLatencyFloorScalesWithTheSmClock) {
  DeviceSpec s = synthetic_device(), t = synthetic_device();
  t.intra_node_bandwidth = 2 * s.intra_node_bandwidth;
  EXPECT_DOUBLE_EQ(collective_latency_ratio(s, t), 1.0);  // clocks unknown: kept
  s.boost_clock_hz = 1.41e9;
  EXPECT_DOUBLE_EQ(collective_latency_ratio(s, t), 1.0);
  t.boost_clock_hz = 1.98e9;
  EXPECT_DOUBLE_EQ(collective_latency_ratio(s, t), 1.41 / 1.98);
  const auto src = fit_profile(synthetic(), s, no_holdout());
  const auto d = derive_profile(src, "src.json", "abc", s, t, 1.0);
  const double floor = 10 + 1024 / 2e5, at = 10 + 4194304 / 2e5;
  EXPECT_NEAR(d.predict_collective("all_reduce", 2, 1024, "")->us, floor * 1.41 / 1.98, 1e-6 * floor);
  EXPECT_NEAR(d.predict_collective("all_reduce", 2, 4194304, "")->us, floor * 1.41 / 1.98 + (at - floor) / 2, 1e-6 * at);
  EXPECT_DOUBLE_EQ(d.derived_from["collective_latency_scale"].get<double>(), 1.41 / 1.98);
}

// Collectives scale by the achieved all-reduce bus bandwidth when both devices have one
// (source 200 GB/s, target 450 GB/s: the bandwidth part takes 200/450 of its time), by the
// link peaks otherwise (one missing: 300/600 = 1/2, as if both reached the same share).
TEST(Derive, CollectivesScaleByAchievedBusBandwidthWhereBothAreMeasured) {
  DeviceSpec s = synthetic_device(), t = synthetic_device();
  s.intra_node_bandwidth = 300e9;
  t.intra_node_bandwidth = 600e9;
  EXPECT_DOUBLE_EQ(collective_bandwidth_ratio(s, t), 0.5);
  s.achievable_allreduce_busbw = 200e9;
  EXPECT_DOUBLE_EQ(collective_bandwidth_ratio(s, t), 0.5);
  t.achievable_allreduce_busbw = 450e9;
  EXPECT_DOUBLE_EQ(collective_bandwidth_ratio(s, t), 200.0 / 450.0);
  const auto src = fit_profile(synthetic(), s, no_holdout());
  const auto d = derive_profile(src, "src.json", "abc", s, t, 1.0);
  const double floor = 10 + 1024 / 2e5, at = 10 + 4194304 / 2e5;
  EXPECT_NEAR(d.predict_collective("all_reduce", 2, 4194304, "")->us, floor + (at - floor) * 200.0 / 450.0, 1e-6 * at);
}

// Derived points keep every order the source measured between neighbours one axis step apart:
// (1,1,1) -> (2,1,1) measured 10 -> 10 but scaled 9 -> 8: the larger raised to 9; (2,1,1) ->
// (2,2,1) measured 10 -> 9 (the source's own dip): kept at 7; (4,1,1) -> (4,2,1) measured
// 12 -> 13 but scaled 11 -> 8.5: raised to 11 (along the second axis, after the first).
TEST(Derive, ScaledPointsKeepEveryOrderTheSourceMeasured) {
  const std::vector<std::array<double, 3>> at = {{1, 1, 1}, {2, 1, 1}, {4, 1, 1}, {2, 2, 1}, {4, 2, 1}};
  const std::vector<double> src = {10, 10, 12, 9, 13};
  std::vector<double> d = {9, 8, 11, 7, 8.5};
  keep_source_order(at, src, d);
  EXPECT_EQ(d, (std::vector<double>{9, 9, 11, 7, 11}));
}

// A GEMM's residual (measured / regression) is the kernels' tile choice and wave quantisation:
// it carries over between chips of one layout (architecture and SM count) and is dropped
// across layouts. Source points made 1.3x the synthetic law 4 + 1.25 F + 1.1 B; a target with
// twice the peak and four times the bandwidth. On one layout the rate-independent term (the
// 4 us latency) stays and the rest of the measured time moves as the rate-dependent terms do:
// 4 + (1.3 (4 + V) - 4) V' / V, V = 1.25 F + 1.1 B at the source's rates, V' at the target's.
TEST(Derive, GemmResidualsCarryOverOnlyBetweenChipsOfOneLayout) {
  DeviceSpec s = synthetic_device();
  s.arch = "hopper";
  auto src = fit_profile(synthetic(), s, no_holdout());
  for (auto& [dt, g] : src.gemm) {
    FittedProfile::GemmFit scaled;
    scaled.coef = g.coef;
    for (const auto& [key, line] : g.grid.lines())
      for (std::size_t i = 0; i < line.x.size(); ++i) scaled.grid.add(key, line.x[i], 1.3 * line.y[i]);
    g = std::move(scaled);
  }
  src.finalize();
  DeviceSpec t = s;
  t.name = "faster";
  for (auto& [k, v] : t.peak_dense_flops) v *= 2;
  t.hbm_bandwidth *= 4;
  const double m = 256, n = 4096, k = 4096;
  const double F = 2 * m * n * k / 989.4e12 * 1e6, B = (k * n * 2 + m * k * 2 + m * n * 2) / 3.35e12 * 1e6;
  const double law_t = 4 + 1.25 * F / 2 + 1.1 * B / 4;
  const double v = 1.25 * F + 1.1 * B, v_t = 1.25 * F / 2 + 1.1 * B / 4;
  ASSERT_NEAR(src.predict_gemm(m, n, k, "bf16")->us, 1.3 * (4 + v), 1e-3);
  EXPECT_TRUE(gemm_residuals_transfer(s, t));
  EXPECT_NEAR(derive_profile(src, "src.json", "abc", s, t, 1.0).predict_gemm(m, n, k, "bf16")->us, 4 + (1.3 * (4 + v) - 4) * v_t / v, 1e-3);
  DeviceSpec other_arch = t, other_sms = t;
  other_arch.arch = "ampere";
  other_sms.sm_count = 108;
  for (const DeviceSpec& u : {other_arch, other_sms}) {
    EXPECT_FALSE(gemm_residuals_transfer(s, u));
    EXPECT_NEAR(derive_profile(src, "src.json", "abc", s, u, 1.0).predict_gemm(m, n, k, "bf16")->us, law_t, 1e-3);
  }
}

}  // namespace
}  // namespace servesim::calib
