#pragma once
// Summary statistics. Percentiles use linear interpolation between closest ranks (the
// definition numpy.percentile uses by default): for sorted x[0..n-1], p in [0,100],
// rank = p/100*(n-1), value = x[floor] + (rank-floor)*(x[floor+1]-x[floor]).
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace servesim {

struct Summary {
  std::int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0;
};

// Sorts `values` in place.
Summary summarize(std::vector<double>& values);
double percentile_sorted(const std::vector<double>& sorted, double p);
nlohmann::json to_json(const Summary& s);

// Log-linear histogram of positive integers (ns) for streams too long to keep (every ITL
// gap of a 100,000-request run). Relative bucket width 2^-10 (< 0.1%); values are exact
// below 1024. Percentiles interpolate linearly inside a bucket over its ranks; mean,
// min and max are exact.
class LogHistogram {
 public:
  void add(std::int64_t v) { add(v, 1); }
  // `count` equal values. A run of equal values (a step's decoding requests share their
  // inter-token gap) is counted once and put in its bucket when another value comes.
  void add(std::int64_t v, std::int64_t count) {
    if (count <= 0) return;
    if (v == run_value_ && run_count_ > 0) {
      run_count_ += count;
      return;
    }
    flush();
    run_value_ = v;
    run_count_ = count;
  }
  Summary summary() const;

 private:
  void flush();  // the pending run into the buckets
  std::int64_t run_value_ = 0, run_count_ = 0;
  static constexpr int kSubBits = 10;
  std::size_t index(std::int64_t v) const;
  std::int64_t bucket_low(std::size_t i) const;
  std::vector<std::int64_t> counts_;
  std::int64_t n_ = 0;
  std::int64_t sum_ = 0;  // exact: the mean does not depend on the order values arrive in
  std::int64_t min_ = INT64_MAX, max_ = 0;
};

}  // namespace servesim
