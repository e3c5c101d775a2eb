// `servesim plan <verb>`: deployment planning. Verbs:
//   memory  weights, activation peak and KV capacity per GPU of one deployment (vLLM's
//           accounting, docs/planner.md); refuses a plan that does not fit (exit 2).
//   search  the cheapest deployment meeting SLOs at a target rate, by simulation
//           (cmd_plan_search.cpp, docs/plan_search.md).
//   mix     the cheapest heterogeneous mix of device plans over request-size buckets
//           (Melange; cmd_plan_search.cpp, docs/plan_search.md).
#include <cstdio>
#include <iostream>
#include <map>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/cli/commands.h"
#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/model_spec.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/serving/memory_plan.h"

namespace servesim::cli {
namespace po = boost::program_options;

int plan_search_cmd(const Args& args);  // cmd_plan_search.cpp
int plan_mix_cmd(const Args& args);     // cmd_plan_search.cpp

namespace {

constexpr const char* kWhere = "servesim plan memory";

double gib(double b) { return b / (1024.0 * 1024.0 * 1024.0); }

std::string moe_text(const ModelSpec& m) {
  if (!m.is_moe()) return "dense";
  std::string s = fmt::format("MoE {} experts top-{}", m.moe.num_experts, m.moe.experts_per_token);
  if (m.moe.shared_experts > 0) s += fmt::format(" + {} shared", m.moe.shared_experts);
  return s;
}

int plan_memory_cmd(const Args& args) {
  po::options_description opts("servesim plan memory --model M --hardware H [options]", kHelpLineLength, kHelpMinDescription);
  opts.add_options()("help,h", "show this help")(
      "model,m", po::value<std::string>(), "model in models/ (folder name) or a path to a config.json")(
      "hardware,H", po::value<std::string>(), "device profile in hardware_profiles/devices/ (file stem) or a path")(
      "tp", po::value<std::int64_t>()->default_value(1), "tensor-parallel degree")(
      "pp", po::value<std::int64_t>()->default_value(1), "pipeline-parallel degree")(
      "ep", po::value<std::int64_t>()->default_value(1), "expert-parallel degree (divides tp; MoE only)")(
      "cp", po::value<std::int64_t>()->default_value(1), "context-parallel degree (each GPU holds 1/cp of every sequence's KV)")(
      "attention", po::value<std::string>()->default_value("tp"),
      "tp, or dp: attention data-parallel over the tp GPUs (MoE, ep == tp; each GPU holds its own requests' KV)")(
      "dtype", po::value<std::string>()->default_value("auto"),
      "weight dtype: auto (the checkpoint's: quantization_config, else torch_dtype), bf16, fp16, fp32, fp8, int8, int4")(
      "kv-dtype", po::value<std::string>()->default_value("auto"),
      "KV-cache dtype: auto (the activation dtype), bf16, fp16, fp8, int8, int4, int2 (KIVI)")(
      "gpu-memory-utilization", po::value<double>()->default_value(0.9, "0.9"), "fraction of device memory the engine may use")(
      "max-num-batched-tokens", po::value<std::int64_t>()->default_value(8192), "token budget of one step (sizes the activation peak)")(
      "max-num-seqs", po::value<std::int64_t>()->default_value(256), "sequences in one step (sizes the sampler's logits; caps the batch)")(
      "block-size", po::value<std::int64_t>()->default_value(16), "tokens per KV block")(
      "context", po::value<std::int64_t>(), "tokens per sequence for the largest batch (default: the model's max_position_embeddings)")(
      "runtime-overhead", po::value<std::string>()->default_value("1.5GiB"), "memory the runtime keeps (CUDA context, workspaces, graphs)")(
      "sampler-buffers", po::value<double>()->default_value(kVllmSamplerBuffers, fmt::format("{}", kVllmSamplerBuffers)),
      "full-vocabulary fp32 arrays per sequence the profiling run's sampler holds at its peak (vLLM 0.19: 3.7; "
      "0.6-0.11: 9.6; docs/planner.md)")(
      "json", "print the plan as JSON")(
      "data-dir", po::value<std::string>()->default_value(default_data_dir()), "root of models/ and hardware_profiles/");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts
              << "\nPrints weights per GPU, the activation peak at the token budget, the KV cache in tokens and\n"
                 "blocks, and the largest batch at --context. A plan that does not fit exits with 2 and one line.\n";
    return 0;
  }
  for (const char* req : {"model", "hardware"}) {
    if (!vm.count(req)) input_error(std::string(kWhere) + ": --" + req, "missing required option");
  }
  const std::string data_dir = vm["data-dir"].as<std::string>();
  const ModelSpec model = load_model(vm["model"].as<std::string>(), data_dir, std::string(kWhere) + ": --model");
  const DeviceSpec device = load_device(vm["hardware"].as<std::string>(), data_dir, std::string(kWhere) + ": --hardware");

  auto positive = [&](const char* key, std::int64_t min) {
    const std::int64_t v = vm[key].as<std::int64_t>();
    if (v < min) bad_value(std::string(kWhere) + ": --" + key, std::to_string(v), fmt::format("an integer >= {}", min));
    return v;
  };
  const nlohmann::json parallel_j = {{"impl", "megatron"},      {"tp", positive("tp", 1)}, {"pp", positive("pp", 1)},
                                     {"ep", positive("ep", 1)},   {"cp", positive("cp", 1)},
                                     {"attention", vm["attention"].as<std::string>()}};
  auto plan = ParallelPlanRegistry::get().build(parallel_j, std::string(kWhere) + ": parallel", nullptr);
  plan->validate(model, std::string(kWhere) + ": parallel");

  MemoryConfig mem;
  mem.gpu_memory_utilization = vm["gpu-memory-utilization"].as<double>();
  if (!(mem.gpu_memory_utilization > 0 && mem.gpu_memory_utilization <= 1)) {
    bad_value(std::string(kWhere) + ": --gpu-memory-utilization", fmt::format("{}", mem.gpu_memory_utilization), "a fraction in (0, 1]");
  }
  const std::string wd = vm["dtype"].as<std::string>();
  mem.weight_dtype = wd == "auto" ? model.checkpoint_weight_dtype() : parse_dtype(wd, std::string(kWhere) + ": --dtype");
  if (mem.weight_dtype == DType::kTf32) bad_value(std::string(kWhere) + ": --dtype", wd, "a storage dtype (bf16, fp16, fp32, fp8, fp8_block, int8, int4, int2)");
  const bool low_bit = mem.weight_dtype == DType::kFp8 || mem.weight_dtype == DType::kFp8Block || mem.weight_dtype == DType::kInt8 ||
                       mem.weight_dtype == DType::kInt4 || mem.weight_dtype == DType::kInt2;
  mem.act_dtype = low_bit ? DType::kBf16 : mem.weight_dtype;
  const std::string kd = vm["kv-dtype"].as<std::string>();
  mem.kv_dtype = kd == "auto" ? mem.act_dtype : parse_kv_dtype(kd, std::string(kWhere) + ": --kv-dtype");
  if (mem.kv_dtype == DType::kTf32) bad_value(std::string(kWhere) + ": --kv-dtype", kd, "a KV-cache dtype (bf16, fp16, fp32, fp8, int8, int4, int2)");
  mem.max_num_batched_tokens = positive("max-num-batched-tokens", 1);
  mem.max_num_seqs = positive("max-num-seqs", 1);
  mem.runtime_overhead_bytes = units::parse_bytes(vm["runtime-overhead"].as<std::string>(), std::string(kWhere) + ": --runtime-overhead");
  mem.sampler_buffers = vm["sampler-buffers"].as<double>();
  if (!(mem.sampler_buffers >= 0 && mem.sampler_buffers <= 100)) {
    bad_value(std::string(kWhere) + ": --sampler-buffers", fmt::format("{}", mem.sampler_buffers), "a number of arrays in [0, 100]");
  }
  const std::int64_t block_size = positive("block-size", 1);
  std::int64_t context = model.max_position > 0 ? model.max_position : 0;
  if (vm.count("context")) context = positive("context", 1);
  if (context <= 0) input_error(std::string(kWhere) + ": --context", "missing (the model has no max_position_embeddings; expected a positive token count)");

  const MemoryPlan p = plan_memory(model, device, *plan, mem);
  require_fit(p, model, device, kWhere);
  const KvCapacity cap = kv_capacity(p, model, *plan, mem, block_size, context);
  require_context_fit(cap, p, model, device, kWhere);

  const WeightBytes wb = model.weight_bytes(mem.weight_dtype);
  const ParallelDegrees& deg = plan->degrees();
  if (vm.count("json")) {
    nlohmann::json j;
    j["model"] = {{"name", model.name},           {"source", model.source},
                  {"attention", attention_kind_name(model.attention)},
                  {"params", model.param_count()}, {"active_params", model.active_param_count()}};
    j["hardware"] = {{"name", device.name}, {"source", device.source}};
    j["parallel"] = {{"tp", deg.tp}, {"pp", deg.pp}, {"ep", deg.ep}, {"gpus", deg.devices_per_replica()}};
    if (deg.cp > 1) j["parallel"]["cp"] = deg.cp;
    if (deg.attention_dp) j["parallel"]["attention"] = "dp";
    j["dtypes"] = {{"weights", dtype_name(mem.weight_dtype)}, {"activations", dtype_name(mem.act_dtype)}, {"kv", dtype_name(mem.kv_dtype)}};
    j["config"] = {{"gpu_memory_utilization", mem.gpu_memory_utilization},
                   {"max_num_batched_tokens", mem.max_num_batched_tokens},
                   {"max_num_seqs", mem.max_num_seqs},
                   {"sampler_buffers", mem.sampler_buffers}};
    j["model_weight_bytes"] = {{"embedding", wb.embedding}, {"lm_head", wb.lm_head}, {"layers", wb.layers},
                               {"routed_experts", wb.routed_experts}, {"total", wb.total()}};
    j["memory"] = p.to_json();
    j["kv"] = cap.to_json();
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("{} on {} x {}  (tp {}, pp {}, ep {}{}{})\n", model.name, deg.devices_per_replica(), device.name,
                           deg.tp, deg.pp, deg.ep, deg.cp > 1 ? fmt::format(", cp {}", deg.cp) : "",
                           deg.attention_dp ? ", attention dp" : "");
  const std::string checkpoint = !model.quant_method.empty() && mem.weight_dtype == model.checkpoint_weight_dtype()
                                     ? " (" + model.quant_method + " checkpoint)"
                                     : "";
  std::cout << fmt::format("  model         {:.2f} B params ({:.2f} B active), {}, {}; weights {}{}, activations {}, KV {}\n",
                           model.param_count() / 1e9, model.active_param_count() / 1e9, attention_kind_name(model.attention),
                           moe_text(model), dtype_name(mem.weight_dtype), checkpoint, dtype_name(mem.act_dtype),
                           dtype_name(mem.kv_dtype));
  std::cout << fmt::format("  device        {:.2f} GiB as the runtime reports it, x {:.2f} = {:.2f} GiB usable per GPU\n",
                           gib(p.device_bytes), mem.gpu_memory_utilization, gib(p.usable_bytes));
  std::cout << fmt::format("  weights       {:8.2f} GiB per GPU  (whole model {:.2f} GiB)\n", gib(p.weight_bytes), gib(wb.total()));
  std::cout << fmt::format("  activations   {:8.2f} GiB peak at {} batched tokens, {} sequences\n", gib(p.activation_bytes),
                           mem.max_num_batched_tokens, mem.max_num_seqs);
  std::cout << fmt::format("  runtime       {:8.2f} GiB (CUDA context, workspaces, graphs)\n", gib(p.runtime_bytes));
  std::cout << fmt::format("  KV cache      {:8.2f} GiB = {} tokens in {} blocks of {} ({:.0f} bytes per token per GPU)\n",
                           gib(p.kv_bytes), cap.block_tokens, cap.blocks, cap.block_size, p.kv_bytes_per_token);
  std::cout << fmt::format("  at context {}: largest batch {} sequence{} ({} fit in KV{})\n", cap.context, cap.max_batch,
                           cap.max_batch == 1 ? "" : "s", cap.max_batch_kv,
                           cap.max_batch < cap.max_batch_kv ? fmt::format("; --max-num-seqs {} caps it", mem.max_num_seqs) : "");
  return 0;
}

using Verb = std::pair<int (*)(const Args&), const char*>;
const std::map<std::string, Verb>& verbs() {
  static const std::map<std::string, Verb> v{
      {"memory", {plan_memory_cmd, "weights, activation peak, KV capacity and the largest batch per GPU of one deployment"}},
      {"search", {plan_search_cmd, "the cheapest deployment meeting SLOs at a target rate, searched by simulation"}},
      {"mix", {plan_mix_cmd, "the cheapest mix of device types per request-size bucket (Melange, GLPK)"}}};
  return v;
}

void plan_usage(std::FILE* out) {
  std::fprintf(out, "usage: servesim plan <verb> [options]\n\nverbs:\n");
  for (const auto& [name, v] : verbs()) std::fprintf(out, "  %-10s %s\n", name.c_str(), v.second);
  std::fprintf(out, "\n`servesim plan <verb> --help` describes a verb's options.\n");
}

int cmd_plan(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    plan_usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  auto it = verbs().find(args[0]);
  if (it == verbs().end()) {
    std::string names;
    for (const auto& [n, v] : verbs()) names += (names.empty() ? "" : ", ") + n;
    bad_value("servesim plan", args[0], "a verb (" + names + ")");
  }
  return it->second.first(Args(args.begin() + 1, args.end()));
}

}  // namespace

SERVESIM_CLI_COMMAND("plan", "plan a deployment (`plan memory`: what fits per GPU; `plan search`: cheapest plan meeting SLOs; `plan mix`: cheapest device mix)", cmd_plan);

}  // namespace servesim::cli
