// `calibrate power` fitting (sim/calibrate/power_fit.h) on rows generated from known
// coefficients: engine idle 100 W, 1 pJ per bf16 FLOP, 100 pJ per HBM byte.
#include <gtest/gtest.h>

#include "sim/calibrate/power_fit.h"
#include "sim/core/error.h"
#include "tests/cost/test_helpers.h"

namespace servesim::calib {
namespace {

// P = 100 + 1e-12 * FLOP/s + 100e-12 * byte/s, each row worked out:
//   gemm_a: 1e12 FLOP, 4e8 B in 2000 us -> 500 + 20 W -> 620 W (power-capped at 1500 MHz)
//   gemm_b: 2e12 FLOP, 1e9 B in 5000 us -> 400 + 20 W -> 520 W (power-capped at 1500 MHz)
//   copy:   8e9 B in 2000 us -> 400 W -> 500 W
//   skinny: 1e10 FLOP, 5e8 B in 125 us -> 80 + 400 W -> 580 W
//   gemm_a with zero data at 1800 MHz: not fitted (data-dependent power), clock check only.
const char* kCsv =
    "# gpu: synthetic\n"
    "workload,kind,shape,dtype,data,flops,bytes,iters,time_per_iter_us,tflops,gbs,power_mean_w,power_p10_w,power_p90_w,"
    "sm_clock_mean_mhz,mem_clock_mhz,throttle_reasons,samples\n"
    "idle,idle,,,,0,0,0,0,0,0,100,100,100,1980,3201,0x0,10\n"
    "gemm_a,gemm,x,bf16,random,1000000000000,400000000,10,2000,0,0,620,0,0,1500,3201,0x4,10\n"
    "gemm_b,gemm,x,bf16,random,2000000000000,1000000000,10,5000,0,0,520,0,0,1500,3201,0x4,10\n"
    "copy,copy,x,bf16,random,0,8000000000,10,2000,0,0,500,0,0,1980,3201,0x0,10\n"
    "skinny,skinny_gemm,x,bf16,random,10000000000,500000000,10,125,0,0,580,0,0,1980,3201,0x0,10\n"
    "gemm_a,gemm,x,bf16,zeros,1000000000000,400000000,10,1700,0,0,400,0,0,1800,3201,0x4,10\n";

DeviceSpec device() {
  DeviceSpec d = servesim::testing::round_device();
  d.hbm_bandwidth = 5e12;
  d.l2_capacity = 0;
  d.boost_clock_hz = 1980e6;
  return d;
}

TEST(PowerFit, RecoversTheCoefficientsRowsWereMadeFrom) {
  const PowerFit f = fit_power(CsvTable::parse(kCsv, "synthetic.csv"), device());
  EXPECT_DOUBLE_EQ(f.engine_idle_w, 100.0);
  ASSERT_EQ(f.energy_per_flop.count("bf16"), 1u);
  EXPECT_NEAR(f.energy_per_flop.at("bf16"), 1e-12, 1e-15);
  EXPECT_NEAR(f.energy_per_byte, 100e-12, 1e-13);
  EXPECT_NEAR(f.fit_mean_abs_error, 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(f.power_limited_clock_hz, 1500e6);  // mean clock of the capped GEMMs
}

TEST(PowerFit, HoldsOutDecodeLikeRowsAndCopies) {
  const PowerFit f = fit_power(CsvTable::parse(kCsv, "synthetic.csv"), device());
  int held = 0;
  for (const auto& r : f.rows) {
    if (r.kind == "skinny_gemm" || r.kind == "copy") {
      EXPECT_GT(r.held_out_w, 0.0) << r.workload;
      ++held;
    }
  }
  EXPECT_EQ(held, 2);
  // Exact data: the fits without either group still recover the same coefficients.
  EXPECT_NEAR(f.held_out_mean_abs_error, 0.0, 1e-6);
}

TEST(PowerFit, ZeroDataRowsAreNotFittedButCheckTheClockRule) {
  const PowerFit f = fit_power(CsvTable::parse(kCsv, "synthetic.csv"), device());
  ASSERT_EQ(f.clock_checks.size(), 1u);
  // rc = 1e12 / 1e15 = 1 ms, rm = 4e8 / 5e12 = 0.08 ms, rho = 1 / 1.08; predicted ratio
  // 1 - rho + rho * 1800 / 1500 = 1.18519; measured 2000 / 1700 = 1.17647.
  EXPECT_NEAR(f.clock_checks[0].predicted_ratio, 1.0 - 1.0 / 1.08 + (1.0 / 1.08) * 1.2, 1e-9);
  EXPECT_NEAR(f.clock_checks[0].measured_ratio, 2000.0 / 1700.0, 1e-9);
}

TEST(PowerFit, ATableWithoutIdleRowsIsAnInputError) {
  const std::string csv = std::string(kCsv).substr(0, std::string(kCsv).find("idle,idle"));
  EXPECT_THROW(fit_power(CsvTable::parse(csv + "copy,copy,x,bf16,random,0,8000000000,10,2000,0,0,500,0,0,1980,3201,0x0,10\n",
                                         "synthetic.csv"),
                         device()),
               InputError);
}

TEST(PowerFit, BadThrottleReasonsNameTheCell) {
  std::string csv = kCsv;
  csv.replace(csv.find("0x4"), 3, "zz");
  try {
    (void)fit_power(CsvTable::parse(csv, "synthetic.csv"), device());
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("synthetic.csv:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("zz"), std::string::npos) << e.what();
  }
}

TEST(PowerFit, TheH200ProfileHoldsTheFitOfItsCommittedMeasurement) {
  // hardware_profiles/devices/h200_sxm.json's "power" numbers must be what
  // `servesim calibrate power` fits from calibration/data/h200/power.csv (as rounded there).
  const std::string data = SERVESIM_DATA_DIR;
  const DeviceSpec h200 = load_device("h200_sxm", data, "test");
  const PowerFit f = fit_power(CsvTable::read(data + "/calibration/data/h200/power.csv"), h200);
  EXPECT_NEAR(f.engine_idle_w, *h200.engine_idle_w, 0.05);
  EXPECT_NEAR(f.energy_per_flop.at("bf16"), h200.energy_per_flop.at("bf16"), 0.0005e-12);
  EXPECT_NEAR(f.energy_per_flop.at("fp8"), h200.energy_per_flop.at("fp8"), 0.0005e-12);
  EXPECT_NEAR(f.energy_per_byte, *h200.energy_per_byte, 0.05e-12);
  EXPECT_NEAR(f.power_limited_clock_hz, *h200.power_limited_clock_hz, 0.5e6);
}

}  // namespace
}  // namespace servesim::calib
