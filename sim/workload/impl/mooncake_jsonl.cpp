// Mooncake (FAST'25) JSONL trace: one object a line with `timestamp` (ms from start),
// `input_length`, `output_length`, `hash_ids` (one id per 512-token prompt block; equal ids
// are shareable KV prefixes). Streamed line by line.
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/impl/line_reader.h"

namespace servesim {
namespace {

class MooncakeWorkload final : public IWorkload {
 public:
  struct Config {
    std::string path;
    double time_scale = 1;
    std::int64_t max_requests = 0;
    std::int32_t hash_block = 512;
    static Config parse(Params& p) {
      Config c;
      c.path = p.string("path", std::nullopt, "JSONL file with timestamp, input_length, output_length, hash_ids");
      c.time_scale = p.real("time_scale", 1.0, "multiply arrival times by this (0.5 doubles the rate)", 1e-6, 1e6);
      c.max_requests = p.integer("max_requests", 0, "stop after this many requests (0: all)", 0);
      c.hash_block = static_cast<std::int32_t>(p.integer("hash_block", 512, "prompt tokens per hash id", 1));
      return c;
    }
  };

  MooncakeWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), in_(resolve_trace_path(c.path, deps.data_dir, deps.where + ".path")) {}

  std::optional<RequestSpec> next() override {
    if (c_.max_requests > 0 && next_id_ >= c_.max_requests) return std::nullopt;
    std::string line;
    if (!in_.next(line)) {
      if (next_id_ == 0) input_error(in_.path(), "no request lines, expected at least one JSON object");
      return std::nullopt;
    }
    std::optional<nlohmann::json> parsed = try_parse_json_text(line, in_.where());
    if (!parsed) bad_value(in_.where(), line, "one JSON object per line");
    const nlohmann::json& j = *parsed;
    if (!j.is_object()) bad_value(in_.where(), line.substr(0, 60), "a JSON object");
    auto field = [&](const char* key, std::int64_t min, std::int64_t max, const char* expected) -> std::int64_t {
      auto it = j.find(key);
      if (it == j.end()) input_error(in_.where(key), "missing required field");
      if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) ||
          it->get<std::int64_t>() < min || it->get<std::int64_t>() > max) {
        bad_value(in_.where(key), it->dump(), expected);
      }
      return it->get<std::int64_t>();
    };
    constexpr std::int64_t kMaxSpanMs = kMaxTraceSpan / kMs;
    const std::int64_t ts_ms = field("timestamp", 0, kMaxSpanMs, "milliseconds from the trace start, in [0, 366 days]");
    RequestSpec r;
    r.prompt_tokens = static_cast<std::int32_t>(field("input_length", 1, INT32_MAX, "a positive integer below 2^31"));
    r.output_tokens = static_cast<std::int32_t>(field("output_length", 1, INT32_MAX, "a positive integer below 2^31"));
    if (auto h = j.find("hash_ids"); h != j.end()) {
      if (!h->is_array()) bad_value(in_.where("hash_ids"), h->dump(), "an array of integers");
      // One id per hash_block prompt tokens (the last block may be partial).
      const std::size_t blocks = static_cast<std::size_t>((r.prompt_tokens + c_.hash_block - 1) / c_.hash_block);
      if (h->size() > blocks) {
        bad_value(in_.where("hash_ids"), fmt::format("{} ids", h->size()),
                  fmt::format("at most {} ids for input_length {} (one per {} tokens, workload.hash_block)", blocks,
                              r.prompt_tokens, c_.hash_block));
      }
      r.prefix_ids.reserve(h->size());
      for (const auto& v : *h) {
        if (!v.is_number_integer()) bad_value(in_.where("hash_ids"), v.dump(), "an integer id");
        r.prefix_ids.push_back(v.get<std::uint64_t>());
      }
      r.prefix_unit = c_.hash_block;
    }
    // Optional: who sent it and its priority (lower is more urgent); absent: client 0, priority 0.
    if (j.contains("client")) r.client = static_cast<std::int32_t>(field("client", 0, INT32_MAX, "a client id in [0, 2^31)"));
    if (j.contains("priority")) {
      r.priority = static_cast<std::int32_t>(field("priority", INT32_MIN, INT32_MAX, "an integer priority (32-bit)"));
    }
    if (ts_ms < last_ms_) bad_value(in_.where("timestamp"), std::to_string(ts_ms), "timestamps in non-decreasing order");
    last_ms_ = ts_ms;
    r.id = next_id_++;
    const double arrival_ns = static_cast<double>(ts_ms) * 1e6 * c_.time_scale;
    if (arrival_ns > static_cast<double>(kMaxTraceSpan)) {
      bad_value(in_.where(), fmt::format("{:.6g} s after the first request", arrival_ns * 1e-9),
                fmt::format("arrivals within 366 days of the first (time_scale {} stretches the trace too far)", c_.time_scale));
    }
    r.arrival = static_cast<SimTime>(arrival_ns);
    return r;
  }

 private:
  Config c_;
  LineReader in_;
  RequestId next_id_ = 0;
  std::int64_t last_ms_ = 0;
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, MooncakeWorkload, "mooncake_jsonl",
                  "Mooncake JSONL trace with hash_ids prefix blocks (prefix caching), streamed")

}  // namespace servesim
