// `servesim compare` outputs: the verdict lines, the text table, Markdown and JUnit
// (split from compare.cpp, which reads runs and computes the deltas and intervals).
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "sim/report/compare.h"

namespace servesim::compare {
namespace {
std::string fmt_value(double v) {
  if (!std::isfinite(v)) return v > 0 ? "+inf" : "-inf";
  const double a = std::fabs(v);
  return a >= 1000 ? fmt::format("{:.1f}", v) : a >= 10 ? fmt::format("{:.2f}", v) : fmt::format("{:.3f}", v);
}

std::string fmt_signed(double v) {
  if (!std::isfinite(v)) return v > 0 ? "+inf" : "-inf";
  return fmt::format("{}{}", v >= 0 ? "+" : "", fmt_value(v));
}

std::string fmt_pct(double r) {
  if (std::isnan(r)) return "n/a";
  if (!std::isfinite(r)) return r > 0 ? "+inf %" : "-inf %";
  return fmt::format("{:+.2f} %", 100.0 * r);
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t') break;  // not allowed in XML 1.0
        o += ch;
    }
  }
  return o;
}

std::string md_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '|') o += "\\";
    o += ch;
  }
  return o;
}

std::string seeds_text(const std::vector<std::uint64_t>& seeds) {
  std::string s;
  for (auto x : seeds) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return fmt::format("{} seed{}: {}", seeds.size(), seeds.size() == 1 ? "" : "s", s);
}

std::string method_text(const Comparison& c) {
  if (!c.statistical) return "one seed on a side: point estimates only, no interval (run --seeds K on both for a test)";
  return fmt::format(
      "{:g} % bootstrap percentile intervals, {} resamples (seed {}): per-request metrics resample seeds, then requests "
      "within each seed; run-level metrics resample seeds",
      100.0 * c.options.confidence, c.options.resamples, c.options.seed);
}

std::string verdict_word(const Verdict& v) { return v.regression() ? "REGRESSION" : v.point_crosses ? "noise" : "ok"; }

// The limit as written, and for a bare number the unit it is read in (seconds for a latency
// metric, whose columns show milliseconds: "+5" is read as 5 s, not 5 ms).
std::string threshold_value_text(const Threshold& t, const MetricDef& m) {
  const auto eq = t.text.find('=');
  const std::string v = eq == std::string::npos ? t.text : t.text.substr(eq + 1);
  if (t.relative || t.limit_is_duration) return v;
  const std::string unit = m.is_time ? "s" : m.unit;
  return unit.empty() ? v : v + " " + unit;
}

std::string interval_text(const Delta& d) {
  if (!d.has_interval) return "";
  return fmt::format("[{}, {}]", fmt_pct(d.rel_lo), fmt_pct(d.rel_hi));
}

}  // namespace

std::string verdict_line(const Comparison& c, const Verdict& v) {
  const Delta& d = c.deltas[v.delta];
  const MetricDef& m = d.metric;
  const std::string unit = m.unit.empty() ? "" : " " + m.unit;
  std::string s = fmt::format("{} {} {} ({} -> {}{}, {}; limit {})", m.name, d.abs_change() > 0 ? "rose" : d.abs_change() < 0 ? "fell" : "unchanged",
                              fmt_pct(d.rel_change()), fmt_value(d.baseline * m.display_scale),
                              fmt_value(d.candidate * m.display_scale), unit, fmt_signed(d.abs_change() * m.display_scale) + unit,
                              threshold_value_text(v.threshold, m));
  if (d.has_interval) {
    // The interval of the quantity the threshold judges: the relative or the absolute change.
    const std::string iv = v.threshold.relative ? interval_text(d)
                                                : fmt::format("[{}, {}]{}", fmt_signed(d.abs_lo * m.display_scale),
                                                              fmt_signed(d.abs_hi * m.display_scale), unit);
    s += fmt::format(", {:g} % interval {}", 100.0 * c.options.confidence, iv);
  }
  return s;
}

std::vector<std::string> regression_lines(const Comparison& c) {
  std::vector<std::string> out;
  for (const auto& v : c.verdicts) {
    if (v.regression()) out.push_back(verdict_line(c, v));
  }
  return out;
}

namespace {
// Threshold texts and verdict words per delta (a metric may carry several thresholds).
std::pair<std::string, std::string> threshold_cells(const Comparison& c, std::size_t delta) {
  std::string th, verdict;
  for (const auto& v : c.verdicts) {
    if (v.delta != delta) continue;
    if (!th.empty()) th += ' ';
    th += threshold_value_text(v.threshold, c.deltas[v.delta].metric);
    if (!verdict.empty()) verdict += ' ';
    verdict += verdict_word(v);
  }
  return {th, verdict};
}
}  // namespace

std::string render_text(const Comparison& c) {
  std::string s;
  s += fmt::format("baseline  {} ({})\ncandidate {} ({})\n", c.baseline_dir, seeds_text(c.baseline_seeds), c.candidate_dir,
                   seeds_text(c.candidate_seeds));
  s += "statistics: " + method_text(c) + "\n";
  if (!c.config_differences.empty()) {
    s += fmt::format("config differences ({}):\n", c.config_differences.size());
    for (std::size_t i = 0; i < c.config_differences.size() && i < 20; ++i) s += "  " + c.config_differences[i] + "\n";
    if (c.config_differences.size() > 20) s += fmt::format("  ... and {} more\n", c.config_differences.size() - 20);
  }
  const std::string ci_head = c.statistical ? fmt::format("{:g} % interval", 100.0 * c.options.confidence) : "";
  const std::size_t ci_width = c.statistical ? 24 : 0;
  s += fmt::format("{:<26}{:>13}{:>13}{:>13}{:>14}  {:<{}}{:<10}{}\n", "metric", "baseline", "candidate", "change", "change %",
                   ci_head, ci_width, "threshold", "verdict");
  for (std::size_t i = 0; i < c.deltas.size(); ++i) {
    const Delta& d = c.deltas[i];
    const auto [th, verdict] = threshold_cells(c, i);
    const std::string label = d.metric.unit.empty() ? d.metric.name : fmt::format("{} ({})", d.metric.name, d.metric.unit);
    s += fmt::format("{:<26}{:>13}{:>13}{:>13}{:>14}  {:<{}}{:<10}{}\n", label, fmt_value(d.baseline * d.metric.display_scale),
                     fmt_value(d.candidate * d.metric.display_scale), fmt_signed(d.abs_change() * d.metric.display_scale),
                     fmt_pct(d.rel_change()), interval_text(d), ci_width, th, verdict);
  }
  const auto lines = regression_lines(c);
  if (lines.empty()) {
    s += fmt::format("result: no regression ({} threshold{} checked)\n", c.verdicts.size(), c.verdicts.size() == 1 ? "" : "s");
  } else {
    s += fmt::format("result: {} regression{}\n", lines.size(), lines.size() == 1 ? "" : "s");
    for (const auto& l : lines) s += "  REGRESSION " + l + "\n";
  }
  return s;
}

std::string render_markdown(const Comparison& c, const std::string& title) {
  const auto lines = regression_lines(c);
  std::string s = fmt::format("### {}: {}\n\n", title,
                              lines.empty() ? fmt::format("no regression ({} thresholds)", c.verdicts.size())
                                            : fmt::format("**{} regression{}**", lines.size(), lines.size() == 1 ? "" : "s"));
  s += fmt::format("Baseline `{}` ({}) vs candidate `{}` ({}). Statistics: {}.\n\n", c.baseline_dir, seeds_text(c.baseline_seeds),
                   c.candidate_dir, seeds_text(c.candidate_seeds), method_text(c));
  for (const auto& l : lines) s += "- :x: " + md_escape(l) + "\n";
  if (!lines.empty()) s += "\n";
  s += c.statistical ? fmt::format("| metric | baseline | candidate | change | {:g} % interval | threshold | verdict |\n",
                                   100.0 * c.options.confidence)
                     : "| metric | baseline | candidate | change | threshold | verdict |\n";
  s += c.statistical ? "| --- | ---: | ---: | ---: | --- | --- | --- |\n" : "| --- | ---: | ---: | ---: | --- | --- |\n";
  for (std::size_t i = 0; i < c.deltas.size(); ++i) {
    const Delta& d = c.deltas[i];
    auto [th, verdict] = threshold_cells(c, i);
    if (verdict.find("REGRESSION") != std::string::npos) verdict = "**" + verdict + "**";
    const std::string unit = d.metric.unit.empty() ? "" : " " + d.metric.unit;
    const std::string change = fmt::format("{}{} ({})", fmt_signed(d.abs_change() * d.metric.display_scale), unit, fmt_pct(d.rel_change()));
    s += fmt::format("| {} | {}{} | {}{} | {} |", md_escape(d.metric.name), fmt_value(d.baseline * d.metric.display_scale), unit,
                     fmt_value(d.candidate * d.metric.display_scale), unit, change);
    if (c.statistical) s += fmt::format(" {} |", interval_text(d));
    s += fmt::format(" {} | {} |\n", md_escape(th), verdict);
  }
  if (!c.config_differences.empty()) {
    s += fmt::format("\n<details><summary>Config differences ({})</summary>\n\n", c.config_differences.size());
    for (std::size_t i = 0; i < c.config_differences.size() && i < 50; ++i) s += "- `" + c.config_differences[i] + "`\n";
    s += "\n</details>\n";
  }
  return s;
}

std::string render_junit(const std::vector<std::pair<std::string, const Comparison*>>& suites) {
  std::size_t tests = 0, failures = 0;
  for (const auto& [name, c] : suites) {
    tests += c->verdicts.size();
    failures += static_cast<std::size_t>(std::count_if(c->verdicts.begin(), c->verdicts.end(), [](const Verdict& v) { return v.regression(); }));
  }
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += fmt::format("<testsuites name=\"servesim compare\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n", tests, failures);
  for (const auto& [name, c] : suites) {
    const auto f = std::count_if(c->verdicts.begin(), c->verdicts.end(), [](const Verdict& v) { return v.regression(); });
    s += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n", xml_escape(name),
                     c->verdicts.size(), f);
    s += "    <properties>\n";
    s += fmt::format("      <property name=\"baseline\" value=\"{}\"/>\n", xml_escape(c->baseline_dir));
    s += fmt::format("      <property name=\"candidate\" value=\"{}\"/>\n", xml_escape(c->candidate_dir));
    s += fmt::format("      <property name=\"statistics\" value=\"{}\"/>\n", xml_escape(method_text(*c)));
    s += "    </properties>\n";
    for (const auto& v : c->verdicts) {
      s += fmt::format("    <testcase classname=\"{}\" name=\"{}\"", xml_escape(name), xml_escape(v.threshold.text));
      const std::string sentence = verdict_line(*c, v);
      if (v.regression()) {
        s += ">\n";
        s += fmt::format("      <failure type=\"regression\" message=\"{}\">{}</failure>\n", xml_escape(sentence), xml_escape(sentence));
        s += "    </testcase>\n";
      } else {
        s += fmt::format(">\n      <system-out>{}{}</system-out>\n    </testcase>\n", v.point_crosses ? "within noise: " : "ok: ",
                         xml_escape(sentence));
      }
    }
    s += "  </testsuite>\n";
  }
  s += "</testsuites>\n";
  return s;
}

}  // namespace servesim::compare
