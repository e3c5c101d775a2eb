#pragma once
// Measured curves y(x) > 0, one per "line" keyed by up to two outer coordinates (GEMM:
// lines (n, k) along m; attention: lines (batch) along length), interpolated piecewise-
// linearly in (log x, log y). Contract:
// - Along a line: a measured x answers its value; between measured x, log-log
//   interpolation; below the first point, the first value (flat); above the last, a power
//   law through the last two points with exponent clamped to [0, max_exponent] (a GEMM's
//   time grows at most linearly in m), or flat when max_exponent is 0 — unless an
//   extrapolation scale is set: then the line's efficiency against that scale (GEMM
//   lines: the roofline time), e = scale / value, goes on growing as it grew over the
//   line's last doubling of x, at a rate that halves with every further doubling and never
//   beyond the best efficiency of any point in the grid (of any compute-bound point, for a
//   query the equal-area predicate calls compute-bound, where the grid has such points:
//   bandwidth-bound shapes reach more of their roofline than compute-bound ones of the FLOP
//   peak); the answer is scale(x) / e(x), and
//   never below the last point's value (GEMM efficiency rises with m as the waves of tiles
//   fill the SMs and saturates at what the device reaches at all), and never above the last
//   value plus the extra scale at the line's marginal time per unit of work (see
//   set_extrapolation) over its last doubling (at least the best efficiency's): a line on
//   its fixed floor goes on as floor + extra work (the affine cap; the smaller answers); on
//   a tile-paired line
//   each class extrapolates from its own points: a first-row query from the first-row
//   points when they reach the line's last doubling (the largest at least half the line's
//   largest x), every other query (and a first-row one otherwise) from the aligned points.
//   A first row's efficiency is that of a partly filled tile, so carried to an aligned m
//   it makes it too slow (measured: +7.7 % median on the H100 fp8 GEMMs at m = 3072 when
//   the lines ended at 2817).
// - monotone: the line's log values are replaced by their isotonic regression in x (the
//   closest non-decreasing sequence in least squares) before interpolation, so a larger
//   problem is never predicted faster; the raw values stay in Line::y.
// - Across lines: exact outer keys use their line; otherwise the tightest bracket around
//   the query on each outer axis (the sorted distinct keys of the lines) whose corner lines
//   all exist, at most 4 axis steps wider than the closest bracket, blended in log space.
//   With no such bracket, or a key outside the axis range, at() returns nullopt (the
//   caller then uses a regression) unless clamp_outer is set, in which case out-of-range
//   keys use the nearest end and, with two axes and no box of existing lines, the line
//   nearest in log outer coordinates (|log a/a'| + |log b/b'|) answers.
// - tile_pairs (GEMM m axes): the grid was measured on both sides of tile boundaries,
//   (b, b+1) with b a multiple of 16. Points with m <= 16 or m % 16 == 0 ("aligned") and
//   points with m % 16 == 1 ("first row of a new tile") lie on two different smooth
//   curves; an aligned or first-row query interpolates within its own class, any other m
//   between its neighbours unless the upper neighbour is a first-row point (a boundary lies
//   between), in which case the aligned curve answers. Applied on lines with at least three
//   first-row points.
// - Equal-area extrapolation (GEMM lines (n, k) along m, set_equal_area()): a compute-bound
//   GEMM's time follows its output area m x n (the tiles its waves cover) and k, not how the
//   area splits between m and n. Above a line's last point, for a query the predicate calls
//   compute-bound, the lines of the same k and a larger n are read in increasing n at
//   m' = m n / n' (stopping at the first whose shape at m' is not compute-bound itself: its
//   weights' read makes it slower for a reason the query does not share): the first whose
//   measured range covers m' answers its interpolated value
//   there (aligned points of a tile-paired line), and every line passed over because m' lies
//   beyond its range bounds the answer from below by its last value (a smaller area); the
//   scan stops at a line whose range starts above m'. The answer is the largest of these and
//   of the line's own extrapolation, so it never decreases as m grows: each term only grows
//   (m' grows with m, a line leaves the front only into the bounds, and a query once compute-
//   bound stays so as m grows).
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace servesim {

class LineGrid {
 public:
  struct Options {
    int outer_dims = 0;          // 0, 1 or 2
    double max_exponent = 1.0;   // extrapolation above a line's last point (0: flat)
    bool clamp_outer = false;
    bool tile_pairs = false;
    bool monotone = false;
  };
  // scale(outer, x) > 0, non-decreasing in x; used above a line's last point (see above).
  using Scale = std::function<double(const std::array<double, 2>& outer, double x)>;
  // Whether the shape (outer, x) is compute-bound; enables the equal-area rule (see above).
  using ComputeBound = std::function<bool(const std::array<double, 2>& outer, double x)>;
  LineGrid() = default;
  explicit LineGrid(Options o) : opt_(o) {}

  // Adds one point; x and y > 0. Points of one line may come in any order; a repeated x
  // keeps the mean of its values. Call finalize() after the last point.
  void add(std::array<double, 2> outer, double x, double y);
  void finalize();
  // `work` (optional, default: the scale) measures the marginal cost of the affine cap: time
  // per unit of work over the line's last doubling (GEMM: FLOP time plus byte time, whose
  // growth the roofline's max hides while the other term dominates).
  void set_extrapolation(Scale s, Scale work = {});
  void set_equal_area(ComputeBound cb) {
    compute_bound_ = std::move(cb);
    update_efficiency_cap();
  }

  std::optional<double> at(std::array<double, 2> outer, double x) const;
  // at() in two halves: which lines answer at `outer` and with what blend weights (locate,
  // independent of x), then the value at x (value). value(locate(o), x) == at(o, x) exactly;
  // a caller asking many x at one outer key locates once. A Located points into this grid.
  struct Line;
  struct Located {
    int lines = 0;  // 0: no answer; 1: one line; 2: a blend along the first axis; 4: a box
    std::array<const Line*, 4> line{};
    std::array<double, 2> weight{};  // 2: along the axis; 4: along the second axis, then the first
    // Per line, where the last value_near() found x between two points (its upper one's
    // position in the line's point list; 0: none yet).
    std::array<std::uint32_t, 4> near{};
  };
  Located locate(std::array<double, 2> outer) const;
  std::optional<double> value(const Located& at, double x) const;
  // value()'s answer, exactly; x between the same two points of a line as the last call's
  // (a merged decode run's growing context) skips the search for them.
  std::optional<double> value_near(Located& at, double x) const;
  // Along one line only (nullopt when the line does not exist).
  std::optional<double> line_at(std::array<double, 2> outer, double x) const;

  struct Line {
    std::array<double, 2> key{};
    std::vector<double> x, y;  // sorted by x, raw values (not logs)
    std::vector<double> lx, ly;
    std::vector<std::uint8_t> cls;
    std::vector<std::size_t> all, aligned, first_row;  // index subsets (tile classes)
    bool paired = false;
  };
  const std::map<std::array<double, 2>, Line>& lines() const { return lines_; }
  const Options& options() const { return opt_; }
  // The sorted distinct keys of the lines along outer axis d (after finalize()).
  const std::vector<double>& axis(int d) const { return axis_[d]; }
  std::size_t num_points() const;

 private:
  // lx = log(x); near: value_near()'s hint for this line, or null.
  double eval_line(const Line& l, double x, double lx, std::uint32_t* near = nullptr) const;
  // value() and value_near(): near = at.near's entries, or null.
  std::optional<double> blend(const Located& at, double x, std::uint32_t* near) const;
  const Line* exact_line(std::array<double, 2> outer) const;   // the line keyed exactly `outer`, with points
  void update_efficiency_cap();
  double interp_subset(const Line& l, const std::vector<std::size_t>& idx, double lx, std::uint32_t* near = nullptr) const;
  // The equal-area rule's log value for x above l's last point (-inf where it has none).
  double equal_area(const Line& l, double x) const;

  Options opt_;
  Scale scale_;
  Scale work_;
  ComputeBound compute_bound_;
  double log_cap_ = 0;  // log of the best efficiency (scale / value) of any point
  // The same over the compute-bound points (the equal-area predicate; -inf: none or no
  // predicate): a compute-bound query's cap (see interp_subset).
  double log_cap_cb_ = 0;

  std::map<std::array<double, 2>, Line> lines_;
  std::map<std::array<double, 2>, std::vector<std::pair<double, double>>> pending_;
  std::vector<double> axis_[2];
  std::vector<double> axis_log_[2];  // std::log of axis_ (the blend weights' logs)
};

// The non-decreasing sequence closest to v in least squares (isotonic regression, pool
// adjacent violators).
std::vector<double> isotonic(const std::vector<double>& v);

// Tile class of a GEMM m: 0 aligned (m <= 16 or m % 16 == 0), 1 first row (m % 16 == 1),
// 2 anything else.
int gemm_m_class(double m);

// A piecewise-linear curve y(x) through knots (piecewise alpha-beta: on each segment
// y = alpha + beta * x). Below the first knot: the first value (latency floor). Above the
// last, without a bound (min_slope 0): the last segment's line, or proportional to x when
// that slope is not positive. With a bound (min_slope > 0, the physical time per unit of x
// at the path's peak bandwidth): latency + x / bandwidth, y_last + beta (x - x_last), beta
// the slope over the last doubling of x (from the largest knot at most half the last one)
// and never below min_slope: the marginal bandwidth the curve reached, never above the peak.
// With a saturation (saturated_slope > 0, the time per unit x at the bandwidth the device
// reaches on large transfers) a marginal slope above it falls towards it, the excess halving
// with every doubling of x beyond the last knot: y_last + s (x - x_last) + (beta - s) x_last
// ln(x / x_last), s = max(saturated_slope, min_slope); a marginal slope below s (faster than
// large transfers ever move: small messages' protocols overlap their latency) is raised to s.
// Bandwidth keeps rising with the size until it saturates; it never passes the peak, nor,
// beyond the last knot, the bandwidth large transfers reach.
// A fixed-cost call (fixed_call: a driver call such as a page map, whose time is a fixed
// cost plus a small part that grows with x) is never extrapolated in proportion to x: above
// the last knot, y_last plus the slope over the last doubling of x where that is positive,
// else flat (one knot: flat).
struct KnotCurve {
  std::vector<double> x, y;  // strictly increasing x, y > 0
  double min_slope = 0;      // y per unit x at the physical peak (0: no bound known)
  double saturated_slope = 0;  // y per unit x at the achieved large-transfer bandwidth (0: unknown)
  bool fixed_call = false;     // see above
  double at(double q) const;
  // The same knots with log y replaced by its isotonic regression: non-decreasing everywhere.
  KnotCurve monotone() const;
};

}  // namespace servesim
