#pragma once
// Fast text formatting of CSV rows. Contract: append_fixed(s, v, p) appends exactly what
// fmt::format("{:.<p>f}", v) gives (both are correctly rounded: the decimal nearest the
// double's exact value, ties to even; "nan", "-nan", "inf", "-inf", "-0.000000" alike), and
// append_int() what fmt::format("{}", v) gives; neither parses a format string at run time
// nor allocates (beyond the string's growth). RowWriter formats rows into one reused buffer
// and writes it to its stream in blocks, so a file of millions of rows is never one string.
#include <charconv>
#include <concepts>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

namespace servesim {

inline void append_int(std::string& s, std::integral auto v) {
  char b[24];
  const auto r = std::to_chars(b, b + sizeof b, v);
  s.append(b, r.ptr);
}

// Fixed notation with `precision` digits after the point (0 to 17).
inline void append_fixed(std::string& s, double v, int precision) {
  char b[340];  // the largest double (309 digits) + point + 17 digits
  const auto r = std::to_chars(b, b + sizeof b, v, std::chars_format::fixed, precision);
  s.append(b, r.ec == std::errc() ? r.ptr : b);
}

class RowWriter {
 public:
  explicit RowWriter(std::ostream& out) : out_(out) { buf_.reserve(kBlock + 4096); }
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;
  ~RowWriter() { flush(); }

  RowWriter& text(std::string_view t) {
    buf_.append(t);
    return *this;
  }
  RowWriter& ch(char c) {
    buf_.push_back(c);
    return *this;
  }
  RowWriter& integer(std::integral auto v) {
    append_int(buf_, v);
    return *this;
  }
  RowWriter& fixed(double v, int precision) {
    append_fixed(buf_, v, precision);
    return *this;
  }
  // Ends a row: a newline, and the buffer goes to the stream once it holds a block.
  void end_row() {
    buf_.push_back('\n');
    if (buf_.size() > kBlock) flush();
  }
  void flush() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }

 private:
  static constexpr std::size_t kBlock = 1u << 16;
  std::ostream& out_;
  std::string buf_;
};

}  // namespace servesim
