#pragma once
// Kernel launches against CUDA-graph replay (engine.launch; absent: not modelled, the cost
// model's CPU answer alone). Contract:
// - The host launches a step's kernels while the GPU runs them, so the launches hide behind
//   the device work unless they take longer: a step adds max(0, launch - device) to what the
//   cost model's CPU answer exposes (launch-bound vs device-bound).
// - launch = the step's kernels x per_kernel (eager), or one graph_replay when decode_graphs
//   (engine.launch.cuda_graphs = "decode") and the step is decode-only with at most
//   graph_max_batch sequences (a captured graph replayed, as vLLM does for decode batches by
//   default; `--enforce-eager`: "off").
// - The step's kernels: one launch per GPU operator instance of the step, the sum of the
//   repeat counts of its operators other than page maps and the CPU operator (Executor).
// Constants and their sources: docs/engine_host.md.
#include <algorithm>
#include <cstdint>

namespace servesim {

struct LaunchConfig {
  bool on = false;
  double per_kernel_s = 10e-6;
  bool decode_graphs = true;  // cuda_graphs: "decode" (true) | "off" (false)
  std::int64_t graph_max_batch = 512;
  double graph_replay_s = 10e-6;

  // The host time of launching one step of `kernels` kernels.
  double launch_seconds(std::int64_t kernels, bool decode_only, std::int64_t seqs) const {
    if (decode_graphs && decode_only && seqs <= graph_max_batch) return graph_replay_s;
    return static_cast<double>(kernels) * per_kernel_s;
  }
  // What the launch adds to a step whose device work takes `device_s`.
  double exposed_seconds(std::int64_t kernels, bool decode_only, std::int64_t seqs, double device_s) const {
    return on ? std::max(0.0, launch_seconds(kernels, decode_only, seqs) - device_s) : 0.0;
  }
};

}  // namespace servesim
