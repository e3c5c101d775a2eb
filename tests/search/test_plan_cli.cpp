// `servesim plan search` end to end: a run writes the ranked table, the fronts and a best
// scenario that `servesim run` takes as it is; bad plan files and the no-plan answer end
// with exit 2, one line, nothing left behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli_in;
using testing::slurp;
using testing::temp_dir;
using testing::write_text;
namespace fs = std::filesystem;

// A valid plan with `patch` merged in (JSON merge patch: null removes a key).
std::string plan(const std::string& patch = "{}") {
  nlohmann::json j = nlohmann::json::parse(R"({
    "model": "Llama-3.1-8B", "target_rate": 4,
    "traffic": {"prompt": {"dist": "fixed", "value": 256}, "output": {"dist": "fixed", "value": 16}},
    "slo": {"ttft": "500ms", "tpot": "50ms"},
    "candidates": {"devices": ["h100_sxm"], "replicas": [1, 2]},
    "search": {"requests": 60, "short_requests": 20, "tolerance": 0.1, "min_duration": "5s"}
  })");
  j.merge_patch(nlohmann::json::parse(patch));
  return j.dump();
}

TEST(PlanSearchCli, WritesTheTableAndARunnableBestScenario) {
  const fs::path dir = temp_dir("plan_search_ok");
  write_text(dir / "plan.json", plan());
  auto r = run_cli_in(dir, "plan search plan.json --out res --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("SLO TTFT p99 <= 500 ms, TPOT p99 <= 50 ms at 4 req/s"), std::string::npos) << r.out;
  for (const char* f : {"plans.csv", "plans.jsonl", "pareto.json", "best_scenario.json", "plan.json", "summary.txt"}) {
    EXPECT_TRUE(fs::exists(dir / "res" / f)) << f;
  }
  const std::string csv = slurp(dir / "res" / "plans.csv");
  EXPECT_EQ(count_lines(csv), 3);  // header + 2 candidates
  EXPECT_EQ(csv.find("\n1,h100_sxm tp1 pp1 x"), csv.find('\n')) << csv;  // the first row is rank 1
  for (const char* col : {",j_per_output_token_at_target,mean_power_w_at_target,run_usd_per_m_output_tokens_at_target,"}) {
    EXPECT_NE(csv.find(col), std::string::npos) << csv;
  }
  const auto pareto = nlohmann::json::parse(slurp(dir / "res" / "pareto.json"));
  ASSERT_FALSE(pareto["cost_vs_latency"].empty());
  EXPECT_GT(pareto["cost_vs_latency"][0]["j_per_output_token"].get<double>(), 0);
  EXPECT_GT(pareto["cost_vs_latency"][0]["mean_power_w"].get<double>(), 0);
  r = run_cli_in(dir, "run res/best_scenario.json --quiet --out run");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "run" / "summary.json"));
  fs::remove_all(dir);
}

TEST(PlanMixCli, WritesTheMixAndTheSingleTypeComparison) {
  const fs::path dir = temp_dir("plan_mix_ok");
  // Two device types; prompts 256 or 2048 tokens: two non-empty buckets with prompt edge 1024.
  write_text(dir / "plan.json", plan(R"({"candidates": {"devices": ["h100_sxm", "a100_sxm4_80gb"], "replicas": [1]},
    "traffic": {"prompt": {"dist": "empirical", "value": null, "values": [256, 2048]}}, "mix": {"output_edges": [], "samples": 200}})"));
  auto r = run_cli_in(dir, "plan mix plan.json --out res --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("cheapest mix at 4 req/s"), std::string::npos) << r.out;
  const auto mix = nlohmann::json::parse(slurp(dir / "res" / "mix.json"));
  ASSERT_EQ(mix["buckets"].size(), 2u);
  EXPECT_EQ(mix["units"].size(), 2u);
  // The mix is never dearer than the best single type: that type alone is a feasible mix.
  ASSERT_FALSE(mix["best_single_type"].is_null());
  EXPECT_LE(mix["mix"]["usd_per_hour"].get<double>(), mix["best_single_type"]["usd_per_hour"].get<double>() + 1e-9);
  EXPECT_GE(mix["saving_vs_best_single_type"].get<double>(), 0);
  EXPECT_EQ(count_lines(slurp(dir / "res" / "mix_units.csv")), 3);  // header + 2 device plans
  fs::remove_all(dir);
}

TEST(PlanSearchCli, AutoscaleSectionComparesTheStaticPlanWithEachPolicyOverTheDay) {
  const fs::path dir = temp_dir("plan_search_day");
  write_text(dir / "plan.json", plan(R"({"autoscale": {"duration": "60s", "diurnal_amplitude": 0.5,
    "policies": [{"policy": {"impl": "queue_length", "target_outstanding": 8}, "interval": "5s", "scale_down_cooldown": "10s"},
                 {"policy": {"impl": "target_utilization", "target": 0.5}}]}})"));
  auto r = run_cli_in(dir, "plan search plan.json --out res --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("over a day of 60 s (mean 2.67 req/s, peak 4 req/s, diurnal amplitude 0.5)"), std::string::npos) << r.out;
  const std::string csv = slurp(dir / "res" / "autoscale.csv");
  EXPECT_EQ(count_lines(csv), 4) << csv;  // header + static + 2 policies, for the one best plan
  EXPECT_NE(csv.find(",static,none,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",policy 2,\"target_utilization target=0.5 tolerance=0.1, replicas 1..1, scale-down window 300.000 s\","),
            std::string::npos)
      << csv;
  // Every row's scenario runs with `servesim run` as it is.
  const std::string first = slurp(dir / "res" / "autoscale.jsonl").substr(0, slurp(dir / "res" / "autoscale.jsonl").find('\n'));
  write_text(dir / "day.json", nlohmann::json::parse(first)["scenario"].dump());
  r = run_cli_in(dir, "run day.json --quiet --out run");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  fs::remove_all(dir);
}

TEST(PlanSearchCli, ListParamsDocumentsThePlanFile) {
  const auto r = testing::run_cli("list --params");
  ASSERT_EQ(r.exit_code, 0);
  const auto at = r.out.find("plan file:");
  ASSERT_NE(at, std::string::npos) << r.out;
  for (const char* key :
       {"target_rate", "traffic.arrival", "slo.ttft", "candidates.devices", "limits.max_gpus", "search.prune", "mix.prompt_edges",
        "autoscale.policies"}) {
    EXPECT_NE(r.out.find(std::string("      ") + key + " ", at), std::string::npos) << key;
  }
}

TEST(PlanSearchCli, HelpKeepsPathsWhole) {
  // Also with a long --data-dir default (a checkout in a deep folder).
  for (const std::string env : {"", "SERVESIM_DATA_DIR=/tmp/a/checkout/in/a/deep/folder/of/a/build/machine/servesim "}) {
    const auto r = testing::run_shell(env + SERVESIM_BIN + " plan search --help");
    EXPECT_EQ(r.exit_code, 0);
    for (const char* w : {"<data-dir>/hardware_profiles/prices.json)", "docs/plan_search.md)", "best_scenario.json"}) {
      EXPECT_NE(r.out.find(w), std::string::npos) << env << "'" << w << "' chopped in:\n" << r.out;
    }
  }
}

struct Case {
  std::string name;
  std::string plan_text;
  std::string extra_args;
  std::vector<std::string> expect;
  std::string prices_text;  // non-empty: written to prices.json and passed with --prices
  std::string verb = "search";
};
std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

std::vector<Case> cases() {
  return {
      {"UnknownTopLevelKey", plan(R"({"colour": "blue"})"), "", {"plan.json: colour"}},
      {"UnknownCandidateKey", plan(R"({"candidates": {"gpus": [1]}})"), "", {"plan.json: candidates.gpus"}},
      {"EmptyDeviceList", plan(R"({"candidates": {"devices": []}})"), "", {"candidates.devices", "non-empty list"}},
      {"EmptyTpList", plan(R"({"candidates": {"tp": []}})"), "", {"candidates.tp", "non-empty list"}},
      {"TpNotPositive", plan(R"({"candidates": {"tp": [0]}})"), "", {"candidates.tp[0]", "positive integer"}},
      {"BadSplit", plan(R"({"candidates": {"disaggregation": ["1-2"]}})"), "", {"candidates.disaggregation[0]", "1-2", "P:D"}},
      {"BadKvDtype", plan(R"({"candidates": {"kv_cache_dtype": ["fp9"]}})"), "", {"candidates.kv_cache_dtype[0]", "fp9"}},
      {"WeightOnlyKvDtype", plan(R"({"candidates": {"kv_cache_dtype": ["fp8_block"]}})"), "",
       {"candidates.kv_cache_dtype[0]", "fp8_block", "a KV-cache dtype"}},
      {"NoSlo", plan(R"({"slo": {"ttft": null, "tpot": null}})"), "", {"slo.ttft", "no SLO given"}},
      {"MissingTargetRate", plan(R"({"target_rate": null})"), "", {"target_rate"}},
      {"NegativeTargetRate", plan(R"({"target_rate": -1})"), "", {"target_rate", "-1"}},
      {"UnknownDevice", plan(R"({"candidates": {"devices": ["h900"]}})"), "", {"candidates.devices[0]", "h900"}},
      {"DeviceWithoutPrice", plan(R"({"candidates": {"devices": ["mi325x"]}})"), "",
       {"candidates.devices[0]", "no on_demand price for device mi325x"}},
      {"TraceWithLengths", plan(R"({"traffic": {"arrival": "trace", "trace": {"impl": "azure_csv", "path": "t.csv"}}})"), "",
       {"traffic.prompt", "not used with arrival \"trace\""}},
      {"ShortWindowLongerThanFull", plan(R"({"search": {"short_requests": 100}})"), "", {"search.short_requests", "100"}},
      {"NegativeThreads", plan(), "--threads -1", {"--threads", "-1"}},
      {"NoCandidateMeetsTheSlo", plan(R"({"slo": {"ttft": "1ms", "tpot": null}})"), "",
       {"none of 2 candidates meets TTFT p99 <= 1 ms at 4 req/s"}},
      {"UnknownScheduler", plan(R"({"candidates": {"scheduler": "fifo9"}})"), "", {"candidates.scheduler.impl", "fifo9"}},
      {"SchedulerKnobOutOfRange", plan(R"({"candidates": {"max_num_seqs": [99999999]}})"), "",
       {"candidates.scheduler.max_num_seqs", "99999999"}},
      {"UnknownCostModel", plan(R"({"candidates": {"cost": {"impl": "magic"}}})"), "", {"candidates.cost.impl", "magic"}},
      {"WrongSchema", plan(R"({"schema": "servesim.plan/9"})"), "", {"plan.json: schema", "servesim.plan/9"}},
      {"PriceWithoutDate", plan(), "", {"prices.json: devices.h100_sxm.on_demand.date", "missing"},
       R"({"schema": "servesim.prices/1", "sources": {"s": "a list"},
           "devices": {"h100_sxm": {"on_demand": {"value": 3.2, "source": "s"}}}})"},
      {"PriceWithUnknownSource", plan(), "", {"devices.h100_sxm.on_demand.source", "a key of the file's sources"},
       R"({"schema": "servesim.prices/1", "sources": {"s": "a list"},
           "devices": {"h100_sxm": {"on_demand": {"value": 3.2, "source": "t", "date": "2026-01-01"}}}})"},
      {"PriceNotPositive", plan(), "", {"devices.h100_sxm.on_demand.value", "positive"},
       R"({"schema": "servesim.prices/1", "sources": {"s": "a list"},
           "devices": {"h100_sxm": {"on_demand": {"value": 0, "source": "s", "date": "2026-01-01"}}}})"},
      // --- plan search: the autoscale section ---
      {"AutoscaleEmptyPolicies", plan(R"({"autoscale": {"policies": []}})"), "",
       {"plan.json: autoscale.policies", "a non-empty list of autoscale objects"}},
      {"AutoscaleUnknownPolicyKey", plan(R"({"autoscale": {"policies": [{"policy": {"impl": "queue_length"}, "cooldown": "1s"}]}})"), "",
       {"autoscale.policies[0]", "cooldown"}},
      {"AutoscaleUnknownPolicy", plan(R"({"autoscale": {"policies": [{"policy": {"impl": "psychic"}}]}})"), "",
       {"autoscale.policies[0].policy", "psychic"}},
      {"AutoscaleMinOverMax", plan(R"({"autoscale": {"policies": [{"min_replicas": 4, "max_replicas": 2}]}})"), "",
       {"autoscale.policies[0].min_replicas", "'4'", "at most max_replicas (2)"}},
      {"AutoscaleTraceTrafficWithoutTraceDay",
       plan(R"({"traffic": {"arrival": "trace", "prompt": null, "output": null, "trace": {"impl": "azure_csv", "path": "t.csv"}},
               "autoscale": {"policies": [{}]}})"),
       "", {"plan.json: autoscale.trace", "missing"}},
      // --- plan mix ---
      {"MixDeviceWithoutPrice", plan(R"({"candidates": {"devices": ["h100_sxm", "mi325x"]}})"), "",
       {"candidates.devices[1]", "no on_demand price for device mi325x"}, "", "mix"},
      {"MixEdgesNotIncreasing", plan(R"({"mix": {"output_edges": [64, 32]}})"), "",
       {"plan.json: mix.output_edges[1]", "32", "more than the edge before it (64)"}, "", "mix"},
      {"MixEdgeNotPositive", plan(R"({"mix": {"prompt_edges": [0]}})"), "", {"mix.prompt_edges[0]", "positive integer"}, "", "mix"},
      {"MixBucketNobodyServes", plan(R"({"slo": {"ttft": "1ms", "tpot": null}})"), "",
       {"no device plan serves mix bucket prompt [1, 1024) x output [1, 256)", "TTFT p99 <= 1 ms"}, "", "mix"},
      // One H100 replica sustains far less than 5,000 req/s of 256-token prompts; one GPU at most.
      {"MixOverGpuLimit", plan(R"({"target_rate": 5000, "limits": {"max_gpus": 1}, "search": {"max_rate": 5000, "min_duration": "1s"}})"),
       "", {"no mix of the 1 device plans serves 5000 req/s within limits.max_gpus 1"}, "", "mix"},
  };
}

class BadPlan : public ::testing::TestWithParam<Case> {};

TEST_P(BadPlan, ExitsTwoWithOneLineAndLeavesNothing) {
  const Case& c = GetParam();
  const fs::path dir = temp_dir("plan_bad_" + c.name);
  write_text(dir / "plan.json", c.plan_text);
  std::vector<fs::path> expected{dir / "plan.json"};
  std::string args = c.extra_args;
  if (!c.prices_text.empty()) {
    write_text(dir / "prices.json", c.prices_text);
    expected.push_back(dir / "prices.json");
    args += " --prices prices.json";
  }
  const auto r = run_cli_in(dir, "plan " + c.verb + " plan.json --quiet --out res " + args);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_LT(r.out.size(), 600u) << r.out;
  for (const auto& f : c.expect) EXPECT_NE(r.out.find(f), std::string::npos) << "missing '" << f << "' in: " << r.out;
  std::vector<fs::path> after;
  for (const auto& e : fs::recursive_directory_iterator(dir)) after.push_back(e.path());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, expected) << "files were created";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(PlanSearch, BadPlan, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

#ifdef SERVESIM_MPIEXEC
// Under mpirun the candidate groups spread over the ranks (dynamic: a rank asks for the next
// group when it is free) and rank 0 writes every file, byte-identical to one process's. Four
// groups (2 devices x TP 1, 2), two replica counts each.
TEST(PlanSearchCli, Mpi_TwoRanksWriteTheSameFilesAsOneProcess) {
  const fs::path dir = temp_dir("plan_search_mpi");
  write_text(dir / "plan.json", plan(R"({"candidates": {"devices": ["h100_sxm", "a100_sxm4_80gb"], "tp": [1, 2]}})"));
  auto r = run_cli_in(dir, "plan search plan.json --out one --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // As root Open MPI asks for both variables; LeakSanitizer (asan preset) would report Open
  // MPI's own allocations.
  r = testing::run_shell_in(dir, std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 ") +
                                     SERVESIM_MPIEXEC + " -n 2 --oversubscribe " + SERVESIM_BIN + " plan search plan.json --out mpi --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("over 2 MPI ranks"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("of 4 candidate groups"), std::string::npos) << r.out;
  for (const char* f : {"plans.csv", "plans.jsonl", "pareto.json", "best_scenario.json", "plan.json", "summary.txt"}) {
    EXPECT_EQ(slurp(dir / "one" / f), slurp(dir / "mpi" / f)) << f;
  }
  fs::remove_all(dir);
}
#endif

}  // namespace
}  // namespace servesim
