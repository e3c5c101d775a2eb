#include "sim/serving/simulation.h"

namespace servesim {

// The embedded default what-if scenario (`servesim run` with no --scenario).
// Workload shaped like the Azure LLM 2023 conversation trace (5.5 req/s; context mean
// 1155 / p50 1020, generated mean 211 / p50 129), as ../shared/data/README.md summarises it.
const char* default_scenario_text() {
  return R"JSON({
  "name": "default",
  "seed": 42,
  "model": "Llama-3.1-8B",
  "hardware": "h100_sxm",
  "replicas": 1,
  "engine": {"gpu_memory_utilization": 0.9, "dtype": "auto", "kv_cache_dtype": "auto"},
  "parallel": {"impl": "megatron", "tp": 1, "pp": 1},
  "scheduler": {"impl": "vllm_v1", "max_num_batched_tokens": 8192, "max_num_seqs": 256, "enable_chunked_prefill": true},
  "kv": {"impl": "paged", "block_size": 16, "enable_prefix_caching": true},
  "cost": {"impl": "calibrated"},
  "router": {"impl": "round_robin"},
  "workload": {
    "impl": "synthetic",
    "arrival": "poisson",
    "rate": 5.5,
    "duration": "10min",
    "prompt": {"dist": "lognormal", "median": 1020, "mean": 1155, "min": 2, "max": 14050},
    "output": {"dist": "lognormal", "median": 129, "mean": 211, "min": 1, "max": 1000}
  },
  "metrics": {"sample_interval": "1s", "slo": {"ttft": "1s", "tpot": "50ms"}}
}
)JSON";
}

}  // namespace servesim
