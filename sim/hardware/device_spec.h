#pragma once
// A device profile read from hardware_profiles/devices/<name>.json (schema servesim.device/1,
// documented in hardware_profiles/README.md). Contract: every numeric field in the file is
// {"value": ..., "source": "<id>"} with the id defined in "sources"; a missing source, a
// missing required field or a non-positive value is an InputError naming file and field.
// The fields the schema lists (hardware_profiles/README.md) are required, except fp8
// (absent where the hardware has none), host (GH200 only) and achievable (measured only).
// field_sources maps each number read to its source id, sources each id to its document.
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "sim/core/dtype.h"

namespace servesim {

struct DeviceSpec {
  std::string name;
  std::string display_name;
  std::string vendor;  // nvidia | amd
  std::string arch;
  std::string source;  // file path
  std::map<std::string, double> peak_dense_flops;  // dtype name -> FLOP/s (dense, not sparse)
  double hbm_capacity = 0;          // bytes, marketing
  double hbm_runtime_capacity = 0;  // bytes, as the runtime reports (what an engine can use)
  double hbm_bandwidth = 0;         // bytes/s
  double l2_capacity = 0;           // bytes
  double sm_count = 0;
  double boost_clock_hz = 0;
  std::string intra_node_kind;      // nvlink3 | nvlink4 | nvlink5 | xgmi
  double intra_node_links = 0;      // scale-up links of one device
  double intra_node_bandwidth = 0;  // bytes/s per direction per device, all links together
  double pcie_generation = 0;
  double pcie_bandwidth = 0;        // bytes/s per direction
  std::string host_link_kind;       // "pcie" | "nvlink_c2c"
  double host_link_bandwidth = 0;   // bytes/s per direction
  std::string host_cpu;             // GH200: the Grace CPU (empty: a separate host)
  double host_memory_capacity = 0;  // bytes (0: unknown)
  double host_memory_bandwidth = 0;
  double tdp_w = 0;
  double idle_w = 0;
  // Measured power-model coefficients (optional; sim/cost/power_model.h derives the missing
  // ones from tdp/idle/peaks): power with a serving engine's context open and no kernel
  // running; dynamic energy per FLOP by compute dtype and per HBM byte; the SM clock that
  // compute-bound kernels settle at under the TDP limit.
  std::optional<double> engine_idle_w;
  std::map<std::string, double> energy_per_flop;  // dtype name -> J per FLOP
  std::optional<double> energy_per_byte;          // J per byte of HBM traffic
  std::optional<double> power_limited_clock_hz;
  // Non-GPU power of the node (CPUs, NVSwitches, NICs, fans, storage, PSU losses) per GPU, W:
  // the system datasheet's maximum less its GPUs' TDP, per GPU (an upper bound).
  std::optional<double> node_overhead_w;
  std::optional<double> achievable_hbm_fraction;
  std::optional<double> achievable_gemm_fraction;  // bf16 dense GEMM, large shapes
  // NCCL all-reduce bus bandwidth at large messages on a full NVLink node (bytes/s), measured
  // (nccl-tests style); what `calibrate derive` scales collectives by (FITTING.md).
  std::optional<double> achievable_allreduce_busbw;
  // NCCL bus bandwidth at large messages over the node's links without in-switch reduction
  // (ring all-reduce, all-gather, reduce-scatter, point to point; bytes/s), published or
  // measured: where extrapolated collective curves saturate (FITTING.md, "Physical bounds").
  std::optional<double> achievable_collective_busbw;
  // The same for all-reduce on 8 GPUs with NVLink SHARP (in-switch reduction), published:
  // where extrapolated all-reduce curves of 8 or more ranks saturate.
  std::optional<double> achievable_nvls_allreduce_busbw;
  // The host's staging rate for copies from / to pageable host memory (bytes/s), measured: the
  // driver copies such bytes through pinned bounce buffers with a host memcpy, so a large
  // pageable copy moves at most at this rate (extrapolated pageable copy curves take it as
  // their marginal bandwidth's ceiling; FITTING.md, "Physical bounds").
  std::optional<double> achievable_pageable_h2d_bandwidth;
  std::optional<double> achievable_pageable_d2h_bandwidth;
  std::map<std::string, std::string> sources;        // source id -> document or measurement
  std::map<std::string, std::string> field_sources;  // dotted field path -> source id

  // Peak dense FLOP/s for a compute dtype; falls back along fp8 -> bf16 (no fp8 units on
  // A100: fp8 GEMMs run as bf16), int4/int2 weights -> bf16 compute.
  double peak_flops(DType d) const;

  static DeviceSpec from_json(const nlohmann::json& j, const std::string& source);
};

// hardware_profiles/devices/<name>.json under data_dir, or a path to a .json file.
DeviceSpec load_device(const std::string& name, const std::string& data_dir, const std::string& where);

}  // namespace servesim
