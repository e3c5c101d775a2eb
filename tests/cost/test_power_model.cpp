// Power model rules (sim/cost/power_model.h), each worked by hand on a device with round
// numbers: TDP 700 W, engine idle 120 W, 1 pJ per bf16 FLOP, 100 pJ per HBM byte,
// 1000 TFLOP/s bf16, 5 TB/s, clocks 2000 (boost) and 1500 MHz (power-limited at TDP).
#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "sim/cost/power_model.h"
#include "sim/hardware/device_spec.h"
#include "tests/cost/test_helpers.h"

namespace servesim {
namespace {

DeviceSpec power_device() {
  DeviceSpec d = testing::round_device();
  d.name = "power_dev";
  d.hbm_bandwidth = 5e12;
  d.boost_clock_hz = 2000e6;
  d.tdp_w = 700;
  d.idle_w = 80;
  d.engine_idle_w = 120;
  d.energy_per_flop = {{"bf16", 1e-12}};
  d.energy_per_byte = 100e-12;
  d.power_limited_clock_hz = 1500e6;
  return d;
}

Operator gemm8192() {
  Operator op;
  op.cls = OpClass::kGemm;
  op.gemm = GemmShape{8192, 8192, 8192, 1, DType::kBf16};
  return op;
}

Operator stream(double bytes) {
  Operator op;
  op.cls = OpClass::kElementwise;
  op.bytes = bytes;
  return op;
}

// 8192^3 GEMM: 2 * 8192^3 = 1.0995e12 FLOP -> 1.0995 J; bytes = weights 8192^2 * 2 + input
// and output 2 * 8192^2 * 2 = 402,653,184 B -> 0.0403 J; E = 1.1397 J.
constexpr double kGemmJ = 2.0 * 8192.0 * 8192.0 * 8192.0 * 1e-12 + 3.0 * 8192.0 * 8192.0 * 2.0 * 100e-12;

TEST(PowerModel, DynamicEnergyIsFlopsAndBytesTimesTheirEnergy) {
  const DeviceSpec d = power_device();
  const PowerModel m(d, power_coefficients(d, 0, "test"));
  const auto r = m.apply(gemm8192(), from_seconds(1.65e-3));
  EXPECT_NEAR(r.joules, 1.1397, 1e-4);
  EXPECT_NEAR(r.joules, kGemmJ, 1e-12);
  EXPECT_EQ(r.ns, from_seconds(1.65e-3));  // at TDP every time is the cost model's
}

TEST(PowerModel, ACapSlowsAPowerLimitedGemmToItsEnergyOverTheDynamicBudget) {
  const DeviceSpec d = power_device();
  const PowerModel m(d, power_coefficients(d, 400, "test"));
  // Under 400 W: t' = E / (400 - 120) = 1.1397 / 280 = 4.0704 ms (it drew 811 W in 1.65 ms).
  const auto r = m.apply(gemm8192(), from_seconds(1.65e-3));
  EXPECT_NEAR(to_seconds(r.ns), kGemmJ / 280.0, 1e-9);
  EXPECT_NEAR(to_seconds(r.ns), 4.0704e-3, 1e-6);
  EXPECT_NEAR(r.joules, kGemmJ, 1e-12);  // the same work costs the same energy
}

TEST(PowerModel, AKernelWithinTheLimitKeepsItsTime) {
  const DeviceSpec d = power_device();
  const PowerModel m(d, power_coefficients(d, 400, "test"));
  // 1 GB streamed in 0.5 ms: 0.1 J -> 120 + 200 W = 320 W, under 400 W: unchanged.
  const auto r = m.apply(stream(1e9), from_seconds(0.5e-3));
  EXPECT_EQ(r.ns, from_seconds(0.5e-3));
  EXPECT_NEAR(r.joules, 0.1, 1e-12);
}

TEST(PowerModel, AMemoryBoundKernelAboveTheLimitIsSlowedByItsExcessPower) {
  const DeviceSpec d = power_device();
  const PowerModel m(d, power_coefficients(d, 400, "test"));
  // 1 GB streamed in 0.25 ms: 0.1 J -> 520 W; under 400 W: 0.1 J / 280 W = 0.357 ms.
  const auto r = m.apply(stream(1e9), from_seconds(0.25e-3));
  EXPECT_NEAR(to_seconds(r.ns), 0.1 / 280.0, 1e-9);
}

TEST(PowerModel, AHigherLimitSpeedsAPowerLimitedKernelUpToTheFullClock) {
  const DeviceSpec d = power_device();
  const PowerModel m(d, power_coefficients(d, 1000, "test"));
  // Energy bound E / 880 = 1.2951 ms; full clock 1.65 ms * (1 - rho + rho * 1500/2000) =
  // 1.2657 ms; the kernel takes the longer, 1.2951 ms.
  const auto r = m.apply(gemm8192(), from_seconds(1.65e-3));
  EXPECT_NEAR(to_seconds(r.ns), kGemmJ / 880.0, 1e-9);
  // A kernel far below the TDP at 700 W (0.1 J in 1 ms: 220 W) is unchanged.
  const auto s = m.apply(stream(1e9), from_seconds(1e-3));
  EXPECT_EQ(s.ns, from_seconds(1e-3));
}

TEST(PowerModel, ALimitBelowEngineIdleIsAnInputError) {
  const DeviceSpec d = power_device();
  EXPECT_THROW(power_coefficients(d, 100, "pools[0].engine.power_limit"), InputError);
}

TEST(PowerModel, OtherDtypesDrawTheSamePowerAtTheirPeakRate) {
  // fp8 peak 2e15 against bf16 1e15: derived 0.5 pJ per fp8 FLOP.
  const DeviceSpec d = power_device();
  const PowerCoefficients c = power_coefficients(d, 0, "test");
  EXPECT_NEAR(c.energy_per_flop[static_cast<std::size_t>(DType::kFp8)], 0.5e-12, 1e-18);
}

TEST(PowerModel, DerivedRulesReproduceTheMeasuredH200) {
  // The derivation constants were read off the H200 measurement: applied to the H200
  // profile without its measured coefficients they must give those coefficients back.
  const DeviceSpec measured = load_device("h200_sxm", SERVESIM_DATA_DIR, "test");
  ASSERT_TRUE(measured.engine_idle_w && measured.energy_per_byte && measured.energy_per_flop.count("bf16"));
  DeviceSpec bare = measured;
  bare.engine_idle_w.reset();
  bare.energy_per_flop.clear();
  bare.energy_per_byte.reset();
  bare.power_limited_clock_hz.reset();
  const PowerCoefficients m = power_coefficients(measured, 0, "test"), b = power_coefficients(bare, 0, "test");
  EXPECT_TRUE(m.measured);
  EXPECT_FALSE(b.measured);
  const auto bf16 = static_cast<std::size_t>(DType::kBf16);
  EXPECT_NEAR(b.engine_idle_w / m.engine_idle_w, 1.0, 0.02);
  EXPECT_NEAR(b.energy_per_flop[bf16] / m.energy_per_flop[bf16], 1.0, 0.02);
  EXPECT_NEAR(b.energy_per_byte / m.energy_per_byte, 1.0, 0.02);
  EXPECT_NEAR(b.f_pl_hz / m.f_pl_hz, 1.0, 0.02);
}

}  // namespace
}  // namespace servesim
