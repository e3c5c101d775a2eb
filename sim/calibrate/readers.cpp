// Readers of the measured tables (see measurements.h for the formats and the contract).
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <zlib.h>

#include "sim/calibrate/csv_table.h"
#include "sim/calibrate/measurements.h"
#include "sim/core/error.h"
#include "sim/cost/sha256.h"

namespace servesim::calib {

const char* family_name(Family f) {
  switch (f) {
    case Family::kGemm: return "gemm";
    case Family::kAttentionPrefill: return "attention_prefill";
    case Family::kAttentionDecode: return "attention_decode";
    case Family::kCollective: return "collective";
    case Family::kCopy: return "copy";
    case Family::kPageMap: return "page_map";
    case Family::kMoe: return "moe";
  }
  return "?";
}

std::string Measurement::group() const {
  switch (family) {
    case Family::kGemm: return fmt::format("gemm|{}|n={}|k={}", dtype, n, k);
    case Family::kAttentionPrefill:
    case Family::kAttentionDecode:
      return fmt::format("{}|h={}|kvh={}|d={}|kv={}|{}|{}{}", family_name(family), heads, kv_heads, head_dim, dtype, layout, kernel,
                         window > 0 ? fmt::format("|window={}", window) : "");
    case Family::kCollective: return fmt::format("collective|{}|{}|{}", op, ranks, backend);
    case Family::kCopy: return fmt::format("copy|{}|{}", op, backend);
    case Family::kPageMap: return "page_map";
    case Family::kMoe:
      return fmt::format("moe|{}|{}|h={}|i={}|topk={}|e={}|tp={}|ep={}", dtype, kernel, k, n, topk, experts, ranks, ep);
  }
  return "";
}

std::string Measurement::key() const {
  switch (family) {
    case Family::kGemm: return fmt::format("{}|m={}", group(), m);
    case Family::kAttentionPrefill:
    case Family::kAttentionDecode: return fmt::format("{}|b={}|q={}|ctx={}", group(), batch, q, ctx);
    case Family::kCollective: return fmt::format("{}|bytes={}", group(), bytes);
    case Family::kCopy: return fmt::format("{}|bytes={}|chunks={}", group(), bytes, chunks);
    case Family::kPageMap: return fmt::format("page_map|bytes={}", bytes);
    case Family::kMoe: return fmt::format("{}|tokens={}", group(), m);
  }
  return "";
}

namespace {

std::string kv_dtype_of(const CsvTable& t, std::size_t r, std::size_t c) {
  const std::string& v = t.cell(r, c);
  if (v == "bfloat16" || v == "bf16" || v == "float16" || v == "fp16") return "bf16";
  if (v == "fp8" || v == "float8_e4m3fn" || v == "fp8_e4m3") return "fp8";
  return "";
}

// One fused-MoE row (vLLM's fused_moe op: routing, both expert GEMMs, the activation, the
// weighted sum): false when the row is not one servesim models (it is then counted skipped).
bool read_aiconfigurator_moe(const CsvTable& t, std::size_t r, InputFile& in, Measurement& m) {
  // The kernel vLLM runs on Hopper without flags, per weight format: Triton's fused MoE for
  // bf16 and block-scaled fp8, FlashInfer's CUTLASS MoE for per-tensor fp8 (ModelOpt), the
  // OpenAI Triton kernels for MXFP4 (gpt-oss).
  static const std::map<std::string, std::pair<std::string, std::string>> kKernels = {
      {"bfloat16", {"bf16", "vllm_unquantizedfusedmoe_triton_tritonexperts"}},
      {"fp8", {"fp8", "vllm_modeloptfp8moe_flashinfer_cutlass_flashinferexperts"}},
      {"fp8_block", {"fp8_block", "vllm_fp8moe_triton_tritonexperts"}},
      // MXFP4 experts (gpt-oss): OpenAI's Triton kernels, bf16 activations.
      {"w4a16_mxfp4", {"mxfp4", "vllm_gptossmxfp4moe_triton_oaitritonmxfp4expertsmonolithic"}},
  };
  const std::string& dt = t.cell(r, t.col("moe_dtype"));
  const auto kind = kKernels.find(dt);
  if (kind == kKernels.end()) {
    ++in.skipped["moe_dtype " + dt + " (not modelled)"];
    return false;
  }
  const std::string& src = t.cell(r, t.col("kernel_source"));
  if (src != kind->second.second) {
    ++in.skipped["moe kernel " + src + " (vLLM's default on Hopper is " + kind->second.second + ")"];
    return false;
  }
  const std::string& dist = t.cell(r, t.col("distribution"));
  if (dist != "balanced") {
    ++in.skipped["moe routing " + dist + " (servesim spreads routed tokens evenly: balanced rows only)"];
    return false;
  }
  m.family = Family::kMoe;
  m.dtype = kind->second.first;
  m.kernel = src;
  auto positive = [&](const char* col) {
    const std::int64_t v = t.integer(r, t.col(col));
    if (v < 1) bad_value(t.where(r, t.col(col)), t.cell(r, t.col(col)), "a positive whole number");
    return v;
  };
  m.m = static_cast<double>(positive("num_tokens"));
  m.k = static_cast<double>(positive("hidden_size"));
  const std::int64_t inter = positive("inter_size"), experts = positive("num_experts"), topk = positive("topk");
  const std::int64_t tp = positive("moe_tp_size"), ep = positive("moe_ep_size");
  if (inter % tp != 0) bad_value(t.where(r, t.col("moe_tp_size")), t.cell(r, t.col("moe_tp_size")), "a divisor of inter_size");
  if (experts % ep != 0) bad_value(t.where(r, t.col("moe_ep_size")), t.cell(r, t.col("moe_ep_size")), "a divisor of num_experts");
  if (topk > experts) bad_value(t.where(r, t.col("topk")), t.cell(r, t.col("topk")), "at most num_experts");
  m.n = static_cast<double>(inter);
  m.experts = static_cast<int>(experts);
  m.topk = static_cast<int>(topk);
  m.ranks = static_cast<int>(tp);
  m.ep = static_cast<int>(ep);
  return true;
}

void read_aiconfigurator(const CsvTable& t, InputFile& in, int idx, std::vector<Measurement>& out, bool sliding_window_only) {
  const std::size_t c_op = t.col("op_name"), c_lat = t.col("latency"), c_src = t.col("kernel_source");
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    ++in.rows;
    const std::string& op = t.cell(r, c_op);
    Measurement m;
    m.input = idx;
    m.line = t.line(r);
    m.us = t.positive(r, c_lat) * 1000.0;
    if (op == "gemm") {
      in.format = "aiconfigurator_gemm";
      const std::string& dt = t.cell(r, t.col("gemm_dtype"));
      if (dt != "bfloat16" && dt != "fp8" && dt != "fp8_block") {
        ++in.skipped["gemm_dtype " + dt + " (not modelled)"];
        continue;
      }
      // Block-scaled fp8: the collector measured FlashInfer's kernel for m <= 17 and DeepGEMM's
      // from m = 32, together the table's whole m grid (vLLM's dispatch); CUTLASS's block-scaled
      // kernel is measured on a sparser grid beside them, as another choice.
      const std::string& src = t.cell(r, c_src);
      if (dt == "fp8_block" && src != "DeepGemmFp8BlockScaledMMKernel" && src != "FlashInferFp8BlockScaledMMKernel") {
        ++in.skipped["fp8_block kernel " + src + " (DeepGEMM and FlashInfer cover the m grid)"];
        continue;
      }
      m.family = Family::kGemm;
      m.dtype = dt == "bfloat16" ? "bf16" : dt;
      m.m = static_cast<double>(t.integer(r, t.col("m")));
      m.n = static_cast<double>(t.integer(r, t.col("n")));
      m.k = static_cast<double>(t.integer(r, t.col("k")));
      if (m.m < 1 || m.n < 1 || m.k < 1) bad_value(t.where(r, t.col("m")), "m/n/k", "positive GEMM dimensions");
    } else if (op == "context_attention" || op == "generation_attention") {
      const bool prefill = op == "context_attention";
      in.format = prefill ? "aiconfigurator_context_attention" : "aiconfigurator_generation_attention";
      if (t.cell(r, c_src) != "vllm_flash_attn_fa3") {
        ++in.skipped["kernel " + t.cell(r, c_src) + " (vllm_flash_attn_fa3 is vLLM's Hopper default)"];
        continue;
      }
      const std::int64_t window = t.integer(r, t.col("window_size"));
      if (window < 0) bad_value(t.where(r, t.col("window_size")), t.cell(r, t.col("window_size")), "a window of 0 (none) or more tokens");
      if ((window != 0) != sliding_window_only) {
        ++in.skipped[window != 0 ? "sliding window (full attention only)" : "full attention (sliding-window rows only)"];
        continue;
      }
      m.window = static_cast<double>(window);
      if (t.cell(r, t.col("attn_dtype")) != "bfloat16" || t.integer(r, t.col("beam_width")) != 1) {
        ++in.skipped["attn_dtype or beam_width (bf16, beam 1 only)"];
        continue;
      }
      m.family = prefill ? Family::kAttentionPrefill : Family::kAttentionDecode;
      m.dtype = kv_dtype_of(t, r, t.col("kv_cache_dtype"));
      if (m.dtype.empty()) bad_value(t.where(r, t.col("kv_cache_dtype")), t.cell(r, t.col("kv_cache_dtype")), "bfloat16 or fp8");
      m.layout = "paged";  // vLLM's KV cache is paged for both prefill and decode
      m.kernel = "vllm_flash_attn_fa3";
      m.heads = static_cast<int>(t.integer(r, t.col("num_heads")));
      m.kv_heads = static_cast<int>(t.integer(r, t.col("num_key_value_heads")));
      m.head_dim = static_cast<int>(t.integer(r, t.col("head_dim")));
      m.batch = static_cast<double>(t.integer(r, t.col("batch_size")));
      const double isl = static_cast<double>(t.integer(r, t.col("isl")));
      if (prefill) {
        m.q = isl;
        m.ctx = 0;
      } else {
        // The KV length of a generation row is isl + step, the new token included.
        m.q = 1;
        m.ctx = isl + static_cast<double>(t.integer(r, t.col("step"))) - 1;
      }
      if (m.heads < 1 || m.kv_heads < 1 || m.head_dim < 1 || m.batch < 1 || m.q < 1 || m.ctx < 0) {
        bad_value(t.where(r, t.col("batch_size")), "shape", "positive heads, head_dim, batch and lengths");
      }
    } else if (op == "all_gather" || op == "alltoall" || op == "reduce_scatter" || op == "all_reduce") {
      m.family = Family::kCollective;
      m.op = op == "alltoall" ? "all_to_all" : op;
      m.ranks = static_cast<int>(t.integer(r, t.col("num_gpus")));
      double eb = 0;
      std::string dt;
      if (t.has("backend")) {
        in.format = "aiconfigurator_custom_allreduce";
        if (t.cell(r, t.col("backend")) != "vllm_graph") {
          ++in.skipped["backend " + t.cell(r, t.col("backend")) + " (CUDA-graph replay only, as vLLM runs it)"];
          continue;
        }
        m.backend = "vllm_custom";
        dt = t.cell(r, t.col("allreduce_dtype"));
      } else {
        in.format = "aiconfigurator_nccl";
        m.backend = "nccl";
        dt = t.cell(r, t.col("nccl_dtype"));
      }
      if (dt == "half" || dt == "bfloat16" || dt == "float16") eb = 2;
      if (dt == "int8" || dt == "fp8") eb = 1;
      if (dt == "float" || dt == "float32") eb = 4;
      if (eb == 0) bad_value(t.where(r, t.col(t.has("backend") ? "allreduce_dtype" : "nccl_dtype")), dt, "half, bfloat16, int8, fp8 or float");
      m.bytes = static_cast<double>(t.integer(r, t.col("message_size"))) * eb;  // message_size counts elements
      if (m.ranks < 2 || m.bytes <= 0) bad_value(t.where(r, t.col("num_gpus")), "shape", "at least 2 GPUs and a positive size");
    } else if (op == "moe") {
      in.format = "aiconfigurator_moe";
      if (!read_aiconfigurator_moe(t, r, in, m)) continue;
    } else {
      bad_value(t.where(r, c_op), op, "an AIConfigurator op_name (gemm, context_attention, generation_attention, all_gather, alltoall, reduce_scatter, all_reduce, moe)");
    }
    ++in.kept;
    out.push_back(std::move(m));
  }
}

void read_vidur_mlp(const CsvTable& t, InputFile& in, int idx, std::vector<Measurement>& out) {
  in.format = "vidur_mlp";
  const std::size_t c_h = t.col("n_embd"), c_nh = t.col("n_head"), c_kv = t.col("n_kv_head"), c_i = t.col("n_expanded_embd"),
                    c_g = t.col("use_gated_mlp"), c_m = t.col("num_tokens"), c_tp = t.col("num_tensor_parallel_workers");
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    ++in.rows;
    const double H = static_cast<double>(t.integer(r, c_h)), nh = static_cast<double>(t.integer(r, c_nh)),
                 kvh = static_cast<double>(t.integer(r, c_kv)), I = static_cast<double>(t.integer(r, c_i)),
                 tp = static_cast<double>(t.integer(r, c_tp)), m = static_cast<double>(t.integer(r, c_m));
    const std::string& g = t.cell(r, c_g);
    if (g != "True" && g != "False") bad_value(t.where(r, c_g), g, "True or False");
    if (H < 1 || nh < 1 || kvh < 1 || I < 1 || tp < 1 || m < 1) bad_value(t.where(r, c_h), "shape", "positive sizes");
    const double hd = H / nh;
    // Vidur's layers (vidur/profiling/mlp/mlp_impl.py): column-parallel QKV and up (gate+up
    // when gated), row-parallel O and down, all split over the TP workers.
    const struct {
      const char* op;
      double n, k;
    } gemms[] = {{"attn_pre_proj", (nh + 2 * kvh) * hd / tp, H},
                 {"attn_post_proj", H, nh * hd / tp},
                 {"mlp_up_proj", (g == "True" ? 2 : 1) * I / tp, H},
                 {"mlp_down_proj", H, I / tp}};
    for (const auto& gm : gemms) {
      const std::string col = std::string("time_stats.") + gm.op + ".median";
      if (!t.has(col)) continue;
      Measurement ms;
      ms.family = Family::kGemm;
      ms.dtype = "bf16";  // Vidur profiles fp16; same tensor-core rate as bf16
      ms.m = m;
      ms.n = std::round(gm.n);
      ms.k = std::round(gm.k);
      ms.us = t.positive(r, t.col(col)) * 1000.0;
      ms.input = idx;
      ms.line = t.line(r);
      out.push_back(std::move(ms));
      ++in.kept;
    }
  }
}

void read_vidur_network(const CsvTable& t, InputFile& in, int idx, std::vector<Measurement>& out) {
  in.format = "vidur_network";
  const std::size_t c_coll = t.col("collective"), c_n = t.col("num_workers"), c_dpn = t.col("devices_per_node"),
                    c_size = t.col("size");
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    ++in.rows;
    const std::string& coll = t.cell(r, c_coll);
    if (coll != "all_reduce" && coll != "send_recv") bad_value(t.where(r, c_coll), coll, "all_reduce or send_recv");
    const std::int64_t n = t.integer(r, c_n), dpn = t.integer(r, c_dpn);
    if (dpn < n) {
      ++in.skipped["spans nodes (the fit is intra-node)"];
      continue;
    }
    Measurement m;
    m.family = Family::kCollective;
    m.op = coll;
    m.backend = "nccl";
    m.ranks = static_cast<int>(n);
    m.bytes = t.positive(r, c_size);
    m.us = t.positive(r, t.col("time_stats." + coll + ".median")) * 1000.0;
    m.input = idx;
    m.line = t.line(r);
    out.push_back(std::move(m));
    ++in.kept;
  }
}

void read_harness(const CsvTable& t, const std::string& family, InputFile& in, int idx, MeasurementSet& set) {
  in.format = "harness_" + family;
  if (const std::string* d = t.meta("date_utc")) in.date = *d;
  if (family == "launch") {
    const std::size_t c_mode = t.col("mode"), c_n = t.col("n_kernels"), c_metric = t.col("metric"), c_t = t.col("time_us"),
                      c_s = t.col("status");
    for (std::size_t r = 0; r < t.num_rows(); ++r) {
      ++in.rows;
      if (t.cell(r, c_s) != "ok") {
        ++in.skipped["status " + t.cell(r, c_s)];
        continue;
      }
      set.launch[t.cell(r, c_mode)][t.cell(r, c_metric)][t.cell(r, c_n)] = t.number(r, c_t);
      ++in.kept;
    }
    return;
  }
  const std::size_t c_t = t.col("time_us"), c_s = t.col("status");
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    ++in.rows;
    if (t.cell(r, c_s) != "ok") {
      ++in.skipped["status " + t.cell(r, c_s)];
      continue;
    }
    Measurement m;
    m.input = idx;
    m.line = t.line(r);
    m.us = t.positive(r, c_t);
    auto integer = [&](const char* c) { return static_cast<double>(t.integer(r, t.col(c))); };
    if (family == "gemm") {
      m.family = Family::kGemm;
      m.dtype = t.cell(r, t.col("dtype"));
      if (m.dtype != "bf16" && m.dtype != "fp8") bad_value(t.where(r, t.col("dtype")), m.dtype, "bf16 or fp8");
      m.m = integer("m");
      m.n = integer("n");
      m.k = integer("k");
    } else if (family == "attention_prefill" || family == "attention_decode") {
      const bool prefill = family == "attention_prefill";
      m.kernel = t.cell(r, t.col("kernel"));
      if (m.kernel.empty()) bad_value(t.where(r, t.col("kernel")), "", "a kernel name");
      m.family = prefill ? Family::kAttentionPrefill : Family::kAttentionDecode;
      m.dtype = "bf16";
      m.layout = prefill ? "contiguous" : t.cell(r, t.col("layout"));
      if (m.layout != "paged" && m.layout != "contiguous") bad_value(t.where(r, t.col("layout")), m.layout, "paged or contiguous");
      m.heads = static_cast<int>(integer("q_heads"));
      m.kv_heads = static_cast<int>(integer("kv_heads"));
      m.head_dim = static_cast<int>(integer("head_dim"));
      m.batch = integer("batch");
      if (prefill) {
        m.q = integer("q_len");
        m.ctx = integer("ctx_len");
      } else {
        m.q = 1;  // one new token attending to ctx_len keys (itself included)
        m.ctx = integer("ctx_len") - 1;
      }
      if (m.batch < 1 || m.q < 1 || m.ctx < 0 || m.heads < 1 || m.kv_heads < 1) {
        bad_value(t.where(r, t.col("batch")), "shape", "positive heads, batch and lengths");
      }
    } else if (family == "nccl") {
      m.family = Family::kCollective;
      const std::string& op = t.cell(r, t.col("op"));
      m.op = op == "alltoall" ? "all_to_all" : op;
      m.ranks = static_cast<int>(integer("n_gpus"));
      m.bytes = t.positive(r, t.col("bytes"));
      m.backend = "nccl";
    } else if (family == "copy") {
      m.family = Family::kCopy;
      m.op = t.cell(r, t.col("direction"));
      m.backend = t.cell(r, t.col("host_mem"));
      if (m.op != "h2d" && m.op != "d2h" && m.op != "d2d") bad_value(t.where(r, t.col("direction")), m.op, "h2d, d2h or d2d");
      m.bytes = t.positive(r, t.col("chunk_bytes"));
      m.chunks = integer("num_chunks");
      if (m.chunks < 1) bad_value(t.where(r, t.col("num_chunks")), t.cell(r, t.col("num_chunks")), "at least 1");
    } else if (family == "vmm") {
      // A page map on the critical path is cuMemMap + cuMemSetAccess of one page (the
      // physical handle comes from a pool); both rows are summed per page size in the fit.
      const std::string& op = t.cell(r, t.col("op"));
      if (op != "cuMemMap" && op != "cuMemSetAccess") {
        ++in.skipped["op " + op + " (the page-map cost is cuMemMap + cuMemSetAccess)"];
        continue;
      }
      m.family = Family::kPageMap;
      m.op = op;
      m.bytes = t.positive(r, t.col("page_bytes"));
    } else {
      bad_value(t.path() + ": servesim_harness_family", family, "gemm, attention_prefill, attention_decode, nccl, copy, vmm or launch");
    }
    ++in.kept;
    set.rows.push_back(std::move(m));
  }
}

std::string header_line(const std::string& path, std::string* harness_family) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) input_error(path, "cannot open file (missing or unreadable)");
  char buf[8192];
  std::string header;
  while (gzgets(f, buf, sizeof buf)) {
    std::string line(buf);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '#') {
      const std::string key = "servesim_harness_family:";
      const auto p = line.find(key);
      if (p != std::string::npos && harness_family) {
        *harness_family = line.substr(p + key.size());
        harness_family->erase(0, harness_family->find_first_not_of(' '));
      }
      continue;
    }
    header = line;
    break;
  }
  gzclose(f);
  return header;
}

enum class Format { kUnknown, kAic, kVidurMlp, kVidurNetwork, kHarness };

Format detect(const std::string& path, std::string* family) {
  const std::string h = header_line(path, family);
  const auto cols = split_csv_line(h);
  auto has = [&](const char* c) { return std::find(cols.begin(), cols.end(), c) != cols.end(); };
  if (family && !family->empty()) return Format::kHarness;
  if (has("framework") && has("op_name") && has("latency")) return Format::kAic;
  if (has("num_tokens") && has("n_embd") && has("num_tensor_parallel_workers")) return Format::kVidurMlp;
  if (has("collective") && has("num_workers") && has("size")) return Format::kVidurNetwork;
  return Format::kUnknown;
}

}  // namespace

bool is_known_format(const std::string& path) {
  std::string fam;
  return detect(path, &fam) != Format::kUnknown;
}

void read_measurements(const std::string& path, const std::string& rel_path, MeasurementSet& out) {
  std::string family;
  const Format f = detect(path, &family);
  if (f == Format::kUnknown) {
    input_error(path + ":1", "unknown table format, expected a servesim harness CSV ('# servesim_harness_family'), an "
                             "AIConfigurator table (framework,...,op_name,...,latency) or a Vidur profiling table");
  }
  InputFile in;
  in.path = path;
  in.rel_path = rel_path;
  in.sha256 = sha256_file_hex(path);
  const int idx = static_cast<int>(out.inputs.size());
  const CsvTable t = CsvTable::read(path);
  switch (f) {
    case Format::kAic: read_aiconfigurator(t, in, idx, out.rows, out.sliding_window_only); break;
    case Format::kVidurMlp: read_vidur_mlp(t, in, idx, out.rows); break;
    case Format::kVidurNetwork: read_vidur_network(t, in, idx, out.rows); break;
    case Format::kHarness: read_harness(t, family, in, idx, out); break;
    case Format::kUnknown: break;
  }
  out.inputs.push_back(std::move(in));
}

}  // namespace servesim::calib
