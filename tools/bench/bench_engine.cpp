// servesim benchmarks.
//   BM_EventQueue            raw engine: schedule + fire, events per second
//   BM_Simulation            the default scenario with n synthetic requests (duration
//                            unlimited), multi-step advance on and off: wall time,
//                            events/s, simulated requests/s and the process's peak RSS
//   BM_VidurScenario         issue 11's comparison with Vidur (tools/bench/scenarios/
//                            vidur_llama2_70b_a100.json: 10,000 requests, Llama-2-70B TP2 on
//                            A100): each iteration runs it with the calibrated and the
//                            roofline cost model; counters give both times, their ratio and
//                            Vidur's 19 s over the calibrated time
//   BM_ProfileLoad           a fitted profile's load as a `run` pays it, by phase (arg 0:
//                            h100_sxm, the largest; 1: a100_sxm4_80gb): the file read, the
//                            profile built from its text in place (FittedProfile::from_text,
//                            parse and grids finalised), the same through nlohmann's tree
//                            (from_json: the variant, as a ratio), its SHA-256
//   BM_DecodeAttentionPredict one decode-attention prediction of the H100 profile as a
//                            merged decode run asks for it (Llama-3.1-8B's layout, a batch
//                            between measured lines (arg 37) or on one (arg 64), every
//                            sequence one token longer per call): ns per prediction
// Run: build/release/tools/bench/bench_engine --benchmark_filter=... (see tools/bench/run.sh)
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sim/core/event_queue.h"
#include "sim/core/json_file.h"
#include "sim/cost/fitted_profile.h"
#include "sim/cost/sha256.h"
#include "sim/serving/simulation.h"

namespace servesim {
namespace {

void BM_EventQueue(benchmark::State& state) {
  // A steady queue of `depth` pending events; each fired event schedules one more at a
  // pseudo-random later time, as replicas and arrivals do.
  const std::int64_t depth = state.range(0);
  for (auto _ : state) {
    EventQueue q;
    std::uint64_t x = 88172645463325252ULL;
    std::int64_t remaining = 1'000'000;
    std::function<void()> fire = [&] {
      if (--remaining <= 0) return;
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      q.schedule_in(static_cast<SimTime>(x % 10'000), EventPriority::kIterationEnd, fire);
    };
    for (std::int64_t i = 0; i < depth; ++i) q.schedule_at(i, EventPriority::kArrival, fire);
    q.run();
    benchmark::DoNotOptimize(q.fired());
    state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(q.fired()), benchmark::Counter::kIsRate);
  }
}
BENCHMARK(BM_EventQueue)->Arg(16)->Arg(1024)->Unit(benchmark::kMillisecond);

void BM_Simulation(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  nlohmann::json s = nlohmann::json::parse(default_scenario_text());
  s["workload"]["num_requests"] = n;
  s["workload"]["duration"] = 0;
  s["engine"]["fast_forward"] = state.range(1) != 0;
  std::uint64_t events = 0;
  for (auto _ : state) {  // NOLINT
    Simulation sim(s, SimOptions{});
    SimResult r = sim.run();
    events = r.events;
    benchmark::DoNotOptimize(r.summary);
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["events"] = static_cast<double>(events);
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["requests_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
  state.counters["peak_rss_MB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
}
// Args: requests, multi-step advance on (1) or off (0): the ratio of the two rows is the
// advance's speed-up on the same run.
BENCHMARK(BM_Simulation)
    ->Args({10'000, 1})
    ->Args({10'000, 0})
    ->Args({100'000, 1})
    ->Args({100'000, 0})
    ->ArgNames({"requests", "fast_forward"})
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

double simulate_seconds(const nlohmann::json& s) {
  const auto t0 = std::chrono::steady_clock::now();
  Simulation sim(s, SimOptions{});
  SimResult r = sim.run();
  benchmark::DoNotOptimize(r.summary);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_VidurScenario(benchmark::State& state) {
  // Both cost models alternate in one process, so their ratio is not skewed by the load
  // the machine had at one moment; the profile's load is part of each run (as in the CLI).
  std::ifstream f(std::string(SERVESIM_DATA_DIR) + "/tools/bench/scenarios/vidur_llama2_70b_a100.json");
  const nlohmann::json calibrated = nlohmann::json::parse(f);
  nlohmann::json roofline = calibrated;
  roofline["cost"] = {{"impl", "roofline"}};
  double cal = 0, roof = 0;
  for (auto _ : state) {  // NOLINT
    cal += simulate_seconds(calibrated);
    roof += simulate_seconds(roofline);
  }
  const double n = static_cast<double>(state.iterations());
  constexpr double kVidurSeconds = 19.0;  // the fastest of Vidur's 19-25 s on this scenario (issue 11)
  state.counters["calibrated_s"] = cal / n;
  state.counters["roofline_s"] = roof / n;
  state.counters["calibrated_over_roofline"] = cal / roof;
  state.counters["vidur_over_calibrated"] = kVidurSeconds / (cal / n);
}
BENCHMARK(BM_VidurScenario)->Iterations(3)->Unit(benchmark::kSecond);

void BM_ProfileLoad(benchmark::State& state) {
  const std::string path = std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/" +
                           (state.range(0) == 0 ? "h100_sxm.json" : "a100_sxm4_80gb.json");
  double read = 0, in_place = 0, tree = 0, hash = 0;
  using Clock = std::chrono::steady_clock;
  for (auto _ : state) {  // NOLINT
    const auto t0 = Clock::now();
    const std::string text = read_json_text(path);
    const auto t1 = Clock::now();
    {
      const FittedProfile p = FittedProfile::from_text(text, path);  // as `run` loads it
      benchmark::DoNotOptimize(p.gemm.size());
    }
    const auto t2 = Clock::now();
    {
      const FittedProfile p = FittedProfile::from_json(parse_json_text(text, path), path);  // through nlohmann's tree
      benchmark::DoNotOptimize(p.gemm.size());
    }
    const auto t3 = Clock::now();
    const std::string h = sha256_file_hex(path);
    const auto t4 = Clock::now();
    benchmark::DoNotOptimize(h.size());
    read += std::chrono::duration<double>(t1 - t0).count();
    in_place += std::chrono::duration<double>(t2 - t1).count();
    tree += std::chrono::duration<double>(t3 - t2).count();
    hash += std::chrono::duration<double>(t4 - t3).count();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["read_ms"] = 1e3 * read / n;
  state.counters["in_place_ms"] = 1e3 * in_place / n;
  state.counters["nlohmann_tree_ms"] = 1e3 * tree / n;
  state.counters["in_place_over_tree"] = in_place / tree;
  state.counters["sha256_ms"] = 1e3 * hash / n;
}
BENCHMARK(BM_ProfileLoad)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_DecodeAttentionPredict(benchmark::State& state) {
  const FittedProfile p = FittedProfile::load(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h100_sxm.json");
  const double batch = static_cast<double>(state.range(0));
  AttentionQuery q = AttentionQuery::uniform(32, 8, 128, "bf16", true, batch, 1, 200);
  const double start_kv = q.sum_kv;
  double total = 0;
  for (auto _ : state) {  // NOLINT
    // One token further per call, wrapping after 4,000 steps (lengths 200..4,200).
    q.sum_kv = q.sum_kv >= start_kv + 4000 * batch ? start_kv : q.sum_kv + batch;
    q.sum_q_kv = q.sum_kv;
    q.max_kv = q.sum_kv / batch;
    const auto a = p.predict_attention(false, q);
    total += a ? a->us : 0;
  }
  benchmark::DoNotOptimize(total);
}
BENCHMARK(BM_DecodeAttentionPredict)->Arg(37)->Arg(64);

}  // namespace
}  // namespace servesim

BENCHMARK_MAIN();
