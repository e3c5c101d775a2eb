#include <cmath>

#include <gtest/gtest.h>

#include "sim/cost/line_grid.h"

namespace servesim {
namespace {

// Log-log interpolation is exact for power laws: between (x0, c x0^p) and (x1, c x1^p),
// log y is linear in log x.
TEST(LineGrid, LogLogInterpolationIsExactForPowerLaws) {
  LineGrid g(LineGrid::Options{0, 1.0, false, false});
  for (double x : {1.0, 4.0, 16.0, 64.0}) g.add({0, 0}, x, 3.0 * std::pow(x, 0.5));
  g.finalize();
  EXPECT_NEAR(*g.at({0, 0}, 2.0), 3.0 * std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(*g.at({0, 0}, 10.0), 3.0 * std::sqrt(10.0), 1e-12);
  EXPECT_DOUBLE_EQ(*g.at({0, 0}, 16.0), 12.0);  // a measured point answers itself
}

TEST(LineGrid, FlatBelowFirstPointPowerLawAboveWithClampedExponent) {
  LineGrid g(LineGrid::Options{0, 1.0, false, false});
  g.add({0, 0}, 10, 5);
  g.add({0, 0}, 20, 40);  // local exponent log(8)/log(2) = 3, clamped to 1
  g.finalize();
  EXPECT_DOUBLE_EQ(*g.at({0, 0}, 1), 5);      // below: the first value
  EXPECT_NEAR(*g.at({0, 0}, 40), 80, 1e-9);  // above: 40 * (40/20)^1
  LineGrid flat(LineGrid::Options{0, 0.0, false, false});
  flat.add({0, 0}, 10, 5);
  flat.add({0, 0}, 20, 40);
  flat.finalize();
  EXPECT_NEAR(*flat.at({0, 0}, 40), 40, 1e-9);  // max_exponent 0: flat
}

// value_near() answers exactly as value(), wherever x goes next: along a merged run (x one
// larger each call), back below its segment, to another segment, below the first point and
// beyond the last; its hint is the upper point of the segment it found. Lines 2 sqrt(x) at
// key 4 and 8 sqrt(x) at key 16, blended at key 8 (half-way in log space): their geometric
// mean, 4 sqrt(x).
TEST(LineGrid, ValueNearAnswersAsValueWhereverXGoes) {
  LineGrid g(LineGrid::Options{1, 1.0, false, false});
  for (double x : {1.0, 4.0, 16.0, 64.0}) {
    g.add({4, 0}, x, 2.0 * std::sqrt(x));
    g.add({16, 0}, x, 8.0 * std::sqrt(x));
  }
  g.finalize();
  LineGrid::Located at = g.locate({8, 0});
  ASSERT_EQ(at.lines, 2);
  EXPECT_NEAR(*g.value_near(at, 10), 4.0 * std::sqrt(10.0), 1e-9);
  EXPECT_EQ(at.near[0], 2u);  // 10 lies between the points 4 (position 1) and 16 (position 2)
  EXPECT_EQ(at.near[1], 2u);
  for (double x = 1; x < 80; ++x) EXPECT_EQ(*g.value_near(at, x), *g.value(at, x)) << x;
  for (double x : {5.0, 3.0, 40.0, 0.5, 200.0, 16.0, 17.0}) EXPECT_EQ(*g.value_near(at, x), *g.value(at, x)) << x;
}

// Pool adjacent violators: (1, 3, 2, 4) -> 3 and 2 pool to 2.5: (1, 2.5, 2.5, 4);
// (5, 1, 3) -> 5 and 1 pool to 3, then 3 and 3 stay: (3, 3, 3).
TEST(LineGrid, IsotonicRegressionPoolsAdjacentViolators) {
  EXPECT_EQ(isotonic({1, 3, 2, 4}), (std::vector<double>{1, 2.5, 2.5, 4}));
  EXPECT_EQ(isotonic({5, 1, 3}), (std::vector<double>{3, 3, 3}));
  EXPECT_EQ(isotonic({1, 2, 3}), (std::vector<double>{1, 2, 3}));
}

// A monotone line interpolates the isotonic regression of log y: measured (1, 4), (2, 1),
// (4, 16): logs (ln 4, 0, ln 16) -> (ln 2, ln 2, ln 16), i.e. y (2, 2, 16).
TEST(LineGrid, AMonotoneLineNeverFallsWhenXGrows) {
  LineGrid g(LineGrid::Options{0, 1.0, false, false, true});
  g.add({0, 0}, 1, 4);
  g.add({0, 0}, 2, 1);
  g.add({0, 0}, 4, 16);
  g.finalize();
  EXPECT_NEAR(*g.at({0, 0}, 1), 2, 1e-12);
  EXPECT_NEAR(*g.at({0, 0}, 2), 2, 1e-12);
  EXPECT_NEAR(*g.at({0, 0}, 4), 16, 1e-12);
  EXPECT_EQ(g.lines().begin()->second.y, (std::vector<double>{4, 1, 16}));  // raw values kept
}

// With an extrapolation scale, beyond the last point the line keeps its last ratio to the
// scale: last point (10, 5), scale s(x) = x^2: at 30, 5 * 900 / 100 = 45 (the clamped
// power law would give 5 * 3 = 15 at most).
TEST(LineGrid, BeyondTheLastPointTheLineFollowsItsExtrapolationScale) {
  LineGrid g(LineGrid::Options{0, 1.0, false, false});
  g.add({0, 0}, 5, 5);
  g.add({0, 0}, 10, 5);
  g.set_extrapolation([](const std::array<double, 2>&, double x) { return x * x; });
  g.finalize();
  EXPECT_NEAR(*g.at({0, 0}, 30), 45, 1e-9);
  EXPECT_NEAR(*g.at({0, 0}, 7), 5, 1e-9);  // inside: interpolation as before
}

// Efficiency e = scale / value, scale s(x) = x. Line 1: (2, 4), (4, 4): e 0.5 -> 1 over the
// last doubling, a log-log rate of 1. Beyond x = 4 the rate halves every doubling: after t
// doublings ln e grows by 2 ln2 (1 - 2^-t). At 16 (t = 2): 1.5 ln2, e = 2^1.5, value
// 16 / 2^1.5 = 4 sqrt(2) = 5.657, when the grid's best efficiency allows it (line 2 = (1,
// 0.1), e 10); with line 2 = (1, 0.5), e 2, the growth stops at ln2 and 16 answers 16 / 2 = 8. At 5 (t = 0.32, growth
// 0.277, value 3.79) the answer is the last value, 4: never faster than a smaller problem.
TEST(LineGrid, BeyondTheLastPointEfficiencyGrowsAsOverTheLastDoublingAndSaturates) {
  const auto scale = [](const std::array<double, 2>&, double x) { return x; };
  LineGrid free(LineGrid::Options{1, 1.0, false, false});
  free.add({1, 0}, 2, 4);
  free.add({1, 0}, 4, 4);
  free.add({2, 0}, 1, 0.1);
  free.set_extrapolation(scale);
  free.finalize();
  // Efficiency alone: 4 sqrt(2) = 5.66 at x = 16; but the line is on its floor (4 at x = 2
  // and 4), so the affine cap answers: 4 + (16 - 4) at the best efficiency's 0.1 per unit.
  EXPECT_NEAR(*free.at({1, 0}, 16), 4 + 12 * 0.1, 1e-9);
  EXPECT_NEAR(*free.at({1, 0}, 5), 4, 1e-12);
  LineGrid capped(LineGrid::Options{1, 1.0, false, false});
  capped.add({1, 0}, 2, 4);
  capped.add({1, 0}, 4, 4);
  capped.add({2, 0}, 1, 0.5);
  capped.set_extrapolation(scale);
  capped.finalize();
  EXPECT_NEAR(*capped.at({1, 0}, 16), 8, 1e-9);
  EXPECT_NEAR(*capped.at({1, 0}, 1024), 512, 1e-6);  // capped: e stays 2
}

// The cap of a compute-bound query is the best efficiency of the compute-bound points (here
// x >= 3 is compute-bound): the grid of `capped` above plus line 3 = (8, 6.4), e 1.25. The
// best of all points is line 2's e 2 (bandwidth-bound, x = 1); of the compute-bound ones,
// max(1.25, line 1's 4 / 4 = 1) = 1.25. At x = 1024 on line 1: 1024 / 1.25 = 819.2 (the
// affine cap, 4 + 1020 / 1.25 = 820, is above it), not 1024 / 2 = 512.
TEST(LineGrid, AComputeBoundQuerysEfficiencyIsCappedByTheComputeBoundPoints) {
  const auto scale = [](const std::array<double, 2>&, double x) { return x; };
  LineGrid g(LineGrid::Options{1, 1.0, false, false});
  g.add({1, 0}, 2, 4);
  g.add({1, 0}, 4, 4);
  g.add({2, 0}, 1, 0.5);
  g.add({3, 0}, 8, 6.4);
  g.set_extrapolation(scale);
  g.finalize();
  EXPECT_NEAR(*g.at({1, 0}, 1024), 512, 1e-6);  // no predicate: the best of all points
  g.set_equal_area([](const std::array<double, 2>&, double x) { return x >= 3; });
  EXPECT_NEAR(*g.at({1, 0}, 1024), 819.2, 1e-6);
  EXPECT_NEAR(*g.at({1, 0}, 4), 4, 1e-12);  // measured: unchanged
}

// The affine cap: beyond the last point the extra work costs at most its marginal cost over
// the last doubling (here (4.4 - 4) / (4 - 2) = 0.2 per unit of scale, above the best
// efficiency's 0.1), so at x = 16: 4.4 + 12 x 0.2 = 6.8. The efficiency rule alone gives
// 4.4 x 4 / exp(2 ln2 x log2(0.909 / 0.5) x 3/4) = 7.18; the smaller answers.
TEST(LineGrid, BeyondTheLastPointExtraWorkCostsAtMostItsMarginalCost) {
  const auto scale = [](const std::array<double, 2>&, double x) { return x; };
  LineGrid g(LineGrid::Options{1, 1.0, false, false});
  g.add({1, 0}, 2, 4);
  g.add({1, 0}, 4, 4.4);
  g.add({2, 0}, 1, 0.1);
  g.set_extrapolation(scale);
  g.finalize();
  EXPECT_NEAR(*g.at({1, 0}, 16), 4.4 + 12 * 0.2, 1e-9);
  // Never below the last point, and non-decreasing.
  double prev = 4.4;
  for (double x = 4; x <= 4096; x *= 1.5) {
    const double v = *g.at({1, 0}, x);
    EXPECT_GE(v, prev - 1e-12) << x;
    prev = v;
  }
}

// Knots (1, 10), (2, 5), (3, 20): log-isotonic pools 10 and 5 to sqrt(50) = 7.0711.
TEST(KnotCurve, MonotoneEnvelopePoolsFallingKnots) {
  KnotCurve c{{1, 2, 3}, {10, 5, 20}};
  const KnotCurve m = c.monotone();
  EXPECT_NEAR(m.y[0], std::sqrt(50.0), 1e-9);
  EXPECT_NEAR(m.y[1], std::sqrt(50.0), 1e-9);
  EXPECT_NEAR(m.y[2], 20, 1e-9);
}

TEST(LineGrid, RepeatedPointsKeepTheirMean) {
  LineGrid g(LineGrid::Options{0, 1.0, false, false});
  g.add({0, 0}, 8, 2);
  g.add({0, 0}, 8, 4);
  g.finalize();
  EXPECT_DOUBLE_EQ(*g.at({0, 0}, 8), 3);
}

// Two outer axes: y = n^a k^b m^c is separable, so bilinear blending of log y over
// (log n, log k) between exact lines is exact too.
TEST(LineGrid, BilinearAcrossLinesIsExactForSeparablePowerLaws) {
  LineGrid g(LineGrid::Options{2, 1.0, false, false});
  auto law = [](double n, double k, double m) { return std::pow(n, 0.7) * std::pow(k, 0.3) * std::pow(m, 0.9); };
  for (double n : {100.0, 1000.0})
    for (double k : {10.0, 80.0})
      for (double m : {1.0, 8.0, 64.0}) g.add({n, k}, m, law(n, k, m));
  g.finalize();
  EXPECT_NEAR(*g.at({300, 20}, 8), law(300, 20, 8), 1e-9 * law(300, 20, 8));
  EXPECT_NEAR(*g.at({300, 20}, 20), law(300, 20, 20), 1e-9 * law(300, 20, 20));
  EXPECT_FALSE(g.at({50, 20}, 8).has_value());    // n outside the axis: no answer
  EXPECT_FALSE(g.at({300, 100}, 8).has_value());  // k outside the axis
}

TEST(LineGrid, MissingCornerUsesTheNextBoxOrNothing) {
  LineGrid g(LineGrid::Options{2, 1.0, false, false});
  // Lines at n in {1, 4, 16} and k in {1, 4}, except (4, 4): a query at n = 2, k = 2 has
  // the corner (4, 4) missing in its tightest box; the next box n in {1, 16} has all four.
  for (double n : {1.0, 4.0, 16.0})
    for (double k : {1.0, 4.0}) {
      if (n == 4 && k == 4) continue;
      g.add({n, k}, 1, n * k);  // y = n k (exponents 1, 1): exact under log blending
    }
  g.finalize();
  EXPECT_NEAR(*g.at({2, 2}, 1), 4.0, 1e-9);
  LineGrid sparse(LineGrid::Options{2, 1.0, false, false});
  sparse.add({1, 1}, 1, 1);
  sparse.add({4, 4}, 1, 16);
  sparse.finalize();
  EXPECT_FALSE(sparse.at({2, 2}, 1).has_value());  // no box with four lines
  EXPECT_DOUBLE_EQ(*sparse.at({4, 4}, 1), 16);     // an exact line still answers
}

TEST(LineGrid, ClampOuterUsesTheNearestLine) {
  LineGrid g(LineGrid::Options{1, 0.0, true, false});
  g.add({2, 0}, 10, 1.5);
  g.add({8, 0}, 10, 3.0);
  g.finalize();
  EXPECT_DOUBLE_EQ(*g.at({1, 0}, 10), 1.5);
  EXPECT_DOUBLE_EQ(*g.at({100, 0}, 10), 3.0);
  EXPECT_NEAR(*g.at({4, 0}, 10), std::sqrt(1.5 * 3.0), 1e-12);  // half way in log: geometric mean
}

// Two outer axes, clamp_outer, no box of four existing lines around the query: the line
// nearest in log outer coordinates answers. Lines (1, 1) -> 1, (4, 4) -> 16, (16, 1) -> 5.
// (3, 3): distances 2 log 3 = 2.20, 2 log(4/3) = 0.58, log(16/3) + log 3 = 2.77 -> (4, 4).
// (8, 1.5): log 8 + log 1.5 = 2.48, log 2 + log(8/3) = 1.67, log 2 + log 1.5 = 1.10 -> (16, 1).
// Without clamp_outer the same grid has no answer there.
TEST(LineGrid, ClampOuterWithoutABoxUsesTheNearestLineInLogCoordinates) {
  for (bool clamp : {true, false}) {
    LineGrid g(LineGrid::Options{2, 0.0, clamp, false});
    g.add({1, 1}, 10, 1);
    g.add({4, 4}, 10, 16);
    g.add({16, 1}, 10, 5);
    g.finalize();
    if (!clamp) {
      EXPECT_FALSE(g.at({3, 3}, 10).has_value());
      continue;
    }
    EXPECT_DOUBLE_EQ(*g.at({3, 3}, 10), 16);
    EXPECT_DOUBLE_EQ(*g.at({8, 1.5}, 10), 5);
    EXPECT_DOUBLE_EQ(*g.at({8, 1.5}, 20), 5);  // along the line: flat above its one point (max_exponent 0)
  }
}

// The blend across lines reads the axis values' logs stored at finalize(): the answer is
// bit for bit the formula with every log taken at query time, in the same order:
// exp(ya + (log q - log lo) / (log hi - log lo) (yb - ya)), ya, yb the lines' log values
// at x (here measured points, so log of the measured value).
TEST(LineGrid, BlendWeightsFromStoredAxisLogsMatchLogsTakenAtQueryTime) {
  LineGrid g(LineGrid::Options{2, 1.0, false, false});
  const double n[] = {3.0, 7.0}, k[] = {5.0, 11.0};
  auto y = [](double a, double b) { return a * 1.3 + b * 0.7; };  // not separable: blending is not exact
  for (double a : n)
    for (double b : k) g.add({a, b}, 9, y(a, b));
  g.finalize();
  auto w = [](double q, double lo, double hi) { return (std::log(q) - std::log(lo)) / (std::log(hi) - std::log(lo)); };
  const double qn = 5.0, qk = 6.0;
  const double wk = w(qk, k[0], k[1]);
  const double lo = std::log(y(n[0], k[0])) + wk * (std::log(y(n[0], k[1])) - std::log(y(n[0], k[0])));
  const double hi = std::log(y(n[1], k[0])) + wk * (std::log(y(n[1], k[1])) - std::log(y(n[1], k[0])));
  EXPECT_EQ(*g.at({qn, qk}, 9), std::exp(lo + w(qn, n[0], n[1]) * (hi - lo)));
  // An exact key on one axis is its own bracket (weight 0 on that axis).
  const double on_n0 = std::log(y(n[0], k[0])) + wk * (std::log(y(n[0], k[1])) - std::log(y(n[0], k[0])));
  EXPECT_EQ(*g.at({n[0], qk}, 9), std::exp(on_n0 + 0.0 * (on_n0 - on_n0)));
}

TEST(LineGrid, TileClassesOfM) {
  EXPECT_EQ(gemm_m_class(16), 0);
  EXPECT_EQ(gemm_m_class(7), 0);
  EXPECT_EQ(gemm_m_class(256), 0);
  EXPECT_EQ(gemm_m_class(257), 1);
  EXPECT_EQ(gemm_m_class(17), 1);
  EXPECT_EQ(gemm_m_class(300), 2);
}

// A line measured on both sides of tile boundaries: aligned points (m % 16 == 0) follow
// y = m, first-row points (m % 16 == 1) follow y = 2 m (a new tile costs a step). An
// aligned query interpolates among aligned points, a first-row query among first-row
// points; any other m between its measured neighbours, unless the upper neighbour is a
// first row (a boundary lies between), when the aligned curve answers.
TEST(LineGrid, TilePairsInterpolateWithinTheirClass) {
  LineGrid g(LineGrid::Options{0, 1.0, false, true});
  for (double b : {32.0, 64.0, 128.0, 256.0}) {
    g.add({0, 0}, b, b);
    if (b != 128) g.add({0, 0}, b + 1, 2 * (b + 1));
  }
  g.finalize();
  EXPECT_NEAR(*g.at({0, 0}, 96), 96, 1e-9);      // aligned, between 64 and 128
  EXPECT_NEAR(*g.at({0, 0}, 97), 2 * 97, 1e-9);  // first row, between 65 and 257
  // 200 lies between 128 (aligned) and 256 (aligned): ordinary interpolation, y = m.
  EXPECT_NEAR(*g.at({0, 0}, 200), 200, 1e-9);
  // 100 lies between 65 (first row, y 130) and 128 (aligned, y 128): same tile, so
  // log-log between those two points.
  const double expect = std::exp(std::log(130.0) + (std::log(100.0) - std::log(65.0)) /
                                                       (std::log(128.0) - std::log(65.0)) * (std::log(128.0) - std::log(130.0)));
  EXPECT_NEAR(*g.at({0, 0}, 100), expect, 1e-9);

  LineGrid holed(LineGrid::Options{0, 1.0, false, true});
  for (double b : {32.0, 64.0, 128.0, 256.0}) {
    if (b != 128) holed.add({0, 0}, b, b);
    holed.add({0, 0}, b + 1, 2 * (b + 1));
  }
  holed.finalize();
  // 120's upper neighbour is 129, a first row: the boundary at 128 lies between, so the
  // aligned curve (64 -> 256, y = m) answers.
  EXPECT_NEAR(*holed.at({0, 0}, 120), 120, 1e-9);
}

// Beyond a tile-paired line each class extrapolates from its own points. Scale s(x) = x, so
// efficiency = x / y: aligned points b = 32 .. 256 have y = b (efficiency 1), first-row points
// b + 1 have y = 2 (b + 1) (efficiency 1/2); both flat, so no growth. The line's largest point
// is the first row 257: an aligned query 512 keeps the aligned efficiency, 512 (from the
// largest point it would be 2 x 512), a first-row query 513 the first-row one, 2 x 513, and any
// other m (600) the aligned one. A line whose first rows stop before the last doubling of the
// line (last 257, line to 1024) extrapolates every class from the aligned points: 2049 -> 2049.
TEST(LineGrid, BeyondATilePairedLineEachClassExtrapolatesFromItsOwnPoints) {
  const auto scale = [](const std::array<double, 2>&, double x) { return x; };
  LineGrid g(LineGrid::Options{0, 1.0, false, true});
  for (double b : {32.0, 64.0, 128.0, 256.0}) {
    g.add({0, 0}, b, b);
    g.add({0, 0}, b + 1, 2 * (b + 1));
  }
  g.set_extrapolation(scale);
  g.finalize();
  EXPECT_NEAR(*g.at({0, 0}, 512), 512, 1e-9);
  EXPECT_NEAR(*g.at({0, 0}, 513), 2 * 513, 1e-9);
  EXPECT_NEAR(*g.at({0, 0}, 600), 600, 1e-9);

  LineGrid early(LineGrid::Options{0, 1.0, false, true});
  for (double b : {32.0, 64.0, 128.0, 256.0, 512.0, 1024.0}) {
    early.add({0, 0}, b, b);
    if (b <= 256 && b != 128) early.add({0, 0}, b + 1, 2 * (b + 1));
  }
  early.set_extrapolation(scale);
  early.finalize();
  EXPECT_NEAR(*early.at({0, 0}, 2049), 2049, 1e-9);
  EXPECT_NEAR(*early.at({0, 0}, 2048), 2048, 1e-9);
}

// Where the scale grew by less than sqrt(2) over the last doubling (here a fixed 100 plus 0.1
// per unit of x: 112.8 at x = 128, 125.6 at 256), the time's step over it (200 -> 240) is
// priced per unit of work (100 + 1.1 x: 240.8 -> 381.6), 40 / 140.8 = 0.284, not per unit of
// scale (40 / 12.8 = 3.125); below the best efficiency of the grid, 0.8 (line 2: 100.1 /
// 125.125), i.e. 1.25 per unit, the best answers. At x = 4096 the scale is 509.6:
// 240 + (509.6 - 125.6) x 1.25 = 720, below the efficiency rule's 240 x 509.6 / 125.6 =
// 973.8 (the line's efficiency fell over its last doubling: no growth). Without a work
// function the scale prices it: 240 + 384 x 3.125 = 1440, so the efficiency rule answers.
TEST(LineGrid, AFixedPartOfTheScalePricesTheMarginalCostPerUnitOfWork) {
  const auto scale = [](const std::array<double, 2>&, double x) { return 100 + 0.1 * x; };
  const auto work = [](const std::array<double, 2>&, double x) { return 100 + 1.1 * x; };
  for (bool with_work : {true, false}) {
    LineGrid g(LineGrid::Options{1, 1.0, false, false});
    g.add({1, 0}, 128, 200);
    g.add({1, 0}, 256, 240);
    g.add({2, 0}, 1, 125.125);
    g.set_extrapolation(scale, with_work ? LineGrid::Scale(work) : LineGrid::Scale());
    g.finalize();
    EXPECT_NEAR(*g.at({1, 0}, 4096), with_work ? 240 + (509.6 - 125.6) * 1.25 : 240 * 509.6 / 125.6, 1e-9);
  }
}

// The equal-area partner must itself be compute-bound at m' (here: m >= 2, whatever the
// line). Own line (2, 10): (1, 1), (2, 2); partner (8, 10): (1, 6), (2, 10), (4, 12). At m 4
// the partner's m' = 1 is not compute-bound: the own line alone, 4 (6 before this rule). At
// m 8, m' = 2 is: the partner's 10 answers (above the own line's 8).
TEST(LineGrid, EqualAreaReadsOnlyPartnersThatAreComputeBoundThemselves) {
  LineGrid g(LineGrid::Options{2, 1.0, false, false, false});
  g.add({2, 10}, 1, 1);
  g.add({2, 10}, 2, 2);
  for (auto [m, y] : {std::pair{1.0, 6.0}, {2.0, 10.0}, {4.0, 12.0}}) g.add({8, 10}, m, y);
  g.finalize();
  g.set_extrapolation([](const std::array<double, 2>&, double x) { return x; });
  g.set_equal_area([](const std::array<double, 2>&, double m) { return m >= 2; });
  EXPECT_NEAR(*g.at({2, 10}, 4), 4, 1e-9);
  EXPECT_NEAR(*g.at({2, 10}, 8), 10, 1e-9);
}

// Equal-area extrapolation: lines (n, k) along m. The own line (2, 10) is (1, 1), (2, 2); with
// scale(x) = x its efficiency is flat, so alone it extrapolates as y = x. Lines of the same k
// and a larger n: (8, 10) over m' 1..4 and (16, 10) over m' 2..4; (8, 20) is another k and is
// never read. m' = m n / n' = m / 4 on (8, 10), m / 8 on (16, 10). Values by log-log
// interpolation, y = y0 (y1 / y0)^(log(m' / m0) / log(m1 / m0)).
TEST(LineGrid, ComputeBoundQueriesBeyondALineReadTheLinesOfEqualArea) {
  LineGrid g(LineGrid::Options{2, 1.0, false, false, false});
  g.add({2, 10}, 1, 1);
  g.add({2, 10}, 2, 2);
  for (auto [m, y] : {std::pair{1.0, 6.0}, {2.0, 10.0}, {4.0, 12.0}}) g.add({8, 10}, m, y);
  g.add({16, 10}, 2, 20);
  g.add({16, 10}, 4, 30);
  g.add({8, 20}, 1, 100);
  g.add({8, 20}, 2, 200);
  g.finalize();
  g.set_extrapolation([](const std::array<double, 2>&, double x) { return x; });
  EXPECT_NEAR(*g.at({2, 10}, 4), 4, 1e-9);  // no compute-bound predicate: the line alone
  bool bound = true;
  g.set_equal_area([&bound](const std::array<double, 2>&, double) { return bound; });
  EXPECT_NEAR(*g.at({2, 10}, 1.5), 1.5, 1e-9);  // inside the line's range: unchanged
  // m 4: m' 1 on (8, 10), measured 6 > 4.
  EXPECT_NEAR(*g.at({2, 10}, 4), 6, 1e-9);
  // m 6: m' 1.5 between (1, 6) and (2, 10): 6 (10/6)^(log 1.5 / log 2) = 8.0893.
  EXPECT_NEAR(*g.at({2, 10}, 6), 6 * std::pow(10.0 / 6, std::log(1.5) / std::log(2.0)), 1e-9);
  // m 12: m' 3 between (2, 10) and (4, 12): 11.125, below the line's own 12.
  EXPECT_NEAR(*g.at({2, 10}, 12), 12, 1e-9);
  // m 20: m' 5 is beyond (8, 10) (its last value 12 bounds the answer from below); on
  // (16, 10) m' 2.5: 20 (30/20)^(log 1.25 / log 2) = 22.789, above the line's own 20.
  EXPECT_NEAR(*g.at({2, 10}, 20), 20 * std::pow(1.5, std::log(1.25) / std::log(2.0)), 1e-9);
  // m 40: beyond both (m' 10 and 5): the larger last value, 30, below the line's own 40.
  EXPECT_NEAR(*g.at({2, 10}, 40), 40, 1e-9);
  // Not compute-bound: the line alone.
  bound = false;
  EXPECT_NEAR(*g.at({2, 10}, 6), 6, 1e-9);
  // Never smaller for a larger m.
  bound = true;
  double last = 0;
  for (double m = 2.5; m <= 64; m *= 1.07) {
    const double v = *g.at({2, 10}, m);
    EXPECT_GE(v, last) << "m " << m;
    last = v;
  }
}

// Piecewise alpha-beta: linear between knots, the floor below, the last segment above.
TEST(KnotCurve, LinearBetweenFloorBelowLastSegmentAbove) {
  KnotCurve c{{100, 200, 400}, {10, 20, 30}};
  EXPECT_DOUBLE_EQ(c.at(150), 15);
  EXPECT_DOUBLE_EQ(c.at(300), 25);
  EXPECT_DOUBLE_EQ(c.at(50), 10);
  EXPECT_DOUBLE_EQ(c.at(600), 40);  // slope (30-20)/(400-200) = 0.05 per byte
  KnotCurve falling{{100, 200}, {10, 8}};
  EXPECT_DOUBLE_EQ(falling.at(400), 16);  // non-positive last slope: proportional to x
}

// With a physical bound (min_slope: time per byte at the peak) the curve goes on above its
// last knot at the slope over its last doubling, from the largest knot at most half the last
// one (400 -> 800: (34 - 30) / 400 = 0.01 per byte, not the last segment's 0.005), and never
// at less than min_slope.
TEST(KnotCurve, AboveTheLastKnotMarginalSlopeOfTheLastDoublingNeverBelowTheBound) {
  KnotCurve c{{100, 200, 400, 600, 800}, {10, 20, 30, 33, 34}};
  EXPECT_DOUBLE_EQ(c.at(1600), 38);  // no bound: the last segment, 34 + 0.005 * 800
  c.min_slope = 0.001;
  EXPECT_DOUBLE_EQ(c.at(1600), 42);  // 34 + 0.01 * 800
  EXPECT_DOUBLE_EQ(c.at(700), 33.5);  // inside: unchanged
  c.min_slope = 0.02;
  EXPECT_DOUBLE_EQ(c.at(1600), 50);  // the bound binds: 34 + 0.02 * 800
  KnotCurve flat{{100, 200}, {10, 8}};
  flat.min_slope = 0.01;
  EXPECT_DOUBLE_EQ(flat.at(400), 10);  // falling: 8 + 0.01 * 200
  EXPECT_DOUBLE_EQ(flat.monotone().min_slope, 0.01);
}

// A fixed-cost call (fixed_call: a page map's driver calls) is never extrapolated in
// proportion to x: above the last knot it goes on at the slope of its last doubling where
// that is positive (200 -> 400: (21 - 12) / 200 = 0.045, not the last segment's 0.01), else
// flat; one knot: flat.
TEST(KnotCurve, AFixedCostCallGrowsAtItsLastDoublingsSlopeOrNotAtAll) {
  KnotCurve c{{100, 200, 300, 400}, {10, 12, 20, 21}};
  EXPECT_DOUBLE_EQ(c.at(800), 25);  // not a fixed call: the last segment, 21 + 0.01 * 400
  c.fixed_call = true;
  EXPECT_DOUBLE_EQ(c.at(800), 39);  // 21 + 0.045 * 400
  EXPECT_DOUBLE_EQ(c.at(250), 16);  // inside: unchanged
  KnotCurve falling{{100, 200}, {10, 8}, 0, 0, true};
  EXPECT_DOUBLE_EQ(falling.at(400), 8);  // not 16 (proportional)
  KnotCurve one{{100}, {10}, 0, 0, true};
  EXPECT_DOUBLE_EQ(one.at(300), 10);  // not 30
}

// With a saturation (saturated_slope: time per byte at the bandwidth reached on large
// transfers) the marginal slope of the last doubling (0.01) falls towards it, the excess
// halving with each doubling: y = 34 + s (x - 800) + (0.01 - s) 800 ln(x / 800).
TEST(KnotCurve, AboveTheLastKnotTheMarginalSlopeFallsTowardsTheSaturatedOne) {
  KnotCurve c{{100, 200, 400, 600, 800}, {10, 20, 30, 33, 34}};
  c.min_slope = 0.001;
  c.saturated_slope = 0.005;
  EXPECT_NEAR(c.at(1600), 34 + 0.005 * 800 + 0.005 * 800 * std::log(2.0), 1e-12);  // 40.77
  EXPECT_NEAR(c.at(3200), 34 + 0.005 * 2400 + 0.005 * 800 * std::log(4.0), 1e-12);  // 51.55, not 58
  EXPECT_DOUBLE_EQ(c.at(800), 34);
  EXPECT_DOUBLE_EQ(c.at(700), 33.5);  // inside: unchanged
  // Never faster than the peak: a saturation below the bound saturates at the bound.
  c.min_slope = 0.008;
  EXPECT_NEAR(c.at(1600), 34 + 0.008 * 800 + 0.002 * 800 * std::log(2.0), 1e-12);
  // A marginal slope below the saturated one (0.01 < 0.02: faster than large transfers ever
  // move) is raised to it: the extra bytes cost at least the large-transfer rate.
  c.min_slope = 0.001;
  c.saturated_slope = 0.02;
  EXPECT_DOUBLE_EQ(c.at(1600), 34 + 0.02 * 800);
  // The slope at any x stays between the saturated one and the last doubling's.
  c.saturated_slope = 0.005;
  for (double x = 1000; x < 1e7; x *= 1.7) {
    const double slope = (c.at(x * 1.001) - c.at(x)) / (x * 0.001);
    EXPECT_GE(slope, 0.005 - 1e-9);
    EXPECT_LE(slope, 0.01 + 1e-9);
  }
  EXPECT_DOUBLE_EQ(c.monotone().saturated_slope, 0.005);
}

}  // namespace
}  // namespace servesim
