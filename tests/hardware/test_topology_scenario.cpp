// A scenario's "topology" key: the replica's TP/PP links come from the named node or
// cluster; without it, from the device's own intra_node link (as before).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {
using nlohmann::json;

// One request of 16 prompt tokens and 11 output tokens: 1 prefill step + 10 decode steps,
// every one sampling a token. The roofline prices every operator (the link arithmetic
// below is the roofline's).
json one_request(const std::string& hardware, int tp) {
  json s = json::parse(default_scenario_text());
  s["cost"] = {{"impl", "roofline"}};
  s["hardware"] = hardware;
  s["parallel"]["tp"] = tp;
  s["workload"]["num_requests"] = 1;
  s["workload"]["prompt"] = {{"dist", "fixed"}, {"value", 16}};
  s["workload"]["output"] = {{"dist", "fixed"}, {"value", 11}};
  return s;
}

double collective_seconds(const json& scenario) {
  const SimResult r = Simulation(scenario, SimOptions{}).run();
  EXPECT_EQ(r.summary["steps"]["count"].get<std::int64_t>(), 11);
  return r.summary["step_time_by_op_class_s"]["collective"].get<double>();
}

TEST(TopologyScenario, Mi300xMeshTp8AddsOnlyTheMeshLatency) {
  // mi300x_8, TP=8: the group gets 7 x 64 = 448 GB/s, the same as the device's
  // intra_node figure used without a topology, so only the latency differs: the mesh's
  // 10 us a ring step against the roofline's default collective_latency of 8 us. A step
  // of Llama-3.1-8B has 2 x 32 all-reduces of 2 x (8 - 1) = 14 steps and one logits
  // all-gather of 7 steps: (64 x 14 + 7) x 2 us = 1.806 ms more a step, 11 steps.
  json bare = one_request("mi300x", 8);
  json mesh = bare;
  mesh["topology"] = "mi300x_8";
  EXPECT_NEAR(collective_seconds(mesh) - collective_seconds(bare), 11 * (64 * 14 + 7) * 2e-6, 1e-6);
}

TEST(TopologyScenario, Mi300xMeshTp2IsSlowerThanTheWholeGpuLink) {
  // TP=2 on the mesh: one 64 GB/s link instead of the device's 448 GB/s.
  json bare = one_request("mi300x", 2);
  json mesh = bare;
  mesh["topology"] = "mi300x_8";
  EXPECT_GT(collective_seconds(mesh), collective_seconds(bare));
}

TEST(TopologyScenario, ANodeAndItsClusterGiveTheSameIntraNodeLinks) {
  // TP=8 fits in node 0 of the cluster: the same links as the bare node.
  json node = one_request("h100_sxm", 8);
  node["topology"] = "hgx_h100_8";
  json cluster = node;
  cluster["topology"] = "h100_ib_2x8";
  EXPECT_DOUBLE_EQ(collective_seconds(node), collective_seconds(cluster));
}

TEST(TopologyScenario, TopologyIsInTheResolvedConfig) {
  json s = one_request("h100_sxm", 2);
  s["topology"] = "hgx_h100_8";
  EXPECT_EQ(Simulation(s, SimOptions{}).resolved_config()["pools"][0]["topology"], "hgx_h100_8");
}

std::string error_of(const json& s) {
  try {
    Simulation sim(s, SimOptions{});
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(TopologyScenario, PlansThatDoNotFitTheTopologyAreRefused) {
  json s = one_request("h100_sxm", 8);
  s["topology"] = "hgx_h100_8";
  s["replicas"] = 2;
  EXPECT_EQ(error_of(s),
            "scenario.json: topology: got 'hgx_h100_8 (8 devices)', expected a node or cluster with at least devices of "
            "the pools placed on it (tp x pp x replicas) = 16 devices");
  s["topology"] = "h100_ib_2x8";
  EXPECT_EQ(error_of(s), "<no error>");
}

TEST(TopologyScenario, TopologyOfAnotherDeviceIsRefused) {
  json s = one_request("h100_sxm", 2);
  s["topology"] = "mi300x_8";
  EXPECT_EQ(error_of(s),
            "scenario.json: topology: got 'mi300x_8 (mi300x devices)', expected a node or cluster of h100_sxm devices "
            "(the pool's hardware)");
}

}  // namespace
}  // namespace servesim
