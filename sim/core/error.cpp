#include "sim/core/error.h"

#include <cstdio>
#include <cstdlib>

namespace servesim {

std::string quoted_value(std::string_view v, std::size_t max) {
  std::size_t cut = v.size();
  if (cut > max) {
    cut = max;
    while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  }
  std::string out;
  out.reserve(cut + 32);
  for (std::size_t i = 0; i < cut; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut < v.size()) out += fmt::format("... ({} bytes in all)", v.size());
  return out;
}

}  // namespace servesim

namespace servesim::detail {
void assert_fail(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "servesim internal error: %s:%d: assertion '%s' failed\n", file, line, cond);
  std::abort();
}
}  // namespace servesim::detail
