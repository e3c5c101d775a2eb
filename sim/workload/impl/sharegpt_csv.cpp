// ShareGPT lengths (as Vidur ships them: `num_prefill_tokens,num_decode_tokens[,...]`, one
// conversation turn's prompt and output token counts a row). Each request takes the
// (prompt, output) pair of one row, so the joint distribution is kept (long prompts with
// their own outputs, not independent marginals); arrivals come from the same Poisson or
// gamma process as the synthetic workload. Optional `priority` and `client` columns travel
// with their row. The table is read once at construction (two counts a row; the public file
// has 30k rows) because rows are drawn at random.
#include <vector>

#include "sim/core/error.h"
#include "sim/workload/arrival_process.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/impl/csv_columns.h"

namespace servesim {
namespace {

class ShareGptCsvWorkload final : public IWorkload {
 public:
  struct Config {
    std::string path;
    bool sequential = false;
    std::int64_t max_total_tokens = 0;
    ArrivalProcess::Config arrivals;
    static Config parse(Params& p) {
      Config c;
      c.path = p.string("path", std::nullopt, "CSV file with columns num_prefill_tokens,num_decode_tokens (others ignored)");
      c.sequential = "sequential" == p.choice("order", "random", {"random", "sequential"},
                         "random: each request draws a row uniformly (with replacement); sequential: rows in file order, "
                         "ending after the last");
      c.max_total_tokens = p.integer("max_total_tokens", 0, "skip rows whose prompt + output exceed this (0: keep all)", 0);
      c.arrivals = ArrivalProcess::Config::parse(p, 5.5, "10min", "requests", "num_requests", c.sequential);
      return c;
    }
  };

  ShareGptCsvWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), rng_(Rng::for_component(deps.seed, "workload.sharegpt_csv")), arrivals_(c.arrivals) {
    LineReader in(resolve_trace_path(c.path, deps.data_dir, deps.where + ".path"));
    CsvColumns t(in, {"num_prefill_tokens", "num_decode_tokens"});
    const int cp = t.index("num_prefill_tokens"), cd = t.index("num_decode_tokens");
    const int cprio = t.index("priority"), cclient = t.index("client");
    while (t.next_row()) {
      Row row;
      row.prompt = static_cast<std::int32_t>(t.integer(cp, 1, INT32_MAX, "a positive integer below 2^31"));
      row.output = static_cast<std::int32_t>(t.integer(cd, 1, INT32_MAX, "a positive integer below 2^31"));
      if (cprio >= 0) row.priority = static_cast<std::int32_t>(t.integer(cprio, INT32_MIN, INT32_MAX, "an integer priority (32-bit)"));
      if (cclient >= 0) row.client = static_cast<std::int32_t>(t.integer(cclient, 0, INT32_MAX, "a client id in [0, 2^31)"));
      if (c.max_total_tokens > 0 && static_cast<std::int64_t>(row.prompt) + row.output > c.max_total_tokens) continue;
      rows_.push_back(row);
    }
    if (rows_.empty()) {
      input_error(in.path(), c.max_total_tokens > 0 ? fmt::format("no row within max_total_tokens {}, expected at least one",
                                                                  c.max_total_tokens)
                                                    : std::string("no rows after the header, expected at least one"));
    }
  }

  std::optional<RequestSpec> next() override {
    if (c_.sequential && cursor_ >= rows_.size()) return std::nullopt;
    const std::optional<SimTime> t = arrivals_.next(rng_);
    if (!t) return std::nullopt;
    const Row& row = c_.sequential
                         ? rows_[cursor_++]
                         : rows_[static_cast<std::size_t>(rng_.uniform_int(0, static_cast<std::int64_t>(rows_.size()) - 1))];
    RequestSpec r;
    r.id = next_id_++;
    r.arrival = *t;
    r.prompt_tokens = row.prompt;
    r.output_tokens = row.output;
    r.priority = row.priority;
    r.client = row.client;
    return r;
  }

 private:
  struct Row {
    std::int32_t prompt = 0, output = 0, priority = 0, client = 0;
  };
  Config c_;
  Rng rng_;
  ArrivalProcess arrivals_;
  std::vector<Row> rows_;
  std::size_t cursor_ = 0;
  RequestId next_id_ = 0;
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, ShareGptCsvWorkload, "sharegpt_csv",
                  "ShareGPT lengths CSV (num_prefill_tokens,num_decode_tokens): joint pairs drawn per request, Poisson/gamma arrivals")

}  // namespace servesim
