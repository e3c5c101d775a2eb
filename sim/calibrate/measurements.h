#pragma once
// Measured kernel times, normalised from the table formats servesim reads:
//   - servesim's own harness CSVs (calibration/data/<device>/*.csv, '# servesim_harness_family');
//   - NVIDIA AIConfigurator's measured database (gemm, context/generation attention, NCCL,
//     vLLM custom all-reduce, vLLM's fused MoE; latency in ms);
//   - Vidur's profiling tables (compute/<gpu>/<model>/mlp.csv, network/<system>/*.csv; ms).
// Contract: every row kept becomes one Measurement in microseconds with the shape in
// servesim's vocabulary (sim/model/operator.h); rows a fit does not use (other kernels,
// windows, dtypes, cross-node collectives) are counted as skipped with the reason. A file
// whose format is not recognised, or a malformed row, is an InputError naming
// file:line:column.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace servesim::calib {

enum class Family { kGemm, kAttentionPrefill, kAttentionDecode, kCollective, kCopy, kPageMap, kMoe };
const char* family_name(Family f);

struct Measurement {
  Family family = Family::kGemm;
  std::string dtype;  // gemm: bf16 | fp8; attention: KV dtype bf16 | fp8
  double m = 0, n = 0, k = 0;
  int heads = 0, kv_heads = 0, head_dim = 0;
  std::string layout;              // attention: paged | contiguous
  std::string kernel;              // attention, MoE: the kernel measured (vllm_flash_attn_fa3, flash_varlen, ...)
  // MoE (a fused routed-experts layer): m = tokens entering the layer, k = hidden size, n =
  // expert width, `ranks` = expert TP shards, `ep` = EP shards, `experts` in the model.
  int topk = 0, experts = 0, ep = 0;
  double batch = 0, q = 0, ctx = 0;  // attention: uniform batch of `batch` sequences, q new after ctx cached
  double window = 0;               // attention: sliding window in tokens (0: full attention)
  std::string op;                  // collective: all_reduce, ...; copy: h2d | d2h | d2d
  std::string backend;             // collective: nccl | vllm_custom; copy: pinned | pageable | device
  int ranks = 0;
  double bytes = 0;                // collective: per-rank buffer; copy: bytes per chunk; page map: page size
  double chunks = 1;
  double us = 0;
  int input = -1;                  // index into MeasurementSet::inputs
  std::int64_t line = 0;

  // The unit one source owns (a GEMM line, an attention head configuration, a collective
  // or copy curve, the page-map curve): when two inputs give the same group, the first wins.
  std::string group() const;
  // The shape: the unit of the hold-out split and of de-duplication.
  std::string key() const;
};

struct InputFile {
  std::string path;      // as opened
  std::string rel_path;  // as recorded in provenance (relative to the data dir when inside it)
  std::string sha256;
  std::string format;    // aiconfigurator_gemm, vidur_mlp, harness_gemm, ...
  std::size_t rows = 0, kept = 0;
  std::map<std::string, std::size_t> skipped;  // reason -> rows
  std::string date;      // from the file's metadata when it has one
};

struct MeasurementSet {
  std::vector<InputFile> inputs;
  std::vector<Measurement> rows;
  nlohmann::json launch = nlohmann::json::object();  // harness launch figures, by mode/metric
  // Attention rows of a sliding window are never fitted; with this set, a reader keeps them
  // and skips the full-attention rows instead (`calibrate check --sliding-window`).
  bool sliding_window_only = false;
};

// Reads one table and appends its rows. `rel_path` is what provenance records.
void read_measurements(const std::string& path, const std::string& rel_path, MeasurementSet& out);

// True when the file's header is a format read_measurements knows (for directory scans).
bool is_known_format(const std::string& path);

}  // namespace servesim::calib
