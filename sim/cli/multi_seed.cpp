#include "sim/cli/multi_seed.h"

#include <iostream>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/report/output.h"
#include "sim/serving/scenario_config.h"

namespace servesim::cli {

FileList run_seeds(const nlohmann::json& scenario, const SimOptions& options, int k, bool with_timeseries,
                   const std::function<void(std::uint64_t, const nlohmann::json&)>& on_seed) {
  if (k < 1) bad_value("--seeds", std::to_string(k), "a number of seeds >= 1");
  // The base seed as the scenario resolves it (its default declared once, in scenario_config).
  const std::uint64_t base = parse_scenario(scenario, options.source).seed;
  FileList files;
  nlohmann::json seeds = nlohmann::json::array(), runs = nlohmann::json::array();
  std::string name;
  for (int i = 0; i < k; ++i) {
    const std::uint64_t seed = base + static_cast<std::uint64_t>(i);
    nlohmann::json s = scenario;
    s["seed"] = seed;
    Simulation sim(s, options);
    const SimResult res = sim.run();
    if (on_seed) on_seed(seed, res.summary);
    name = res.summary.value("scenario", "");
    const std::string prefix = k == 1 ? "" : fmt::format("seed-{}/", seed);
    for (auto& [file, text] : result_files(res, true, with_timeseries)) files.emplace_back(prefix + file, std::move(text));
    seeds.push_back(seed);
    runs.push_back(fmt::format("seed-{}", seed));
  }
  if (k > 1) files.emplace_back("seeds.json", nlohmann::json{{"scenario", name}, {"seeds", seeds}, {"runs", runs}}.dump(2) + "\n");
  return files;
}

int run_seeds_command(const nlohmann::json& scenario, const SimOptions& options, int k, const std::string& out, bool quiet,
                      const OutputOptions& output, const std::function<void(FileList&)>& finish) {
  FileList files = run_seeds(scenario, options, k, true, [&](std::uint64_t seed, const nlohmann::json& s) {
    if (quiet) return;
    std::cout << fmt::format("seed {}: {} requests, TTFT p50 {:.2f} p99 {:.2f} ms, TPOT p99 {:.2f} ms, {:.1f} output tok/s\n", seed,
                             s["requests"]["completed"].get<std::int64_t>(), s["ttft_s"]["p50"].get<double>() * 1e3,
                             s["ttft_s"]["p99"].get<double>() * 1e3, s["tpot_s"]["p99"].get<double>() * 1e3,
                             s["throughput"]["output_tokens_per_s"].get<double>());
  });
  if (finish) finish(files);
  write_dir_atomically(out, files, output);
  if (!quiet) std::cout << fmt::format("results in {}/ ({})\n", out, k > 1 ? "seeds.json and seed-<n>/ per seed" : "one run");
  return 0;
}

}  // namespace servesim::cli
