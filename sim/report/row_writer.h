#pragma once
// Fast text formatting of CSV rows. Contract: append_fixed(s, v, p) appends exactly what
// fmt::format("{:.<p>f}", v) gives (both are correctly rounded: the decimal nearest the
// double's exact value, ties to even; "nan", "-nan", "inf", "-inf", "-0.000000" alike), and
// append_int() what fmt::format("{}", v) gives; neither parses a format string at run time
// nor allocates (beyond the string's growth). tests/report/test_row_writer.cpp checks both
// against fmt. RowWriter formats rows into one reused buffer
// and writes it to its stream in blocks, so a file of millions of rows is never one string.
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

namespace servesim {

__extension__ typedef unsigned __int128 RowU128;  // GCC/Clang's 128-bit integer (no pedantic warning)

inline void append_int(std::string& s, std::integral auto v) {
  char b[24];
  const auto r = std::to_chars(b, b + sizeof b, v);
  s.append(b, r.ptr);
}

// Fixed notation with `precision` digits after the point (0 to 17).
inline void append_fixed(std::string& s, double v, int precision) {
  // Fast path (the CSV writers' values: finite, below 2^53, at most 9 decimals), exact in
  // integers: |v| = m * 2^e with m < 2^53 and e <= 0, so |v| * 10^p = (m * 10^p) / 2^-e, a
  // quotient of integers below 2^83 rounded half to even. Else std::to_chars (Ryu, exact too).
  static constexpr std::uint64_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
  const double a = std::fabs(v);
  if (precision >= 0 && precision <= 9 && a < 9007199254740992.0) {  // also false for NaN
    int exp = 0;
    const double f = std::frexp(a, &exp);  // a = f * 2^exp, f in [0.5, 1) (0 for 0)
    const auto m = static_cast<std::uint64_t>(std::ldexp(f, 53));
    const int shift = 53 - exp;  // >= 0 since a < 2^53
    const std::uint64_t pow = kPow10[precision];
    const RowU128 n = static_cast<RowU128>(m) * pow;
    RowU128 q = 0;
    if (shift == 0) {
      q = n;
    } else if (shift < 100) {  // n < 2^83: from 2^99 on, n is below half a unit and q stays 0
      q = n >> shift;
      const RowU128 rest = n - (q << shift), half = static_cast<RowU128>(1) << (shift - 1);
      if (rest > half || (rest == half && (q & 1) != 0)) ++q;
    }
    if (std::signbit(v)) s.push_back('-');
    append_int(s, static_cast<std::uint64_t>(q / pow));
    if (precision > 0) {
      char digits[9];
      auto frac = static_cast<std::uint64_t>(q % pow);
      for (int i = precision - 1; i >= 0; --i, frac /= 10) digits[i] = static_cast<char>('0' + frac % 10);
      s.push_back('.');
      s.append(digits, static_cast<std::size_t>(precision));
    }
    return;
  }
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
