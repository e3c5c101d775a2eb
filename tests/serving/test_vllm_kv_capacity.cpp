// The memory plan against the KV capacity vLLM itself reported at start-up, for the public
// cases in calibration/data/kv_capacity/vllm_reported.csv (model x GPU x TP x vLLM version,
// each with its source; README.md there describes the columns). Each case is planned with
// its own gpu_memory_utilization, token budget, sequence limit, dtypes and block size, the
// sampler_buffers of its vLLM version (docs/planner.md) and the default runtime reserve.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/calibrate/csv_table.h"
#include "sim/core/dtype.h"
#include "sim/hardware/device_spec.h"
#include "sim/model/model_spec.h"
#include "sim/parallel/i_parallel_plan.h"
#include "sim/serving/memory_plan.h"

namespace servesim {
namespace {

// The ceiling: the largest |error| measured over the checked cases on 2026-12-05 was 3.45 %
// (v024_llama2_70b_tp4; docs/planner.md has the table), so a case beyond 4 % is a regression.
constexpr double kTolerance = 0.04;
// The default --runtime-overhead / engine.runtime_overhead (1.5 GiB).
constexpr double kRuntime = 1.5 * 1024 * 1024 * 1024;

struct Case {
  std::string name;
  std::int64_t vllm_tokens = 0;
  std::int64_t servesim_tokens = 0;
  bool checked = false;
};

std::vector<Case> plan_every_case() {
  const std::string path = std::string(SERVESIM_DATA_DIR) + "/calibration/data/kv_capacity/vllm_reported.csv";
  const calib::CsvTable t = calib::CsvTable::read(path);
  std::vector<Case> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    auto cell = [&](const char* c) { return t.cell(r, t.col(c)); };
    auto integer = [&](const char* c) { return t.integer(r, t.col(c)); };
    const ModelSpec model = load_model(cell("model"), SERVESIM_DATA_DIR, t.where(r, t.col("model")));
    const DeviceSpec device = load_device(cell("hardware"), SERVESIM_DATA_DIR, t.where(r, t.col("hardware")));
    const nlohmann::json parallel = {{"impl", "megatron"}, {"tp", integer("tp")}, {"pp", integer("pp")}};
    auto plan = ParallelPlanRegistry::get().build(parallel, t.where(r, t.col("tp")), nullptr);
    MemoryConfig mem;
    mem.gpu_memory_utilization = t.number(r, t.col("gpu_memory_utilization"));
    mem.weight_dtype = parse_dtype(cell("dtype"), t.where(r, t.col("dtype")));
    // fp8 weights compute in bf16, as servesim plan memory and the scenario rule have it.
    mem.act_dtype = mem.weight_dtype == DType::kFp8 ? DType::kBf16 : mem.weight_dtype;
    mem.kv_dtype = parse_dtype(cell("kv_dtype"), t.where(r, t.col("kv_dtype")));
    mem.max_num_batched_tokens = integer("max_num_batched_tokens");
    mem.max_num_seqs = integer("max_num_seqs");
    mem.runtime_overhead_bytes = kRuntime;
    mem.sampler_buffers = t.number(r, t.col("servesim_sampler_buffers"));
    const MemoryPlan p = plan_memory(model, device, *plan, mem);
    const std::int64_t block = integer("block_size");
    const KvCapacity cap = kv_capacity(p, model, *plan, mem, block, block);
    out.push_back({cell("case"), integer("vllm_kv_tokens"), cap.block_tokens, integer("in_check") == 1});
  }
  return out;
}

double error(const Case& c) {
  return static_cast<double>(c.servesim_tokens - c.vllm_tokens) / static_cast<double>(c.vllm_tokens);
}

TEST(VllmKvCapacity, TheIssueAsksForAtLeastTenCheckedCases) {
  int checked = 0;
  for (const Case& c : plan_every_case()) checked += c.checked ? 1 : 0;
  EXPECT_GE(checked, 10);
}

TEST(VllmKvCapacity, EveryCheckedCaseIsWithinTheMeasuredCeiling) {
  for (const Case& c : plan_every_case()) {
    if (!c.checked) continue;
    EXPECT_LE(std::abs(error(c)), kTolerance)
        << fmt::format("{}: vLLM {} tokens, servesim {} ({:+.2f} %)", c.name, c.vllm_tokens, c.servesim_tokens, 100 * error(c));
  }
}

TEST(VllmKvCapacity, TheUncheckedCaseIsTheKnownFragmentationDefect) {
  // v025_llama2_70b_tp4: vLLM 0.2.5 lost ~13.6 GiB per GPU to allocator fragmentation under
  // NCCL (vllm-project/vllm#2248); servesim does not model that defect, so it plans far more
  // KV than vLLM reported. If this case ever comes within the ceiling, recheck the CSV.
  for (const Case& c : plan_every_case()) {
    if (c.checked) continue;
    EXPECT_EQ(c.name, "v025_llama2_70b_tp4");
    EXPECT_GT(error(c), kTolerance);
  }
}

}  // namespace
}  // namespace servesim
