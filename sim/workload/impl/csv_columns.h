#pragma once
// Numeric CSV tables read by column name (ShareGPT lengths, Vidur traces). Contract: the
// header names the columns; every required column must be there, optional ones are looked
// up with index(), others are ignored (public files carry extra columns, e.g. ShareGPT's pd_ratio); a name
// twice is an error. Each row must have as many fields as the header. Values are parsed
// whole (no quotes, no spaces); an error names file:line, the column, the value and what
// was expected.
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/error.h"
#include "sim/workload/impl/line_reader.h"

namespace servesim {

class CsvColumns {
 public:
  CsvColumns(LineReader& in, const std::vector<std::string>& required) : in_(in) {
    std::string all;
    for (const auto& n : required) all += (all.empty() ? "" : ",") + n;
    std::string header;
    if (!in_.next(header)) input_error(in_.path(), fmt::format("empty file, expected a header with columns {}", all));
    split(header, header_);
    names_.assign(header_.begin(), header_.end());
    for (std::size_t i = 0; i < names_.size(); ++i) {
      for (std::size_t k = 0; k < i; ++k) {
        if (names_[k] == names_[i]) bad_value(in_.where("header"), names_[i], "each column named once");
      }
    }
    for (const auto& n : required) {
      if (index(n) < 0) bad_value(in_.where("header"), header, fmt::format("a header with the columns {} (missing {})", all, n));
    }
  }

  // Column index of `name`, -1 when the header lacks it.
  int index(const std::string& name) const {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
  // Reads the next row; false at the end of the file.
  bool next_row() {
    if (!in_.next(line_)) return false;
    split(line_, fields_);
    if (fields_.size() != names_.size()) {
      bad_value(in_.where(), line_, fmt::format("{} comma-separated fields, as the header", names_.size()));
    }
    return true;
  }
  std::int64_t integer(int col, std::int64_t min, std::int64_t max, const char* expected) const {
    const std::string_view f = fields_[static_cast<std::size_t>(col)];
    std::int64_t v = 0;
    const auto r = std::from_chars(f.data(), f.data() + f.size(), v);
    if (f.empty() || r.ec != std::errc() || r.ptr != f.data() + f.size() || v < min || v > max) {
      bad_value(in_.where(names_[static_cast<std::size_t>(col)]), std::string(f), expected);
    }
    return v;
  }
  double real(int col, double min, double max, const char* expected) const {
    const std::string_view f = fields_[static_cast<std::size_t>(col)];
    double v = 0;
    const auto r = std::from_chars(f.data(), f.data() + f.size(), v);
    if (f.empty() || r.ec != std::errc() || r.ptr != f.data() + f.size() || !std::isfinite(v) || v < min || v > max) {
      bad_value(in_.where(names_[static_cast<std::size_t>(col)]), std::string(f), expected);
    }
    return v;
  }
  const LineReader& reader() const { return in_; }

 private:
  static void split(const std::string& line, std::vector<std::string_view>& out) {
    out.clear();
    std::size_t start = 0;
    for (;;) {
      const std::size_t c = line.find(',', start);
      out.emplace_back(std::string_view(line).substr(start, c == std::string::npos ? std::string::npos : c - start));
      if (c == std::string::npos) break;
      start = c + 1;
    }
  }

  LineReader& in_;
  std::string line_;
  std::vector<std::string_view> header_, fields_;
  std::vector<std::string> names_;
};

}  // namespace servesim
