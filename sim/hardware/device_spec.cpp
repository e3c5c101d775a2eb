#include "sim/hardware/device_spec.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/units.h"
#include "sim/hardware/sourced_field.h"

namespace servesim {
double DeviceSpec::peak_flops(DType d) const {
  auto get = [&](const char* k) -> double {
    auto it = peak_dense_flops.find(k);
    return it == peak_dense_flops.end() ? 0.0 : it->second;
  };
  double f = 0;
  switch (d) {
    case DType::kFp8:
    case DType::kFp8Block: f = get("fp8"); break;
    case DType::kInt8: f = get("int8"); break;
    case DType::kFp32: f = get("fp32"); break;
    case DType::kTf32: f = get("tf32"); break;
    case DType::kFp16: f = get("fp16"); break;
    default: break;
  }
  return f > 0 ? f : get("bf16");
}

DeviceSpec DeviceSpec::from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) bad_value(file, j.dump().substr(0, 40), "a device profile object");
  SourcedReader r(j, file);
  r.require_schema("servesim.device/1");
  DeviceSpec d;
  d.source = file;
  d.name = r.string("name", true);
  d.display_name = r.string("display_name", false);
  if (d.display_name.empty()) d.display_name = d.name;
  d.vendor = r.string("vendor", true, {"nvidia", "amd"});
  d.arch = r.string("arch", true);
  const nlohmann::json* peaks = r.at("compute.peak_dense");
  if (!peaks || !peaks->is_object()) input_error(file + ": compute.peak_dense", "missing required field");
  for (const char* k : {"fp32", "tf32", "bf16", "fp16", "int8"}) {
    if (!peaks->contains(k)) input_error(file + ": compute.peak_dense." + k, "missing required field");
  }
  for (const auto& [k, v] : peaks->items()) {
    d.peak_dense_flops[k] = *r.number("compute.peak_dense." + k, FieldUnit::kFlops, true);
  }
  d.sm_count = *r.number("compute.sm_count", FieldUnit::kCount, true);
  d.boost_clock_hz = *r.number("compute.boost_clock", FieldUnit::kFrequency, true);
  d.hbm_capacity = *r.number("memory.hbm_capacity", FieldUnit::kBytes, true);
  d.hbm_runtime_capacity = *r.number("memory.hbm_runtime_capacity", FieldUnit::kBytes, true);
  d.hbm_bandwidth = *r.number("memory.hbm_bandwidth", FieldUnit::kBandwidth, true);
  d.l2_capacity = *r.number("memory.l2_capacity", FieldUnit::kBytes, true);
  d.intra_node_kind = r.string("interconnect.intra_node.kind", true, {"nvlink3", "nvlink4", "nvlink5", "xgmi"});
  d.intra_node_links = *r.number("interconnect.intra_node.links", FieldUnit::kCount, true);
  d.intra_node_bandwidth = *r.number("interconnect.intra_node.bandwidth_per_direction", FieldUnit::kBandwidth, true);
  d.pcie_generation = *r.number("interconnect.pcie.generation", FieldUnit::kCount, true);
  d.pcie_bandwidth = *r.number("interconnect.pcie.bandwidth_per_direction", FieldUnit::kBandwidth, true);
  d.host_link_kind = r.string("interconnect.host_link.kind", true, {"pcie", "nvlink_c2c"});
  d.host_link_bandwidth = *r.number("interconnect.host_link.bandwidth_per_direction", FieldUnit::kBandwidth, true);
  if (r.at("host")) {
    d.host_cpu = r.string("host.cpu", true);
    d.host_memory_capacity = *r.number("host.memory_capacity", FieldUnit::kBytes, true);
    d.host_memory_bandwidth = *r.number("host.memory_bandwidth", FieldUnit::kBandwidth, true);
  }
  d.tdp_w = *r.number("power.tdp", FieldUnit::kPower, true);
  d.idle_w = *r.number("power.idle", FieldUnit::kPower, true);
  if (d.idle_w >= d.tdp_w) bad_value(file + ": power.idle.value", std::to_string(d.idle_w) + " W", "less than power.tdp");
  d.engine_idle_w = r.number("power.engine_idle", FieldUnit::kPower, false);
  if (const nlohmann::json* e = r.at("power.energy_per_flop_pj"); e && e->is_object()) {
    for (const auto& [k, v] : e->items()) {
      (void)parse_dtype(k, file + ": power.energy_per_flop_pj." + k);
      d.energy_per_flop[k] = *r.number("power.energy_per_flop_pj." + k, FieldUnit::kCount, true) * 1e-12;
    }
  }
  if (auto pj = r.number("power.energy_per_hbm_byte_pj", FieldUnit::kCount, false)) d.energy_per_byte = *pj * 1e-12;
  d.power_limited_clock_hz = r.number("power.power_limited_clock", FieldUnit::kFrequency, false);
  d.node_overhead_w = r.number("power.node_overhead_per_gpu", FieldUnit::kPower, false);
  if (d.engine_idle_w && (*d.engine_idle_w < d.idle_w || *d.engine_idle_w >= d.tdp_w)) {
    bad_value(file + ": power.engine_idle.value", std::to_string(*d.engine_idle_w) + " W", "between power.idle and power.tdp");
  }
  d.achievable_hbm_fraction = r.number("achievable.hbm_bandwidth_fraction", FieldUnit::kFraction, false);
  d.achievable_gemm_fraction = r.number("achievable.bf16_gemm_fraction", FieldUnit::kFraction, false);
  d.achievable_allreduce_busbw = r.number("achievable.allreduce_busbw", FieldUnit::kBandwidth, false);
  d.achievable_collective_busbw = r.number("achievable.collective_busbw", FieldUnit::kBandwidth, false);
  d.achievable_nvls_allreduce_busbw = r.number("achievable.nvls_allreduce_busbw", FieldUnit::kBandwidth, false);
  d.achievable_pageable_h2d_bandwidth = r.number("achievable.pageable_h2d_bandwidth", FieldUnit::kBandwidth, false);
  d.achievable_pageable_d2h_bandwidth = r.number("achievable.pageable_d2h_bandwidth", FieldUnit::kBandwidth, false);
  d.sources = r.sources();
  d.field_sources = r.field_sources();
  return d;
}

DeviceSpec load_device(const std::string& name, const std::string& data_dir, const std::string& where) {
  namespace fs = std::filesystem;
  fs::path p(name);
  if (p.extension() != ".json") p = fs::path(data_dir) / "hardware_profiles" / "devices" / (name + ".json");
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    bad_value(where, name, "a device in " + (fs::path(data_dir) / "hardware_profiles" / "devices").string() +
                               " (file stem) or a path to a device .json");
  }
  return DeviceSpec::from_json(read_json_file(p.string()), p.string());
}

}  // namespace servesim
