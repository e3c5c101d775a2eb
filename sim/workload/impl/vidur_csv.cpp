// Vidur's trace CSV: `arrived_at,num_prefill_tokens,num_decode_tokens` (arrival in seconds
// from the trace start, as Vidur's trace request generator replays it), one request a row,
// streamed. Optional `priority` and `client` columns set the request's; other columns are
// ignored. Arrivals must not decrease.
#include "sim/core/error.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/impl/csv_columns.h"

namespace servesim {
namespace {

class VidurCsvWorkload final : public IWorkload {
 public:
  struct Config {
    std::string path;
    double time_scale = 1;
    std::int64_t max_requests = 0;
    static Config parse(Params& p) {
      Config c;
      c.path = p.string("path", std::nullopt, "CSV file with columns arrived_at,num_prefill_tokens,num_decode_tokens");
      c.time_scale = p.real("time_scale", 1.0, "multiply arrival times by this (0.5 doubles the rate)", 1e-6, 1e6);
      c.max_requests = p.integer("max_requests", 0, "stop after this many requests (0: all)", 0);
      return c;
    }
  };

  VidurCsvWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), in_(resolve_trace_path(c.path, deps.data_dir, deps.where + ".path")),
        t_(in_, {"arrived_at", "num_prefill_tokens", "num_decode_tokens"}), col_t_(t_.index("arrived_at")),
        col_p_(t_.index("num_prefill_tokens")), col_d_(t_.index("num_decode_tokens")), col_prio_(t_.index("priority")),
        col_client_(t_.index("client")) {}

  std::optional<RequestSpec> next() override {
    if (c_.max_requests > 0 && next_id_ >= c_.max_requests) return std::nullopt;
    if (!t_.next_row()) {
      if (next_id_ == 0) input_error(in_.path(), "no request rows after the header, expected at least one");
      return std::nullopt;
    }
    constexpr double kMaxSpanS = static_cast<double>(kMaxTraceSpan / kSec);
    const double at = t_.real(col_t_, 0.0, kMaxSpanS, "seconds from the trace start, in [0, 366 days]");
    if (at < last_s_) bad_value(in_.where("arrived_at"), fmt::format("{}", at), "arrival times in non-decreasing order");
    last_s_ = at;
    RequestSpec r;
    r.prompt_tokens = static_cast<std::int32_t>(t_.integer(col_p_, 1, INT32_MAX, "a positive integer below 2^31"));
    r.output_tokens = static_cast<std::int32_t>(t_.integer(col_d_, 1, INT32_MAX, "a positive integer below 2^31"));
    if (col_prio_ >= 0) r.priority = static_cast<std::int32_t>(t_.integer(col_prio_, INT32_MIN, INT32_MAX, "an integer priority (32-bit)"));
    if (col_client_ >= 0) r.client = static_cast<std::int32_t>(t_.integer(col_client_, 0, INT32_MAX, "a client id in [0, 2^31)"));
    const double arrival_s = at * c_.time_scale;
    if (arrival_s > kMaxSpanS) {
      bad_value(in_.where(), fmt::format("{:.6g} s after the trace start", arrival_s),
                fmt::format("arrivals within 366 days (time_scale {} stretches the trace too far)", c_.time_scale));
    }
    r.id = next_id_++;
    r.arrival = from_seconds(arrival_s);
    return r;
  }

 private:
  Config c_;
  LineReader in_;
  CsvColumns t_;
  int col_t_, col_p_, col_d_, col_prio_, col_client_;
  RequestId next_id_ = 0;
  double last_s_ = 0;
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, VidurCsvWorkload, "vidur_csv",
                  "Vidur trace CSV (arrived_at seconds,num_prefill_tokens,num_decode_tokens[,priority,client]), streamed")

}  // namespace servesim
