// The bad-input catalogue (issue 13): every case goes through the CLI and must end with exit
// code 2, exactly one line on the terminal that starts with "error: " and names the file, the
// line or field, the value (quoted at most ~80 characters) and what was expected, and no
// output left behind (neither the --out folder nor a temporary). Each case is its own test.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iterator>
#include <functional>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli_in;
using testing::temp_dir;
using testing::write_text;
namespace fs = std::filesystem;

struct Case {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;  // created in the case's folder first
  std::string args;                                        // run from the case's folder
  std::vector<std::string> expect;                         // fragments of the one line
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

// Short runs: the default scenario with 5 requests, results to `res`.
const std::string kRun = "run --quiet --out res --set workload.num_requests=5 ";
const std::string kRunFile = "run --quiet --out res ";  // a scenario file as it is
std::string azure(const std::string& file) { return kRun + "--set 'workload={\"impl\":\"azure_csv\",\"path\":\"" + file + "\"}'"; }
std::string mooncake(const std::string& file) {
  return kRun + "--set 'workload={\"impl\":\"mooncake_jsonl\",\"path\":\"" + file + "\"}'";
}
// Any workload impl reading `file`, with extra JSON members (",\"k\":v").
std::string wl(const std::string& impl, const std::string& file, const std::string& extra = "") {
  return kRun + "--set 'workload={\"impl\":\"" + impl + "\",\"path\":\"" + file + "\"" + extra + "}'";
}
const std::string kSgHeader = "num_prefill_tokens,num_decode_tokens\n";
const std::string kViHeader = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
const std::string kAzHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
const std::string kAzRow = "2023-11-16 18:15:46.6805900,374,44\n";
const std::string kMcRow = "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 5, \"hash_ids\": [1, 2]}\n";
const std::string kShapesHeader = "op,m,n,k,batch,q_len,ctx_len,heads,kv_heads,head_dim\n";
std::string predict(const std::string& shapes_file) {
  return "cost predict --hardware h100_sxm --in " + shapes_file + " --out res.csv";
}

// The committed h200_sxm@vllm profile (derived by reference) with `edit` applied, its
// references made absolute so it loads from any folder.
std::string vllm_h200_profile(const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir = fs::path(SERVESIM_DATA_DIR) / "calibration" / "profiles";
  std::ifstream in(dir / "h200_sxm@vllm.json");
  nlohmann::json p = nlohmann::json::parse(in);
  p["derived_from"]["profile"] = (dir / p["derived_from"]["profile"].get<std::string>()).string();
  for (auto& f : p["provenance"]["families_from"]) f["profile"] = (dir / f["profile"].get<std::string>()).string();
  edit(p);
  return p.dump();
}
const std::string kOnH200 = kRun + "--set hardware=h200_sxm --set cost.profile=p.json";

std::vector<Case> catalogue() {
  const std::string deep(100000, '[');
  const std::string big(100 << 10, 'x');  // 100 KB: one command-line argument may hold 128 KB
  return {
      // --- the scenario file ---
      {"ScenarioFileMissing", {}, kRun + "--scenario nope.json", {"nope.json", "cannot open file"}},
      {"ScenarioIsAFolder", {{"adir/x", ""}}, kRunFile + "--scenario adir", {"adir", "a folder, expected a JSON file"}},
      {"ScenarioMalformedJson", {{"s.json", "{\n  \"name\": \"x\",\n  \"seed\": ,\n}\n"}}, kRunFile + "--scenario s.json",
       {"s.json:3:", "malformed JSON"}},
      {"ScenarioNotAnObject", {{"s.json", "[1, 2]"}}, kRunFile + "--scenario s.json", {"s.json", "[1,2]", "object"}},
      {"ScenarioDuplicateKey", {{"s.json", "{\"seed\": 1, \"seed\": 2}"}}, kRunFile + "--scenario s.json",
       {"s.json: seed", "twice", "once"}},
      {"ScenarioDuplicateNestedKey", {{"s.json", "{\"scheduler\": {\"impl\": \"vllm_v1\", \"max_num_seqs\": 8, \"max_num_seqs\": 9}}"}},
       kRunFile + "--scenario s.json", {"s.json: scheduler.max_num_seqs", "twice"}},
      {"ScenarioNestedTooDeep", {{"s.json", deep}}, kRunFile + "--scenario s.json", {"s.json:1:65", "deeper than 64"}},
      {"ScenarioNumberOverflow", {{"s.json", "{\"seed\": 1e400}"}}, kRunFile + "--scenario s.json", {"s.json", "1e400", "finite"}},
      {"HugeValueQuotedShort", {}, kRun + "--set model=" + big, {"model", "xxxx... (102400 bytes in all)", "config.json"}},
      {"ScenarioPositionalAndOption", {{"a.json", "{}"}, {"b.json", "{}"}}, kRunFile + "a.json --scenario b.json",
       {"scenario", "more than once"}},
      {"ScenarioTwoPositionals", {{"a.json", "{}"}, {"b.json", "{}"}}, kRunFile + "a.json b.json", {"b.json", "one scenario file"}},
      // --- keys and values ---
      {"UnknownTopLevelKey", {}, kRun + "--set colour=blue", {"<default scenario>: colour", "expected a known key"}},
      // The default device (h100_sxm) has profiles of the vllm and pytorch kernel sets only.
      {"KernelSetWithoutProfile", {}, kRun + "--set cost.kernel_set=tensorrt",
       {"cost.kernel_set", "tensorrt", "h100_sxm.json has vllm", "--kernel-set tensorrt"}},
      {"KernelSetWithSlash", {}, kRun + "--set cost.kernel_set=../x", {"cost.kernel_set", "../x", "without '/'"}},
      {"KernelSetOnDeviceWithoutProfile", {{"unprofiled_gpu.json", testing::unprofiled_device_json()}},
       kRun + "--set hardware=unprofiled_gpu.json --set cost.kernel_set=vllm", {"cost.kernel_set", "vllm", "there is none"}},
      // --- profiles derived by reference (calibrate derive --by-reference, --measured-families) ---
      {"ProfileByReferenceNotABoolean", {{"p.json", vllm_h200_profile([](nlohmann::json& p) { p["derived_from"]["by_reference"] = "yes"; })}},
       kOnH200, {"p.json: derived_from: by_reference", "yes", "true or false"}},
      {"ProfileByReferenceUnknownFamily",
       {{"p.json", vllm_h200_profile([](nlohmann::json& p) { p["derived_from"]["families"] = {"gemm", "bogus"}; })}}, kOnH200,
       {"p.json: derived_from: families", "bogus", "gemm, attention_prefill"}},
      {"ProfileByReferenceStaleSource",
       {{"p.json", vllm_h200_profile([](nlohmann::json& p) { p["derived_from"]["sha256"] = std::string(64, '0'); })}}, kOnH200,
       {"p.json: derived_from: sha256", "0000000000000000", "derive h200_sxm again"}},
      {"ProfileFamiliesFromNotAnArray",
       {{"p.json", vllm_h200_profile([](nlohmann::json& p) { p["provenance"]["families_from"] = nlohmann::json::object(); })}}, kOnH200,
       {"p.json: provenance: families_from", "an array"}},
      {"DeriveMeasuredFamiliesOfADerivedDevice", {}, "calibrate derive --device gh200_144gb --from h200_sxm --measured-families collective --out p.json",
       {"--measured-families", "collective", "is derived"}},
      {"DeriveOverItsOwnSource",
       {{"src.json", [] {
          std::ifstream in(fs::path(SERVESIM_DATA_DIR) / "calibration" / "profiles" / "h100_sxm@pytorch.json");
          return std::string(std::istreambuf_iterator<char>(in), {});
        }()}},
       "calibrate derive --device h200_sxm --from src.json --out src.json", {"--out", "src.json", "a file other than the source profile"}},
      {"CalibrateKernelSetWithoutSources", {}, "calibrate fit --device h100_sxm --kernel-set tensorrt --out p.json",
       {"--kernel-set", "tensorrt", "vllm, pytorch"}},
      {"PowerLimitBelowEngineIdle", {}, kRun + "--set engine.power_limit=50W",
       {"engine.power_limit", "50W", "above the engine-idle power of h100_sxm"}},
      {"PowerLimitNotAPower", {}, kRun + "--set engine.power_limit=abc", {"engine.power_limit", "abc", "a non-negative power"}},
      {"CalibratePowerWithoutIdleRows", {{"p.csv", "workload,kind,shape,dtype,data,flops,bytes,iters,time_per_iter_us,tflops,gbs,"
                                                   "power_mean_w,power_p10_w,power_p90_w,sm_clock_mean_mhz,mem_clock_mhz,"
                                                   "throttle_reasons,samples\ncopy,copy,x,bf16,random,0,8000000000,10,2000,0,0,"
                                                   "500,0,0,1980,3201,0x0,10\n"}},
       "calibrate power --in p.csv --device h200_sxm", {"p.csv", "no idle row", "engine idle power"}},
      {"CalibrateHoldoutLargestNotAFraction", {}, "calibrate fit --device h200_sxm --holdout-largest 1.5 --out p.json",
       {"--holdout-largest", "1.5", "a fraction in [0, 1)"}},
      {"PowerCapBudgetWithoutCap", {}, kRun + "--set power_cap.budget=2kW", {"power_cap.cap", "a per-GPU power limit"}},
      {"PowerCapFirstUnknownPool", {}, kRun + "--set power_cap.budget=2kW --set power_cap.cap=400W --set 'power_cap.first=[\"batch\"]'",
       {"power_cap.first", "batch", "one of the scenario's pools"}},
      {"AutoscaleMinOverMax", {}, kRun + "--set replicas=2 --set 'autoscale={\"min_replicas\":3,\"max_replicas\":2}'",
       {"autoscale.min_replicas", "3", "at most max_replicas (2)"}},
      {"AutoscaleMaxMissing", {}, kRun + "--set 'autoscale={\"min_replicas\":1}'", {"autoscale.max_replicas", "missing"}},
      {"AutoscaleReplicasOutsideBounds", {}, kRun + "--set replicas=5 --set 'autoscale={\"max_replicas\":4}'",
       {"replicas", "5", "within autoscale.min_replicas .. autoscale.max_replicas (1 .. 4)"}},
      {"AutoscaleUnknownPolicy", {}, kRun + "--set 'autoscale={\"max_replicas\":2,\"policy\":{\"impl\":\"magic\"}}'",
       {"autoscale.policy.impl", "magic", "a registered autoscaler"}},
      {"AutoscaleWithMigration", {}, kRun + "--set 'autoscale={\"max_replicas\":2}' --set migration.enabled=true",
       {"autoscale", "no autoscaling while migration.enabled is true"}},
      {"PowerCapBelowEngineIdle", {}, kRun + "--set power_cap.budget=2kW --set power_cap.cap=50W",
       {"power_cap.cap", "above the engine-idle power of h100_sxm"}},
      {"UnknownImplementation", {}, kRun + "--set scheduler.impl=fcfs_magic", {"scheduler.impl", "fcfs_magic", "vllm_v1"}},
      {"UnknownComponentKey", {}, kRun + "--set scheduler.max_seqs=3", {"scheduler.max_seqs", "max_num_seqs"}},
      {"MaxNumSeqsZero", {}, kRun + "--set scheduler.max_num_seqs=0", {"scheduler.max_num_seqs", "'0'", "[1, 16777216]"}},
      {"MaxNumSeqsTwoTo64Minus1", {}, kRun + "--set scheduler.max_num_seqs=18446744073709551615",
       {"scheduler.max_num_seqs", "18446744073709551615", "integer"}},
      {"MaxNumSeqsTwoTo64", {}, kRun + "--set scheduler.max_num_seqs=18446744073709551616",
       {"scheduler.max_num_seqs", "1.8446744073709552e+19", "an integer"}},
      {"SarathiBudgetNotTileAligned", {}, kRun + "--set 'scheduler={\"impl\":\"sarathi\",\"token_budget\":500}'",
       {"scheduler.token_budget", "'500'", "multiple of tile_size (128)"}},
      {"NexusSmGridOverHalf", {}, kRun + "--set 'scheduler={\"impl\":\"nexus\",\"sm_grid\":0.7}'",
       {"scheduler.sm_grid", "'0.7'", "[0.01, 0.5]"}},
      {"NexusTpotTargetZero", {}, kRun + "--set 'scheduler={\"impl\":\"nexus\",\"tpot_target\":0}'",
       {"scheduler.tpot_target", "'0'", "duration >= 1 ns"}},
      {"SyntheticClientUnknownKey", {}, kRun + "--set 'workload.clients=[{\"share\":1}]'", {"workload.clients[0].share"}},
      {"PriorityChangesOutOfOrder", {},
       kRun + "--set 'workload.clients=[{\"priority_changes\":[{\"at\":\"5s\",\"priority\":1},{\"at\":\"2s\",\"priority\":0}]}]'",
       {"workload.clients[0].priority_changes[1].at", "2s", "after the previous change"}},
      {"PriorityRotationWithOneClient", {}, kRun + "--set workload.priority_rotation=10s",
       {"workload.priority_rotation", "10", "2 or more clients"}},
      {"SwapReuseNotABoolean", {}, kRun + "--set kv.swap_reuse=7", {"kv.swap_reuse", "7", "true or false"}},
      {"SwapOverlapNotABoolean", {}, kRun + "--set engine.swap_overlap=yes", {"engine.swap_overlap", "yes", "true or false"}},
      {"LaunchGraphsUnknown", {}, kRun + "--set engine.launch.cuda_graphs=always", {"engine.launch.cuda_graphs", "always", "decode"}},
      {"LaunchPerKernelNotADuration", {}, kRun + "--set engine.launch.per_kernel=fast", {"engine.launch.per_kernel", "fast", "duration"}},
      {"QueueOrderUnknown", {}, kRun + "--set scheduler.queue_order=lifo", {"scheduler.queue_order", "lifo", "program"}},
      {"MaxNumSeqsWrongType", {}, kRun + "--set scheduler.max_num_seqs=many", {"scheduler.max_num_seqs", "many", "an integer"}},
      {"MaxNumSeqsArray", {}, kRun + "--set 'scheduler.max_num_seqs=[1,2]'", {"scheduler.max_num_seqs", "[1,2]", "an integer"}},
      {"GpuMemoryUtilizationAboveOne", {}, kRun + "--set engine.gpu_memory_utilization=1.5",
       {"engine.gpu_memory_utilization", "1.5"}},
      {"RateNotANumber", {}, kRun + "--set 'workload.rate=\"fast\"'", {"workload.rate", "fast", "a number"}},
      {"SampleIntervalBadUnit", {}, kRun + "--set metrics.sample_interval=5parsecs",
       {"metrics.sample_interval", "5parsecs", "duration"}},
      {"SampleIntervalTooFineForTheRun", {}, kRun + "--set workload.duration=0 --set metrics.sample_interval=1ns",
       {"metrics.sample_interval", "'1 ns'", "at most 4000000 time-series rows"}},
      {"MaxNumBatchedTokensAbsurd", {}, kRun + "--set scheduler.max_num_batched_tokens=4611686018427387904",
       {"scheduler.max_num_batched_tokens", "4611686018427387904", "1073741824"}},
      {"BlocksOverrideAbsurd", {}, kRun + "--set kv.num_gpu_blocks_override=4611686018427387904",
       {"kv.num_gpu_blocks_override", "4611686018427387904", "16777216"}},
      {"SeedNegative", {}, kRun + "--set seed=-1", {"seed", "-1"}},
      {"UnknownModel", {}, kRun + "--set model=Llama-9-1T", {"model", "Llama-9-1T", "config.json"}},
      {"UnknownHardware", {}, kRun + "--set hardware=tpu_v9", {"hardware", "tpu_v9", "devices"}},
      {"ModelDoesNotFit", {}, kRun + "--set model=Llama-3.1-70B", {"Llama-3.1-70B", "does not fit", "h100_sxm", "weights"}},
      {"TensorParallelNotADivisor", {}, kRun + "--set parallel.tp=3", {"parallel.tp", "'3'", "num_attention_heads"}},
      {"MicroBatchesBeyondStages", {}, kRun + "--set parallel.micro_batches=3", {"parallel.micro_batches", "'3'", "at most pp"}},
      {"MicroBatchesWithMigration", {}, kRun + "--set parallel.pp=2 --set migration.enabled=true",
       {"parallel.micro_batches", "'2'", "migration.enabled"}},
      {"OverlapUnknown", {}, kRun + "--set engine.overlap=fast", {"engine.overlap", "'fast'", "none|tokenweave|nanoflow"}},
      {"KvOffloadUnknown", {}, kRun + "--set engine.kv_offload=disk", {"engine.kv_offload", "'disk'", "none|stream"}},
      {"KvOffloadNoHostMemory", {}, kRun + "--set engine.kv_offload=stream",
       {"engine.kv_offload_capacity", "'0B'", "h100_sxm gives no host memory"}},
      {"HostAttentionNoHostBandwidth", {}, kRun + "--set engine.kv_offload=host_attention --set engine.kv_offload_capacity=1GiB",
       {"engine.host_memory_bandwidth", "'0B/s'", "h100_sxm gives no host memory bandwidth"}},
      {"ExpertOffloadDenseModel", {}, kRun + "--set engine.expert_offload=host", {"engine.expert_offload", "'host'", "dense model"}},
      {"ResidentExpertsAllOfThem", {}, kRun + "--set model=Mixtral-8x7B-v0.1 --set engine.expert_offload=host --set engine.resident_experts=8",
       {"engine.resident_experts", "'8'", "fewer than the routed experts"}},
      {"OverlapSmShareTooLarge", {}, kRun + "--set engine.overlap_sm_share=0.95", {"engine.overlap_sm_share", "'0.95'", "[0, 0.9]"}},
      {"SpeculativeMethodUnknown", {}, kRun + "--set 'engine.speculative={\"method\":\"medusa\"}'",
       {"engine.speculative.method", "medusa", "none|draft_model|eagle|mtp"}},
      {"SpeculativeAcceptanceAboveOne", {}, kRun + "--set 'engine.speculative={\"method\":\"eagle\",\"acceptance\":1.5}'",
       {"engine.speculative.acceptance", "'1.5'", "a probability in [0, 1]"}},
      {"SpeculativeAcceptanceListNotK", {}, kRun + "--set 'engine.speculative={\"method\":\"eagle\",\"k\":3,\"acceptance\":[0.5,0.5]}'",
       {"engine.speculative.acceptance", "'[0.5,0.5]'", "k = 3 numbers"}},
      {"SpeculativeDraftModelMissing", {}, kRun + "--set 'engine.speculative={\"method\":\"draft_model\"}'",
       {"engine.speculative.draft_model", "method draft_model needs a draft model"}},
      {"SpeculativeDraftModelUnknown", {}, kRun + "--set 'engine.speculative={\"method\":\"draft_model\",\"draft_model\":\"Tiny-9\"}'",
       {"engine.speculative.draft_model", "Tiny-9", "config.json"}},
      {"SpeculativeSchedulerCannot", {}, kRun + "--set scheduler.impl=sarathi --set 'engine.speculative={\"method\":\"mtp\"}'",
       {"scheduler.impl", "'sarathi'", "vllm_v1, priority"}},
      {"SpeculativeWithPipeline", {}, kRun + "--set parallel.pp=2 --set 'engine.speculative={\"method\":\"eagle\"}'",
       {"parallel.pp", "'2'", "engine.speculative"}},
      {"TokenDropSinksNotBelowBudget", {}, kRun + "--set 'kv.token_drop={\"policy\":\"window\",\"budget\":64,\"sink_tokens\":64}'",
       {"kv.token_drop.sink_tokens", "'64'", "less than budget (64)"}},
      {"TokenDropBudgetMissing", {}, kRun + "--set 'kv.token_drop={\"policy\":\"h2o\"}'", {"kv.token_drop.budget", "required"}},
      {"TokenDropWithSpeculative", {}, kRun + "--set 'kv.token_drop={\"policy\":\"h2o\",\"budget\":1024}' --set 'engine.speculative={\"method\":\"mtp\"}'",
       {"kv.token_drop", "'{...}'", "engine.speculative"}},
      {"ContextParallelSlidingWindow", {}, kRun + "--set model=Mistral-7B-v0.1 --set parallel.cp=2",
       {"parallel.cp", "'2'", "sliding-window"}},
      {"AttentionDpDenseModel", {}, kRun + "--set parallel.tp=2 --set parallel.attention=dp",
       {"parallel.attention", "'dp'", "ep == tp"}},
      {"ContextParallelWithOverlap", {}, kRun + "--set parallel.cp=2 --set engine.overlap=tokenweave",
       {"engine.overlap", "'tokenweave'", "parallel.cp"}},
      {"ContextParallelWithKvOffload", {}, kRun + "--set parallel.cp=2 --set engine.kv_offload=stream --set engine.kv_offload_capacity=1GiB",
       {"engine.kv_offload", "'stream'", "parallel.cp"}},
      {"AttentionDpWithSpeculative", {}, kRun + "--set model=Qwen3-30B-A3B --set parallel.tp=2 --set parallel.ep=2 --set parallel.attention=dp --set 'engine.speculative={\"method\":\"eagle\"}'",
       {"engine.speculative", "'enabled'", "parallel.attention=dp"}},
      {"RoutingLoadsNotNumbers", {}, kRun + "--set 'parallel.routing_loads=[1,\"a\"]'",
       {"parallel.routing_loads", "'[1,\"a\"]'", "non-negative numbers"}},
      {"RoutingLoadsNotOnePerExpert", {}, kRun + "--set model=Mixtral-8x7B-v0.1 --set parallel.routing=loads --set 'parallel.routing_loads=[1,2]'",
       {"parallel.routing_loads", "'[1.0,2.0]'", "one weight per routed expert (8)"}},
      {"PromptFixedZero", {}, kRun + "--set 'workload.prompt={\"dist\":\"fixed\",\"value\":0}'", {"workload.prompt.value", "'0'", "[1, 2147483647]"}},
      {"PromptFixedHuge", {}, kRun + "--set 'workload.prompt={\"dist\":\"fixed\",\"value\":1000000000000}'",
       {"workload.prompt.value", "1000000000000", "2147483647"}},
      {"PromptDistNotAString", {}, kRun + "--set 'workload.prompt={\"dist\":5}'", {"workload.prompt.dist", "'5'", "lognormal"}},
      {"OutputDistUnknown", {}, kRun + "--set 'workload.output={\"dist\":\"zipf\"}'", {"workload.output.dist", "zipf", "lognormal"}},
      {"PromptLognormalMeanBelowMedian", {}, kRun + "--set 'workload.prompt={\"dist\":\"lognormal\",\"median\":100,\"mean\":50}'",
       {"workload.prompt.mean", "50", "mean >= median"}},
      {"PromptLognormalMedianWrongType", {}, kRun + "--set 'workload.prompt={\"dist\":\"lognormal\",\"median\":\"big\",\"mean\":50}'",
       {"workload.prompt.median", "big", "a number"}},
      {"PromptUniformMaxBelowMin", {}, kRun + "--set 'workload.prompt={\"dist\":\"uniform\",\"min\":10,\"max\":5}'",
       {"workload.prompt.max", "5", "max >= min"}},
      {"PromptEmpiricalEmpty", {}, kRun + "--set 'workload.prompt={\"dist\":\"empirical\",\"values\":[]}'",
       {"workload.prompt.values", "[]", "non-empty array"}},
      {"PromptEmpiricalWeightsNegative", {}, kRun + "--set 'workload.prompt={\"dist\":\"empirical\",\"values\":[1,2],\"weights\":[1,-1]}'",
       {"workload.prompt.weights", "-1", "non-negative"}},
      {"PromptUnknownKey", {}, kRun + "--set 'workload.prompt={\"dist\":\"fixed\",\"value\":5,\"shape\":2}'",
       {"workload.prompt.shape", "a known key"}},
      // --- --set and options ---
      {"SetWithoutEquals", {}, kRun + "--set nonsense", {"--set", "nonsense", "key=value"}},
      {"SetEmptyPathPart", {}, kRun + "--set a..b=1", {"--set", "a..b=1", "empty parts"}},
      {"SetIndexOutOfRange", {}, kRun + "--set 'pools=[{\"name\":\"a\"}]' --set pools.7.replicas=2", {"pools", "'7'", "an index"}},
      {"SetNestedTooDeep", {}, kRun + "--set 'name=" + std::string(200, '[') + "'", {"--set name:1:65", "deeper than 64"}},
      {"SetDuplicateKey", {}, kRun + "--set 'scheduler={\"impl\":\"vllm_v1\",\"impl\":\"hf_cb\"}'", {"--set scheduler", "impl", "twice"}},
      // Found by fuzz_scenario: a byte 0xFF in a bare --set string crashed the error path.
      {"SetInvalidUtf8", {}, kRun + "--set \"$(printf 'name=ab\\377')\"", {"--set", "name=ab", "valid UTF-8 text"}},
      // Found by fuzz_scenario (2026-12-05): the same byte in the key path.
      {"SetInvalidUtf8InKey", {}, kRun + "--set \"$(printf 'kv.ab\\377=1')\"", {"--set", "kv.ab", "valid UTF-8 text"}},
      {"UnknownOption", {}, kRun + "--frobnicate", {"frobnicate"}},
      {"MaxSimTimeNotADuration", {}, kRun + "--max-sim-time soon", {"--max-sim-time", "soon", "duration"}},
      {"MaxEventsReached", {}, kRun + "--max-events 10", {"--max-events", "limit of 10 events", "raise --max-events"}},
      {"MaxSimTimeReached", {}, kRun + "--max-sim-time 100ms", {"--max-sim-time", "0.1 s", "raise --max-sim-time"}},
      // --- Azure CSV traces ---
      {"AzureMissingFile", {}, azure("/no/such/trace.csv"), {"workload.path", "/no/such/trace.csv", "readable trace file"}},
      {"AzureEmptyFile", {{"t.csv", ""}}, azure("t.csv"), {"t.csv", "empty file", "TIMESTAMP,ContextTokens,GeneratedTokens"}},
      {"AzureHeaderOnly", {{"t.csv", kAzHeader}}, azure("t.csv"), {"t.csv", "no request rows", "at least one"}},
      {"AzureWrongHeader", {{"t.csv", "time,in,out\n" + kAzRow}}, azure("t.csv"), {"t.csv:1: header", "time,in,out", "TIMESTAMP"}},
      {"AzureTooFewFields", {{"t.csv", kAzHeader + kAzRow + "2023-11-16 18:15:50.99,396\n"}}, azure("t.csv"),
       {"t.csv:3", "2023-11-16 18:15:50.99,396", "3 comma-separated fields"}},
      {"AzureZeroOutput", {{"t.csv", kAzHeader + "2023-11-16 18:15:46.6805900,374,0\n"}}, azure("t.csv"),
       {"t.csv:2: GeneratedTokens", "'0'", "positive integer"}},
      {"AzureContextTooLarge", {{"t.csv", kAzHeader + "2023-11-16 18:15:46.6805900,99999999999,5\n"}}, azure("t.csv"),
       {"t.csv:2: ContextTokens", "99999999999", "positive integer"}},
      {"AzureBadTimestamp", {{"t.csv", kAzHeader + "yesterday,374,44\n"}}, azure("t.csv"),
       {"t.csv:2: TIMESTAMP", "yesterday", "YYYY-MM-DD"}},
      {"AzureYearTypo", {{"t.csv", kAzHeader + kAzRow + "2066-11-16 18:15:47.0,374,44\n"}}, azure("t.csv"),
       {"t.csv:3: TIMESTAMP", "2066-11-16 18:15:47.0", "366 days"}},
      {"AzureOutOfOrder", {{"t.csv", kAzHeader + kAzRow + "2023-11-16 18:15:40.0,374,44\n"}}, azure("t.csv"),
       {"t.csv:3: TIMESTAMP", "2023-11-16 18:15:40.0", "non-decreasing"}},
      {"AzureYearOutOfRange", {{"t.csv", kAzHeader + "9999-11-16 18:15:40.0,374,44\n"}}, azure("t.csv"),
       {"t.csv:2: TIMESTAMP", "9999", "1970-2199"}},
      {"AzureLineTooLong", {{"t.csv", kAzHeader + std::string(2 << 20, '7') + "\n"}}, azure("t.csv"), {"t.csv:2", "longer than"}},
      // --- Mooncake JSONL traces ---
      {"MooncakeEmptyFile", {{"t.jsonl", ""}}, mooncake("t.jsonl"), {"t.jsonl", "no request lines"}},
      {"MooncakeNegativeInput",
       {{"t.jsonl", kMcRow + "{\"timestamp\": 5, \"input_length\": -4, \"output_length\": 5}\n"}}, mooncake("t.jsonl"),
       {"t.jsonl:2: input_length", "-4", "positive integer"}},
      {"MooncakeNotJson", {{"t.jsonl", kMcRow + "not json\n"}}, mooncake("t.jsonl"), {"t.jsonl:2", "not json", "one JSON object per line"}},
      {"MooncakeNotAnObject", {{"t.jsonl", "[1,2]\n"}}, mooncake("t.jsonl"), {"t.jsonl:1", "[1,2]", "a JSON object"}},
      {"MooncakeMissingField", {{"t.jsonl", "{\"timestamp\": 0, \"input_length\": 10}\n"}}, mooncake("t.jsonl"),
       {"t.jsonl:1: output_length", "missing"}},
      {"MooncakeTooManyHashIds",
       {{"t.jsonl", "{\"timestamp\": 0, \"input_length\": 2000, \"output_length\": 5, \"hash_ids\": [1,2,3,4,5,6,7,8,9]}\n"}},
       mooncake("t.jsonl"), {"t.jsonl:1: hash_ids", "9 ids", "at most 4 ids for input_length 2000"}},
      {"MooncakeNegativeClient",
       {{"t.jsonl", "{\"timestamp\": 0, \"input_length\": 20, \"output_length\": 5, \"client\": -3}\n"}}, mooncake("t.jsonl"),
       {"t.jsonl:1: client", "-3", "a client id"}},
      {"MooncakeHashIdNotInteger",
       {{"t.jsonl", "{\"timestamp\": 0, \"input_length\": 2000, \"output_length\": 5, \"hash_ids\": [1,\"a\"]}\n"}},
       mooncake("t.jsonl"), {"t.jsonl:1: hash_ids", "\"a\"", "an integer id"}},
      {"MooncakeAbsurdTimestamp",
       {{"t.jsonl", kMcRow + "{\"timestamp\": 1000000000000000, \"input_length\": 10, \"output_length\": 5}\n"}},
       mooncake("t.jsonl"), {"t.jsonl:2: timestamp", "1000000000000000", "366 days"}},
      {"MooncakeOutOfOrder",
       {{"t.jsonl", "{\"timestamp\": 50, \"input_length\": 10, \"output_length\": 5}\n{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 5}\n"}},
       mooncake("t.jsonl"), {"t.jsonl:2: timestamp", "'5'", "non-decreasing"}},
      {"MooncakeInputTooLarge",
       {{"t.jsonl", "{\"timestamp\": 0, \"input_length\": 1099511627776, \"output_length\": 5}\n"}}, mooncake("t.jsonl"),
       {"t.jsonl:1: input_length", "1099511627776", "below 2^31"}},
      {"MooncakeDuplicateKey", {{"t.jsonl", "{\"timestamp\": 0, \"input_length\": 10, \"input_length\": 20, \"output_length\": 5}\n"}},
       mooncake("t.jsonl"), {"t.jsonl:1: input_length", "twice"}},
      {"MooncakeNestedTooDeep", {{"t.jsonl", std::string(1000, '[') + "\n"}}, mooncake("t.jsonl"), {"t.jsonl:1:1:65", "deeper than 64"}},
      // --- ShareGPT lengths and Vidur trace CSVs ---
      {"ShareGptMissingColumn", {{"t.csv", "num_prefill_tokens,decode\n10,5\n"}}, wl("sharegpt_csv", "t.csv"),
       {"t.csv:1: header", "num_prefill_tokens,decode", "missing num_decode_tokens"}},
      {"ShareGptDuplicateColumn", {{"t.csv", "num_prefill_tokens,num_decode_tokens,num_prefill_tokens\n10,5,3\n"}},
       wl("sharegpt_csv", "t.csv"), {"t.csv:1: header", "num_prefill_tokens", "each column named once"}},
      {"ShareGptNegativeOutput", {{"t.csv", kSgHeader + "10,5\n10,-3\n"}}, wl("sharegpt_csv", "t.csv"),
       {"t.csv:3: num_decode_tokens", "-3", "positive integer"}},
      {"ShareGptTooFewFields", {{"t.csv", kSgHeader + "10\n"}}, wl("sharegpt_csv", "t.csv"), {"t.csv:2", "'10'", "2 comma-separated fields"}},
      {"ShareGptHeaderOnly", {{"t.csv", kSgHeader}}, wl("sharegpt_csv", "t.csv"), {"t.csv", "no rows", "at least one"}},
      {"ShareGptNoRowWithinMax", {{"t.csv", kSgHeader + "900,200\n"}}, wl("sharegpt_csv", "t.csv", ",\"max_total_tokens\":1000"),
       {"t.csv", "no row within max_total_tokens 1000"}},
      {"ShareGptEmptyFile", {{"t.csv", ""}}, wl("sharegpt_csv", "t.csv"), {"t.csv", "empty file", "num_prefill_tokens,num_decode_tokens"}},
      {"VidurMissingColumn", {{"t.csv", kSgHeader + "10,5\n"}}, wl("vidur_csv", "t.csv"), {"t.csv:1: header", "missing arrived_at"}},
      {"VidurOutOfOrder", {{"t.csv", kViHeader + "1.5,10,5\n0.25,10,5\n"}}, wl("vidur_csv", "t.csv"),
       {"t.csv:3: arrived_at", "0.25", "non-decreasing"}},
      {"VidurNegativeTime", {{"t.csv", kViHeader + "-1,10,5\n"}}, wl("vidur_csv", "t.csv"), {"t.csv:2: arrived_at", "-1", "seconds"}},
      {"VidurTimeNotANumber", {{"t.csv", kViHeader + "noon,10,5\n"}}, wl("vidur_csv", "t.csv"), {"t.csv:2: arrived_at", "noon", "seconds"}},
      {"VidurFractionalTokens", {{"t.csv", kViHeader + "0,10.5,5\n"}}, wl("vidur_csv", "t.csv"),
       {"t.csv:2: num_prefill_tokens", "10.5", "positive integer"}},
      {"VidurBadPriority", {{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens,priority\n0,10,5,high\n"}}, wl("vidur_csv", "t.csv"),
       {"t.csv:2: priority", "high", "integer priority"}},
      // --- agent programs ---
      {"AgentTraceNotJson", {{"a.jsonl", "calls: 3\n"}}, wl("agent", "a.jsonl"), {"a.jsonl:1", "calls: 3", "one JSON object a line"}},
      {"AgentTraceNoCalls", {{"a.jsonl", "{\"calls\": []}\n"}}, wl("agent", "a.jsonl"), {"a.jsonl:1: calls", "[]", "non-empty array"}},
      {"AgentTraceMissingToolLatency", {{"a.jsonl", "{\"calls\": [{\"input\": 10, \"output\": 5}, {\"input\": 10, \"output\": 5}]}\n"}},
       wl("agent", "a.jsonl"), {"a.jsonl:1: calls[0]", "tool_s"}},
      {"AgentTraceNegativeOutput", {{"a.jsonl", "{\"calls\": [{\"input\": 10, \"output\": -5}]}\n"}}, wl("agent", "a.jsonl"),
       {"a.jsonl:1: calls[0]", "output", "-5"}},
      {"AgentTraceArrivalOnSomeLines",
       {{"a.jsonl", "{\"arrival\": 1, \"calls\": [{\"input\": 10, \"output\": 5}]}\n{\"calls\": [{\"input\": 10, \"output\": 5}]}\n"}},
       wl("agent", "a.jsonl"), {"a.jsonl:2: arrival", "every line or on none"}},
      {"AgentTraceArrivalOutOfOrder",
       {{"a.jsonl", "{\"arrival\": 3, \"calls\": [{\"input\": 10, \"output\": 5}]}\n{\"arrival\": 1, \"calls\": [{\"input\": 10, \"output\": 5}]}\n"}},
       wl("agent", "a.jsonl"), {"a.jsonl:2: arrival", "'1'", "non-decreasing"}},
      {"AgentTwoTtlRules", {}, kRun + "--set 'workload={\"impl\":\"agent\",\"kv_ttl\":\"2s\",\"kv_ttl_tool_multiple\":1.5}'",
       {"workload.kv_ttl", "2 s", "one TTL rule"}},
      {"AgentPercentileWithATrace", {{"a.jsonl", "{\"calls\": [{\"input\": 10, \"output\": 5}]}\n"}},
       wl("agent", "a.jsonl", ",\"kv_ttl_tool_percentile\":90"), {"workload.kv_ttl_tool_percentile", "90", "kv_ttl_tool_multiple"}},
      {"AgentUnknownToolDist", {}, kRun + "--set 'workload={\"impl\":\"agent\",\"tool_latency\":{\"dist\":\"weibull\"}}'",
       {"workload.tool_latency", "weibull"}},
      {"MultiturnClosedLoopNotABool", {}, kRun + "--set 'workload={\"impl\":\"multiturn\",\"closed_loop\":\"yes\"}'",
       {"workload.closed_loop", "yes"}},
      // --- --out ---
      {"OutIsAFile", {{"res", "data"}}, kRun, {"--out", "'res'", "a file with that name exists"}},
      {"OutIsTheWorkingDirectory", {}, "run --quiet --out . --set workload.num_requests=5", {"--out", "'.'", "not '.'"}},
      {"OutIsAParent", {}, "run --quiet --out .. --set workload.num_requests=5", {"--out", "'..'", "not '.'"}},
      {"OutIsTilde", {}, "run --quiet --out '~' --set workload.num_requests=5", {"--out", "'~'", "does not expand"}},
      {"OutHoldsOtherFiles", {{"mine/notes.txt", "mine"}}, "run --quiet --out mine --set workload.num_requests=5",
       {"--out", "'mine'", "notes.txt", "--force"}},
      // --- model and device files ---
      {"ModelConfigMalformed", {{"m/config.json", "{\"hidden_size\": 4096,"}}, kRun + "--set model=m/config.json",
       {"config.json:1:", "malformed JSON"}},
      {"ModelConfigWrongType", {{"m/config.json", "{\"hidden_size\": \"big\", \"num_hidden_layers\": 2}"}},
       kRun + "--set model=m/config.json", {"config.json", "hidden_size", "big"}},
      {"DeviceProfileNotAnObject", {{"dev.json", "42"}}, kRun + "--set hardware=dev.json", {"dev.json", "42", "object"}},
      // --- other commands ---
      {"UnknownCommand", {}, "fly", {"unknown command 'fly'", "run"}},
      {"HelpUnknownCommand", {}, "help fly", {"unknown command 'fly'"}},
      {"PlanMemoryUnknownModel", {}, "plan memory --model Llama-9-1T --hardware h100_sxm", {"--model", "Llama-9-1T"}},
      {"PlanMemoryTpZero", {}, "plan memory --model Llama-3.1-8B --hardware h100_sxm --tp 0", {"tp", "'0'"}},
      {"PlanMemorySamplerBuffersOutOfRange", {}, "plan memory --model Llama-3.1-8B --hardware h100_sxm --sampler-buffers 200",
       {"--sampler-buffers", "200", "[0, 100]"}},
      {"CostPredictMissingIn", {}, predict("nope.csv"), {"nope.csv", "cannot open"}},
      {"CostPredictHugeGemm", {{"s.csv", "op,m,n,k\ngemm,1e30,4096,4096\n"}}, predict("s.csv"),
       {"s.csv:2:2", "1e30", "a whole number in [1, 2147483647]"}},
      {"CostPredictKvHeadsNotADivisor", {{"s.csv", kShapesHeader + "attention_decode,,,,8,1,1000,32,5,128\n"}}, predict("s.csv"),
       {"s.csv:2:9", "'5'", "a divisor of heads (32)"}},
      {"CostPredictTooManyTokens", {{"s.csv", kShapesHeader + "attention_decode,,,,2000000000,1,2000000000,32,8,128\n"}},
       predict("s.csv"), {"s.csv:2:5", "2^40 tokens"}},
      {"CostPredictZeroGroups", {{"s.csv", "op,m,n,k,groups\ngemm,1,2,3,0\n"}}, predict("s.csv"),
       {"s.csv:2:5", "'0'", "a whole number in [1, 2147483647]"}},
      {"CostPredictMoeEpNotADivisor", {{"s.csv", "op,m,n,k,topk,experts,ep\nmoe,64,7168,4096,2,8,3\n"}}, predict("s.csv"),
       {"s.csv:2:7", "'3'", "a divisor of experts (8)"}},
      {"CostPredictMoeTopkOverExperts", {{"s.csv", "op,m,n,k,topk,experts\nmoe,64,7168,4096,9,8\n"}}, predict("s.csv"),
       {"s.csv:2:5", "'9'", "at most experts (8)"}},
      {"CostPredictMoeWithoutExperts", {{"s.csv", "op,m,n,k,topk\nmoe,64,7168,4096,2\n"}}, predict("s.csv"),
       {"s.csv:2:1", "missing experts, needed by op moe"}},
      {"CostPredictMoeTooManyCopies", {{"s.csv", "op,m,n,k,topk,experts,copies\nmoe,4,7168,4096,2,8,9\n"}}, predict("s.csv"),
       {"s.csv:2:7", "'9'", "routed copies in [1, m x topk = 8]"}},
      {"CostPredictMoeActiveOverExperts", {{"s.csv", "op,m,n,k,topk,experts,ep,active\nmoe,64,7168,4096,2,8,2,5\n"}}, predict("s.csv"),
       {"s.csv:2:8", "'5'", "at most the experts on the device (4)"}},
      {"CostPredictUnknownColumn", {{"s.csv", "op,m,n,k,colour\ngemm,1,2,3,red\n"}}, predict("s.csv"),
       {"s.csv:1:5", "colour", "a shape column"}},
      {"CostPredictUnknownOp", {{"s.csv", "op,m,n,k\nconv2d,1,2,3\n"}}, predict("s.csv"), {"s.csv:2:1", "conv2d", "gemm"}},
      {"CostPredictUnknownHardware", {{"s.csv", "op,m,n,k\ngemm,1,2,3\n"}},
       "cost predict --hardware tpu_v9 --in s.csv --out res.csv", {"--hardware", "tpu_v9"}},
      {"CostPredictOutIsAFolder", {{"s.csv", "op,m,n,k\ngemm,1,2,3\n"}, {"d/x", ""}},
       "cost predict --hardware h100_sxm --in s.csv --out d", {"--out", "'d'", "a folder with that name exists"}},
      {"CostPredictOutIsDot", {{"s.csv", "op,m,n,k\ngemm,1,2,3\n"}}, "cost predict --hardware h100_sxm --in s.csv --out .",
       {"--out", "'.'", "a file path"}},
      {"CostUnknownSubcommand", {}, "cost guess", {"servesim cost", "guess", "predict"}},
      {"ValidateMissingRun", {}, "validate /no/such/run --out res", {"/no/such/run"}},
      {"ValidateOutIsCwd", {}, "validate /no/such/run --out .", {"--out", "'.'"}},
      // --- reports and timelines ---
      {"ReportNoFolder", {}, "report", {"servesim report", "one or more result folders"}},
      {"ReportMissingFolder", {}, "report nope", {"nope", "folder missing"}},
      {"ReportNotARun", {{"d/summary.json", "{}"}, {"d/requests.csv", "id\n"}, {"d/resolved_config.json", "{}"}}, "report d",
       {"summary.json", "not a servesim run summary"}},
      {"ReportUnfinishedSweep", {{"sw/journal.jsonl", "{\"servesim_sweep\":1}\n"}}, "report sw",
       {"sw/points.jsonl", "unfinished sweep", "--resume"}},
      {"ReportSweepAmongRuns", {{"sw/points.jsonl", ""}, {"run/summary.json", "{}"}}, "report run sw",
       {"servesim report", "sw", "reported alone"}},
      {"ReportSweepMalformedLine", {{"sw/points.jsonl", "{\"index\": 0}\n{oops\n"}, {"sw/points.csv", "index,id,status,rate,completed\n"}},
       "report sw", {"sw/points.jsonl:2", "malformed JSON"}},
      {"TimelineWindowWithoutColon", {}, kRun + "--timeline-window 60s-120s", {"--timeline-window", "60s-120s", "FROM:TO"}},
      {"TimelineWindowEmptySpan", {}, kRun + "--timeline-window 120s:60s", {"--timeline-window", "120s:60s", "FROM < TO"}},
      {"TimelineWithSeeds", {}, kRun + "--timeline --seeds 2", {"--timeline", "one seed"}},
  };
}

class Catalogue : public ::testing::TestWithParam<Case> {};

TEST_P(Catalogue, ExitsTwoWithOneLineAndLeavesNothing) {
  const Case& c = GetParam();
  // 4 M time-series rows before the limit: 2 s in release, 90 s under the sanitizers.
  if (testing::kSanitized && c.name == "SampleIntervalTooFineForTheRun") GTEST_SKIP() << "too slow under the sanitizers";
  const fs::path dir = temp_dir("catalogue_" + c.name);
  for (const auto& [name, text] : c.files) {
    fs::create_directories((dir / name).parent_path());
    write_text(dir / name, text);
  }
  std::vector<fs::path> before;
  for (const auto& e : fs::recursive_directory_iterator(dir)) before.push_back(e.path());
  const auto r = run_cli_in(dir, c.args);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_LT(r.out.size(), 600u) << "an error line quotes too much: " << r.out.substr(0, 600);
  for (const auto& f : c.expect) EXPECT_NE(r.out.find(f), std::string::npos) << "missing '" << f << "' in: " << r.out;
  std::vector<fs::path> after;
  for (const auto& e : fs::recursive_directory_iterator(dir)) after.push_back(e.path());
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(before, after) << "files were created or removed";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(BadInput, Catalogue, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(Catalogue, HasAtLeastSixtyCases) { EXPECT_GE(catalogue().size(), 60u); }

}  // namespace
}  // namespace servesim
