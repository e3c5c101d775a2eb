// Metric definitions (DESIGN.md) on hand-worked examples.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sim/metrics/metrics.h"

namespace servesim {
namespace {

// A request that arrives at `arrival`, is first scheduled at `sched` and emits tokens at
// the given times, as the scheduler would leave it.
void feed(MetricsCollector& m, RequestId id, SimTime arrival, SimTime sched, const std::vector<SimTime>& tokens,
          std::int32_t preemptions = 0, std::int32_t client = 0) {
  Request r;
  r.spec.id = id;
  r.spec.client = client;
  r.spec.arrival = arrival;
  r.spec.prompt_tokens = 100;
  r.spec.output_tokens = static_cast<std::int32_t>(tokens.size());
  r.first_scheduled = sched;
  r.preemptions = preemptions;
  for (SimTime t : tokens) {
    if (r.first_token < 0) r.first_token = t;
    r.prev_token = r.last_token;
    r.last_token = t;
    m.on_token(r);
  }
  m.on_finish(r);
}

TEST(Metrics, DefinitionsOnAHandWorkedPairOfRequests) {
  MetricsCollector m;
  // Request 0: arrives 0 s, scheduled 0.1 s, tokens at 0.5, 0.6, 0.8 s.
  //   TTFT 0.5; TPOT (0.8-0.5)/(3-1) = 0.15; ITLs 0.1, 0.2; E2E 0.8; queueing 0.1.
  feed(m, 0, 0, 100 * kMs, {500 * kMs, 600 * kMs, 800 * kMs});
  // Request 1: arrives 1 s, scheduled 1.3 s, tokens at 2.0, 2.4 s; preempted once.
  //   TTFT 1.0; TPOT 0.4; ITL 0.4; E2E 1.4; queueing 0.3.
  feed(m, 1, 1 * kSec, 1300 * kMs, {2000 * kMs, 2400 * kMs}, 1);
  const auto s = m.summary(Slo{});
  EXPECT_EQ(s["requests"]["completed"], 2);
  EXPECT_EQ(s["requests"]["preemptions"], 1);
  EXPECT_NEAR(s["ttft_s"]["mean"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(s["ttft_s"]["p50"].get<double>(), 0.75, 1e-9);  // linear interpolation of {0.5, 1.0}
  EXPECT_NEAR(s["ttft_s"]["p90"].get<double>(), 0.95, 1e-9);  // 0.5 + 0.9*(1.0-0.5)
  EXPECT_NEAR(s["tpot_s"]["mean"].get<double>(), 0.275, 1e-9);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), 1.4, 1e-9);
  EXPECT_NEAR(s["queueing_s"]["mean"].get<double>(), 0.2, 1e-9);
  // Every gap between consecutive tokens: {0.1, 0.2, 0.4}; mean 0.7/3.
  EXPECT_EQ(s["itl_s"]["count"], 3);
  EXPECT_NEAR(s["itl_s"]["mean"].get<double>(), 0.7 / 3, 1e-9);
  EXPECT_NEAR(s["itl_s"]["max"].get<double>(), 0.4, 1e-9);
  // Window [0, 2.4 s]: 2 requests, 5 output tokens, 200 prompt tokens.
  EXPECT_NEAR(s["window_s"].get<double>(), 2.4, 1e-9);
  EXPECT_NEAR(s["throughput"]["requests_per_s"].get<double>(), 2 / 2.4, 1e-9);
  EXPECT_NEAR(s["throughput"]["output_tokens_per_s"].get<double>(), 5 / 2.4, 1e-9);
  EXPECT_NEAR(s["throughput"]["total_tokens_per_s"].get<double>(), 205 / 2.4, 1e-9);
}

TEST(Metrics, SingleTokenRequestsHaveNoTpot) {
  MetricsCollector m;
  feed(m, 0, 0, 0, {kSec});
  const auto s = m.summary(Slo{});
  EXPECT_EQ(s["tpot_s"]["count"], 0);
  EXPECT_EQ(s["itl_s"]["count"], 0);
  EXPECT_EQ(s["ttft_s"]["count"], 1);
}

TEST(Metrics, GoodputCountsRequestsMeetingEverySlo) {
  MetricsCollector m;
  feed(m, 0, 0, 0, {500 * kMs, 600 * kMs});            // TTFT 0.5, TPOT 0.1
  feed(m, 1, 0, 0, {1500 * kMs, 1600 * kMs});          // TTFT 1.5: misses the TTFT SLO
  feed(m, 2, 0, 0, {500 * kMs, 900 * kMs});            // TPOT 0.4: misses the TPOT SLO
  Slo slo;
  slo.ttft = 1 * kSec;
  slo.tpot = 200 * kMs;
  const auto s = m.summary(slo);
  // One of three meets both; window [0, 1.6 s].
  EXPECT_NEAR(s["goodput"]["fraction"].get<double>(), 1.0 / 3, 1e-9);
  EXPECT_NEAR(s["goodput"]["requests_per_s"].get<double>(), 1 / 1.6, 1e-9);
}

TEST(Metrics, RejectedRequestsAreCountedNotTimed) {
  MetricsCollector m;
  Request r;
  r.spec.id = 9;
  m.on_reject(r);
  feed(m, 0, 0, 0, {kSec});
  const auto s = m.summary(Slo{});
  EXPECT_EQ(s["requests"]["rejected"], 1);
  EXPECT_EQ(s["requests"]["completed"], 1);
  EXPECT_EQ(s["ttft_s"]["count"], 1);
}

TEST(Stats, PercentilesInterpolateLinearly) {
  std::vector<double> v{4, 1, 3, 2};  // sorted 1 2 3 4
  const Summary s = summarize(v);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_DOUBLE_EQ(s.p90, 3.7);   // rank 0.9*3 = 2.7 -> 3 + 0.7*(4-3)
  EXPECT_DOUBLE_EQ(s.p99, 3.97);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
}

// Large inputs take spreadsort's radix passes (small ones its comparison sort): the summary
// is still the ascending order's, its mean summed in that order, as with std::sort.
TEST(Stats, ALargeSummaryIsTheAscendingOrdersOne) {
  std::vector<double> v;
  std::uint64_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(x >> 11) * 0x1p-53;
    v.push_back(i % 97 == 0 ? 0.0 : i % 5 == 0 ? 0.25 : std::exp(20 * u - 12));  // zeros, ties, 1e-5..1e3
  }
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double y : sorted) sum += y;
  const Summary s = summarize(v);
  EXPECT_EQ(v, sorted);
  EXPECT_EQ(s.mean, sum / 20000.0);
  EXPECT_EQ(s.min, 0.0);
  EXPECT_EQ(s.max, sorted.back());
  EXPECT_EQ(s.p50, percentile_sorted(sorted, 50));
  EXPECT_EQ(s.p99, percentile_sorted(sorted, 99));
}

TEST(LogHistogram, ExactBelow1024AndWithinRelativeErrorAbove) {
  LogHistogram h;
  for (int i = 1; i <= 1000; ++i) h.add(i);  // exact region
  Summary s = h.summary();
  EXPECT_DOUBLE_EQ(s.p50, 500);  // rank 499.5 lands in bucket 500 (values are exact here)
  EXPECT_DOUBLE_EQ(s.max, 1000);
  LogHistogram big;
  std::vector<double> ref;
  for (int i = 0; i < 10000; ++i) {
    const std::int64_t v = 8'000'000 + 1234 * i;  // ~8-20 ms in ns
    big.add(v);
    ref.push_back(static_cast<double>(v));
  }
  const Summary e = summarize(ref);
  const Summary a = big.summary();
  EXPECT_NEAR(a.p50, e.p50, e.p50 * 1e-3);
  EXPECT_NEAR(a.p99, e.p99, e.p99 * 1e-3);
  EXPECT_DOUBLE_EQ(a.mean, e.mean);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {
TEST(LogHistogram, AddingACountEqualsAddingEachValue) {
  LogHistogram a, b;
  for (int i = 0; i < 7; ++i) a.add(12'345'678);
  b.add(12'345'678, 7);
  const Summary x = a.summary(), y = b.summary();
  EXPECT_EQ(x.count, y.count);
  EXPECT_DOUBLE_EQ(x.mean, y.mean);
  EXPECT_DOUBLE_EQ(x.p50, y.p50);
}
TEST(LogHistogram, RunsOfEqualValuesCountAsTheirValuesAndASummaryMidRunMissesNone) {
  // Rule: a run of equal values is held back and bucketed when another value comes; a
  // summary taken while a run is pending counts it, and later values still arrive.
  LogHistogram h;
  for (const std::int64_t v : {5, 5, 5, 7, 7, 5, 2000}) h.add(v);
  h.add(2000, 3);
  const Summary mid = h.summary();  // 5 x4, 7 x2, 2000 x4 (exact below 1024, 2000 a bucket)
  EXPECT_EQ(mid.count, 10);
  EXPECT_DOUBLE_EQ(mid.mean, (4 * 5 + 2 * 7 + 4 * 2000) / 10.0);
  EXPECT_DOUBLE_EQ(mid.min, 5);
  EXPECT_DOUBLE_EQ(mid.max, 2000);
  EXPECT_DOUBLE_EQ(mid.p50, 7);  // rank 4.5 of 10: among the two 7s
  h.add(1);
  const Summary end = h.summary();
  EXPECT_EQ(end.count, 11);
  EXPECT_DOUBLE_EQ(end.min, 1);
  EXPECT_DOUBLE_EQ(end.mean, (1 + 4 * 5 + 2 * 7 + 4 * 2000) / 11.0);
}
TEST(Metrics, PerClientTailsOnlyWithSeveralClients) {
  MetricsCollector one;
  feed(one, 0, 0, 0, {500 * kMs, 600 * kMs});
  EXPECT_FALSE(one.summary(Slo{}).contains("clients"));
  MetricsCollector m;
  // Client 0: TTFT 0.5 s, TPOT 0.1 s. Client 1: two requests, TTFT 0.2 and 0.4 s (p50 0.3).
  feed(m, 0, 0, 0, {500 * kMs, 600 * kMs}, 0, /*client=*/0);
  feed(m, 1, 0, 0, {200 * kMs, 300 * kMs}, 0, /*client=*/1);
  feed(m, 2, 1 * kSec, 1 * kSec, {1400 * kMs}, 0, /*client=*/1);
  const auto c = m.summary(Slo{})["clients"];
  EXPECT_EQ(c["0"]["completed"], 1);
  EXPECT_DOUBLE_EQ(c["0"]["ttft_s"]["p50"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(c["0"]["tpot_s"]["p50"].get<double>(), 0.1);
  EXPECT_EQ(c["1"]["completed"], 2);
  EXPECT_NEAR(c["1"]["ttft_s"]["p50"].get<double>(), 0.3, 1e-12);
  EXPECT_EQ(c["1"]["tokens"]["output"], 3);
}

// ChunkedLog: chunks of 256, 512, 1024, 2048, 4096, then 8192 elements; whatever the sizes
// straddled, for_each and take give back every element once, in insertion order.
TEST(ChunkedLog, KeepsInsertionOrderAcrossGrowingChunks) {
  // Sizes at and around chunk boundaries: 256 (first full), 768 (= 256 + 512), 8064 (the
  // five doubling chunks), 8064 + 8192 + 1 (two full chunks of 8192 started).
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{256}, std::size_t{257}, std::size_t{768},
                              std::size_t{8064}, std::size_t{8065}, std::size_t{8064 + 8192 + 1}}) {
    ChunkedLog<std::int64_t> log;
    for (std::size_t i = 0; i < n; ++i) log.push_back(static_cast<std::int64_t>(i));
    EXPECT_EQ(log.size(), n);
    std::int64_t next = 0;
    log.for_each([&](std::int64_t v) { EXPECT_EQ(v, next++); });
    EXPECT_EQ(next, static_cast<std::int64_t>(n));
    const std::vector<std::int64_t> out = log.take();
    ASSERT_EQ(out.size(), n);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], static_cast<std::int64_t>(i));
    EXPECT_TRUE(log.empty());
  }
}

}  // namespace
}  // namespace servesim
