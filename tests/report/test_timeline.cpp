// timeline.json (sim/report/chrome_trace.h): the trace-event format, a hand-built two-step
// example, and whole runs recorded through the simulation's observer hooks.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/model/operator.h"
#include "sim/report/chrome_trace.h"
#include "sim/serving/simulation.h"

namespace servesim::report {
namespace {
using nlohmann::json;

// Checks the fields the Chrome trace-event format requires of each phase used; returns the
// events. Every "b" must be closed by an "e" of the same id, in nesting order.
json checked_events(const std::string& text) {
  const json doc = json::parse(text);
  EXPECT_TRUE(doc.contains("traceEvents") && doc["traceEvents"].is_array());
  std::map<std::int64_t, std::vector<std::string>> open;  // async id -> stack of names
  for (const json& e : doc["traceEvents"]) {
    const std::string ph = e.at("ph");
    EXPECT_TRUE(e.at("pid").is_number_integer()) << e;
    if (ph == "M") {
      EXPECT_TRUE(e.at("args").contains("name") || e.at("args").contains("sort_index")) << e;
      continue;
    }
    EXPECT_TRUE(e.at("name").is_string()) << e;
    EXPECT_TRUE(e.at("ts").is_number() && e.at("ts").get<double>() >= 0) << e;
    if (ph == "X") {
      EXPECT_TRUE(e.at("tid").is_number_integer()) << e;
      EXPECT_GE(e.at("dur").get<double>(), 0) << e;
    } else if (ph == "b" || ph == "e") {
      EXPECT_TRUE(e.at("cat").is_string()) << e;
      auto& stack = open[e.at("id").get<std::int64_t>()];
      if (ph == "b") {
        stack.push_back(e.at("name"));
      } else {
        EXPECT_FALSE(stack.empty()) << e;
        if (!stack.empty()) {
          EXPECT_EQ(stack.back(), e.at("name").get<std::string>()) << e;
          stack.pop_back();
        }
      }
    } else if (ph == "s" || ph == "f") {
      EXPECT_TRUE(e.at("id").is_number_integer()) << e;
      EXPECT_TRUE(e.at("tid").is_number_integer()) << e;
    } else if (ph == "C") {
      for (const auto& [k, v] : e.at("args").items()) EXPECT_TRUE(v.is_number()) << k << " in " << e;
    } else {
      ADD_FAILURE() << "unexpected phase " << e;
    }
  }
  for (const auto& [id, stack] : open) EXPECT_TRUE(stack.empty()) << "async slices of " << id << " left open";
  return doc["traceEvents"];
}

json without_metadata(const json& events) {
  json out = json::array();
  for (const json& e : events) {
    if (e["ph"] != "M") out.push_back(e);
  }
  return out;
}

TEST(TraceWindow, ParsesFromAndToWithUnits) {
  const TraceWindow w = parse_trace_window("60s:120s", "--timeline-window");
  EXPECT_EQ(w.from, 60'000'000'000);
  EXPECT_EQ(w.to, 120'000'000'000);
  const TraceWindow open_end = parse_trace_window("90s:", "--timeline-window");  // no end
  EXPECT_EQ(open_end.from, 90'000'000'000);
  EXPECT_EQ(open_end.to, -1);
  EXPECT_EQ(parse_trace_window(":30s", "--timeline-window").from, 0);
}

TEST(TraceWindow, RejectsAMissingColonAndAnEmptySpan) {
  EXPECT_THROW(parse_trace_window("60s", "--timeline-window"), InputError);
  EXPECT_THROW(parse_trace_window("120s:60s", "--timeline-window"), InputError);
}

// The hand-built example: one replica, two steps, one request.
//   step 1 [200 ns, 1200 ns): 2 sequences, 129 tokens, one of them a 128-token prompt;
//          GEMM 600 ns, CPU 400 ns  -> "prefill+decode", ts 0.2 µs, dur 1.0 µs
//   step 2 [1200 ns, 1700 ns): a merged repeated decode step of 2 tokens -> "decode", merged
//   request 7: arrival 0, first scheduled 200, first token 1200, last token 1700
//          -> request [0, 1.7 µs] around queued [0, 0.2], prefill [0.2, 1.2], decode [1.2, 1.7]
//   one time-series sample at 0: 1 waiting, 0 running, 25 of 100 KV tokens -> two counters.
TEST(ChromeTrace, HandBuiltTwoStepExampleRoundTrips) {
  TraceRecorder rec;
  StepTrace s1;
  s1.replica = 0;
  s1.start = 200;
  s1.end = 1200;
  s1.seqs = 2;
  s1.tokens = 129;
  s1.prefill_seqs = 1;
  s1.prefill_tokens = 128;
  s1.ns_by_class[static_cast<std::size_t>(OpClass::kGemm)] = 600;
  s1.ns_by_class[static_cast<std::size_t>(OpClass::kCpu)] = 400;
  rec.on_step(s1);
  StepTrace s2;
  s2.replica = 0;
  s2.start = 1200;
  s2.end = 1700;
  s2.seqs = 2;
  s2.tokens = 2;
  s2.merged = true;
  rec.on_step(s2);
  SimResult res;
  res.resolved_config = {{"pools", json::array({{{"name", "default"}, {"role", "mixed"}}})}};
  res.replica_pool = {"default"};
  RequestRecord r;
  r.id = 7;
  r.replica = 0;
  r.arrival = 0;
  r.prompt_tokens = 128;
  r.output_tokens = 2;
  r.first_scheduled = 200;
  r.first_token = 1200;
  r.last_token = 1700;
  res.records = {r};
  TimeSample t;
  t.time = 0;
  t.waiting = 1;
  t.kv_used_tokens = 25;
  t.kv_capacity_tokens = 100;
  res.samples = {t};

  const json events = without_metadata(checked_events(chrome_trace_json(rec, res)));
  const json step_args_1 = {{"seqs", 2}, {"tokens", 129}, {"prefill_seqs", 1}, {"prefill_tokens", 128}, {"merged", false}, {"gemm_us", 0.6}, {"cpu_us", 0.4}};
  const json step_args_2 = {{"seqs", 2}, {"tokens", 2}, {"prefill_seqs", 0}, {"prefill_tokens", 0}, {"merged", true}};
  auto async = [](const char* ph, const char* name, double ts) {
    return json{{"ph", ph}, {"cat", "request"}, {"name", name}, {"id", 7}, {"pid", 2}, {"tid", 0}, {"ts", ts}};  // pid 1: the pool
  };
  json request_begin = async("b", "request", 0);
  request_begin["args"] = {{"prompt_tokens", 128}, {"output_tokens", 2}, {"replica", 0}, {"decode_replica", -1}, {"preemptions", 0}, {"rejected", false}};
  const json expected = json::array({
      {{"ph", "X"}, {"cat", "step"}, {"name", "prefill+decode"}, {"pid", 1}, {"tid", 0}, {"ts", 0.2}, {"dur", 1.0}, {"args", step_args_1}},
      {{"ph", "X"}, {"cat", "step"}, {"name", "decode"}, {"pid", 1}, {"tid", 0}, {"ts", 1.2}, {"dur", 0.5}, {"args", step_args_2}},
      request_begin,
      async("b", "queued", 0),
      async("e", "queued", 0.2),
      async("b", "prefill", 0.2),
      async("e", "prefill", 1.2),
      async("b", "decode", 1.2),
      async("e", "decode", 1.7),
      async("e", "request", 1.7),
      {{"ph", "C"}, {"name", "replica 0 queue"}, {"pid", 1}, {"ts", 0}, {"args", {{"waiting", 1}, {"running", 0}}}},
      {{"ph", "C"}, {"name", "replica 0 KV use"}, {"pid", 1}, {"ts", 0}, {"args", {{"kv_used_tokens", 25}, {"kv_utilization", 0.25}}}},
  });
  EXPECT_EQ(events, expected) << events.dump(1);
}

TEST(ChromeTrace, WindowKeepsOnlyStepsThatOverlapIt) {
  TraceRecorder rec(TraceWindow{1000, 1500});
  for (SimTime start : {0, 600, 1200, 1500, 2000}) {  // steps of 500 ns: [0,500) out, [600,1100) in, [1200,1700) in, [1500,..) out
    StepTrace s;
    s.start = start;
    s.end = start + 500;
    s.seqs = s.tokens = 1;
    rec.on_step(s);
  }
  ASSERT_EQ(rec.steps().size(), 2u);
  EXPECT_EQ(rec.steps()[0].start, 600);
  EXPECT_EQ(rec.steps()[1].start, 1200);
}

json small_run(std::int64_t requests) {
  json s = json::parse(default_scenario_text());
  s["workload"]["num_requests"] = requests;
  s["workload"]["rate"] = 20.0;
  s["scheduler"]["max_num_seqs"] = 16;  // a short queue: preemptions and merged runs both occur
  return s;
}

TEST(ChromeTrace, EveryStepOfARunIsASliceIncludingMergedSteps) {
  TraceRecorder rec;
  RunControl c;
  c.trace = &rec;
  Simulation sim(small_run(200), SimOptions{});
  const SimResult res = sim.run(c);
  ASSERT_GT(sim.replica(0).merged_steps(), 0) << "the run should use the multi-step advance";
  const json events = checked_events(chrome_trace_json(rec, res));
  std::int64_t steps = 0, requests = 0;
  for (const json& e : events) {
    if (e["ph"] == "X" && e["cat"] == "step") ++steps;
    if (e["ph"] == "b" && e["name"] == "request") ++requests;
  }
  EXPECT_EQ(steps, res.summary["steps"]["count"].get<std::int64_t>());
  EXPECT_EQ(requests, 200);
}

TEST(ChromeTrace, ObservingDoesNotChangeTheResults) {
  const SimResult plain = Simulation(small_run(150), SimOptions{}).run();
  TraceRecorder rec;
  RunControl c;
  c.trace = &rec;
  const SimResult traced = Simulation(small_run(150), SimOptions{}).run(c);
  EXPECT_EQ(plain.summary.dump(), traced.summary.dump());
}

TEST(ChromeTrace, PreemptedSlicesMatchThePreemptionCount) {
  json s = small_run(200);
  s["kv"]["num_gpu_blocks_override"] = 300;  // 4800 tokens of KV: preemptions are certain
  TraceRecorder rec;
  RunControl c;
  c.trace = &rec;
  const SimResult res = Simulation(s, SimOptions{}).run(c);
  ASSERT_GT(res.summary["requests"]["preemptions"].get<std::int64_t>(), 0);
  EXPECT_EQ(static_cast<std::int64_t>(rec.preemptions().size()), res.summary["requests"]["preemptions"].get<std::int64_t>());
  checked_events(chrome_trace_json(rec, res));
}

// One request through one prefill and one decode replica, whole-KV mode over NVLink: the
// copy takes 296,272 ns (tests/serving/test_cluster.cpp derives it), so the hand-off is one
// flow from replica 0's transfer track to replica 1's with slices of 296.272 µs.
TEST(ChromeTrace, DisaggregatedHandOffIsAFlowBetweenPools) {
  const std::string path = ::testing::TempDir() + "/timeline_one_" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream(path) << json{{"timestamp", 0}, {"input_length", 1000}, {"output_length", 2}}.dump() << "\n";
  json s = {{"name", "one"}, {"seed", 7}, {"model", "Llama-3.1-8B"}, {"hardware", "h100_sxm"},
            {"workload", {{"impl", "mooncake_jsonl"}, {"path", path}}}, {"kv_transfer", {{"mode", "whole"}}}};
  s["pools"] = json::array({{{"name", "prefill"}, {"role", "prefill"}, {"replicas", 1}}, {{"name", "decode"}, {"role", "decode"}, {"replicas", 1}}});
  TraceRecorder rec;
  RunControl c;
  c.trace = &rec;
  const SimResult res = Simulation(s, SimOptions{}).run(c);
  const json events = checked_events(chrome_trace_json(rec, res));
  int flows_out = 0, flows_in = 0, slices = 0, transferred = 0;
  for (const json& e : events) {
    if (e["ph"] == "s") {
      ++flows_out;
      EXPECT_EQ(e["pid"], 1);  // pool prefill
    }
    if (e["ph"] == "f") {
      ++flows_in;
      EXPECT_EQ(e["pid"], 2);  // pool decode
    }
    if (e["ph"] == "X" && e["cat"] == "kv_transfer") {
      ++slices;
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 296.272);
    }
    if (e["ph"] == "b" && e["name"] == "transferred") ++transferred;
  }
  EXPECT_EQ(flows_out, 1);
  EXPECT_EQ(flows_in, 1);
  EXPECT_EQ(slices, 2);  // leaving replica 0, entering replica 1
  EXPECT_EQ(transferred, 1);
}

}  // namespace
}  // namespace servesim::report
