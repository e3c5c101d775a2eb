#include "sim/validate/groundtruth.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

#include <fmt/format.h>

#include "sim/calibrate/csv_table.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim::validate {
namespace fs = std::filesystem;

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

namespace {

std::string file_in(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

// A JSON field reached by a path of keys; InputError "<file>: a.b.c: ..." when absent or mistyped.
const nlohmann::json& field(const nlohmann::json& root, std::initializer_list<const char*> path, const std::string& file) {
  const nlohmann::json* cur = &root;
  std::string where;
  for (const char* k : path) {
    where += (where.empty() ? "" : ".") + std::string(k);
    if (!cur->is_object() || !cur->contains(k)) input_error(file + ": " + where, "missing field, expected it in a run's meta.json");
    cur = &(*cur)[k];
  }
  return *cur;
}

std::string str_field(const nlohmann::json& root, std::initializer_list<const char*> path, const std::string& file) {
  const nlohmann::json& v = field(root, path, file);
  if (!v.is_string()) {
    std::string where;
    for (const char* k : path) where += (where.empty() ? "" : ".") + std::string(k);
    bad_value(file + ": " + where, v.dump(), "a string");
  }
  return v.get<std::string>();
}

std::int64_t int_field(const nlohmann::json& root, std::initializer_list<const char*> path, const std::string& file,
                       std::int64_t min) {
  const nlohmann::json& v = field(root, path, file);
  std::string where;
  for (const char* k : path) where += (where.empty() ? "" : ".") + std::string(k);
  if (!v.is_number_integer() || v.get<std::int64_t>() < min) {
    bad_value(file + ": " + where, v.dump(), fmt::format("an integer >= {}", min));
  }
  return v.get<std::int64_t>();
}

double real_field(const nlohmann::json& root, std::initializer_list<const char*> path, const std::string& file, double min,
                  double max) {
  const nlohmann::json& v = field(root, path, file);
  std::string where;
  for (const char* k : path) where += (where.empty() ? "" : ".") + std::string(k);
  if (!v.is_number() || v.get<double>() < min || v.get<double>() > max) {
    bad_value(file + ": " + where, v.dump(), fmt::format("a number in [{}, {}]", min, max));
  }
  return v.get<double>();
}

// sdpa_probe.cases: {mode, lq, lk, first_call_s, repeat_s} (or {..., error}). Absent: 0.
double plan_build_probe(const nlohmann::json& meta, const std::string& file) {
  if (!meta.contains("sdpa_probe") || meta["sdpa_probe"].is_null()) return 0;
  const nlohmann::json& probe = meta["sdpa_probe"];
  if (!probe.is_object() || !probe.contains("cases") || !probe["cases"].is_array()) {
    bad_value(file + ": sdpa_probe", probe.dump().substr(0, 60), "an object with a list 'cases' (the driver's SDPA probe)");
  }
  std::vector<double> builds;
  bool first = true;
  for (const nlohmann::json& c : probe["cases"]) {
    if (!c.is_object() || c.value("mode", "") != "as_configured" || c.contains("error")) continue;
    const auto it = c.find("first_call_s");
    if (it == c.end() || !it->is_number() || !(it->get<double>() > 0)) {
      bad_value(file + ": sdpa_probe.cases[].first_call_s", c.dump().substr(0, 60), "a positive number of seconds");
    }
    if (!first) builds.push_back(it->get<double>());
    first = false;
  }
  return median(std::move(builds));
}

std::int64_t parse_int(const std::string& s, const std::string& where, const char* what) {
  std::int64_t v = 0;
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, v);
  if (s.empty() || r.ec != std::errc() || r.ptr != end) bad_value(where, s, what);
  return v;
}

}  // namespace

GtMeta read_meta(const std::string& dir) {
  const std::string file = file_in(dir, "meta.json");
  if (!fs::is_regular_file(file)) input_error(file, "missing; expected a ground-truth run folder (meta.json, requests.csv, steps.csv)");
  const nlohmann::json j = read_json_file(file);
  GtMeta m;
  m.name = str_field(j, {"run", "name"}, file);
  // The name becomes a folder of the outputs: letters, digits, '.', '_', '-' only.
  if (m.name.empty() || m.name.front() == '.' ||
      !std::all_of(m.name.begin(), m.name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; })) {
    bad_value(file + ": run.name", m.name, "a name of letters, digits, '.', '_' and '-' (not starting with '.')");
  }
  m.role = str_field(j, {"run", "role"}, file);
  m.mode = str_field(j, {"run", "mode"}, file);
  m.num_requests = int_field(j, {"run", "num_requests"}, file, 1);
  m.model_config_file = str_field(j, {"model", "config_file"}, file);
  const fs::path cfg(m.model_config_file);
  m.model = cfg.parent_path().filename().string();
  if (cfg.filename() != "config.json" || m.model.empty()) {
    bad_value(file + ": model.config_file", m.model_config_file, "models/<name>/config.json");
  }
  const nlohmann::json& overrides = field(j, {"model", "overrides"}, file);
  if (!overrides.is_object() || !overrides.empty()) {
    bad_value(file + ": model.overrides", overrides.dump(), "{} (a run of a model with config overrides cannot be replayed)");
  }
  m.sdpa_backend = str_field(j, {"sdpa_backend_setting"}, file);
  m.attn_implementation = str_field(j, {"engine_config", "attn_implementation"}, file);
  m.scheduler_type = str_field(j, {"engine_config", "continuous_batching_config", "scheduler_type"}, file);
  const nlohmann::json& graphs = field(j, {"engine_config", "continuous_batching_config", "use_cuda_graph"}, file);
  if (graphs.is_boolean()) {
    m.cuda_graphs = graphs.get<bool>();
  } else if (graphs.is_array()) {
    for (const auto& g : graphs) m.cuda_graphs = m.cuda_graphs || (g.is_boolean() && g.get<bool>());
  } else {
    bad_value(file + ": engine_config.continuous_batching_config.use_cuda_graph", graphs.dump(), "a boolean or a list of booleans");
  }
  m.block_size = int_field(j, {"engine_config", "block_size"}, file, 1);
  m.num_blocks = int_field(j, {"engine_config", "num_blocks"}, file, 1);
  m.max_batch_tokens = int_field(j, {"engine_config", "max_batch_tokens"}, file, 1);
  m.max_requests_per_batch = int_field(j, {"engine_config", "max_requests_per_batch"}, file, 1);
  m.safety_margin = real_field(j, {"engine_config", "scheduler_safety_margin"}, file, 0.0, 1.0);
  m.transformers_version = str_field(j, {"system", "transformers"}, file);
  m.host_plan_build_s = plan_build_probe(j, file);
  if (j.contains("summary")) m.summary = j["summary"];
  return m;
}

std::vector<GtRequest> read_requests(const std::string& dir) {
  const std::string file = file_in(dir, "requests.csv");
  const calib::CsvTable t = calib::CsvTable::read(file);
  const std::size_t c_id = t.col("request_id"), c_arr = t.col("arrival_s"), c_in = t.col("input_tokens"),
                    c_out = t.col("output_tokens"), c_fs = t.col("first_scheduled_s"), c_ft = t.col("first_token_s"),
                    c_fin = t.col("finish_s"), c_pre = t.col("preemptions"), c_st = t.col("status");
  if (t.num_rows() == 0) input_error(file, "no requests, expected one row per request");
  std::vector<GtRequest> out;
  out.reserve(t.num_rows());
  for (std::size_t i = 0; i < t.num_rows(); ++i) {
    GtRequest r;
    r.id = t.integer(i, c_id);
    if (r.id != static_cast<std::int64_t>(i)) {
      bad_value(t.where(i, c_id), t.cell(i, c_id), fmt::format("{} (ids 0, 1, 2, ... in order)", i));
    }
    r.arrival_s = t.number(i, c_arr);
    if (r.arrival_s < 0) bad_value(t.where(i, c_arr), t.cell(i, c_arr), "a time >= 0 s");
    if (i > 0 && r.arrival_s < out.back().arrival_s) {
      bad_value(t.where(i, c_arr), t.cell(i, c_arr), fmt::format("at least the previous request's arrival ({})", out.back().arrival_s));
    }
    auto tokens = [&](std::size_t c) {
      const std::int64_t v = t.integer(i, c);
      if (v < 1 || v > INT32_MAX) bad_value(t.where(i, c), t.cell(i, c), "a token count >= 1");
      return static_cast<std::int32_t>(v);
    };
    r.input_tokens = tokens(c_in);
    r.output_tokens = tokens(c_out);
    const std::string& status = t.cell(i, c_st);
    if (status != "FINISHED" && status != "UNFINISHED") bad_value(t.where(i, c_st), status, "FINISHED or UNFINISHED");
    r.finished = status == "FINISHED";
    const std::int64_t pre = t.integer(i, c_pre);
    if (pre < 0) bad_value(t.where(i, c_pre), t.cell(i, c_pre), "a count >= 0");
    r.preemptions = static_cast<std::int32_t>(pre);
    if (r.finished) {
      r.first_scheduled_s = t.number(i, c_fs);
      r.first_token_s = t.number(i, c_ft);
      r.finish_s = t.number(i, c_fin);
      if (r.first_token_s < r.arrival_s) {
        bad_value(t.where(i, c_ft), t.cell(i, c_ft), "a time at or after the request's arrival_s");
      }
      if (r.finish_s < r.first_token_s) {
        bad_value(t.where(i, c_fin), t.cell(i, c_fin), "a time at or after the request's first_token_s");
      }
    }
    out.push_back(r);
  }
  return out;
}

std::vector<GtSeq> parse_composition(const std::string& text, const std::string& where) {
  std::vector<GtSeq> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(';', start), text.size());
    const std::string part = text.substr(start, end - start);
    const std::size_t a = part.find(':');
    const std::size_t b = a == std::string::npos ? a : part.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos || part.find(':', b + 1) != std::string::npos) {
      bad_value(where, part, "rid:q:ctx (request id, tokens this step, tokens cached before it)");
    }
    GtSeq s;
    s.rid = parse_int(part.substr(0, a), where, "rid:q:ctx with an integer request id");
    const std::int64_t q = parse_int(part.substr(a + 1, b - a - 1), where, "rid:q:ctx with an integer q >= 1");
    s.context = parse_int(part.substr(b + 1), where, "rid:q:ctx with an integer ctx >= 0");
    if (q < 1 || q > INT32_MAX || s.context < 0 || s.rid < 0) {
      bad_value(where, part, "rid:q:ctx with rid >= 0, q >= 1, ctx >= 0");
    }
    s.q = static_cast<std::int32_t>(q);
    out.push_back(s);
    if (end == text.size()) break;
    start = end + 1;
  }
  return out;
}

std::vector<GtStep> read_steps(const std::string& dir, const std::vector<GtRequest>& requests) {
  const std::string file = file_in(dir, "steps.csv");
  const calib::CsvTable t = calib::CsvTable::read(file);
  const std::size_t c_step = t.col("step"), c_start = t.col("start_s"), c_dur = t.col("duration_s"), c_prep = t.col("prep_s"),
                    c_launch = t.col("launch_s"), c_wait = t.col("wait_s"), c_post = t.col("post_s"),
                    c_n = t.col("num_requests"), c_pf = t.col("prefill_tokens"), c_dec = t.col("decode_tokens"),
                    c_kv = t.col("kv_tokens"), c_comp = t.col("composition");
  std::vector<GtStep> out;
  out.reserve(t.num_rows());
  for (std::size_t i = 0; i < t.num_rows(); ++i) {
    GtStep s;
    s.step = t.integer(i, c_step);
    if (s.step != static_cast<std::int64_t>(i)) bad_value(t.where(i, c_step), t.cell(i, c_step), fmt::format("{} (steps in order)", i));
    s.start_s = t.number(i, c_start);
    s.duration_s = t.positive(i, c_dur);
    s.prep_s = t.number(i, c_prep);
    s.launch_s = t.number(i, c_launch);
    s.wait_s = t.number(i, c_wait);
    s.post_s = t.number(i, c_post);
    s.num_requests = t.integer(i, c_n);
    s.prefill_tokens = t.integer(i, c_pf);
    s.decode_tokens = t.integer(i, c_dec);
    s.kv_tokens = t.integer(i, c_kv);
    s.seqs = parse_composition(t.cell(i, c_comp), t.where(i, c_comp));
    std::int64_t q = 0, kv = 0;
    for (const GtSeq& g : s.seqs) {
      if (g.rid >= static_cast<std::int64_t>(requests.size())) {
        bad_value(t.where(i, c_comp), fmt::format("{}:{}:{}", g.rid, g.q, g.context),
                  fmt::format("a request id below {} (the rows of requests.csv)", requests.size()));
      }
      const GtRequest& r = requests[static_cast<std::size_t>(g.rid)];
      if (g.context + g.q > static_cast<std::int64_t>(r.input_tokens) + r.output_tokens) {
        bad_value(t.where(i, c_comp), fmt::format("{}:{}:{}", g.rid, g.q, g.context),
                  fmt::format("ctx + q <= prompt + output tokens of request {} ({})", g.rid, r.input_tokens + r.output_tokens));
      }
      q += g.q;
      kv += g.context + g.q;
    }
    if (static_cast<std::int64_t>(s.seqs.size()) != s.num_requests) {
      bad_value(t.where(i, c_n), t.cell(i, c_n), fmt::format("{} (the requests in composition)", s.seqs.size()));
    }
    if (q != s.prefill_tokens + s.decode_tokens) {
      bad_value(t.where(i, c_pf), t.cell(i, c_pf), fmt::format("prefill + decode tokens = {} (the sum of q in composition)", q));
    }
    if (kv != s.kv_tokens) bad_value(t.where(i, c_kv), t.cell(i, c_kv), fmt::format("{} (the sum of ctx + q in composition)", kv));
    out.push_back(std::move(s));
  }
  return out;
}

GtRun read_run(const std::string& dir) {
  GtRun run;
  run.dir = dir;
  run.meta = read_meta(dir);
  run.requests = read_requests(dir);
  if (static_cast<std::int64_t>(run.requests.size()) != run.meta.num_requests) {
    bad_value(file_in(dir, "requests.csv"), fmt::format("{} rows", run.requests.size()),
              fmt::format("{} rows (meta.json run.num_requests)", run.meta.num_requests));
  }
  run.steps = read_steps(dir, run.requests);
  return run;
}

std::vector<std::string> find_runs(const std::string& dir) {
  if (!fs::is_directory(dir)) input_error(dir, "not a folder; expected a ground-truth run folder or a folder of runs");
  if (fs::is_regular_file(fs::path(dir) / "meta.json")) return {dir};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && fs::is_regular_file(e.path() / "meta.json")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) input_error(dir, "no meta.json here or in its sub-folders; expected a ground-truth run folder or a folder of runs");
  return out;
}

}  // namespace servesim::validate
