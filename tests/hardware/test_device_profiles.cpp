// The committed device, node and cluster profiles: every device loads, every field the
// schema lists (hardware_profiles/README.md) is present and positive, every number names
// a source defined in its file, and the loader rejects what the schema forbids.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/hardware/device_spec.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kProfiles = fs::path(SERVESIM_DATA_DIR) / "hardware_profiles";

std::vector<fs::path> files_in(const char* folder) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kProfiles / folder)) {
    if (e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Calls f(path, object) for every sourced number {"value": ..., "source": ...} in j.
void each_number(const json& j, const std::string& path, const std::function<void(const std::string&, const json&)>& f) {
  if (!j.is_object()) return;
  if (j.contains("value")) {
    f(path, j);
    return;
  }
  for (const auto& [k, v] : j.items()) {
    if (k != "sources") each_number(v, path.empty() ? k : path + "." + k, f);
  }
}

TEST(DeviceProfiles, TheElevenIssueDevicesAreAllPresent) {
  // The issue's list: A100 SXM4 40/80, A100 PCIe 80, H100 SXM5, H100 PCIe, H200 SXM,
  // GH200 96 GB and 144 GB, MI300X, MI325X, B200.
  for (const char* d : {"a100_sxm4_40gb", "a100_sxm4_80gb", "a100_pcie_80gb", "h100_sxm", "h100_pcie", "h200_sxm",
                        "gh200_96gb", "gh200_144gb", "mi300x", "mi325x", "b200"}) {
    EXPECT_TRUE(fs::is_regular_file(kProfiles / "devices" / (std::string(d) + ".json"))) << d;
  }
}

TEST(DeviceProfiles, EveryDeviceLoadsUnderItsFileStem) {
  const auto files = files_in("devices");
  ASSERT_GE(files.size(), 11u);
  for (const auto& f : files) {
    const DeviceSpec d = load_device(f.stem().string(), SERVESIM_DATA_DIR, "test");
    EXPECT_EQ(d.name, f.stem().string());
  }
}

TEST(DeviceProfiles, EveryRequiredFieldIsPresentAndPositive) {
  for (const auto& f : files_in("devices")) {
    SCOPED_TRACE(f.string());
    const DeviceSpec d = load_device(f.string(), SERVESIM_DATA_DIR, "test");
    for (const char* k : {"fp32", "tf32", "bf16", "fp16", "int8"}) {
      ASSERT_TRUE(d.peak_dense_flops.count(k)) << k;
      EXPECT_GT(d.peak_dense_flops.at(k), 0) << k;
    }
    // fp8 tensor cores exist from Hopper / CDNA3 on; A100 (Ampere) has none.
    EXPECT_EQ(d.peak_dense_flops.count("fp8"), d.arch == "ampere" ? 0u : 1u);
    for (double v : {d.sm_count, d.boost_clock_hz, d.hbm_capacity, d.hbm_runtime_capacity, d.hbm_bandwidth, d.l2_capacity,
                     d.intra_node_links, d.intra_node_bandwidth, d.pcie_generation, d.pcie_bandwidth, d.host_link_bandwidth,
                     d.tdp_w, d.idle_w}) {
      EXPECT_GT(v, 0);
    }
    EXPECT_FALSE(d.intra_node_kind.empty());
    EXPECT_TRUE(d.host_link_kind == "pcie" || d.host_link_kind == "nvlink_c2c") << d.host_link_kind;
    // GH200 reaches its Grace memory over NVLink-C2C; only it has host fields.
    const bool gh200 = d.name.rfind("gh200", 0) == 0;
    EXPECT_EQ(d.host_link_kind == "nvlink_c2c", gh200);
    EXPECT_EQ(d.host_memory_capacity > 0, gh200);
    EXPECT_EQ(d.host_memory_bandwidth > 0, gh200);
    EXPECT_LT(d.idle_w, d.tdp_w);
  }
}

TEST(DeviceProfiles, NumbersKeepTheirDatasheetRelations) {
  for (const auto& f : files_in("devices")) {
    SCOPED_TRACE(f.string());
    const DeviceSpec d = load_device(f.string(), SERVESIM_DATA_DIR, "test");
    // Dense tensor rates: fp16 equals bf16 on every one of these parts, and fp8 doubles it.
    EXPECT_DOUBLE_EQ(d.peak_dense_flops.at("fp16"), d.peak_dense_flops.at("bf16"));
    if (d.peak_dense_flops.count("fp8")) EXPECT_NEAR(d.peak_dense_flops.at("fp8") / d.peak_dense_flops.at("bf16"), 2.0, 0.001);
    // Runtime-reported capacity is binary units of a decimal marketing size, plus up to the
    // rounding of the HBM stacks: 80 GB -> 81091 MiB = 1.063x; 40 GB -> 40960 MiB = 1.074x.
    EXPECT_GE(d.hbm_runtime_capacity / d.hbm_capacity, 1.0);
    EXPECT_LE(d.hbm_runtime_capacity / d.hbm_capacity, 1.08);
    // Per-direction PCIe x16: Gen4 32 GB/s, Gen5 64 GB/s (2 GB/s per lane per generation step).
    EXPECT_DOUBLE_EQ(d.pcie_bandwidth, 32e9 * std::pow(2.0, d.pcie_generation - 4));
  }
}

TEST(DeviceProfiles, EveryNumberNamesASourceDefinedInItsFile) {
  for (const char* folder : {"devices", "nodes", "clusters"}) {
    for (const auto& f : files_in(folder)) {
      SCOPED_TRACE(f.string());
      const json j = read_json_file(f.string());
      ASSERT_TRUE(j.contains("sources") && j["sources"].is_object() && !j["sources"].empty());
      for (const auto& [id, doc] : j["sources"].items()) {
        EXPECT_TRUE(doc.is_string() && !doc.get<std::string>().empty()) << id;
      }
      int numbers = 0;
      each_number(j, "", [&](const std::string& path, const json& n) {
        ++numbers;
        ASSERT_TRUE(n.contains("source") && n["source"].is_string()) << path;
        EXPECT_TRUE(j["sources"].contains(n["source"].get<std::string>())) << path << " -> " << n["source"];
        // An estimate says so: its note carries "unverified" (README "A sourced number").
        if (n["source"] == "est") EXPECT_NE(n.value("note", "").find("unverified"), std::string::npos) << path;
      });
      EXPECT_GT(numbers, 0);
    }
  }
}

TEST(DeviceProfiles, TheLoaderRecordsWhereEveryNumberCameFrom) {
  for (const auto& f : files_in("devices")) {
    SCOPED_TRACE(f.string());
    const DeviceSpec d = load_device(f.string(), SERVESIM_DATA_DIR, "test");
    const json j = read_json_file(f.string());
    each_number(j, "", [&](const std::string& path, const json& n) {
      ASSERT_TRUE(d.field_sources.count(path)) << path << " not read by the loader";
      EXPECT_EQ(d.field_sources.at(path), n["source"].get<std::string>()) << path;
    });
    for (const auto& [path, id] : d.field_sources) EXPECT_TRUE(d.sources.count(id)) << path;
  }
}

TEST(DeviceProfiles, H100SxmFiguresAsTheDatasheetGivesThem) {
  // h100_sxm.json: 132 SMs, 989.4 TFLOP/s dense bf16, 81091 MiB runtime (cudaMemGetInfo), 3.35 TB/s,
  // NVLink4 450 GB/s per direction (900 GB/s both ways), PCIe Gen5 64 GB/s, 700 W.
  const DeviceSpec d = load_device("h100_sxm", SERVESIM_DATA_DIR, "test");
  EXPECT_EQ(d.sm_count, 132);
  EXPECT_DOUBLE_EQ(d.peak_flops(DType::kBf16), 989.4e12);
  EXPECT_DOUBLE_EQ(d.hbm_runtime_capacity, 81091.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(d.hbm_bandwidth, 3.35e12);
  EXPECT_DOUBLE_EQ(d.intra_node_bandwidth, 450e9);
  EXPECT_EQ(d.pcie_generation, 5);
  EXPECT_DOUBLE_EQ(d.tdp_w, 700);
}

TEST(DeviceProfiles, A100HasNoFp8UnitsSoFp8RunsAtTheBf16Rate) {
  const DeviceSpec d = load_device("a100_sxm4_80gb", SERVESIM_DATA_DIR, "test");
  EXPECT_DOUBLE_EQ(d.peak_flops(DType::kFp8), 312e12);
  EXPECT_DOUBLE_EQ(d.peak_flops(DType::kInt8), 624e12);
}

TEST(DeviceProfiles, Gh200HostMemoryOverNvlinkC2C) {
  // gh200_144gb.json: 480 GB LPDDR5X at 512 GB/s; NVLink-C2C 900 GB/s both ways.
  const DeviceSpec d = load_device("gh200_144gb", SERVESIM_DATA_DIR, "test");
  EXPECT_EQ(d.host_link_kind, "nvlink_c2c");
  EXPECT_DOUBLE_EQ(d.host_link_bandwidth, 450e9);
  EXPECT_DOUBLE_EQ(d.host_memory_capacity, 480e9);
  EXPECT_DOUBLE_EQ(d.host_memory_bandwidth, 512e9);
}

// Bad profiles: each is a copy of h100_sxm.json with one change.
class BadDevice : public ::testing::Test {
 protected:
  json base_ = read_json_file((kProfiles / "devices" / "h100_sxm.json").string());
  std::string message(const json& j) {
    try {
      DeviceSpec::from_json(j, "bad.json");
    } catch (const InputError& e) {
      return e.what();
    }
    return "<no error>";
  }
};

TEST_F(BadDevice, MissingSourceIsNamed) {
  base_["memory"]["hbm_bandwidth"].erase("source");
  EXPECT_EQ(message(base_), "bad.json: memory.hbm_bandwidth.source: missing source (every number needs one)");
}

TEST_F(BadDevice, UndefinedSourceIdIsNamed) {
  base_["power"]["tdp"]["source"] = "nowhere";
  EXPECT_EQ(message(base_), "bad.json: power.tdp.source: got 'nowhere', expected an id defined under \"sources\"");
}

TEST_F(BadDevice, NonPositiveValueIsNamed) {
  base_["compute"]["sm_count"]["value"] = 0;
  EXPECT_EQ(message(base_), "bad.json: compute.sm_count.value: got '0', expected a positive value");
}

TEST_F(BadDevice, MissingRequiredFieldIsNamed) {
  base_["power"].erase("idle");
  EXPECT_EQ(message(base_), "bad.json: power.idle: missing required field");
  base_ = read_json_file((kProfiles / "devices" / "h100_sxm.json").string());
  base_["compute"]["peak_dense"].erase("tf32");
  EXPECT_EQ(message(base_), "bad.json: compute.peak_dense.tf32: missing required field");
}

TEST_F(BadDevice, WrongUnitIsNamed) {
  base_["memory"]["hbm_bandwidth"]["value"] = "3.35TB";
  const std::string m = message(base_);
  EXPECT_EQ(m.rfind("bad.json: memory.hbm_bandwidth.value: ", 0), 0u) << m;
}

// The host's pageable staging rates are optional bandwidths: "8.3GB/s" reads as 8.3e9 B/s,
// anything else is refused with the field named.
TEST_F(BadDevice, PageableStagingRateIsABandwidth) {
  base_["achievable"]["pageable_h2d_bandwidth"] = {{"value", "8.3GB/s"}, {"source", "ds"}};
  const DeviceSpec d = DeviceSpec::from_json(base_, "ok.json");
  EXPECT_DOUBLE_EQ(*d.achievable_pageable_h2d_bandwidth, 8.3e9);
  EXPECT_FALSE(d.achievable_pageable_d2h_bandwidth.has_value());
  base_["achievable"]["pageable_d2h_bandwidth"] = {{"value", "fastGB/s"}, {"source", "ds"}};
  EXPECT_EQ(message(base_),
            "bad.json: achievable.pageable_d2h_bandwidth.value: got 'fastGB/s', expected a non-negative bandwidth such as "
            "'1GB/s', '1TB/s', '1MB/s', '1Gb/s'");
}

TEST_F(BadDevice, UnknownLinkKindIsNamed) {
  base_["interconnect"]["host_link"]["kind"] = "usb";
  EXPECT_EQ(message(base_), "bad.json: interconnect.host_link.kind: got 'usb', expected one of pcie, nvlink_c2c");
}

TEST_F(BadDevice, MissingSourcesObjectIsNamed) {
  base_.erase("sources");
  const std::string m = message(base_);
  EXPECT_EQ(m.rfind("bad.json: sources: missing", 0), 0u) << m;
}

TEST_F(BadDevice, UnknownDeviceNameListsWhereItLooked) {
  try {
    load_device("h900", SERVESIM_DATA_DIR, "scenario.json: hardware");
    FAIL();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("scenario.json: hardware: got 'h900', expected a device in ", 0), 0u) << m;
  }
}

}  // namespace
}  // namespace servesim
