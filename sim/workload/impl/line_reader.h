#pragma once
// Streams a text file line by line, keeping the line number for errors. Contract: a UTF-8
// byte-order mark before the first line is skipped; a line longer than kMaxLineBytes is an
// InputError naming the file and line (no input value drives an unbounded allocation);
// empty lines are skipped; a trailing '\r' is dropped.
#include <fstream>
#include <string>

#include "sim/core/error.h"
#include "sim/core/time.h"

namespace servesim {

// Arrivals of a trace must lie within this span of its first request: public traces span
// hours to weeks; a row years away is a typo (one wrong year would otherwise simulate decades).
inline constexpr SimTime kMaxTraceSpan = 366LL * 24 * 3600 * kSec;

class LineReader {
 public:
  static constexpr std::size_t kMaxLineBytes = 1 << 20;

  explicit LineReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) input_error(path, "cannot open file (missing or unreadable)");
  }
  bool next(std::string& line) {
    for (;;) {
      line.clear();
      std::streambuf* buf = in_.rdbuf();
      int c = buf->sbumpc();
      if (c == std::char_traits<char>::eof()) return false;
      ++line_no_;
      while (c != std::char_traits<char>::eof() && c != '\n') {
        if (line.size() >= kMaxLineBytes) {
          input_error(where(), fmt::format("line longer than {} bytes, expected one record per line", kMaxLineBytes));
        }
        line.push_back(static_cast<char>(c));
        c = buf->sbumpc();
      }
      if (line_no_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) return true;
    }
  }
  std::string where() const { return path_ + ":" + std::to_string(line_no_); }
  std::string where(const std::string& field) const { return where() + ": " + field; }
  std::int64_t line_no() const { return line_no_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  std::int64_t line_no_ = 0;
};

}  // namespace servesim
