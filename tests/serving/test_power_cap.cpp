// POLCA-style power capping (sim/serving/power_cap.h): the controller worked by hand, and a
// cap that never triggers changing nothing.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/report/output.h"
#include "sim/serving/power_cap.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

// Budget 1000 W, cap above 0.9 x budget, lift below 0.5 x budget. One replica's energy
// 0, 950, 1750, 2150 J at 0, 1, 2, 3 s: interval powers 950 W (> 900: cap), 800 W (stays
// capped, not < 500), 400 W (< 500: lift). Capped from 1 s to 3 s: 2 of 4 s at the end.
// Budget 1000 W, cap 400 W, thresholds 0.9 and 0.5 of the budget; `first` capped first.
PowerCapConfig hand_config(std::vector<std::string> first = {}) {
  PowerCapConfig c;
  c.budget_w = 1000;
  c.cap_w = 400;
  c.high = 0.9;
  c.low = 0.5;
  c.first = std::move(first);
  return c;
}

TEST(PowerCap, CapsAboveHighAndLiftsBelowLowWithHysteresis) {
  PowerCapController pc(hand_config());
  EXPECT_FALSE(pc.on_sample(0, {0.0}));
  EXPECT_TRUE(pc.on_sample(from_seconds(1.0), {950.0}));
  EXPECT_EQ(pc.level(), 2);
  EXPECT_FALSE(pc.on_sample(from_seconds(2.0), {1750.0}));
  EXPECT_EQ(pc.level(), 2);
  EXPECT_TRUE(pc.on_sample(from_seconds(3.0), {2150.0}));
  EXPECT_EQ(pc.level(), 0);
  const json s = pc.summary(from_seconds(4.0));
  EXPECT_DOUBLE_EQ(s["capped_fraction"].get<double>(), 0.5);
  EXPECT_EQ(s["cap_events"], 1);
  EXPECT_EQ(s["intervals"], 3);
  EXPECT_EQ(s["intervals_over_budget"], 0);  // 950 W at most
  EXPECT_DOUBLE_EQ(s["peak_interval_power_w"].get<double>(), 950.0);
}

// Priority-aware: pool "batch" capped first. Budget 1000 W, high 0.9, low 0.5; interval
// powers 950 (> 900: level 1, batch only), 950 (level 2, everyone), 400 (< 500: back to
// level 1), 400 (level 0). Capped (any level) from 1 s to 4 s.
TEST(PowerCap, PriorityAwareCapsTheFirstPoolsBeforeTheOthers) {
  PowerCapController pc(hand_config({"batch"}));
  pc.on_sample(0, {0.0});
  EXPECT_TRUE(pc.on_sample(from_seconds(1.0), {950.0}));
  EXPECT_TRUE(pc.caps("batch"));
  EXPECT_FALSE(pc.caps("chat"));
  EXPECT_TRUE(pc.on_sample(from_seconds(2.0), {1900.0}));
  EXPECT_TRUE(pc.caps("chat"));
  EXPECT_TRUE(pc.on_sample(from_seconds(3.0), {2300.0}));
  EXPECT_TRUE(pc.caps("batch"));
  EXPECT_FALSE(pc.caps("chat"));
  EXPECT_TRUE(pc.on_sample(from_seconds(4.0), {2700.0}));
  EXPECT_FALSE(pc.caps("batch"));
  const json s = pc.summary(from_seconds(5.0));
  EXPECT_DOUBLE_EQ(s["capped_fraction"].get<double>(), 3.0 / 5.0);
  EXPECT_EQ(s["cap_events"], 1);
}

json small(const std::string& budget) {
  json s = json::parse(default_scenario_text());
  s["workload"]["duration"] = "30s";
  s["power_cap"] = {{"budget", budget}, {"cap", "400W"}};
  return s;
}

TEST(PowerCap, ABudgetNeverReachedChangesNoResult) {
  // One H100 draws at most 700 W: a 10 kW budget never caps.
  const SimResult capped = Simulation(small("10kW"), SimOptions{}).run();
  json plain_s = small("10kW");
  plain_s.erase("power_cap");
  const SimResult plain = Simulation(plain_s, SimOptions{}).run();
  EXPECT_EQ(capped.summary["power_cap"]["cap_events"], 0);
  json a = capped.summary, b = plain.summary;
  a.erase("power_cap");
  EXPECT_EQ(a.dump(), b.dump());
  EXPECT_EQ(requests_csv(capped), requests_csv(plain));
}

TEST(PowerCap, ABudgetBelowEngineIdleCapsFromTheFirstIntervalAndSlowsDecode) {
  // The H100's engine-idle power alone exceeds a 100 W budget: the first interval's power
  // caps every GPU at 400 W for the rest of the run (never below low x budget again), so
  // power-limited kernels slow down.
  const SimResult capped = Simulation(small("100W"), SimOptions{}).run();
  json plain_s = small("100W");
  plain_s.erase("power_cap");
  const SimResult plain = Simulation(plain_s, SimOptions{}).run();
  const json& pc = capped.summary["power_cap"];
  EXPECT_EQ(pc["cap_events"], 1);
  EXPECT_GT(pc["capped_fraction"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(pc["oversubscription"].get<double>(), 700.0 / 100.0 - 1.0);  // one H100 (700 W TDP), 100 W
  EXPECT_GT(capped.summary["tpot_s"]["p50"].get<double>(), plain.summary["tpot_s"]["p50"].get<double>());
}

TEST(PowerCap, ABudgetWithoutACapIsAnInputError) {
  json s = small("1kW");
  s["power_cap"].erase("cap");
  try {
    Simulation(s, SimOptions{});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("power_cap.cap"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace servesim
