// Trace readers and the synthetic generator.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/length_dist.h"

namespace servesim {
namespace {
using nlohmann::json;

std::unique_ptr<IWorkload> build(const json& cfg, std::uint64_t seed = 1) {
  return WorkloadRegistry::get().build(cfg, "t: workload", nullptr, WorkloadDeps{seed, SERVESIM_TEST_DATA, "t: workload"});
}

TEST(AzureCsv, ArrivalsAreRelativeToTheFirstRowAcrossMidnight) {
  auto w = build(json{{"impl", "azure_csv"}, {"path", std::string(SERVESIM_TEST_DATA) + "/azure_sample.csv"}});
  auto a = w->next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->arrival, 0);
  EXPECT_EQ(a->prompt_tokens, 374);
  EXPECT_EQ(a->output_tokens, 44);
  auto b = w->next();
  // 18:15:50.9951690 - 18:15:46.6805900 = 4.3145790 s
  EXPECT_EQ(b->arrival, 4'314'579'000);
  auto c = w->next();
  // 23:59:59.0000001 - 18:15:46.6805900 = 5 h 44 min 12.3194101 s = 20652.3194101 s
  EXPECT_EQ(c->arrival, 20'652'319'410'100);
  auto d = w->next();
  // next day 00:00:01.5 -> 2.4999999 s after c
  EXPECT_EQ(d->arrival - c->arrival, 2'499'999'900);
  EXPECT_FALSE(w->next());
}

TEST(AzureCsv, TimeScaleCompressesArrivals) {
  auto w = build(json{{"impl", "azure_csv"}, {"path", std::string(SERVESIM_TEST_DATA) + "/azure_sample.csv"}, {"time_scale", 0.5}});
  w->next();
  EXPECT_EQ(w->next()->arrival, 2'157'289'500);
}

TEST(AzureCsv, ReadsTheRealTraceWhenPresent) {
  const std::string path = std::string(SERVESIM_SHARED_DATA) + "/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv";
  if (!std::ifstream(path)) GTEST_SKIP() << "shared data absent";
  auto w = build(json{{"impl", "azure_csv"}, {"path", path}});
  std::int64_t n = 0, ctx = 0;
  while (auto r = w->next()) {
    ++n;
    ctx += r->prompt_tokens;
  }
  // ../shared/data/README.md: 19,366 requests, context mean 1155.
  EXPECT_EQ(n, 19366);
  EXPECT_NEAR(static_cast<double>(ctx) / n, 1155, 1);
}

TEST(Mooncake, ReadsHashIdsAsPrefixUnits) {
  auto w = build(json{{"impl", "mooncake_jsonl"}, {"path", std::string(SERVESIM_TEST_DATA) + "/mooncake_sample.jsonl"}});
  auto a = w->next();
  EXPECT_EQ(a->prefix_unit, 512);
  EXPECT_EQ(a->prefix_ids, (std::vector<std::uint64_t>{0, 1, 2}));
  auto b = w->next();
  EXPECT_EQ(b->arrival, 250 * kMs);
  EXPECT_EQ(b->prompt_tokens, 1500);
  EXPECT_EQ(w->next()->id, 2);
  EXPECT_FALSE(w->next());
}

TEST(Mooncake, ReadsOptionalClientAndPriority) {
  auto w = build(json{{"impl", "mooncake_jsonl"}, {"path", std::string(SERVESIM_TEST_DATA) + "/mooncake_clients.jsonl"}});
  auto a = w->next();
  EXPECT_EQ(a->client, 2);
  EXPECT_EQ(a->priority, -1);
  auto b = w->next();  // neither field: client 0, priority 0
  EXPECT_EQ(b->client, 0);
  EXPECT_EQ(b->priority, 0);
}

TEST(Synthetic, SameSeedSameStreamOtherSeedOtherStream) {
  const json cfg{{"impl", "synthetic"}, {"num_requests", 50}, {"duration", 0}};
  auto a = build(cfg, 7), b = build(cfg, 7), c = build(cfg, 8);
  int diff = 0;
  for (int i = 0; i < 50; ++i) {
    auto x = a->next(), y = b->next(), z = c->next();
    EXPECT_EQ(x->arrival, y->arrival);
    EXPECT_EQ(x->prompt_tokens, y->prompt_tokens);
    diff += x->arrival != z->arrival;
  }
  EXPECT_GT(diff, 45);
}

TEST(Synthetic, ClientsGetTheirWeightedShareAndPriority) {
  // Weights 3:1 over 20,000 requests: client 0 gets 75% (binomial sd 0.3%, 1% tolerance);
  // each request carries its client's priority.
  auto w = build(json{{"impl", "synthetic"},
                      {"num_requests", 20000},
                      {"duration", 0},
                      {"clients", json::array({{{"weight", 3}, {"priority", 0}}, {{"weight", 1}, {"priority", 7}}})}});
  int n0 = 0, n = 0;
  while (auto r = w->next()) {
    ++n;
    n0 += r->client == 0;
    EXPECT_EQ(r->priority, r->client == 0 ? 0 : 7);
  }
  EXPECT_NEAR(static_cast<double>(n0) / n, 0.75, 0.01);
}

TEST(Synthetic, PriorityRotationGivesEachClientTheNextClientsPriorityEveryPeriod) {
  // Clients of priorities 0, 5, 9, rotation 10 s: client k has priority p[(k + j) mod 3]
  // during [10j, 10(j + 1)) s, repeating every 30 s; each request arrives with its
  // client's priority then and carries the trace.
  auto w = build(json{{"impl", "synthetic"},
                      {"num_requests", 2000},
                      {"duration", 0},
                      {"rate", 20},
                      {"priority_rotation", "10s"},
                      {"clients", json::array({{{"priority", 0}}, {{"priority", 5}}, {{"priority", 9}}})}});
  const std::int32_t p[3] = {0, 5, 9};
  int n = 0;
  while (auto r = w->next()) {
    ++n;
    const auto j = static_cast<std::int32_t>(r->arrival / 10'000'000'000);
    ASSERT_NE(r->priority_trace, nullptr);
    EXPECT_EQ(r->priority, p[(r->client + j) % 3]);
    EXPECT_EQ(r->priority_trace->at(r->arrival + 10'000'000'000, -1), p[(r->client + j + 1) % 3]);
  }
  EXPECT_EQ(n, 2000);
}

TEST(Synthetic, PriorityChangesApplyFromTheirTime) {
  // One client, priority 4, then 1 from 5 s on: requests before 5 s arrive with 4 and
  // change to 1 at 5 s; later ones arrive with 1.
  auto w = build(json{{"impl", "synthetic"},
                      {"num_requests", 200},
                      {"duration", 0},
                      {"rate", 20},
                      {"clients", json::array({{{"priority", 4}, {"priority_changes", json::array({{{"at", "5s"}, {"priority", 1}}})}}})}});
  while (auto r = w->next()) {
    EXPECT_EQ(r->priority, r->arrival < 5'000'000'000 ? 4 : 1);
    EXPECT_EQ(r->priority_trace->at(5'000'000'000, r->priority), 1);
  }
}

TEST(Synthetic, PriorityChangesOutOfOrderOrBesideARotationAreErrors) {
  const json late_first = json::array({{{"priority_changes", json::array({{{"at", "5s"}, {"priority", 1}}, {{"at", "2s"}, {"priority", 0}}})}}});
  EXPECT_THROW(build(json{{"impl", "synthetic"}, {"clients", late_first}}), InputError);
  const json changes = json::array({{{"priority_changes", json::array({{{"at", "5s"}, {"priority", 1}}})}}, json::object()});
  EXPECT_THROW(build(json{{"impl", "synthetic"}, {"priority_rotation", "1s"}, {"clients", changes}}), InputError);
  EXPECT_THROW(build(json{{"impl", "synthetic"}, {"priority_rotation", "1s"}}), InputError);  // fewer than 2 clients
}

TEST(Synthetic, AClientWithoutAWeightOrWithAnUnknownKeyIsAnError) {
  EXPECT_THROW(build(json{{"impl", "synthetic"}, {"clients", json::array({{{"weight", 0}}})}}), InputError);
  EXPECT_THROW(build(json{{"impl", "synthetic"}, {"clients", json::array({{{"share", 1}}})}}), InputError);
  EXPECT_THROW(build(json{{"impl", "synthetic"}, {"clients", 3}}), InputError);
}

TEST(Synthetic, PoissonRateAndLognormalMeansMatchTheirParameters) {
  // 20,000 requests at 5.5 req/s: mean gap 1/5.5 s within 2%; lognormal prompt mean 1155
  // (median 1020) within 3% (the max clip at 14050 removes a negligible tail).
  auto w = build(json{{"impl", "synthetic"}, {"num_requests", 20000}, {"duration", 0}, {"rate", 5.5}});
  SimTime last = 0;
  double prompt = 0;
  int n = 0;
  while (auto r = w->next()) {
    last = r->arrival;
    prompt += r->prompt_tokens;
    ++n;
  }
  EXPECT_EQ(n, 20000);
  EXPECT_NEAR(to_seconds(last) / n, 1 / 5.5, 0.02 / 5.5);
  EXPECT_NEAR(prompt / n, 1155, 1155 * 0.03);
}

TEST(Synthetic, GammaArrivalsHaveTheRequestedVariability) {
  auto w = build(json{{"impl", "synthetic"}, {"num_requests", 20000}, {"duration", 0}, {"rate", 2.0}, {"arrival", "gamma"}, {"cv", 3.0}});
  std::vector<double> gaps;
  SimTime prev = 0;
  while (auto r = w->next()) {
    gaps.push_back(to_seconds(r->arrival - prev));
    prev = r->arrival;
  }
  double mean = 0, var = 0;
  for (double g : gaps) mean += g;
  mean /= gaps.size();
  for (double g : gaps) var += (g - mean) * (g - mean);
  var /= gaps.size();
  EXPECT_NEAR(mean, 0.5, 0.5 * 0.05);
  EXPECT_NEAR(std::sqrt(var) / mean, 3.0, 3.0 * 0.1);
}

TEST(Synthetic, DurationEndsTheWorkload) {
  auto w = build(json{{"impl", "synthetic"}, {"duration", "10s"}, {"rate", 10}});
  SimTime last = 0;
  int n = 0;
  while (auto r = w->next()) {
    last = r->arrival;
    ++n;
  }
  EXPECT_LE(last, 10 * kSec);
  EXPECT_NEAR(n, 100, 35);  // Poisson(100): within 3.5 sigma
}

TEST(LengthDist, EmpiricalAndUniformAndFixed) {
  Rng rng(3);
  auto e = LengthDist::parse(json{{"dist", "empirical"}, {"values", {10, 20}}, {"weights", {3, 1}}}, "t");
  int tens = 0;
  for (int i = 0; i < 4000; ++i) tens += e.sample(rng) == 10;
  EXPECT_NEAR(tens, 3000, 120);
  auto u = LengthDist::parse(json{{"dist", "uniform"}, {"min", 5}, {"max", 7}}, "t");
  for (int i = 0; i < 100; ++i) {
    const auto x = u.sample(rng);
    EXPECT_GE(x, 5);
    EXPECT_LE(x, 7);
  }
  EXPECT_EQ(LengthDist::parse(json{{"dist", "fixed"}, {"value", 64}}, "t").sample(rng), 64);
  EXPECT_THROW(LengthDist::parse(json{{"dist", "fixed"}, {"value", 64}, {"extra", 1}}, "t"), InputError);
  EXPECT_THROW(LengthDist::parse(json{{"dist", "lognormal"}, {"median", 100}, {"mean", 50}}, "t"), InputError);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {
TEST(BundledTraces, SamplesParseWhole) {
  // traces/README.md: 40 requests each; the Mooncake sample's prompts start with one of 8
  // four-id system prompts.
  auto a = build(json{{"impl", "azure_csv"}, {"path", std::string(SERVESIM_DATA_DIR) + "/traces/sample_azure_format.csv"}});
  int n = 0;
  while (a->next()) ++n;
  EXPECT_EQ(n, 40);
  auto m = build(json{{"impl", "mooncake_jsonl"}, {"path", std::string(SERVESIM_DATA_DIR) + "/traces/sample_mooncake_format.jsonl"}});
  n = 0;
  while (auto r = m->next()) {
    ++n;
    ASSERT_GE(r->prefix_ids.size(), 5u);
    EXPECT_EQ(r->prefix_ids[0] % 4, 0u);
  }
  EXPECT_EQ(n, 40);
}
}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// Diurnal arrivals, rate(t) = r (1 - A cos(2 pi t / P)). Over one period P the expected
// count is r P; the trough half (t in [0, P/4) and [3P/4, P)) expects r (P/2 - A P / pi)
// and the peak half r (P/2 + A P / pi). With r = 100/s, P = 100 s, A = 0.5: 10,000 in all,
// 3,408.5 vs 6,591.5 (ratio 1.934). Poisson counts of that size have a standard deviation
// near 1 %, so 4 % bounds are > 3 sigma.
TEST(SyntheticDiurnal, ArrivalsFollowTheDailyCurveAndKeepTheMeanRate) {
  const json cfg = {{"impl", "synthetic"}, {"rate", 100.0}, {"duration", "100s"}, {"diurnal_amplitude", 0.5},
                    {"diurnal_period", "100s"}, {"prompt", {{"dist", "fixed"}, {"value", 8}}},
                    {"output", {{"dist", "fixed"}, {"value", 4}}}};
  auto w = build(cfg, 7);
  double total = 0, peak_half = 0;
  while (auto r = w->next()) {
    const double t = to_seconds(r->arrival);
    total += 1;
    peak_half += (t >= 25.0 && t < 75.0);
  }
  EXPECT_NEAR(total, 10'000, 400);
  EXPECT_NEAR(peak_half / (total - peak_half), 1.934, 1.934 * 0.04);
}

TEST(SyntheticDiurnal, WithoutASwingTheStreamIsUnchanged) {
  const json plain = {{"impl", "synthetic"}, {"rate", 5.0}, {"num_requests", 200}, {"duration", "0s"}};
  json flat = plain;
  flat["diurnal_amplitude"] = 0.0;
  auto a = build(plain, 3), b = build(flat, 3);
  for (int i = 0; i < 200; ++i) {
    const auto x = a->next(), y = b->next();
    ASSERT_TRUE(x && y);
    EXPECT_EQ(x->arrival, y->arrival);
    EXPECT_EQ(x->prompt_tokens, y->prompt_tokens);
  }
}

}  // namespace
}  // namespace servesim
