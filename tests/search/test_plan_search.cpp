// Plan search (sim/search/plan_*): the rate search against a queueing bound worked out by
// hand, memory rejection, prices, the no-plan answer, thread-count independence and the
// early-stop shortcut's invisibility.
#include <gtest/gtest.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/search/plan_config.h"
#include "sim/search/plan_eval.h"
#include "sim/search/plan_output.h"
#include "sim/search/plan_search.h"
#include "sim/cost/power_model.h"
#include "sim/serving/catalog.h"
#include "sim/serving/scenario_config.h"
#include "sim/serving/simulation.h"

namespace servesim::search {
namespace {

std::shared_ptr<Catalog> catalog() { return std::make_shared<Catalog>(SERVESIM_DATA_DIR); }
PriceBook prices() { return PriceBook::load(SERVESIM_DATA_DIR); }

// A small plan: Llama-3.1-8B, fixed short requests, one device.
nlohmann::json small_plan() {
  return nlohmann::json::parse(R"({
    "name": "t", "seed": 7, "model": "Llama-3.1-8B", "target_rate": 5,
    "traffic": {"arrival": "poisson", "prompt": {"dist": "fixed", "value": 256}, "output": {"dist": "fixed", "value": 16}},
    "slo": {"ttft": "500ms", "tpot": "50ms"},
    "candidates": {"devices": ["h100_sxm"], "replicas": [1, 2]},
    "search": {"requests": 80, "short_requests": 30, "tolerance": 0.1, "min_duration": "5s"}
  })");
}

TEST(PlanSearch, CertainMissCountIsTheRankRule) {
  // n = 100, p99: rank = 0.99 * 99 = 98.01; both interpolation points (x[98], x[99]) miss
  // only when the top 2 miss: 100 - floor(98.01) = 2.
  EXPECT_EQ(certain_miss_count(100, 99), 2);
  // n = 11, p50: rank 5 exactly; x[5] misses when the top 6 do: 11 - 5 = 6.
  EXPECT_EQ(certain_miss_count(11, 50), 6);
}

TEST(PlanSearch, EnumeratesTheProductWithReplicasInnermost) {
  nlohmann::json j = small_plan();
  j["candidates"]["tp"] = {1, 2};
  j["candidates"]["disaggregation"] = {"colocated", "1:2"};
  const auto cands = enumerate_candidates(parse_plan(j, "plan.json"));
  // 1 device x 2 splits x 2 tp x 2 replica counts = 8; groups of 2 (replicas 1, 2).
  ASSERT_EQ(cands.size(), 8u);
  EXPECT_EQ(cands[1].replicas, 2);
  EXPECT_EQ(cands[1].group, cands[0].group);
  EXPECT_NE(cands[2].group, cands[1].group);
  // Disaggregated 1:2 at tp 2 with 2 units: 2 * (1 + 2) * 2 = 12 GPUs.
  EXPECT_EQ(cands[7].split.name(), "1:2");
  EXPECT_EQ(cands[7].gpus(), 12);
}

// The hand-checkable case. Every request has a fixed prompt and one output token, and a
// replica runs one sequence per step (max_num_seqs 1): a single server with a fixed service
// time S (the TTFT of a request alone). Arrivals are almost evenly spaced (gamma, cv 0.001).
// Below 1/S nobody waits (D/D/1): TTFT = S <= 1.5 S, the SLO holds. Above 1/S request i
// waits about i (S - 1/lambda); with 200 requests p99 TTFT <= 1.5 S needs
// S - 1/lambda <= 0.5 S / (0.99 * 199), i.e. lambda <= 1.0026 / S. So the search, with
// tolerance 2%, must land in [1/S / 1.02^2, 1.0026/S] (a failed confirmation steps down
// by 1 + 4 * tolerance at most once more before bisecting back).
TEST(PlanSearch, SingleServerMaxRateIsOneOverServiceTime) {
  nlohmann::json j = small_plan();
  j["traffic"] = {{"arrival", "gamma"}, {"cv", 0.001}, {"prompt", {{"dist", "fixed"}, {"value", 2048}}},
                  {"output", {{"dist", "fixed"}, {"value", 1}}}};
  j["candidates"] = {{"devices", {"h100_sxm"}}, {"max_num_seqs", {1}}, {"max_num_batched_tokens", {2048}}};
  j["search"] = {{"requests", 200}, {"short_requests", 0}, {"tolerance", 0.02}, {"early_stop", false}, {"min_duration", 0}};
  // S: the TTFT of one request alone (a rate so low nothing overlaps).
  PlanConfig probe_plan = parse_plan(j, "plan.json");
  const Candidate c = enumerate_candidates(probe_plan).front();
  probe_plan.slo.targets = {{"ttft", from_seconds(1000), 100}};
  const RunOutcome alone = simulate_and_judge(candidate_scenario(probe_plan, c, 0.001, 1, 0), 0.001, 1, probe_plan.slo, false,
                                              catalog(), "probe", {});
  const double s = alone.values.at(0);
  ASSERT_GT(s, 0);
  j["slo"] = {{"ttft", 1.5 * s}};
  j["target_rate"] = 0.5 / s;
  const PlanConfig plan = parse_plan(j, "plan.json");
  const PlanResult r = run_plan_search(plan, prices(), catalog(), {1, {}, {}});
  ASSERT_EQ(r.candidates.size(), 1u);
  EXPECT_GE(r.candidates[0].max_rate, 1 / s / (1.02 * 1.02));
  EXPECT_LE(r.candidates[0].max_rate, 1.0026 / s);
}

TEST(PlanSearch, ModelThatDoesNotFitIsRejectedWithoutSimulating) {
  nlohmann::json j = small_plan();
  j["model"] = "Llama-3.1-70B";  // ~141 GB of bf16 weights on one 40 GB A100
  j["candidates"] = {{"devices", {"a100_sxm4_40gb"}}, {"tp", {1}}};
  const PlanResult r = run_plan_search(parse_plan(j, "plan.json"), prices(), catalog(), {1, {}, {}});
  ASSERT_EQ(r.candidates.size(), 1u);
  EXPECT_FALSE(r.candidates[0].fits);
  EXPECT_NE(r.candidates[0].reason.find("does not fit"), std::string::npos) << r.candidates[0].reason;
  EXPECT_EQ(r.simulations, 0);
}

TEST(PlanSearch, DeviceWithoutPriceIsAnInputError) {
  nlohmann::json j = small_plan();
  j["candidates"]["devices"] = {"h100_sxm", "mi325x"};  // prices.json: mi325x has no published price
  try {
    run_plan_search(parse_plan(j, "plan.json"), prices(), catalog(), {1, {}, {}});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("candidates.devices[1]"), std::string::npos) << m;
    EXPECT_NE(m.find("no on_demand price for device mi325x"), std::string::npos) << m;
  }
}

TEST(PlanSearch, NoCandidateMeetingTheSloNamesTheClosest) {
  nlohmann::json j = small_plan();
  j["slo"] = {{"ttft", "1ms"}};  // below any prefill of 256 tokens on an H100
  PlanConfig plan = parse_plan(j, "plan.json");
  PlanResult r = run_plan_search(plan, prices(), catalog(), {1, {}, {}});
  rank_plans(plan, r);
  EXPECT_TRUE(r.ranking.empty());
  const std::string m = no_plan_message(plan, r);
  EXPECT_EQ(m.rfind("none of 2 candidates meets TTFT p99 <= 1 ms at 5 req/s", 0), 0u) << m;
  EXPECT_NE(m.find("none sustains even search.min_rate"), std::string::npos) << m;
}

std::string all_files(const PlanConfig& plan, int threads) {
  PlanResult r = run_plan_search(plan, prices(), catalog(), {threads, {}, {}});
  rank_plans(plan, r);
  std::string s;
  for (const auto& [name, text] : plan_files(plan, r, "prices.json")) s += name + "\n" + text;
  return s;
}

TEST(PlanSearch, ResultsDoNotDependOnTheThreadCount) {
  nlohmann::json j = small_plan();
  j["candidates"]["devices"] = {"h100_sxm", "a100_sxm4_80gb"};
  j["candidates"]["max_num_seqs"] = {32, 256};
  const PlanConfig plan = parse_plan(j, "plan.json");
  const std::string one = all_files(plan, 1);
  EXPECT_EQ(one, all_files(plan, 2));
  EXPECT_EQ(one, all_files(plan, 5));
}

TEST(PlanSearch, EarlyStopChangesNoResult) {
  nlohmann::json j = small_plan();
  j["slo"] = {{"ttft", "300ms"}, {"tpot", "30ms"}, {"e2e", "2s"}};
  j["candidates"]["replicas"] = {1};
  // Starting far above capacity (1000 req/s over a 20 s window: 20,000 requests), the first
  // runs are overloaded and long enough to pass the 4,096-event polls of RunControl.
  j["target_rate"] = 1000;
  j["search"]["min_duration"] = "20s";
  nlohmann::json off = j;
  off["search"]["early_stop"] = false;
  const PlanConfig on_plan = parse_plan(j, "plan.json"), off_plan = parse_plan(off, "plan.json");
  PlanResult a = run_plan_search(on_plan, prices(), catalog(), {1, {}, {}});
  PlanResult b = run_plan_search(off_plan, prices(), catalog(), {1, {}, {}});
  ASSERT_EQ(a.candidates.size(), b.candidates.size());
  std::int64_t stops = 0;
  for (const CandidateResult& c : a.candidates) stops += c.early_stops;
  EXPECT_GT(stops, 0) << "the shortcut was never taken: the test shows nothing";
  for (std::size_t i = 0; i < a.candidates.size(); ++i) {
    EXPECT_EQ(a.candidates[i].max_rate, b.candidates[i].max_rate) << i;
    EXPECT_EQ(a.candidates[i].simulations, b.candidates[i].simulations) << i;
  }
}

TEST(PlanSearch, PruningChangesNotTheChosenPlan) {
  nlohmann::json j = small_plan();
  j["candidates"]["replicas"] = {1, 2, 3};
  nlohmann::json all = j;
  all["search"]["prune"] = false;
  const PlanConfig pp = parse_plan(j, "plan.json"), pa = parse_plan(all, "plan.json");
  PlanResult a = run_plan_search(pp, prices(), catalog(), {1, {}, {}});
  PlanResult b = run_plan_search(pa, prices(), catalog(), {1, {}, {}});
  rank_plans(pp, a);
  rank_plans(pa, b);
  ASSERT_FALSE(a.ranking.empty());
  ASSERT_FALSE(b.ranking.empty());
  EXPECT_EQ(a.ranking.front(), b.ranking.front());
  // 5 req/s is met by one replica: x2 and x3 are listed, not simulated.
  EXPECT_TRUE(a.candidates[1].pruned);
  EXPECT_TRUE(a.candidates[2].pruned);
  EXPECT_EQ(a.candidates[2].simulations, 0);
  EXPECT_GT(b.candidates[2].simulations, 0);
}

TEST(PlanSearch, CheapestMeetingTheTargetRanksFirst) {
  nlohmann::json j = small_plan();
  j["candidates"]["devices"] = {"h100_sxm", "a100_sxm4_80gb"};
  PlanConfig plan = parse_plan(j, "plan.json");
  PlanResult r = run_plan_search(plan, prices(), catalog(), {2, {}, {}});
  rank_plans(plan, r);
  ASSERT_FALSE(r.ranking.empty());
  for (std::size_t k = 1; k < r.ranking.size(); ++k) {
    EXPECT_LE(r.candidates[r.ranking[k - 1]].usd_per_hour, r.candidates[r.ranking[k]].usd_per_hour);
  }
  const CandidateResult& best = r.candidates[r.ranking.front()];
  // Nobody is cheaper, and among equally cheap ones it has the lowest latency: undominated.
  EXPECT_TRUE(best.pareto_latency);
  // $/hour = GPUs x the price of prices.json.
  EXPECT_DOUBLE_EQ(best.usd_per_hour, static_cast<double>(best.c.gpus()) * best.price);
}

// Rule: the plan's energy and money per run are summary.json's, not recomputed, and are
// what `servesim run best_scenario.json` reports. best_scenario.json is simulated here and
// its summary must give the chosen plan's target-rate figures exactly.
TEST(PlanSearch, EnergyAndCostAreTheSummaryOfTheBestScenario) {
  const PlanConfig plan = parse_plan(small_plan(), "plan.json");
  PlanResult r = run_plan_search(plan, prices(), catalog(), {1, {}, {}});
  rank_plans(plan, r);
  ASSERT_FALSE(r.ranking.empty());
  const CandidateResult& best = r.candidates[r.ranking.front()];
  const std::int64_t n = window_requests(plan.search, plan.target_rate, true);
  ASSERT_EQ(best.at_target.requests, n);
  nlohmann::json best_scenario;
  for (const auto& [name, text] : plan_files(plan, r, "prices.json")) {
    if (name == "best_scenario.json") best_scenario = nlohmann::json::parse(text);
  }
  ASSERT_FALSE(best_scenario.is_null());
  Simulation sim(parse_scenario(best_scenario, "best_scenario.json"), catalog());
  const SimResult res = sim.run();
  EXPECT_DOUBLE_EQ(best.at_target.j_per_output_token, res.summary["energy"]["j_per_output_token"].get<double>());
  EXPECT_DOUBLE_EQ(best.at_target.mean_power_w, res.summary["energy"]["mean_power_w"].get<double>());
  EXPECT_DOUBLE_EQ(best.at_target.run_usd_per_m_output_tokens,
                   res.summary["cost"]["usd_per_million_output_tokens"].get<double>());
  EXPECT_GT(best.at_target.j_per_output_token, 0);
}

// Rule: the run's $/Mtok (summary.json: $/h x simulated time / tokens) is at least the
// steady-state one ($/h / (tokens / throughput window)), as the simulated time [0, end]
// covers the window [first arrival, last completion]; and it exceeds it by at most the
// time before the first arrival and the tail to the next 1 s time-series sample: with 5 s
// windows at 5 req/s (>= 80 requests, ~16 s) that is well under 25 %. (A screening run's
// 1-hour sampling would stretch the end to 1 h: a ratio of ~200.)
TEST(PlanSearch, RunCostPerTokenIsTheSteadyStateOnePlusTheEdges) {
  const PlanConfig plan = parse_plan(small_plan(), "plan.json");
  PlanResult r = run_plan_search(plan, prices(), catalog(), {1, {}, {}});
  rank_plans(plan, r);
  ASSERT_FALSE(r.ranking.empty());
  const CandidateResult& best = r.candidates[r.ranking.front()];
  const double ratio = best.at_target.run_usd_per_m_output_tokens / best.usd_per_m_output_tokens;
  EXPECT_GE(ratio, 1 - 1e-9);
  EXPECT_LE(ratio, 1.25);
}

// Rule (sim/cost/power_model.h): every GPU draws at least its engine-idle power P0 the whole
// run and never more than its limit (TDP here), so GPUs x P0 <= mean power <= GPUs x TDP.
TEST(PlanSearch, MeanPowerLiesBetweenEngineIdleAndTdp) {
  const PlanConfig plan = parse_plan(small_plan(), "plan.json");
  PlanResult r = run_plan_search(plan, prices(), catalog(), {1, {}, {}});
  rank_plans(plan, r);
  ASSERT_FALSE(r.ranking.empty());
  const CandidateResult& best = r.candidates[r.ranking.front()];
  const PowerCoefficients c = power_coefficients(*catalog()->device("h100_sxm", "t"), 0, "t");
  const auto gpus = static_cast<double>(best.c.gpus());
  EXPECT_GE(best.at_target.mean_power_w, gpus * c.engine_idle_w);
  EXPECT_LE(best.at_target.mean_power_w, gpus * c.tdp_w);
}

}  // namespace
}  // namespace servesim::search
