#include "sim/cost/line_grid.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/core/error.h"

namespace servesim {

int gemm_m_class(double m) {
  const auto mi = static_cast<std::int64_t>(std::llround(m));
  if (mi <= 16 || mi % 16 == 0) return 0;
  if (mi % 16 == 1) return 1;
  return 2;
}

void LineGrid::add(std::array<double, 2> outer, double x, double y) {
  SERVESIM_ASSERT(x > 0 && y > 0);
  if (opt_.outer_dims < 2) outer[1] = 0;
  if (opt_.outer_dims < 1) outer[0] = 0;
  pending_[outer].emplace_back(x, y);
}

void LineGrid::finalize() {
  for (auto& [key, pts] : pending_) {
    std::stable_sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Line& l = lines_[key];
    l.key = key;
    l.x.reserve(pts.size());
    l.y.reserve(pts.size());
    for (std::size_t i = 0; i < pts.size();) {
      std::size_t j = i;
      double sum = 0;
      while (j < pts.size() && pts[j].first == pts[i].first) sum += pts[j++].second;
      l.x.push_back(pts[i].first);
      l.y.push_back(sum / static_cast<double>(j - i));
      i = j;
    }
    int first_rows = 0;
    const std::size_t n = l.x.size();
    l.lx.reserve(n);
    l.ly.reserve(n);
    l.cls.reserve(n);
    l.all.reserve(n);
    l.aligned.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      l.lx.push_back(std::log(l.x[i]));
      l.ly.push_back(std::log(l.y[i]));
      l.cls.push_back(static_cast<std::uint8_t>(opt_.tile_pairs ? gemm_m_class(l.x[i]) : 0));
      first_rows += l.cls.back() == 1;
      l.all.push_back(i);
      if (l.cls.back() == 0) l.aligned.push_back(i);
      if (l.cls.back() == 1) l.first_row.push_back(i);
    }
    l.paired = opt_.tile_pairs && first_rows >= 3;
    if (opt_.monotone) l.ly = isotonic(l.ly);
  }
  pending_.clear();
  for (int d = 0; d < 2; ++d) {
    axis_[d].clear();
    if (d >= opt_.outer_dims) continue;
    for (const auto& [key, l] : lines_) axis_[d].push_back(key[static_cast<std::size_t>(d)]);
    std::sort(axis_[d].begin(), axis_[d].end());
    axis_[d].erase(std::unique(axis_[d].begin(), axis_[d].end()), axis_[d].end());
    axis_log_[d].clear();
    for (double v : axis_[d]) axis_log_[d].push_back(std::log(v));
  }
  update_efficiency_cap();
}

void LineGrid::set_extrapolation(Scale s, Scale work) {
  scale_ = std::move(s);
  work_ = std::move(work);
  update_efficiency_cap();
}

void LineGrid::update_efficiency_cap() {
  if (!scale_) return;
  log_cap_ = -std::numeric_limits<double>::infinity();
  for (const auto& [key, l] : lines_)
    for (std::size_t i = 0; i < l.x.size(); ++i) log_cap_ = std::max(log_cap_, std::log(scale_(key, l.x[i])) - l.ly[i]);
  log_cap_cb_ = -std::numeric_limits<double>::infinity();
  if (compute_bound_) {
    for (const auto& [key, l] : lines_)
      for (std::size_t i = 0; i < l.x.size(); ++i)
        if (compute_bound_(key, l.x[i])) log_cap_cb_ = std::max(log_cap_cb_, std::log(scale_(key, l.x[i])) - l.ly[i]);
  }
}

std::vector<double> isotonic(const std::vector<double>& v) {
  // Pool adjacent violators: blocks of (mean, count); a block below its predecessor merges
  // with it until the means are non-decreasing.
  std::vector<std::pair<double, double>> blocks;
  for (double x : v) {
    blocks.emplace_back(x, 1.0);
    while (blocks.size() > 1 && blocks[blocks.size() - 2].first > blocks.back().first) {
      const auto [m2, c2] = blocks.back();
      blocks.pop_back();
      auto& [m1, c1] = blocks.back();
      m1 = (m1 * c1 + m2 * c2) / (c1 + c2);
      c1 += c2;
    }
  }
  std::vector<double> out;
  out.reserve(v.size());
  for (const auto& [m, c] : blocks) out.insert(out.end(), static_cast<std::size_t>(c), m);
  return out;
}

std::size_t LineGrid::num_points() const {
  std::size_t n = 0;
  for (const auto& [k, l] : lines_) n += l.x.size();
  return n;
}

double LineGrid::interp_subset(const Line& l, const std::vector<std::size_t>& idx, double lx, std::uint32_t* near) const {
  SERVESIM_ASSERT(!idx.empty());
  if (lx <= l.lx[idx.front()]) return l.ly[idx.front()];
  if (idx.size() == 1 && !scale_) return l.ly[idx.front()];
  if (lx >= l.lx[idx.back()] && scale_) {
    const std::size_t b = idx.back();
    const double x = std::exp(lx);
    const double sb = scale_(l.key, l.x[b]), sx = scale_(l.key, x);
    // Efficiency (scale / time) at the last point, and its growth rate in log-log over the
    // last doubling of x (from the largest measured x at most half the last one).
    const double le_b = std::log(sb) - l.ly[b];
    // A compute-bound query's efficiency is capped by the best of the compute-bound points
    // (where the grid has any): a bandwidth-bound shape reaches more of its roofline (the
    // bytes at the peak bandwidth) than a compute-bound one of the FLOP peak.
    const double cap = compute_bound_ && std::isfinite(log_cap_cb_) && compute_bound_(l.key, x) ? log_cap_cb_ : log_cap_;
    double grow = 0;
    double log_cap = std::numeric_limits<double>::infinity();  // the affine cap, below
    if (idx.size() >= 2) {
      std::size_t a = idx.front();
      for (std::size_t i : idx)
        if (l.x[i] <= l.x[b] / 2) a = i;
      const double sa = scale_(l.key, l.x[a]);
      const double le_a = std::log(sa) - l.ly[a];
      const double rate = a == b ? 0.0 : std::max(0.0, (le_b - le_a) / (l.lx[b] - l.lx[a]));
      // The rate halves with every further doubling (at most 2 ln2 * rate in all), and the
      // efficiency never passes the best measured anywhere in the grid.
      const double doublings = (lx - l.lx[b]) / std::log(2.0);
      grow = std::min(2 * rate * std::log(2.0) * (1 - std::exp2(-doublings)), std::max(0.0, cap - le_b));
      // The affine cap: the work beyond the last point (scale(x) - scale(x_b)) costs at most
      // what a unit of it cost over the last doubling, and at least what it costs at the best
      // efficiency measured anywhere in the grid. A line still on its fixed floor there (its
      // time hardly grew while its work doubled) goes on as floor + extra work, not as a
      // slowly rising efficiency times the whole work.
      if (sb > sa) {
        const double yb = std::exp(l.ly[b]);
        // Where the scale grew by less than sqrt(2) while x doubled, its fixed part dominates
        // (a GEMM reading its weights at small m: a flat roofline while its FLOPs grow), and
        // the time's growth is priced per unit of work (FLOP time plus byte time) instead.
        const auto work = [&](double v) { return work_ ? work_(l.key, v) : scale_(l.key, v); };
        const bool fixed = sb < std::sqrt(2.0) * sa;
        const double wa = fixed ? work(l.x[a]) : sa, wb = fixed ? work(l.x[b]) : sb;
        const double marginal = wb > wa ? (yb - std::exp(l.ly[a])) / (wb - wa) : 0.0;
        log_cap = std::log(yb + (sx - sb) * std::max(marginal, std::exp(-cap)));
      }
    }
    return std::max(l.ly[b], std::min(l.ly[b] + std::log(sx) - std::log(sb) - grow, log_cap));
  }
  if (lx >= l.lx[idx.back()]) {
    const std::size_t a = idx[idx.size() - 2], b = idx.back();
    double slope = (l.ly[b] - l.ly[a]) / (l.lx[b] - l.lx[a]);
    slope = std::clamp(slope, 0.0, opt_.max_exponent);
    return l.ly[b] + slope * (lx - l.lx[b]);
  }
  // idx is sorted by x; find the first index with x >= lx (the hint's when it still is: the
  // one before it below lx, it not).
  auto it = idx.end();
  if (near != nullptr && *near > 0 && *near < idx.size() && l.lx[idx[*near - 1]] < lx && lx <= l.lx[idx[*near]]) {
    it = idx.begin() + *near;
  } else {
    it = std::lower_bound(idx.begin(), idx.end(), lx, [&](std::size_t i, double v) { return l.lx[i] < v; });
    if (near != nullptr) *near = static_cast<std::uint32_t>(it - idx.begin());
  }
  const std::size_t b = *it;
  if (l.lx[b] == lx) return l.ly[b];
  const std::size_t a = *(it - 1);
  const double w = (lx - l.lx[a]) / (l.lx[b] - l.lx[a]);
  return l.ly[a] + w * (l.ly[b] - l.ly[a]);
}

double LineGrid::equal_area(const Line& l, double x) const {
  double best = -std::numeric_limits<double>::infinity();
  if (!compute_bound_ || opt_.outer_dims != 2 || !compute_bound_(l.key, x)) return best;
  const double n = l.key[0], k = l.key[1];
  const auto& ns = axis_[0];
  for (auto it = std::upper_bound(ns.begin(), ns.end(), n); it != ns.end(); ++it) {
    auto f = lines_.find({*it, k});
    if (f == lines_.end() || f->second.x.empty()) continue;
    const Line& p = f->second;
    const auto& sub = p.paired && !p.aligned.empty() ? p.aligned : p.all;
    const double xp = x * n / *it;
    if (xp < p.x[sub.front()]) break;  // the lines after it have smaller m' still
    // Equal area stands for equal time only between compute-bound shapes: a partner at m'
    // that is bandwidth-bound (a larger n' reads more weights) is slower for a reason the
    // query does not share, and the lines after it have smaller m' still.
    if (!compute_bound_(p.key, xp)) break;
    if (xp > p.x[sub.back()]) {
      best = std::max(best, p.ly[sub.back()]);  // a smaller area, measured
      continue;
    }
    return std::max(best, interp_subset(p, sub, std::log(xp)));
  }
  return best;
}

double LineGrid::eval_line(const Line& l, double x, double lx, std::uint32_t* near) const {
  // Beyond the line, each tile class extrapolates from its own points (a first-row class
  // only where its points reach the line's last doubling); a compute-bound query also
  // reads the lines of equal area (equal_area()).
  if (scale_ && x > l.x.back()) {
    const std::vector<std::size_t>* s = &l.all;
    if (l.paired && l.aligned.size() >= 2) {
      const bool own = gemm_m_class(x) == 1 && l.first_row.size() >= 2 && 2 * l.x[l.first_row.back()] >= l.x.back();
      s = own ? &l.first_row : &l.aligned;
    }
    return std::max(interp_subset(l, *s, lx), equal_area(l, x));
  }
  if (!l.paired) return interp_subset(l, l.all, lx, near);
  auto exact = std::lower_bound(l.x.begin(), l.x.end(), x);
  if (exact != l.x.end() && *exact == x) return l.ly[static_cast<std::size_t>(exact - l.x.begin())];
  const int qc = gemm_m_class(x);
  int use = -1;
  if (qc == 0 || qc == 1) {
    use = qc;
  } else if (exact != l.x.end() && l.cls[static_cast<std::size_t>(exact - l.x.begin())] == 1) {
    use = 0;  // a tile boundary lies between the query and its upper neighbour
  }
  if (use >= 0) {
    const auto& s = use == 0 ? l.aligned : l.first_row;
    if (s.size() >= 2) return interp_subset(l, s, lx);
  }
  return interp_subset(l, l.all, lx);
}

const LineGrid::Line* LineGrid::exact_line(std::array<double, 2> outer) const {
  if (opt_.outer_dims < 2) outer[1] = 0;
  if (opt_.outer_dims < 1) outer[0] = 0;
  auto it = lines_.find(outer);
  return it == lines_.end() || it->second.x.empty() ? nullptr : &it->second;
}

std::optional<double> LineGrid::line_at(std::array<double, 2> outer, double x) const {
  const Line* l = exact_line(outer);
  if (l == nullptr) return std::nullopt;
  return std::exp(eval_line(*l, x, std::log(x)));
}

std::optional<double> LineGrid::at(std::array<double, 2> outer, double x) const { return value(locate(outer), x); }

std::optional<double> LineGrid::value(const Located& at, double x) const { return blend(at, x, nullptr); }

std::optional<double> LineGrid::value_near(Located& at, double x) const { return blend(at, x, at.near.data()); }

std::optional<double> LineGrid::blend(const Located& at, double x, std::uint32_t* near) const {
  if (at.lines == 0) return std::nullopt;
  const double lx = std::log(x);  // once for every line the blend reads
  const auto line = [&](std::size_t i) { return eval_line(*at.line[i], x, lx, near != nullptr ? near + i : nullptr); };
  if (at.lines == 1) return std::exp(line(0));
  if (at.lines == 2) {
    const double a = line(0), b = line(1);
    return std::exp(a + at.weight[0] * (b - a));
  }
  const double c00 = line(0), c01 = line(1), c10 = line(2), c11 = line(3);
  const double lo = c00 + at.weight[0] * (c01 - c00);
  const double hi = c10 + at.weight[0] * (c11 - c10);
  return std::exp(lo + at.weight[1] * (hi - lo));
}

LineGrid::Located LineGrid::locate(std::array<double, 2> outer) const {
  Located out;
  if (const Line* l = exact_line(outer)) {
    out.lines = 1;
    out.line[0] = l;
    return out;
  }
  if (opt_.outer_dims == 0) return out;
  auto line_of = [&](double a, double b) -> const Line* {
    auto it = lines_.find({a, opt_.outer_dims == 2 ? b : 0.0});
    return it == lines_.end() || it->second.x.empty() ? nullptr : &it->second;
  };
  // Candidate bracket ends along each outer axis: axis values below (descending) and above
  // (ascending) the query; an exact value is its own bracket. Out of range: nullopt, or
  // the nearest end with clamp_outer.
  constexpr std::size_t kSearch = 6;
  // Fixed capacity (the hot path allocates nothing).
  // Axis values with their logs (stored at finalize(): the same std::log of the same value).
  // Entries at and past n are never read, so they are left uninitialised (zeroing the four
  // lists was a `rep stos` on every lookup).
  struct List {
    std::array<double, kSearch> v, lv;
    std::size_t n = 0;
    void push_back(double x, double lx) {
      v[n] = x;
      lv[n++] = lx;
    }
    std::size_t size() const { return n; }
    bool empty() const { return n == 0; }
    double operator[](std::size_t i) const { return v[i]; }
    double log_at(std::size_t i) const { return lv[i]; }
  };
  struct Cands {
    List lo, hi;
  };
  std::array<Cands, 2> cand;
  for (int d = 0; d < opt_.outer_dims; ++d) {
    const auto& ax = axis_[d];
    const auto& lax = axis_log_[d];
    auto& c = cand[static_cast<std::size_t>(d)];
    if (ax.empty()) return out;
    const double q = outer[static_cast<std::size_t>(d)];
    if (q < ax.front() || q > ax.back()) {
      if (!opt_.clamp_outer) return out;
      const std::size_t e = q < ax.front() ? 0 : ax.size() - 1;
      c.lo.push_back(ax[e], lax[e]);
      c.hi.push_back(ax[e], lax[e]);
      continue;
    }
    const auto k = static_cast<std::size_t>(std::lower_bound(ax.begin(), ax.end(), q) - ax.begin());
    if (ax[k] == q) {
      c.lo.push_back(q, lax[k]);
      c.hi.push_back(q, lax[k]);
    }
    for (std::size_t lo = k; lo > 0 && c.lo.size() < kSearch; --lo) c.lo.push_back(ax[lo - 1], lax[lo - 1]);
    for (std::size_t hi = ax[k] == q ? k + 1 : k; hi < ax.size() && c.hi.size() < kSearch; ++hi) c.hi.push_back(ax[hi], lax[hi]);
    if (c.lo.empty() || c.hi.empty()) return out;
  }
  // Blend weight of q between lo and hi, from the stored logs of the axis values.
  auto weight = [](double q, const List& los, std::size_t i, const List& his, std::size_t j) {
    return los[i] == his[j] ? 0.0 : (std::log(q) - los.log_at(i)) / (his.log_at(j) - los.log_at(i));
  };
  if (opt_.outer_dims == 1) {
    // The nearest pair of existing lines around the query.
    const auto& c = cand[0];
    for (std::size_t s = 0; s < c.lo.size() + c.hi.size() && s <= 4; ++s) {
      for (std::size_t i = 0; i <= s && i < c.lo.size(); ++i) {
        const std::size_t j = s - i;
        if (j >= c.hi.size()) continue;
        const Line *a = line_of(c.lo[i], 0), *b = line_of(c.hi[j], 0);
        if (a && b) {
          out.lines = 2;
          out.line = {a, b, nullptr, nullptr};
          out.weight[0] = weight(outer[0], c.lo, i, c.hi, j);
          return out;
        }
      }
    }
    return out;
  }
  // Two outer axes: the tightest box (fewest axis steps) whose four corner lines exist.
  const auto& cn = cand[0];
  const auto& ck = cand[1];
  // Boxes at most kMaxSteps axis steps wider than the tightest one: a wider box is a poor
  // interpolation (and the search stays cheap); beyond it the regression answers.
  constexpr std::size_t kMaxSteps = 4;
  for (std::size_t s = 0; s <= kMaxSteps; ++s) {
    for (std::size_t a = 0; a < cn.lo.size() && a <= s; ++a) {
      for (std::size_t b = 0; b < cn.hi.size() && a + b <= s; ++b) {
        for (std::size_t c = 0; c < ck.lo.size() && a + b + c <= s; ++c) {
          const std::size_t d = s - a - b - c;
          if (d >= ck.hi.size()) continue;
          const Line *c00 = line_of(cn.lo[a], ck.lo[c]), *c01 = line_of(cn.lo[a], ck.hi[d]);
          const Line *c10 = line_of(cn.hi[b], ck.lo[c]), *c11 = line_of(cn.hi[b], ck.hi[d]);
          if (!c00 || !c01 || !c10 || !c11) continue;
          out.lines = 4;
          out.line = {c00, c01, c10, c11};
          out.weight = {weight(outer[1], ck.lo, c, ck.hi, d), weight(outer[0], cn.lo, a, cn.hi, b)};
          return out;
        }
      }
    }
  }
  if (!opt_.clamp_outer) return out;
  // No box of existing lines around the query (a grid measured irregularly, e.g. long
  // contexts at small batches only): the line nearest in log outer coordinates answers, as a
  // key outside the axis takes the nearest end. The first of equally near lines in key order.
  const Line* nearest = nullptr;
  double best = 0;
  for (const auto& [key, line] : lines_) {
    if (line.x.empty()) continue;
    const double dist = std::abs(std::log(key[0] / outer[0])) + std::abs(std::log(key[1] / outer[1]));
    if (nearest == nullptr || dist < best) {
      nearest = &line;
      best = dist;
    }
  }
  if (nearest != nullptr) {
    out.lines = 1;
    out.line[0] = nearest;
  }
  return out;
}

double KnotCurve::at(double q) const {
  SERVESIM_ASSERT(!x.empty() && x.size() == y.size());
  if (q <= x.front() || x.size() == 1) {
    if (x.size() == 1 && q > x.front() && !fixed_call) return y.front() * q / x.front();
    return y.front();
  }
  if (q >= x.back()) {
    const std::size_t n = x.size();
    // The largest knot at most half the last one (the first knot if none): the last doubling.
    std::size_t a = 0;
    while (a + 1 < n - 1 && x[a + 1] <= x[n - 1] / 2) ++a;
    if (fixed_call) return y[n - 1] + std::max(0.0, (y[n - 1] - y[a]) / (x[n - 1] - x[a])) * (q - x[n - 1]);
    if (min_slope > 0) {
      const double marginal = std::max((y[n - 1] - y[a]) / (x[n - 1] - x[a]), min_slope);
      const double saturated = std::max(saturated_slope, min_slope);
      if (saturated_slope <= 0) return y[n - 1] + marginal * (q - x[n - 1]);
      if (marginal <= saturated) return y[n - 1] + saturated * (q - x[n - 1]);
      return y[n - 1] + saturated * (q - x[n - 1]) + (marginal - saturated) * x[n - 1] * std::log(q / x[n - 1]);
    }
    const double slope = (y[n - 1] - y[n - 2]) / (x[n - 1] - x[n - 2]);
    if (slope > 0) return y[n - 1] + slope * (q - x[n - 1]);
    return y[n - 1] * q / x[n - 1];
  }
  auto it = std::lower_bound(x.begin(), x.end(), q);
  const std::size_t b = static_cast<std::size_t>(it - x.begin());
  if (x[b] == q) return y[b];
  const std::size_t a = b - 1;
  return y[a] + (q - x[a]) / (x[b] - x[a]) * (y[b] - y[a]);
}

KnotCurve KnotCurve::monotone() const {
  KnotCurve m = *this;
  for (double& y : m.y) y = std::log(y);
  m.y = isotonic(m.y);
  for (double& y : m.y) y = std::exp(y);
  return m;
}

}  // namespace servesim
