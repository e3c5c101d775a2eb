#pragma once
// The devices of a node or cluster and the links between them, read from
// hardware_profiles/nodes/*.json (servesim.node/1) or clusters/*.json (servesim.cluster/1),
// as a graph (Boost.Graph) of GPUs, switches, NICs and the network fabric. Edges are
// directed, one per direction, with that direction's bandwidth and a latency.
//
// Contract:
// - Devices are numbered 0..num_devices()-1, node by node (device i is GPU i % per_node
//   of node i / per_node). Queries take these numbers; out-of-range ones are a bug.
// - Latencies are the profiles' effective small-message latencies as NCCL sees them: the
//   path between two GPUs of a node sums to the node's link latency, across nodes to the
//   cluster's inter-node latency (half of it on each side of the fabric).
// - Routes follow the lowest-latency path (fewest hops among equals); GPUs never forward
//   traffic for others. path_bandwidth is the slowest edge of that route.
// - group_bottleneck(group) is what a ring-based collective over the group gets:
//   `bandwidth` = per-GPU bandwidth per direction, the smallest cut capacity between a
//   member (or the members on one node) and the rest of the group, GPUs outside the group
//   carrying nothing: one 64 GB/s link for MI300X TP=2, 7 links for TP=8, a GPU's NVLink
//   for NVSwitch, and across nodes the NICs on the smaller side of the cut.
//   `link_bandwidth`/`link` name the slowest single link a route between two members
//   crosses. A group of one device has no links (bandwidth 0).
// - Everything is computed from the files; the object is immutable and cheap to copy.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace servesim {

struct GroupLinks {
  double bandwidth = 0;       // bytes/s per direction per GPU available to a collective over the group
  double latency_s = 0;       // largest route latency between two members (one ring step)
  double link_bandwidth = 0;  // the slowest single link on a route between two members
  std::string link;           // that link, e.g. "node0/gpu0 -> node0/nvswitch (nvlink4)"
};

// Links of one replica's parallel groups (fills the simulator's PlanLinks).
struct ReplicaLinks {
  double tp_bandwidth = 0;  // the slowest TP group of the replica (0: tp == 1)
  double tp_latency_s = 0;
  double pp_bandwidth = 0;  // the slowest stage-to-stage route (0: pp == 1)
  double pp_latency_s = 0;
  double cp_bandwidth = 0;  // the slowest hop of a context-parallel ring (0: cp == 1)
  double cp_latency_s = 0;
};

class Topology {
 public:
  // `name` is a node or cluster file stem (nodes/ is searched first) or a path to a .json;
  // the node's device profile must exist under data_dir. Throws InputError naming `where`.
  static Topology load(const std::string& name, const std::string& data_dir, const std::string& where);

  const std::string& name() const;
  const std::string& source() const;  // file read
  const std::string& device() const;  // device profile name (file stem in devices/)
  const std::string& kind() const;    // node topology: nvswitch | full_mesh | pcie | c2c_pair | single
  int num_devices() const;
  int devices_per_node() const;
  int num_nodes() const;

  double path_bandwidth(int a, int b) const;  // bytes/s per direction, a -> b
  double path_latency(int a, int b) const;    // seconds
  std::vector<std::string> path(int a, int b) const;  // vertex names from a to b
  GroupLinks group_bottleneck(std::span<const int> devices) const;

  // Replica `replica` of `tp` x `pp` devices placed on consecutive devices (stage-major:
  // stage s holds devices [base + s*tp, base + (s+1)*tp)).
  // Devices of a replica: stage s, CP rank c, TP rank i is base + (s * cp + c) * tp + i.
  ReplicaLinks replica_links(int tp, int pp, int replica, int cp = 1) const;
  // Throws InputError naming `where` unless `needed` devices fit in this topology.
  void require_devices(std::int64_t needed, const std::string& what, const std::string& where) const;

  struct Impl;

 private:
  explicit Topology(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace servesim
