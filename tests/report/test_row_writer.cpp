// RowWriter's number formatting must equal fmt's "{:.Nf}" and "{}" byte for byte (the CSV
// files stayed byte-identical when the writers moved to it). Expected strings are the
// correctly rounded decimals of each double's exact binary value, worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "sim/report/row_writer.h"

namespace servesim {
namespace {

std::string fixed(double v, int precision) {
  std::string s;
  append_fixed(s, v, precision);
  return s;
}

TEST(RowWriter, FixedRoundsExactTiesToEven) {
  // 0.5, 1.5, 2.5, 0.125 and 0.375 are exact in binary: true ties, rounded to the even digit.
  EXPECT_EQ(fixed(0.5, 0), "0");
  EXPECT_EQ(fixed(1.5, 0), "2");
  EXPECT_EQ(fixed(2.5, 0), "2");
  EXPECT_EQ(fixed(0.125, 2), "0.12");
  EXPECT_EQ(fixed(0.375, 2), "0.38");
}

TEST(RowWriter, FixedRoundsTheExactBinaryValueNotTheShortestDecimal) {
  // 2.675 is stored as 2.67499999999999982236431605997495353221893310546875: rounds down.
  EXPECT_EQ(fixed(2.675, 2), "2.67");
  // 1.0000005 is stored as 1.00000050000000005..., just above the tie: rounds up.
  EXPECT_EQ(fixed(1.0000005, 6), "1.000001");
  // 5e-7 is stored as 4.99999999999999977e-07: rounds down to 0.000000.
  EXPECT_EQ(fixed(5e-7, 6), "0.000000");
}

TEST(RowWriter, FixedSmallValuesAndNegativeZero) {
  EXPECT_EQ(fixed(1e-7, 6), "0.000000");
  EXPECT_EQ(fixed(-1e-7, 6), "-0.000000");  // the sign of a value that rounds to zero stays
  EXPECT_EQ(fixed(-0.0, 6), "-0.000000");
  EXPECT_EQ(fixed(0.0, 0), "0");
}

TEST(RowWriter, FixedLargeValuesPrintEveryDigit) {
  EXPECT_EQ(fixed(1e22, 0), "10000000000000000000000");  // 10^22 = 2^22 * 5^22 is exact
  EXPECT_EQ(fixed(123456789012.0, 1), "123456789012.0");
  EXPECT_EQ(fixed(std::numeric_limits<double>::max(), 6).size(), 309u + 7u);  // 309 digits, point, 6 decimals
}

TEST(RowWriter, FixedNonFiniteAsFmtWritesThem) {
  EXPECT_EQ(fixed(std::numeric_limits<double>::infinity(), 6), "inf");
  EXPECT_EQ(fixed(-std::numeric_limits<double>::infinity(), 3), "-inf");
  EXPECT_EQ(fixed(std::nan(""), 6), "nan");
  EXPECT_EQ(fixed(-std::nan(""), 1), "-nan");
}

TEST(RowWriter, FixedEqualsFmtOnRandomDoubles) {
  // The rule: both are exact, so they agree everywhere; checked on random bit patterns,
  // random signed nanosecond times, random integers scaled by powers of two (both sides of
  // 2^53, where the fast path ends) and random halves (ties), at the precisions the writers
  // use and beyond.
  std::mt19937_64 g(7);
  for (int i = 0; i < 6000; ++i) {
    double v = 0;
    if (i % 3 == 0) {
      const std::uint64_t bits = g();
      std::memcpy(&v, &bits, sizeof v);
      if (!std::isfinite(v)) continue;
    } else if (i % 3 == 1) {
      v = static_cast<double>(g() % 1000000000000) * 1e-9 * (i % 2 == 0 ? 1 : -1);
    } else if (i % 5 == 0) {
      v = std::ldexp(static_cast<double>(g() % (std::uint64_t{1} << 53)), static_cast<int>(g() % 120) - 100);  // around 2^53 too
    } else {
      v = static_cast<double>(g() % 2000001) / 2.0 / std::pow(10.0, static_cast<double>(g() % 7));
    }
    for (int p : {0, 1, 3, 6, 9, 12}) ASSERT_EQ(fixed(v, p), fmt::format("{:.{}f}", v, p)) << v;
  }
}

TEST(RowWriter, IntegersAsFmtWritesThem) {
  std::string s;
  append_int(s, std::numeric_limits<std::int64_t>::min());
  s += ' ';
  append_int(s, std::int32_t{-1});
  s += ' ';
  append_int(s, std::uint64_t{18446744073709551615u});
  EXPECT_EQ(s, "-9223372036854775808 -1 18446744073709551615");
}

TEST(RowWriter, RowsReachTheStreamWhole) {
  // Rows past the 64 KiB block are flushed mid-file; the stream must still get every byte in order.
  std::ostringstream out;
  std::string expected;
  {
    RowWriter w(out);
    for (int i = 0; i < 20000; ++i) {
      w.integer(i).ch(',').fixed(i * 0.25, 2).text(",x");
      w.end_row();
      expected += fmt::format("{},{:.2f},x\n", i, i * 0.25);
    }
  }
  EXPECT_EQ(out.str(), expected);
}

}  // namespace
}  // namespace servesim
