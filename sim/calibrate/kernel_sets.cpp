// Kernel sets (calibration/FITTING.md, "Kernel sets"): which kernels a profile's measurements
// ran, named after the engine that runs them, and the measured sources for each set a device
// has. A profile belongs to its kernels: on one H100, vLLM's GEMMs and PyTorch's eager GEMMs
// differ by ~18 % (FITTING.md, cross-source checks).
#include <algorithm>
#include <map>
#include <set>

#include "sim/calibrate/fit.h"

namespace servesim::calib {
namespace {

struct FormatKernels {
  const char* format;
  const char* family;  // the profile family the rows feed
  const char* engine;  // "" for libraries every engine calls the same way (NCCL, copies)
  const char* kernels;
};

// One row per table format the readers know (sim/calibrate/readers.cpp).
constexpr FormatKernels kFormats[] = {
    {"aiconfigurator_gemm", "gemm", "vllm", "GEMMs as vLLM 0.24 runs them (AIConfigurator's vLLM collector; bf16, fp8, block-scaled fp8)"},
    {"aiconfigurator_context_attention", "attention_prefill", "vllm", "vLLM 0.24 prefill attention (AIConfigurator)"},
    {"aiconfigurator_generation_attention", "attention_decode", "vllm", "vLLM 0.24 decode attention (AIConfigurator)"},
    {"aiconfigurator_custom_allreduce", "collective", "", "vLLM 0.24 custom all-reduce, CUDA-graph replay (AIConfigurator)"},
    {"aiconfigurator_nccl", "collective", "", "NCCL 2.29 collectives (AIConfigurator)"},
    // The fused MoE op is vLLM's own, but a set without MoE measurements (the harness's) takes
    // it without being renamed: "" keeps the set's name (FITTING.md, "MoE layers").
    {"aiconfigurator_moe", "moe", "", "vLLM 0.24 fused MoE (AIConfigurator; Triton for bf16 and block-scaled fp8, FlashInfer CUTLASS for per-tensor fp8)"},
    {"vidur_mlp", "gemm", "pytorch", "PyTorch eager GEMMs (torch.matmul on cuBLAS), Vidur's profiler"},
    {"vidur_network", "collective", "", "NCCL through torch.distributed, Vidur's profiler"},
    {"harness_gemm", "gemm", "harness", "cuBLASLt GEMMs, servesim's CUPTI harness"},
    {"harness_attention_prefill", "attention_prefill", "harness", "prefill attention through PyTorch (servesim's harness)"},
    {"harness_attention_decode", "attention_decode", "harness", "decode attention, PyTorch's and servesim's own paged kernel (servesim's harness)"},
    {"harness_nccl", "collective", "", "NCCL collectives, servesim's harness"},
    {"harness_copy", "copy", "", "cudaMemcpyAsync host/device copies, servesim's harness"},
    {"harness_vmm", "page_map", "", "CUDA virtual-memory page mapping, servesim's harness"},
};

const FormatKernels* format_kernels(const std::string& format) {
  for (const auto& f : kFormats)
    if (format == f.format) return &f;
  return nullptr;
}

}  // namespace

std::vector<KernelSetSources> kernel_set_sources(const std::string& device) {
  const std::string aic = "../shared/data/profiling/aiconfigurator/";
  const std::string vidur = "../shared/data/profiling/vidur/";
  if (device == "h100_sxm") {
    // vLLM's fused MoE was measured on the H200 only: the same chip (GH100, 132 SMs) and the
    // same vLLM 0.24 kernels, with faster HBM (FITTING.md, "MoE layers").
    return {{"vllm", {aic + "h100_sxm", vidur + "network/h100_dgx/send_recv.csv"}, "h200_sxm"},
            {"pytorch", {vidur + "compute/h100", vidur + "network/h100_dgx"}, ""}};
  }
  if (device == "a100_sxm4_80gb") return {{"pytorch", {vidur + "compute/a100", vidur + "network/a100_dgx"}, ""}};
  if (device == "h200_sxm") return {{"harness", {"calibration/data/h200", aic + "h200_sxm"}, ""}};
  return {};
}

std::vector<std::string> default_inputs(const std::string& device, const std::string& kernel_set) {
  for (const auto& k : kernel_set_sources(device))
    if (kernel_set.empty() || k.name == kernel_set) return k.paths;
  return {};
}

std::string default_moe_source(const std::string& device, const std::string& kernel_set) {
  for (const auto& k : kernel_set_sources(device))
    if (kernel_set.empty() || k.name == kernel_set) return k.moe_from;
  return "";
}

std::string profile_file_name(const std::string& device, const std::string& kernel_set) {
  const auto sets = kernel_set_sources(device);
  if (kernel_set.empty() || (!sets.empty() && sets.front().name == kernel_set)) return device + ".json";
  return kernel_set_stem(device, kernel_set) + ".json";
}

nlohmann::json infer_kernel_set(const MeasurementSet& set, const FittedProfile& p, const std::string& name) {
  std::set<std::string> engines;
  std::map<std::string, std::vector<std::string>> kernels;  // in order of first mention
  auto add = [&](const std::string& fam, const std::string& k) {
    auto& v = kernels[fam];
    if (std::find(v.begin(), v.end(), k) == v.end()) v.push_back(k);
  };
  const auto fams = p.families();
  for (std::size_t i = 0; i < set.inputs.size(); ++i) {
    const auto* f = format_kernels(set.inputs[i].format);
    if (!f || set.inputs[i].kept == 0) continue;
    if (std::find(fams.begin(), fams.end(), f->family) == fams.end()) continue;
    if (*f->engine) engines.insert(f->engine);
    add(f->family, f->kernels);
  }
  // Attention: the kernels the fit measured, by name.
  for (const bool prefill : {true, false}) {
    const auto& af = prefill ? p.prefill : p.decode;
    for (const auto& k : af.kernels) add(prefill ? "attention_prefill" : "attention_decode", "kernel " + k);
  }
  std::string joined;
  for (const auto& e : engines) joined += (joined.empty() ? "" : "+") + e;
  const std::string n = name.empty() ? joined : name;
  if (n.empty()) return nullptr;
  nlohmann::json ks = {{"name", n}, {"kernels", nlohmann::json::object()}};
  for (const auto& [fam, list] : kernels) ks["kernels"][fam] = list;
  if (!name.empty() && name != joined) ks["inferred_from_inputs"] = joined;
  return ks;
}

}  // namespace servesim::calib
