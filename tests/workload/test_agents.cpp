// ShareGPT and Vidur trace readers, closed-loop agent programs and chat sessions.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/workload/i_workload.h"

namespace servesim {
namespace {
using nlohmann::json;

std::unique_ptr<IWorkload> build(const json& cfg, std::uint64_t seed = 1) {
  return WorkloadRegistry::get().build(cfg, "t: workload", nullptr, WorkloadDeps{seed, SERVESIM_TEST_DATA, "t: workload"});
}
std::string data(const char* f) { return std::string(SERVESIM_TEST_DATA) + "/" + f; }

TEST(ShareGptCsv, SequentialOrderTakesRowsAsPairsInFileOrderAndEnds) {
  auto w = build(json{{"impl", "sharegpt_csv"}, {"path", data("sharegpt_sample.csv")}, {"order", "sequential"}, {"rate", 2.0}});
  const std::vector<std::pair<int, int>> rows = {{74, 918}, {290, 905}, {30, 5}};  // the file's rows
  for (const auto& [p, o] : rows) {
    auto r = w->next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->prompt_tokens, p);
    EXPECT_EQ(r->output_tokens, o);
  }
  EXPECT_FALSE(w->next());
}

TEST(ShareGptCsv, RandomOrderDrawsJointPairsNeverMixingRows) {
  auto w = build(json{{"impl", "sharegpt_csv"}, {"path", data("sharegpt_sample.csv")}, {"num_requests", 300}});
  // Each prompt length has exactly one output length in the file: a draw that mixed the
  // marginals would pair 74 with 905 or 5 (probability 2/3 a draw).
  const std::map<int, int> pair = {{74, 918}, {290, 905}, {30, 5}};
  std::set<int> seen;
  int n = 0;
  while (auto r = w->next()) {
    ++n;
    ASSERT_TRUE(pair.count(r->prompt_tokens));
    EXPECT_EQ(r->output_tokens, pair.at(r->prompt_tokens));
    seen.insert(r->prompt_tokens);
  }
  EXPECT_EQ(n, 300);
  EXPECT_EQ(seen.size(), 3u);  // each row 1/3 a draw: all drawn in 300 (miss probability 3 x (2/3)^300)
}

TEST(ShareGptCsv, MaxTotalTokensSkipsLongerRows) {
  // 74+918 = 992 and 30+5 = 35 are within 1000; 290+905 = 1195 is not.
  auto w = build(json{{"impl", "sharegpt_csv"}, {"path", data("sharegpt_sample.csv")}, {"order", "sequential"},
                      {"max_total_tokens", 1000}});
  EXPECT_EQ(w->next()->prompt_tokens, 74);
  EXPECT_EQ(w->next()->prompt_tokens, 30);
  EXPECT_FALSE(w->next());
}

TEST(ShareGptCsv, ArrivalsArePoissonAtTheRate) {
  auto w = build(json{{"impl", "sharegpt_csv"}, {"path", data("sharegpt_sample.csv")}, {"rate", 4.0}, {"num_requests", 4000}, {"duration", 0}});
  SimTime last = 0;
  while (auto r = w->next()) last = r->arrival;
  // 4000 exponential gaps of mean 0.25 s: 1000 s, standard deviation 0.25 x sqrt(4000) = 16 s.
  EXPECT_NEAR(to_seconds(last), 1000.0, 64.0);
}

TEST(ShareGptCsv, ReadsVidursShareGptFileWhenPresent) {
  const std::string path = std::string(SERVESIM_SHARED_DATA) + "/traces/sharegpt/sharegpt_8k_filtered_stats_llama2_tokenizer.csv";
  if (!std::ifstream(path)) GTEST_SKIP() << "shared data absent";
  auto w = build(json{{"impl", "sharegpt_csv"}, {"path", path}, {"order", "sequential"}, {"duration", 0}});
  std::int64_t n = 0;
  auto first = w->next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->prompt_tokens, 74);  // the file's first row: 74,918,992,...
  EXPECT_EQ(first->output_tokens, 918);
  for (n = 1; w->next(); ++n) {
  }
  EXPECT_EQ(n, 30731);  // wc -l: 30,732 lines, one of them the header
}

TEST(ShareGptCsv, OptionalPriorityAndClientColumnsTravelWithTheirRow) {
  auto w = build(json{{"impl", "sharegpt_csv"}, {"path", data("sharegpt_clients.csv")}, {"order", "sequential"}});
  auto a = w->next();
  EXPECT_EQ(a->prompt_tokens, 100);
  EXPECT_EQ(a->output_tokens, 10);
  EXPECT_EQ(a->client, 2);
  EXPECT_EQ(a->priority, -1);
  auto b = w->next();
  EXPECT_EQ(b->client, 0);
  EXPECT_EQ(b->priority, 3);
}

TEST(VidurCsv, ArrivalsAreSecondsFromTheTraceStartColumnsByName) {
  auto w = build(json{{"impl", "vidur_csv"}, {"path", data("vidur_sample.csv")}});
  auto a = w->next();
  EXPECT_EQ(a->arrival, 0);
  EXPECT_EQ(a->prompt_tokens, 374);
  EXPECT_EQ(a->output_tokens, 44);
  auto b = w->next();
  EXPECT_EQ(b->arrival, 250 * kMs);
  EXPECT_EQ(b->prompt_tokens, 1500);
  EXPECT_EQ(b->priority, -2);
  EXPECT_EQ(b->client, 1);
  EXPECT_EQ(w->next()->arrival, 1500 * kMs);
  EXPECT_FALSE(w->next());
}

TEST(VidurCsv, AByteOrderMarkBeforeTheHeaderIsSkipped) {
  const std::string path = ::testing::TempDir() + "/vidur_bom.csv";
  std::ofstream(path) << "\xEF\xBB\xBF" << "arrived_at,num_prefill_tokens,num_decode_tokens\n0.5,10,3\n";
  auto w = build(json{{"impl", "vidur_csv"}, {"path", path}});
  auto r = w->next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->arrival, 500 * kMs);
  EXPECT_EQ(r->prompt_tokens, 10);
}

TEST(VidurCsv, TimeScaleStretchesArrivals) {
  auto w = build(json{{"impl", "vidur_csv"}, {"path", data("vidur_sample.csv")}, {"time_scale", 2.0}});
  w->next();
  EXPECT_EQ(w->next()->arrival, 500 * kMs);  // 0.25 s x 2
}

json agent_trace(double ttl_multiple = 0) {
  return json{{"impl", "agent"}, {"path", data("agent_sample.jsonl")}, {"kv_ttl_tool_multiple", ttl_multiple}};
}

TEST(Agent, NextCallArrivesWhenThePreviousFinishedPlusTheToolLatency) {
  auto w = build(agent_trace());
  auto c0 = w->next();  // program 0's first call; program 1 starts with the next next()
  ASSERT_TRUE(c0);
  EXPECT_EQ(c0->arrival, 500 * kMs);
  EXPECT_EQ(c0->session, 0);
  EXPECT_EQ(c0->call, 0);
  std::vector<RequestSpec> out;
  w->on_request_done(*c0, true, 3 * kSec, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].arrival, 5 * kSec);  // finished at 3 s + tool 2 s
  EXPECT_EQ(out[0].call, 1);
  EXPECT_EQ(out[0].session, 0);
  // Prompt = the context so far (100 + 20) + the new input 30.
  EXPECT_EQ(out[0].prompt_tokens, 150);
  EXPECT_EQ(out[0].output_tokens, 10);
  // The last call ends the program: nothing follows it.
  std::vector<RequestSpec> none;
  w->on_request_done(out[0], true, 6 * kSec, none);
  EXPECT_TRUE(none.empty());
}

TEST(Agent, TheNextCallsPrefixIdsRepeatThePreviousCallsContext) {
  auto w = build(agent_trace());
  auto c0 = w->next();
  std::vector<RequestSpec> out;
  w->on_request_done(*c0, true, 3 * kSec, out);
  // Units of 16 tokens: call 0 covers 120 tokens (prompt + output) = 7 whole units + 8
  // tokens; call 1 keeps those 7 ids (the 8th unit was partial, so it is new content).
  ASSERT_GE(c0->prefix_ids.size(), 8u);
  ASSERT_GE(out[0].prefix_ids.size(), 8u);
  for (std::size_t u = 0; u < 7; ++u) EXPECT_EQ(out[0].prefix_ids[u], c0->prefix_ids[u]) << u;
  EXPECT_NE(out[0].prefix_ids[7], c0->prefix_ids[7]);
}

TEST(Agent, ARejectedCallEndsItsProgram) {
  auto w = build(agent_trace());
  auto c0 = w->next();
  std::vector<RequestSpec> out;
  w->on_request_done(*c0, false, 3 * kSec, out);
  EXPECT_TRUE(out.empty());
  auto p1 = w->next();  // the open-loop stream goes on: program 1
  EXPECT_EQ(p1->session, 1);
  EXPECT_EQ(p1->arrival, 1 * kSec);
}

TEST(Agent, TtlIsAMultipleOfTheToolsExpectedLatencyAndZeroAfterTheLastCall) {
  auto w = build(agent_trace(1.5));
  auto c0 = w->next();
  EXPECT_EQ(c0->kv_ttl, 3 * kSec);  // 1.5 x the trace's 2 s tool call
  std::vector<RequestSpec> out;
  w->on_request_done(*c0, true, 3 * kSec, out);
  EXPECT_EQ(out[0].kv_ttl, 0);  // no tool call after the last call
}

TEST(Agent, GeneratedProgramsUseTheConstantToolLatencyAndFixedTtl) {
  auto w = build(json{{"impl", "agent"},
                      {"num_programs", 1},
                      {"calls", {{"dist", "fixed"}, {"value", 3}}},
                      {"tool_latency", {{"dist", "constant"}, {"value", 0.75}}},
                      {"kv_ttl", "4s"}});
  auto c0 = w->next();
  EXPECT_EQ(c0->kv_ttl, 4 * kSec);
  std::vector<RequestSpec> out;
  w->on_request_done(*c0, true, 10 * kSec, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].arrival, 10 * kSec + 750 * kMs);
  EXPECT_FALSE(w->next());  // one program only
}

TEST(Agent, AProgramsCallsDoNotDependOnTheOrderOtherProgramsFinish) {
  const json cfg = {{"impl", "agent"}, {"num_programs", 2}, {"calls", {{"dist", "fixed"}, {"value", 3}}}};
  auto second_call_of_program_1 = [&](bool program_0_first) {
    auto w = build(cfg);
    auto a = w->next(), b = w->next();
    std::vector<RequestSpec> out;
    if (program_0_first) w->on_request_done(*a, true, 5 * kSec, out);
    w->on_request_done(*b, true, 6 * kSec, out);
    if (!program_0_first) w->on_request_done(*a, true, 7 * kSec, out);
    for (const auto& r : out) {
      if (r.session == 1) return r;
    }
    return RequestSpec{};
  };
  const RequestSpec x = second_call_of_program_1(true), y = second_call_of_program_1(false);
  EXPECT_EQ(x.prompt_tokens, y.prompt_tokens);
  EXPECT_EQ(x.output_tokens, y.output_tokens);
  EXPECT_EQ(x.arrival, y.arrival);
}

TEST(Agent, PercentileTtlIsTheToolLatencysQuantile) {
  auto ttl = [](const json& tool, double pct) {
    auto w = build(json{{"impl", "agent"}, {"num_programs", 1}, {"calls", {{"dist", "fixed"}, {"value", 2}}},
                        {"tool_latency", tool}, {"kv_ttl_tool_percentile", pct}});
    return to_seconds(w->next()->kv_ttl);
  };
  // Exponential, mean 2 s: the median is 2 ln 2 = 1.386294 s; p90 = 2 ln 10 = 4.605170 s.
  EXPECT_NEAR(ttl({{"dist", "exponential"}, {"mean", 2.0}}, 50), 1.386294, 1e-6);
  EXPECT_NEAR(ttl({{"dist", "exponential"}, {"mean", 2.0}}, 90), 4.605170, 1e-6);
  // Lognormal, mean 2 s, sigma 1: median exp(ln 2 - 1/2) = 1.213061 s; p84.1345 (z = 1) is
  // e times the median = 3.297443 s.
  EXPECT_NEAR(ttl({{"dist", "lognormal"}, {"mean", 2.0}, {"sigma", 1.0}}, 50), 1.213061, 1e-6);
  EXPECT_NEAR(ttl({{"dist", "lognormal"}, {"mean", 2.0}, {"sigma", 1.0}}, 84.1344746), 3.297443, 1e-5);
}

TEST(MultiTurnClosedLoop, TheNextTurnWaitsForTheReplyPlusThinkTime) {
  auto w = build(json{{"impl", "multiturn"}, {"num_sessions", 1}, {"closed_loop", true},
                      {"turns", {{"dist", "fixed"}, {"value", 2}}}, {"think_time", "5s"}});
  auto t0 = w->next();
  ASSERT_TRUE(t0);
  EXPECT_EQ(t0->call, 0);
  EXPECT_FALSE(w->next());  // turn 1 is not streamed: it waits for turn 0's reply
  std::vector<RequestSpec> out;
  w->on_request_done(*t0, true, 100 * kSec, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].call, 1);
  EXPECT_GT(out[0].arrival, 100 * kSec);  // reply at 100 s + an exponential think time
  // Its prompt is the conversation so far plus a user message of at least 2 tokens (`user` min).
  EXPECT_GE(out[0].prompt_tokens, t0->prompt_tokens + t0->output_tokens + 2);
}

TEST(BundledTraces, NewFormatSamplesParseWhole) {
  // traces/README.md: 50 ShareGPT-format rows, 40 Vidur-format requests, 20 agent programs.
  const std::string dir = std::string(SERVESIM_DATA_DIR) + "/traces/";
  auto s = build(json{{"impl", "sharegpt_csv"}, {"path", dir + "sample_sharegpt_format.csv"}, {"order", "sequential"}});
  int n = 0;
  while (s->next()) ++n;
  EXPECT_EQ(n, 50);
  auto v = build(json{{"impl", "vidur_csv"}, {"path", dir + "sample_vidur_format.csv"}});
  n = 0;
  while (v->next()) ++n;
  EXPECT_EQ(n, 40);
  auto a = build(json{{"impl", "agent"}, {"path", dir + "sample_agent_format.jsonl"}});
  n = 0;
  while (auto r = a->next()) {
    ++n;
    EXPECT_EQ(r->call, 0);
  }
  EXPECT_EQ(n, 20);
}

}  // namespace
}  // namespace servesim
