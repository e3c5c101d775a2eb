#pragma once
// Readers of a ground-truth run folder (calibration/data/groundtruth/<run>/, format in its
// README.md): meta.json, requests.csv, steps.csv. Contract:
// - Every malformed file, row or field is an InputError naming "<file>:<line>:<column>" (or
//   "<file>: <field>" for JSON), the value and what was expected.
// - Times stay as the engine logged them: seconds (double) from the run's t0; conversion to
//   SimTime happens where a simulation is built.
// - Requests are in request_id order, ids 0..n-1 without gaps; steps in step order.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace servesim::validate {

struct GtMeta {
  std::string name;
  std::string role;   // calibration | validation | variant-...
  std::string mode;   // offline | online
  std::string model_config_file;  // e.g. models/Llama-3.1-8B/config.json
  std::string model;              // the folder name of that file: a model in models/
  std::string sdpa_backend;       // default | no-cudnn
  std::string attn_implementation;
  std::string scheduler_type;
  bool cuda_graphs = false;
  std::int64_t block_size = 0;
  std::int64_t num_blocks = 0;
  std::int64_t max_batch_tokens = 0;
  std::int64_t max_requests_per_batch = 0;
  double safety_margin = 0;
  std::int64_t num_requests = 0;
  std::string transformers_version;
  // The host probe the driver ran in the run's process before the runs (sdpa_probe): the
  // median host time of the cuDNN SDPA plan build for a new shape, over its `as_configured`
  // cases after the first (which also pays cuDNN's initialisation). 0: the run has none.
  double host_plan_build_s = 0;
  nlohmann::json summary;  // the run's own summary (for reference; never used to predict)
};

struct GtRequest {
  std::int64_t id = 0;
  double arrival_s = 0;
  std::int32_t input_tokens = 0;
  std::int32_t output_tokens = 0;
  double first_scheduled_s = 0;
  double first_token_s = 0;
  double finish_s = 0;
  std::int32_t preemptions = 0;
  bool finished = false;
};

struct GtSeq {
  std::int64_t rid = 0;
  std::int32_t q = 0;       // tokens processed this step
  std::int64_t context = 0;  // tokens cached before it
};

struct GtStep {
  std::int64_t step = 0;
  double start_s = 0, duration_s = 0, prep_s = 0, launch_s = 0, wait_s = 0, post_s = 0;
  std::int64_t num_requests = 0, prefill_tokens = 0, decode_tokens = 0, kv_tokens = 0;
  std::vector<GtSeq> seqs;
};

struct GtRun {
  std::string dir;
  GtMeta meta;
  std::vector<GtRequest> requests;
  std::vector<GtStep> steps;
};

// The median of v (the mean of the middle two for an even count); 0 for none.
double median(std::vector<double> v);

GtMeta read_meta(const std::string& dir);
std::vector<GtRequest> read_requests(const std::string& dir);
// Steps, with each composition checked against its totals and against `requests` (request
// ids known, prompt lengths respected).
std::vector<GtStep> read_steps(const std::string& dir, const std::vector<GtRequest>& requests);
GtRun read_run(const std::string& dir);

// Parses one steps.csv composition "rid:q:ctx;rid:q:ctx;...". `where` prefixes errors.
std::vector<GtSeq> parse_composition(const std::string& text, const std::string& where);

// `dir` itself when it holds a meta.json, else its sub-folders that do (sorted by name);
// an InputError when there are none.
std::vector<std::string> find_runs(const std::string& dir);

}  // namespace servesim::validate
