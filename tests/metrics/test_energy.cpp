// Energy and money outputs (sim/metrics/energy.h), worked by hand.
#include <gtest/gtest.h>

#include "sim/hardware/device_spec.h"
#include "sim/metrics/energy.h"

namespace servesim {
namespace {

TEST(Energy, AReplicaDrawsEngineIdleAllTheTimePlusItsKernelsEnergy) {
  PowerCoefficients c;
  c.engine_idle_w = 100;
  // 2 GPUs x (100 W x 10 s + 1e9 nJ = 1 J) = 2 x 1001 J.
  EXPECT_DOUBLE_EQ(replica_energy_j(c, 2, 1'000'000'000, from_seconds(10.0)), 2002.0);
}

TEST(Energy, PeakIntervalPowerSumsTheReplicasIncrementsOverTheInterval) {
  // Two replicas sampled at 0, 1 s, 3 s: increments (50 + 70) J over 1 s = 120 W, then
  // (100 + 200) J over 2 s = 150 W: the peak is 150 W.
  std::vector<TimeSample> s(6);
  const double e[6] = {0, 0, 50, 70, 150, 270};
  const double t[6] = {0, 0, 1, 1, 3, 3};
  for (int i = 0; i < 6; ++i) {
    s[i].time = from_seconds(t[i]);
    s[i].replica = i % 2;
    s[i].energy_j = e[i];
  }
  EXPECT_DOUBLE_EQ(peak_interval_power_w(s), 150.0);
}

// Node power: the h100_sxm profile's power.node_overhead_per_gpu is 575 W ((10.2 kW DGX
// maximum - 8 x 700 W) / 8). One replica of 2 GPUs over 10 s adds 2 x 575 W x 10 s =
// 11,500 J to the GPUs' energy. A pool on b200 (no system figure) makes it unavailable.
TEST(Energy, NodePowerAddsEachGpusShareOfTheNodesNonGpuPower) {
  const DeviceSpec h100 = load_device("h100_sxm", SERVESIM_DATA_DIR, "test");
  const PowerModel pm(h100, power_coefficients(h100, 0, "test"));
  const std::vector<ReplicaEnergyInput> replicas = {{0, 2, 5'000'000'000, -1}};
  const auto e = energy_summary({{"default", &pm}}, replicas, from_seconds(10.0), 1000, 10, 0);
  ASSERT_TRUE(e["node"]["available"].get<bool>()) << e["node"].dump();
  EXPECT_NEAR(e["node"]["total_j"].get<double>() - e["total_j"].get<double>(), 11'500.0, 1e-6);
  EXPECT_NEAR(e["node"]["mean_power_w"].get<double>(), e["mean_power_w"].get<double>() + 1150.0, 1e-9);

  const DeviceSpec b200 = load_device("b200", SERVESIM_DATA_DIR, "test");
  const PowerModel pb(b200, power_coefficients(b200, 0, "test"));
  const auto f = energy_summary({{"default", &pm}, {"blackwell", &pb}}, {{0, 2, 0, -1}, {1, 8, 0, -1}}, from_seconds(10.0), 1000, 10, 0);
  EXPECT_FALSE(f["node"]["available"].get<bool>());
  EXPECT_NE(f["node"]["reason"].get<std::string>().find("blackwell"), std::string::npos);
}

TEST(Cost, PriceArithmeticFromTheCommittedPriceList) {
  // prices.json: h100_sxm on demand $3.20 per GPU-hour. 8 GPUs for one hour = $25.60;
  // 2M output tokens -> $12.80 per million; 1000 requests -> $0.0256 each.
  const PriceBook prices = PriceBook::load(SERVESIM_DATA_DIR);
  const nlohmann::json c = cost_summary(prices, {{"h100_sxm", 8, std::nullopt}}, from_seconds(3600.0), 2'000'000, 1000);
  ASSERT_TRUE(c["available"].get<bool>());
  EXPECT_DOUBLE_EQ(c["usd_per_hour"].get<double>(), 25.6);
  EXPECT_NEAR(c["run_usd"].get<double>(), 25.6, 1e-12);
  EXPECT_NEAR(c["usd_per_million_output_tokens"].get<double>(), 12.8, 1e-12);
  EXPECT_NEAR(c["usd_per_request"].get<double>(), 0.0256, 1e-15);
}

TEST(Cost, ADeviceWithoutAPriceSaysSoInsteadOfInventingOne) {
  // gh200_144gb has no published price in prices.json.
  const PriceBook prices = PriceBook::load(SERVESIM_DATA_DIR);
  const nlohmann::json c = cost_summary(prices, {{"gh200_144gb", 1, std::nullopt}}, from_seconds(60.0), 100, 1);
  EXPECT_FALSE(c["available"].get<bool>());
  EXPECT_NE(c["reason"].get<std::string>().find("gh200_144gb"), std::string::npos);
}

}  // namespace
}  // namespace servesim
