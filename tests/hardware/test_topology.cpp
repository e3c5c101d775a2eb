// Topology graph queries, each figure derived by hand from the committed node and cluster
// files (hardware_profiles/nodes, clusters) and the rule in sim/hardware/topology.h.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/hardware/topology.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;

Topology load(const std::string& name) { return Topology::load(name, SERVESIM_DATA_DIR, "test"); }

std::vector<int> range(int first, int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(Topology, EveryNodeAndClusterLoads) {
  for (const char* folder : {"nodes", "clusters"}) {
    for (const auto& e : fs::directory_iterator(fs::path(SERVESIM_DATA_DIR) / "hardware_profiles" / folder)) {
      const Topology t = load(e.path().stem().string());
      EXPECT_EQ(t.name(), e.path().stem().string());
      EXPECT_EQ(t.num_devices(), t.devices_per_node() * t.num_nodes());
    }
  }
}

TEST(Topology, HgxH100RoutesThroughTheNvSwitch) {
  // hgx_h100_8: 8 x h100_sxm, nvswitch, 450 GB/s per GPU per direction, 5 us.
  const Topology t = load("hgx_h100_8");
  EXPECT_EQ(t.device(), "h100_sxm");
  EXPECT_EQ(t.num_devices(), 8);
  EXPECT_EQ(t.path(0, 5), (std::vector<std::string>{"node0/gpu0", "node0/nvswitch", "node0/gpu5"}));
  EXPECT_DOUBLE_EQ(t.path_bandwidth(0, 5), 450e9);
  // Half the 5 us on each GPU-switch hop: the route sums to the node's latency.
  EXPECT_NEAR(t.path_latency(0, 5), 5e-6, 1e-12);
}

TEST(Topology, HgxH100GroupGetsOneGpusNvlink) {
  // Any TP group over NVSwitch: each GPU's own 450 GB/s link is the smallest cut (the
  // switch has full bisection), whatever the group size.
  const Topology t = load("hgx_h100_8");
  for (int n : {2, 4, 8}) {
    const GroupLinks g = t.group_bottleneck(range(0, n));
    EXPECT_DOUBLE_EQ(g.bandwidth, 450e9) << n;
    EXPECT_DOUBLE_EQ(g.link_bandwidth, 450e9) << n;
    EXPECT_NEAR(g.latency_s, 5e-6, 1e-12) << n;
  }
  EXPECT_EQ(t.group_bottleneck(range(0, 2)).link, "node0/gpu0 -> node0/nvswitch (nvlink4)");
}

TEST(Topology, Mi300xMeshTp2GetsOneLink) {
  // mi300x_8: full mesh, one 64 GB/s xGMI link per GPU pair, 10 us.
  const Topology t = load("mi300x_8");
  EXPECT_EQ(t.path(2, 6), (std::vector<std::string>{"node0/gpu2", "node0/gpu6"}));
  EXPECT_DOUBLE_EQ(t.path_bandwidth(2, 6), 64e9);
  EXPECT_NEAR(t.path_latency(2, 6), 10e-6, 1e-12);
  const GroupLinks tp2 = t.group_bottleneck(std::vector<int>{0, 1});
  EXPECT_DOUBLE_EQ(tp2.bandwidth, 64e9);  // other GPUs do not forward: one link
  EXPECT_DOUBLE_EQ(tp2.link_bandwidth, 64e9);
  EXPECT_EQ(tp2.link, "node0/gpu0 -> node0/gpu1 (xgmi)");
}

TEST(Topology, Mi300xMeshLargerGroupsUseOneLinkPerPeer) {
  // A member reaches the other k-1 members over k-1 links: TP=4 3 x 64 = 192 GB/s, TP=8
  // 7 x 64 = 448 GB/s (the device profile's 448 GB/s per GPU); a ring's slowest link is
  // still one 64 GB/s link.
  const Topology t = load("mi300x_8");
  EXPECT_DOUBLE_EQ(t.group_bottleneck(range(0, 4)).bandwidth, 192e9);
  EXPECT_DOUBLE_EQ(t.group_bottleneck(range(4, 4)).bandwidth, 192e9);
  const GroupLinks all = t.group_bottleneck(range(0, 8));
  EXPECT_DOUBLE_EQ(all.bandwidth, 448e9);
  EXPECT_DOUBLE_EQ(all.link_bandwidth, 64e9);
  EXPECT_NEAR(all.latency_s, 10e-6, 1e-12);
}

TEST(Topology, H100ClusterRoutesAcrossNodesThroughTheNics) {
  // h100_ib_2x8: 2 x hgx_h100_8, one 400 Gb/s = 50 GB/s NDR NIC per GPU behind its PCIe
  // Gen5 link (64 GB/s), 17 us across nodes. Device 9 is GPU 1 of node 1.
  const Topology t = load("h100_ib_2x8");
  EXPECT_EQ(t.num_devices(), 16);
  EXPECT_EQ(t.num_nodes(), 2);
  EXPECT_EQ(t.path(0, 9), (std::vector<std::string>{"node0/gpu0", "node0/nic0", "fabric", "node1/nic1", "node1/gpu1"}));
  EXPECT_DOUBLE_EQ(t.path_bandwidth(0, 9), 50e9);
  EXPECT_NEAR(t.path_latency(0, 9), 17e-6, 1e-12);
  // Within a node the NVSwitch route is shorter (5 us < 17 us) and is taken.
  EXPECT_EQ(t.path(0, 1), (std::vector<std::string>{"node0/gpu0", "node0/nvswitch", "node0/gpu1"}));
  EXPECT_DOUBLE_EQ(t.path_bandwidth(8, 15), 450e9);
}

TEST(Topology, H100ClusterGroupBottleneckIsTheNic) {
  const Topology t = load("h100_ib_2x8");
  // Two GPUs on two nodes: one NIC each way.
  const GroupLinks pair = t.group_bottleneck(std::vector<int>{0, 8});
  EXPECT_DOUBLE_EQ(pair.bandwidth, 50e9);
  EXPECT_DOUBLE_EQ(pair.link_bandwidth, 50e9);
  EXPECT_EQ(pair.link, "node0/nic0 -> fabric (infiniband)");
  EXPECT_NEAR(pair.latency_s, 17e-6, 1e-12);
  // All 16: one member reaches the rest at 450 (NVLink) + 50 (NIC) = 500 GB/s, but the 8
  // NICs of a node carry at most 8 x 50 = 400 GB/s across: the node cut decides.
  const GroupLinks all = t.group_bottleneck(range(0, 16));
  EXPECT_DOUBLE_EQ(all.bandwidth, 400e9);
  EXPECT_DOUBLE_EQ(all.link_bandwidth, 50e9);
  EXPECT_NEAR(all.latency_s, 17e-6, 1e-12);
  // 2 + 2 GPUs: 2 NICs per side, 100 GB/s.
  EXPECT_DOUBLE_EQ(t.group_bottleneck(std::vector<int>{0, 1, 8, 9}).bandwidth, 100e9);
  // A group inside one node is as in the bare node: the NICs do not add intra-node bandwidth.
  EXPECT_DOUBLE_EQ(t.group_bottleneck(range(8, 8)).bandwidth, 450e9);
}

TEST(Topology, ReplicaLinksPlaceStagesOnConsecutiveDevices) {
  const Topology t = load("h100_ib_2x8");
  // TP=8, PP=2: stage 0 is node 0, stage 1 node 1; TP over NVSwitch, PP over the NICs.
  const ReplicaLinks a = t.replica_links(8, 2, 0);
  EXPECT_DOUBLE_EQ(a.tp_bandwidth, 450e9);
  EXPECT_NEAR(a.tp_latency_s, 5e-6, 1e-12);
  EXPECT_DOUBLE_EQ(a.pp_bandwidth, 50e9);
  EXPECT_NEAR(a.pp_latency_s, 17e-6, 1e-12);
  // TP=16 spans both nodes: the node cut, 400 GB/s.
  const ReplicaLinks b = t.replica_links(16, 1, 0);
  EXPECT_DOUBLE_EQ(b.tp_bandwidth, 400e9);
  EXPECT_EQ(b.pp_bandwidth, 0);
  // TP=4, PP=2, replica 1 uses devices 8..15: all within node 1.
  const ReplicaLinks c = t.replica_links(4, 2, 1);
  EXPECT_DOUBLE_EQ(c.tp_bandwidth, 450e9);
  EXPECT_DOUBLE_EQ(c.pp_bandwidth, 450e9);
  EXPECT_NEAR(c.pp_latency_s, 5e-6, 1e-12);
  // TP=1: no TP links at all.
  EXPECT_EQ(t.replica_links(1, 1, 3).tp_bandwidth, 0);
}

TEST(Topology, ContextParallelRanksFollowEachOtherAndTheRingTakesItsSlowestHop) {
  const Topology t = load("h100_ib_2x8");
  // TP=8, CP=2: CP rank 0 is node 0, rank 1 node 1; TP over NVSwitch, the ring's hops
  // (device i <-> 8 + i) over the NICs, as PP's above.
  const ReplicaLinks a = t.replica_links(8, 1, 0, 2);
  EXPECT_DOUBLE_EQ(a.tp_bandwidth, 450e9);
  EXPECT_DOUBLE_EQ(a.cp_bandwidth, 50e9);
  EXPECT_NEAR(a.cp_latency_s, 17e-6, 1e-12);
  // TP=2, CP=4 in node 0 (devices 0..7): every hop over NVSwitch.
  const ReplicaLinks b = t.replica_links(2, 1, 0, 4);
  EXPECT_DOUBLE_EQ(b.cp_bandwidth, 450e9);
  EXPECT_NEAR(b.cp_latency_s, 5e-6, 1e-12);
  // TP=4, PP=2, CP=2 spans both nodes: stage 0 (CP ranks on devices 0..3, 4..7) is node 0,
  // so the ring stays on NVSwitch and the stage hand-off crosses the NICs.
  const ReplicaLinks c = t.replica_links(4, 2, 0, 2);
  EXPECT_DOUBLE_EQ(c.cp_bandwidth, 450e9);
  EXPECT_DOUBLE_EQ(c.pp_bandwidth, 50e9);
  // CP=1: no ring.
  EXPECT_EQ(t.replica_links(8, 1, 0).cp_bandwidth, 0);
}

TEST(Topology, Gh200PairAndSingle) {
  // gh200_pair: two GH200 144GB joined by 18 NVLink4 links, 450 GB/s per direction, 5 us.
  const Topology pair = load("gh200_pair");
  EXPECT_EQ(pair.device(), "gh200_144gb");
  EXPECT_DOUBLE_EQ(pair.path_bandwidth(0, 1), 450e9);
  EXPECT_NEAR(pair.path_latency(1, 0), 5e-6, 1e-12);
  EXPECT_DOUBLE_EQ(pair.group_bottleneck(std::vector<int>{0, 1}).bandwidth, 450e9);
  // gh200_single: one GPU, no peer, no links.
  const Topology one = load("gh200_single");
  EXPECT_EQ(one.num_devices(), 1);
  const GroupLinks g = one.group_bottleneck(std::vector<int>{0});
  EXPECT_EQ(g.bandwidth, 0);
  EXPECT_TRUE(g.link.empty());
}

TEST(Topology, TooFewDevicesIsAnInputError) {
  const Topology t = load("hgx_h100_8");
  EXPECT_NO_THROW(t.require_devices(8, "tp x pp x replicas", "s.json: topology"));
  try {
    t.require_devices(16, "tp x pp x replicas", "s.json: topology");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "s.json: topology: got 'hgx_h100_8 (8 devices)', expected a node or cluster with at least tp x pp x "
                 "replicas = 16 devices");
  }
}

TEST(Topology, UnknownNameListsBothFolders) {
  try {
    Topology::load("hgx_h999_8", SERVESIM_DATA_DIR, "s.json: topology");
    FAIL();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("s.json: topology: got 'hgx_h999_8', expected a node in ", 0), 0u) << m;
    EXPECT_NE(m.find("clusters"), std::string::npos) << m;
  }
}

TEST(Topology, BadNodeFilesAreNamed) {
  const fs::path dir = fs::temp_directory_path() / ("servesim_topo_" + std::to_string(::getpid()));
  fs::create_directories(dir / "nodes");
  const nlohmann::json good = read_json_file(std::string(SERVESIM_DATA_DIR) + "/hardware_profiles/nodes/hgx_h100_8.json");
  auto message = [&](const nlohmann::json& j) -> std::string {
    const fs::path p = dir / "nodes" / "x.json";
    std::ofstream(p) << j.dump();
    try {
      Topology::load(p.string(), SERVESIM_DATA_DIR, "test");
    } catch (const InputError& e) {
      return e.what();
    }
    return "<no error>";
  };
  const std::string file = (dir / "nodes" / "x.json").string();
  nlohmann::json j = good;
  j["topology"] = "torus";
  EXPECT_EQ(message(j), file + ": topology: got 'torus', expected one of nvswitch, full_mesh, pcie, c2c_pair, single");
  j = good;
  j["count"] = 0;
  EXPECT_EQ(message(j), file + ": count: got '0', expected a positive integer");
  j = good;
  j["link"]["latency"]["source"] = "rumour";
  EXPECT_EQ(message(j), file + ": link.latency.source: got 'rumour', expected an id defined under \"sources\"");
  j = good;
  j["device"] = "h900";
  EXPECT_EQ(message(j).rfind(file + ": device: got 'h900', expected a device in ", 0), 0u) << message(j);
  j = good;
  j["schema"] = "servesim.rack/1";
  EXPECT_EQ(message(j), file + ": schema: got 'servesim.rack/1', expected \"servesim.node/1\" or \"servesim.cluster/1\"");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace servesim
