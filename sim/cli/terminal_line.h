#pragma once
// A one-line status on a terminal (stderr) for long commands: redrawn at most four times a
// second, first shown after `delay_s`, erased by clear() and on destruction. Disabled (a
// no-op) when stderr is not a terminal or the user asked for quiet.
#include <chrono>
#include <cstdio>
#include <string>

namespace servesim::cli {

class TerminalLine {
 public:
  explicit TerminalLine(bool enabled, double delay_s = 0)
      : enabled_(enabled), delay_s_(delay_s), start_(std::chrono::steady_clock::now()), last_(start_) {}
  ~TerminalLine() { clear(); }
  TerminalLine(const TerminalLine&) = delete;
  TerminalLine& operator=(const TerminalLine&) = delete;

  // Whether a redraw is due now; when true the caller shows its text.
  bool due() {
    if (!enabled_) return false;
    const auto now = std::chrono::steady_clock::now();
    if (elapsed_s() < delay_s_ || (shown_ && now - last_ < std::chrono::milliseconds(250))) return false;
    last_ = now;
    return true;
  }
  void show(const std::string& text) {
    shown_ = true;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
  }
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }
  double elapsed_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  bool enabled_;
  double delay_s_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace servesim::cli
