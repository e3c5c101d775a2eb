#include "sim/workload/length_dist.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/params.h"

namespace servesim {
namespace {
// Lengths are token counts of one request: int32, and a distribution whose values reach
// 2^31 would overflow every per-request count downstream.
constexpr std::int64_t kMaxLength = std::numeric_limits<std::int32_t>::max();
}  // namespace

// Every key is read through Params (type, range, unknown keys), so a wrong type or an absurd
// value is an error naming the key, never an internal error.
LengthDist LengthDist::parse(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) bad_value(where, j.dump(), "a length distribution object {\"dist\": ...}");
  Params p(j, where);
  LengthDist d;
  const std::string kind = j.contains("dist") && !j["dist"].is_string()
                               ? j["dist"].dump()
                               : p.string("dist", std::string(), "fixed | uniform | lognormal | empirical");
  const double max_len = static_cast<double>(kMaxLength);
  if (kind == "fixed") {
    d.kind_ = Kind::kFixed;
    d.a_ = static_cast<double>(p.integer("value", std::nullopt, "the length", 1, kMaxLength));
  } else if (kind == "uniform") {
    d.kind_ = Kind::kUniform;
    d.a_ = static_cast<double>(p.integer("min", std::nullopt, "smallest length", 1, kMaxLength));
    d.b_ = static_cast<double>(p.integer("max", std::nullopt, "largest length", 1, kMaxLength));
    if (d.b_ < d.a_) bad_value(p.where("max"), fmt::format("{}", d.b_), "max >= min");
  } else if (kind == "lognormal") {
    d.kind_ = Kind::kLognormal;
    d.median_ = p.real("median", std::nullopt, "median length", 1, max_len);
    d.mean_ = p.real("mean", std::nullopt, "mean length", 1, max_len);
    if (d.mean_ < d.median_) bad_value(p.where("mean"), fmt::format("{}", d.mean_), "mean >= median for a lognormal");
    d.a_ = std::log(d.median_);
    d.b_ = std::sqrt(2.0 * std::log(d.mean_ / d.median_));
    d.min_ = p.integer("min", 1, "clamp samples to at least this", 1, kMaxLength);
    d.max_ = p.integer("max", kMaxLength, "clamp samples to at most this", 1, kMaxLength);
    if (d.max_ < d.min_) bad_value(p.where("max"), std::to_string(d.max_), "max >= min");
  } else if (kind == "empirical") {
    d.kind_ = Kind::kEmpirical;
    const nlohmann::json vals = p.value("values", nlohmann::json(), "the lengths to draw from");
    if (!vals.is_array() || vals.empty()) {
      bad_value(p.where("values"), vals.is_null() ? "<missing>" : vals.dump(), "a non-empty array of positive integers");
    }
    for (const auto& v : vals) {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > kMaxLength ||
          (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxLength))) {
        bad_value(p.where("values"), v.dump(), "a positive integer below 2^31");
      }
      d.values_.push_back(v.get<std::int32_t>());
    }
    std::vector<double> w(d.values_.size(), 1.0);
    const nlohmann::json ws = p.value("weights", nlohmann::json(), "relative weight of each value (default: equal)");
    if (!ws.is_null()) {
      if (!ws.is_array() || ws.size() != d.values_.size()) bad_value(p.where("weights"), ws.dump(), "an array as long as values");
      for (std::size_t i = 0; i < w.size(); ++i) {
        if (!ws[i].is_number() || !(ws[i].get<double>() >= 0) || !std::isfinite(ws[i].get<double>())) {
          bad_value(p.where("weights"), ws[i].dump(), "a finite non-negative number");
        }
        w[i] = ws[i].get<double>();
      }
    }
    double total = 0;
    for (double x : w) total += x;
    if (!(total > 0) || !std::isfinite(total)) bad_value(p.where("weights"), fmt::format("{}", total), "weights with a finite positive sum");
    double acc = 0;
    for (double x : w) d.cdf_.push_back(acc += x / total);
  } else {
    bad_value(where + ".dist", kind.empty() ? "<missing>" : kind, "one of fixed, uniform, lognormal, empirical");
  }
  p.finish();
  return d;
}

std::int32_t LengthDist::sample(Rng& rng) const {
  double x = 0;
  switch (kind_) {
    case Kind::kFixed: return static_cast<std::int32_t>(a_);
    case Kind::kUniform: return static_cast<std::int32_t>(rng.uniform_int(static_cast<std::int64_t>(a_), static_cast<std::int64_t>(b_)));
    case Kind::kLognormal: x = std::round(rng.lognormal(a_, b_)); break;
    case Kind::kEmpirical: {
      const double u = rng.uniform01();
      const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
      return values_[std::min<std::size_t>(static_cast<std::size_t>(it - cdf_.begin()), values_.size() - 1)];
    }
  }
  return static_cast<std::int32_t>(std::clamp<double>(x, static_cast<double>(min_), static_cast<double>(max_)));
}

double LengthDist::mean_hint() const {
  switch (kind_) {
    case Kind::kFixed: return a_;
    case Kind::kUniform: return 0.5 * (a_ + b_);
    case Kind::kLognormal: return mean_;
    case Kind::kEmpirical: {
      double m = 0, prev = 0;
      for (std::size_t i = 0; i < values_.size(); ++i) {
        m += values_[i] * (cdf_[i] - prev);
        prev = cdf_[i];
      }
      return m;
    }
  }
  return 0;
}

}  // namespace servesim
