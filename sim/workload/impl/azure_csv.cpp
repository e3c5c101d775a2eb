// Azure LLM inference trace (Splitwise, 2023): `TIMESTAMP,ContextTokens,GeneratedTokens`,
// timestamps as wall-clock "2023-11-16 18:15:46.6805900". Arrivals are replayed relative to
// the first row, optionally time-scaled.
#include <charconv>
#include <cstdlib>

#include "sim/core/error.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/impl/line_reader.h"

namespace servesim {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool parse_uint(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "YYYY-MM-DD HH:MM:SS[.fffffff]" -> ns since the epoch.
bool parse_timestamp(std::string_view s, SimTime& out) {
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':') return false;
  std::int64_t y, mo, d, h, mi, se;
  if (!parse_uint(s.substr(0, 4), y) || !parse_uint(s.substr(5, 2), mo) || !parse_uint(s.substr(8, 2), d) ||
      !parse_uint(s.substr(11, 2), h) || !parse_uint(s.substr(14, 2), mi) || !parse_uint(s.substr(17, 2), se)) {
    return false;
  }
  if (y < 1970 || y > 2199) return false;  // nanoseconds since the epoch stay within int64
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  std::int64_t frac_ns = 0;
  if (s.size() > 19) {
    if (s[19] != '.') return false;
    std::string_view f = s.substr(20);
    if (f.empty() || f.size() > 9) return false;
    std::int64_t v;
    if (!parse_uint(f, v)) return false;
    for (std::size_t i = f.size(); i < 9; ++i) v *= 10;
    frac_ns = v;
  }
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  out = ((days * 24 + h) * 60 + mi) * 60 * kSec + se * kSec + frac_ns;
  return true;
}

class AzureCsvWorkload final : public IWorkload {
 public:
  struct Config {
    std::string path;
    double time_scale = 1;
    std::int64_t max_requests = 0;
    static Config parse(Params& p) {
      Config c;
      c.path = p.string("path", std::nullopt, "CSV file TIMESTAMP,ContextTokens,GeneratedTokens");
      c.time_scale = p.real("time_scale", 1.0, "multiply inter-arrival times by this (0.5 doubles the rate)", 1e-6, 1e6);
      c.max_requests = p.integer("max_requests", 0, "stop after this many requests (0: all)", 0);
      return c;
    }
  };

  AzureCsvWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), in_(resolve_trace_path(c.path, deps.data_dir, deps.where + ".path")) {
    std::string header;
    if (!in_.next(header)) input_error(in_.path(), "empty file, expected header TIMESTAMP,ContextTokens,GeneratedTokens");
    if (header != "TIMESTAMP,ContextTokens,GeneratedTokens") {
      bad_value(in_.where("header"), header, "TIMESTAMP,ContextTokens,GeneratedTokens");
    }
  }

  std::optional<RequestSpec> next() override {
    if (c_.max_requests > 0 && next_id_ >= c_.max_requests) return std::nullopt;
    std::string line;
    if (!in_.next(line)) {
      if (next_id_ == 0) input_error(in_.path(), "no request rows after the header, expected at least one");
      return std::nullopt;
    }
    const auto c1 = line.find(',');
    const auto c2 = c1 == std::string::npos ? std::string::npos : line.find(',', c1 + 1);
    if (c2 == std::string::npos || line.find(',', c2 + 1) != std::string::npos) {
      bad_value(in_.where(), line, "3 comma-separated fields TIMESTAMP,ContextTokens,GeneratedTokens");
    }
    SimTime ts;
    if (!parse_timestamp(std::string_view(line).substr(0, c1), ts)) {
      bad_value(in_.where("TIMESTAMP"), line.substr(0, c1), "a timestamp 'YYYY-MM-DD HH:MM:SS.fffffff' (years 1970-2199)");
    }
    std::int64_t ctx, gen;
    if (!parse_uint(std::string_view(line).substr(c1 + 1, c2 - c1 - 1), ctx) || ctx <= 0 || ctx > INT32_MAX) {
      bad_value(in_.where("ContextTokens"), line.substr(c1 + 1, c2 - c1 - 1), "a positive integer");
    }
    if (!parse_uint(std::string_view(line).substr(c2 + 1), gen) || gen <= 0 || gen > INT32_MAX) {
      bad_value(in_.where("GeneratedTokens"), line.substr(c2 + 1), "a positive integer");
    }
    if (next_id_ == 0) t0_ = ts;
    if (ts < last_ts_) bad_value(in_.where("TIMESTAMP"), line.substr(0, c1), "timestamps in non-decreasing order");
    if (ts - t0_ > kMaxTraceSpan) {
      bad_value(in_.where("TIMESTAMP"), line.substr(0, c1), "a time within 366 days of the first row's (a typo in the year?)");
    }
    last_ts_ = ts;
    RequestSpec r;
    r.id = next_id_++;
    const double arrival_ns = static_cast<double>(ts - t0_) * c_.time_scale;
    if (arrival_ns > static_cast<double>(kMaxTraceSpan)) {
      bad_value(in_.where(), fmt::format("{:.6g} s after the first request", arrival_ns * 1e-9),
                fmt::format("arrivals within 366 days of the first (time_scale {} stretches the trace too far)", c_.time_scale));
    }
    r.arrival = static_cast<SimTime>(arrival_ns);
    r.prompt_tokens = static_cast<std::int32_t>(ctx);
    r.output_tokens = static_cast<std::int32_t>(gen);
    return r;
  }

 private:
  Config c_;
  LineReader in_;
  RequestId next_id_ = 0;
  SimTime t0_ = 0, last_ts_ = INT64_MIN;
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, AzureCsvWorkload, "azure_csv",
                  "Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens), streamed")

}  // namespace servesim
