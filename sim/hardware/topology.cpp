#include "sim/hardware/topology.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/hardware/device_spec.h"
#include "sim/hardware/sourced_field.h"

namespace servesim {
namespace {
namespace fs = std::filesystem;

struct VertexProps {
  std::string name;
  bool gpu = false;
  int node = -1;  // -1: the network fabric between nodes
};
struct EdgeProps {
  double bandwidth = 0;  // bytes/s, this direction
  double latency_s = 0;
  double weight = 0;     // routing weight: latency plus a tiny per-hop cost (fewest hops among equals)
  std::string kind;      // nvlink4, xgmi, pcie, infiniband, ...
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, VertexProps, EdgeProps>;
using Vertex = Graph::vertex_descriptor;
using Edge = Graph::edge_descriptor;

constexpr double kHopWeight = 1e-12;  // seconds; far below any profile latency

// Max-flow network: capacities in KB/s as integers (every profile bandwidth is a whole
// number of KB/s), so push-relabel runs on exact arithmetic.
using FlowTraits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
using FlowGraph = boost::adjacency_list<
    boost::vecS, boost::vecS, boost::directedS, boost::no_property,
    boost::property<boost::edge_capacity_t, std::int64_t,
                    boost::property<boost::edge_residual_capacity_t, std::int64_t,
                                    boost::property<boost::edge_reverse_t, FlowTraits::edge_descriptor>>>>;

// Clamped to 2^50 KB/s (10^18 B/s, beyond any link), so sums of capacities fit in int64.
std::int64_t to_capacity(double bytes_per_s) {
  return static_cast<std::int64_t>(std::llround(std::clamp(bytes_per_s / 1e3, 0.0, 1125899906842624.0)));
}

// Finds <dir>/<kind>/<name>.json next to the referring file first, then under data_dir.
fs::path resolve(const std::string& name, const char* kind, const fs::path& referrer_dir, const std::string& data_dir) {
  std::error_code ec;
  if (fs::path(name).extension() == ".json") return name;
  const fs::path near = referrer_dir / ".." / kind / (name + ".json");
  if (!referrer_dir.empty() && fs::is_regular_file(near, ec)) return near;
  return fs::path(data_dir) / "hardware_profiles" / kind / (name + ".json");
}

// Routing view of the graph: only the route's source GPU may send; other GPUs only receive.
struct NoForwarding {
  const Graph* g = nullptr;
  Vertex src{};
  bool operator()(const Edge& e) const {
    const Vertex u = boost::source(e, *g);
    return !(*g)[u].gpu || u == src;
  }
};

}  // namespace

struct Topology::Impl {
  std::string name, source, device, kind;
  int per_node = 0;
  int nodes = 1;
  Graph g;
  std::vector<Vertex> gpus;                  // device id -> vertex
  std::vector<std::vector<Vertex>> pred;     // per source device: predecessor of each vertex
  std::vector<std::vector<double>> weight;   // per source device: routing weight to each vertex

  Vertex add_vertex(std::string n, bool gpu, int node) { return boost::add_vertex(VertexProps{std::move(n), gpu, node}, g); }
  void link(Vertex a, Vertex b, double bw, double lat, const std::string& k) {
    boost::add_edge(a, b, EdgeProps{bw, lat, lat + kHopWeight, k}, g);
    boost::add_edge(b, a, EdgeProps{bw, lat, lat + kHopWeight, k}, g);
  }

  void route_all() {
    const std::size_t n = boost::num_vertices(g);
    pred.assign(gpus.size(), std::vector<Vertex>(n));
    weight.assign(gpus.size(), std::vector<double>(n));
    for (std::size_t s = 0; s < gpus.size(); ++s) {
      const boost::filtered_graph<Graph, NoForwarding> view(g, NoForwarding{&g, gpus[s]});
      boost::dijkstra_shortest_paths(
          view, gpus[s],
          boost::weight_map(boost::get(&EdgeProps::weight, g))
              .predecessor_map(boost::make_iterator_property_map(pred[s].begin(), boost::get(boost::vertex_index, g)))
              .distance_map(boost::make_iterator_property_map(weight[s].begin(), boost::get(boost::vertex_index, g))));
    }
  }

  // Edges of the route a -> b (empty when a == b).
  std::vector<Edge> route(int a, int b) const {
    std::vector<Edge> out;
    const Vertex src = gpus[static_cast<std::size_t>(a)];
    Vertex v = gpus[static_cast<std::size_t>(b)];
    const auto& p = pred[static_cast<std::size_t>(a)];
    SERVESIM_ASSERT(reachable(a, b));
    while (v != src) {
      const Vertex u = p[v];
      SERVESIM_ASSERT(u != v);
      out.push_back(boost::edge(u, v, g).first);
      v = u;
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  // Dijkstra leaves an unreached vertex as its own predecessor.
  bool reachable(int a, int b) const {
    const Vertex v = gpus[static_cast<std::size_t>(b)];
    return a == b || pred[static_cast<std::size_t>(a)][v] != v;
  }

  // Capacity (bytes/s) of the smallest cut between `from` and `to` (disjoint device sets);
  // vertices of GPUs in neither set carry nothing, and traffic between GPUs of one node
  // stays in the node (without the fabric, its NICs lead nowhere).
  double cut(const std::vector<int>& from, const std::vector<int>& to, bool one_node) const {
    const std::size_t n = boost::num_vertices(g);
    std::vector<char> side(n, 0);  // 0: switch/NIC/fabric, 1: from, 2: to, 3: left out
    for (std::size_t v = 0; v < n; ++v) side[v] = g[v].gpu || (one_node && g[v].node < 0) ? 3 : 0;
    for (int d : from) side[gpus[static_cast<std::size_t>(d)]] = 1;
    for (int d : to) side[gpus[static_cast<std::size_t>(d)]] = 2;
    FlowGraph f(n + 2);
    const auto s = static_cast<FlowTraits::vertex_descriptor>(n);
    const auto t = static_cast<FlowTraits::vertex_descriptor>(n + 1);
    auto cap = boost::get(boost::edge_capacity, f);
    auto rev = boost::get(boost::edge_reverse, f);
    auto add = [&](std::size_t u, std::size_t v, std::int64_t c) {
      const auto e = boost::add_edge(u, v, f).first;
      const auto r = boost::add_edge(v, u, f).first;
      cap[e] = c;
      cap[r] = 0;
      rev[e] = r;
      rev[r] = e;
    };
    // "Infinite" source and sink edges get the sum of every finite capacity plus one: more
    // than any cut, and small enough that the push-relabel's excess sums (the source pushes
    // all its edges at once) cannot overflow int64 (INT64_MAX / 4 per edge did, with 16 GPUs).
    std::int64_t finite_total = 1;
    for (auto [it, end] = boost::edges(g); it != end; ++it) {
      const Vertex u = boost::source(*it, g), v = boost::target(*it, g);
      if (side[u] == 3 || side[v] == 3) continue;
      const std::int64_t c = to_capacity(g[*it].bandwidth);
      finite_total += c;
      add(u, v, c);
    }
    for (std::size_t v = 0; v < n; ++v) {
      if (side[v] == 1) add(s, v, finite_total);
      if (side[v] == 2) add(v, t, finite_total);
    }
    return static_cast<double>(boost::push_relabel_max_flow(f, s, t)) * 1e3;
  }

  std::string edge_name(const Edge& e) const {
    return fmt::format("{} -> {} ({})", g[boost::source(e, g)].name, g[boost::target(e, g)].name, g[e].kind);
  }
};

namespace {

struct NodeFile {
  std::string name, device, kind;
  int count = 0;
  double bandwidth = 0, latency_s = 0;
};

NodeFile read_node(const nlohmann::json& j, const std::string& file) {
  SourcedReader r(j, file);
  r.require_schema("servesim.node/1");
  NodeFile n;
  n.name = r.string("name", true);
  n.device = r.string("device", true);
  n.count = static_cast<int>(r.positive_integer("count"));
  n.kind = r.string("topology", true, {"nvswitch", "full_mesh", "pcie", "c2c_pair", "single"});
  n.bandwidth = *r.number("link.bandwidth_per_direction", FieldUnit::kBandwidth, true);
  n.latency_s = *r.number("link.latency", FieldUnit::kDuration, true);
  if (n.kind == "single" && n.count != 1) bad_value(file + ": count", std::to_string(n.count), "1 for topology \"single\"");
  if (n.kind == "c2c_pair" && n.count != 2) bad_value(file + ": count", std::to_string(n.count), "2 for topology \"c2c_pair\"");
  if (n.count > 1024) bad_value(file + ": count", std::to_string(n.count), "at most 1024 devices in a node");
  return n;
}

}  // namespace

Topology Topology::load(const std::string& name, const std::string& data_dir, const std::string& where) {
  std::error_code ec;
  fs::path p(name);
  if (p.extension() != ".json") {
    p = fs::path(data_dir) / "hardware_profiles" / "nodes" / (name + ".json");
    if (!fs::is_regular_file(p, ec)) p = fs::path(data_dir) / "hardware_profiles" / "clusters" / (name + ".json");
  }
  if (!fs::is_regular_file(p, ec)) {
    const fs::path root = fs::path(data_dir) / "hardware_profiles";
    bad_value(where, name, "a node in " + (root / "nodes").string() + " or a cluster in " + (root / "clusters").string() +
                               " (file stem), or a path to a node or cluster .json");
  }
  const std::string file = p.string();
  const nlohmann::json j = read_json_file(file);
  const std::string schema = optional_string(j, "schema", "", file);
  auto impl = std::make_shared<Impl>();
  impl->source = file;

  NodeFile node;
  std::string node_file;
  std::string inter_kind;
  double nic_bw = 0, inter_lat = 0;
  if (schema == "servesim.cluster/1") {
    SourcedReader r(j, file);
    impl->name = r.string("name", true);
    const std::string node_name = r.string("node", true);
    impl->nodes = static_cast<int>(r.positive_integer("nodes"));
    if (impl->nodes > 4096) bad_value(file + ": nodes", std::to_string(impl->nodes), "at most 4096 nodes");
    inter_kind = r.string("inter_node.kind", true, {"infiniband", "roce"});
    nic_bw = *r.number("inter_node.bandwidth_per_direction_per_gpu", FieldUnit::kBandwidth, true);
    inter_lat = *r.number("inter_node.latency", FieldUnit::kDuration, true);
    const fs::path np = resolve(node_name, "nodes", p.parent_path(), data_dir);
    if (!fs::is_regular_file(np, ec)) bad_value(file + ": node", node_name, "a node in " + np.parent_path().string());
    node_file = np.string();
    node = read_node(read_json_file(node_file), node_file);
  } else if (schema == "servesim.node/1") {
    node_file = file;
    node = read_node(j, file);
    impl->name = node.name;
  } else {
    bad_value(file + ": schema", schema.empty() ? "<missing>" : schema, "\"servesim.node/1\" or \"servesim.cluster/1\"");
  }
  const fs::path dp = resolve(node.device, "devices", fs::path(node_file).parent_path(), data_dir);
  if (!fs::is_regular_file(dp, ec)) bad_value(node_file + ": device", node.device, "a device in " + dp.parent_path().string());
  const DeviceSpec dev = load_device(dp.string(), data_dir, node_file + ": device");
  if (dev.name != node.device) bad_value(node_file + ": device", node.device, "the name of a device profile (" + dp.string() + " is '" + dev.name + "')");
  impl->device = node.device;
  impl->kind = node.kind;
  impl->per_node = node.count;

  Impl& t = *impl;
  Vertex fabric{};
  if (!inter_kind.empty()) fabric = t.add_vertex("fabric", false, -1);
  for (int n = 0; n < t.nodes; ++n) {
    const std::string prefix = fmt::format("node{}/", n);
    const std::size_t first = t.gpus.size();
    for (int i = 0; i < node.count; ++i) t.gpus.push_back(t.add_vertex(fmt::format("{}gpu{}", prefix, i), true, n));
    auto gpu = [&](int i) { return t.gpus[first + static_cast<std::size_t>(i)]; };
    if (node.kind == "nvswitch" || node.kind == "pcie") {
      const bool nv = node.kind == "nvswitch";
      const Vertex sw = t.add_vertex(prefix + (nv ? "nvswitch" : "pcie_switch"), false, n);
      for (int i = 0; i < node.count; ++i) t.link(gpu(i), sw, node.bandwidth, node.latency_s / 2, nv ? dev.intra_node_kind : "pcie");
    } else if (node.kind == "full_mesh" || node.kind == "c2c_pair") {
      for (int i = 0; i < node.count; ++i) {
        for (int k = i + 1; k < node.count; ++k) t.link(gpu(i), gpu(k), node.bandwidth, node.latency_s, dev.intra_node_kind);
      }
    }
    if (!inter_kind.empty()) {
      // One NIC per GPU behind the GPU's PCIe link; the effective inter-node latency is split
      // over the two NIC-fabric hops so that a GPU-to-GPU route across nodes sums to it.
      for (int i = 0; i < node.count; ++i) {
        const Vertex nic = t.add_vertex(fmt::format("{}nic{}", prefix, i), false, n);
        t.link(gpu(i), nic, dev.pcie_bandwidth, 0.0, "pcie");
        t.link(nic, fabric, nic_bw, inter_lat / 2, inter_kind);
      }
    }
  }
  t.route_all();
  return Topology(std::move(impl));
}

const std::string& Topology::name() const { return impl_->name; }
const std::string& Topology::source() const { return impl_->source; }
const std::string& Topology::device() const { return impl_->device; }
const std::string& Topology::kind() const { return impl_->kind; }
int Topology::num_devices() const { return static_cast<int>(impl_->gpus.size()); }
int Topology::devices_per_node() const { return impl_->per_node; }
int Topology::num_nodes() const { return impl_->nodes; }

double Topology::path_bandwidth(int a, int b) const {
  SERVESIM_ASSERT(a >= 0 && b >= 0 && a < num_devices() && b < num_devices());
  if (a == b || !impl_->reachable(a, b)) return 0;
  double bw = std::numeric_limits<double>::infinity();
  for (const Edge& e : impl_->route(a, b)) bw = std::min(bw, impl_->g[e].bandwidth);
  return bw;
}

double Topology::path_latency(int a, int b) const {
  SERVESIM_ASSERT(a >= 0 && b >= 0 && a < num_devices() && b < num_devices());
  if (a == b) return 0;
  if (!impl_->reachable(a, b)) return std::numeric_limits<double>::infinity();
  double lat = 0;
  for (const Edge& e : impl_->route(a, b)) lat += impl_->g[e].latency_s;
  return lat;
}

std::vector<std::string> Topology::path(int a, int b) const {
  SERVESIM_ASSERT(a >= 0 && b >= 0 && a < num_devices() && b < num_devices());
  std::vector<std::string> out{impl_->g[impl_->gpus[static_cast<std::size_t>(a)]].name};
  if (a == b || !impl_->reachable(a, b)) return out;
  for (const Edge& e : impl_->route(a, b)) out.push_back(impl_->g[boost::target(e, impl_->g)].name);
  return out;
}

GroupLinks Topology::group_bottleneck(std::span<const int> devices) const {
  std::vector<int> group(devices.begin(), devices.end());
  std::sort(group.begin(), group.end());
  group.erase(std::unique(group.begin(), group.end()), group.end());
  for (int d : group) SERVESIM_ASSERT(d >= 0 && d < num_devices());
  GroupLinks out;
  if (group.size() < 2) return out;
  const Impl& t = *impl_;
  // The slowest link and the longest route between any two members.
  out.link_bandwidth = std::numeric_limits<double>::infinity();
  for (int a : group) {
    for (int b : group) {
      if (a == b) continue;
      if (!t.reachable(a, b)) {
        out.link_bandwidth = 0;
        out.latency_s = std::numeric_limits<double>::infinity();
        out.link = fmt::format("no route from {} to {}", t.g[t.gpus[static_cast<std::size_t>(a)]].name,
                               t.g[t.gpus[static_cast<std::size_t>(b)]].name);
        return out;
      }
      double lat = 0;
      for (const Edge& e : t.route(a, b)) {
        lat += t.g[e].latency_s;
        if (t.g[e].bandwidth < out.link_bandwidth) {
          out.link_bandwidth = t.g[e].bandwidth;
          out.link = t.edge_name(e);
        }
      }
      out.latency_s = std::max(out.latency_s, lat);
    }
  }
  // Cuts: each member against the rest, and the members of each node against the rest.
  const bool one_node = group.front() / t.per_node == group.back() / t.per_node;
  out.bandwidth = std::numeric_limits<double>::infinity();
  auto consider = [&](const std::vector<int>& from) {
    std::vector<int> to;
    std::set_difference(group.begin(), group.end(), from.begin(), from.end(), std::back_inserter(to));
    if (from.empty() || to.empty()) return;
    out.bandwidth = std::min(out.bandwidth, t.cut(from, to, one_node));
  };
  for (int d : group) consider({d});
  if (!one_node) {
    for (int n = group.front() / t.per_node; n <= group.back() / t.per_node; ++n) {
      std::vector<int> on_node;
      for (int d : group) {
        if (d / t.per_node == n) on_node.push_back(d);
      }
      consider(on_node);
    }
  }
  return out;
}

ReplicaLinks Topology::replica_links(int tp, int pp, int replica, int cp) const {
  SERVESIM_ASSERT(tp >= 1 && pp >= 1 && cp >= 1 && replica >= 0);
  const int base = replica * tp * pp * cp;
  SERVESIM_ASSERT(base + tp * pp * cp <= num_devices());
  auto device = [&](int s, int c, int i) { return base + (s * cp + c) * tp + i; };
  ReplicaLinks out;
  if (tp > 1) {
    out.tp_bandwidth = std::numeric_limits<double>::infinity();
    std::vector<int> group(static_cast<std::size_t>(tp));
    for (int s = 0; s < pp; ++s) {
      for (int c = 0; c < cp; ++c) {
        for (int i = 0; i < tp; ++i) group[static_cast<std::size_t>(i)] = device(s, c, i);
        const GroupLinks g = group_bottleneck(group);
        out.tp_bandwidth = std::min(out.tp_bandwidth, g.bandwidth);
        out.tp_latency_s = std::max(out.tp_latency_s, g.latency_s);
      }
    }
  }
  // A hop from each device to its peer (same TP rank) in the next stage, or the next CP rank
  // of the ring; the slowest hop sets the group's link.
  auto hops = [&](int stages, int ranks, int ds, int dc, double& bandwidth, double& latency) {
    bandwidth = std::numeric_limits<double>::infinity();
    for (int s = 0; s < stages; ++s) {
      for (int c = 0; c < ranks; ++c) {
        for (int i = 0; i < tp; ++i) {
          const int a = device(s, c, i), b = device(s + ds, (c + dc) % cp, i);
          bandwidth = std::min(bandwidth, path_bandwidth(a, b));
          latency = std::max(latency, path_latency(a, b));
        }
      }
    }
  };
  if (pp > 1) hops(pp - 1, cp, 1, 0, out.pp_bandwidth, out.pp_latency_s);
  if (cp > 1) hops(pp, cp, 0, 1, out.cp_bandwidth, out.cp_latency_s);
  return out;
}

void Topology::require_devices(std::int64_t needed, const std::string& what, const std::string& where) const {
  if (needed <= num_devices()) return;
  bad_value(where, fmt::format("{} ({} devices)", name(), num_devices()),
            fmt::format("a node or cluster with at least {} = {} devices", what, needed));
}

}  // namespace servesim
