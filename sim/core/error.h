#pragma once
// Errors. Contract: InputError is for bad input from a user (a file, a field, a value);
// its what() is one line naming where, what was found and what was expected. The CLI
// prints it and exits with code 2. A broken internal invariant is a bug: use assert /
// SERVESIM_ASSERT, never InputError.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace servesim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown when a caller asked a long operation to stop (the CLI on SIGINT/SIGTERM); what
// the operation created has been removed. Not an input error: the CLI exits 128 + signal.
class Cancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A user's value as an error quotes it: at most `max` bytes (a longer one is cut at a
// character boundary and its full length given), control characters escaped (\n, \xNN) so
// the message stays one line. A 10 MB value gives an 80-character quote.
std::string quoted_value(std::string_view value, std::size_t max = 80);

// "<where>: <what>" e.g. where = "scenario.json: scheduler.max_num_seqs".
[[noreturn]] inline void input_error(const std::string& where, const std::string& what) {
  throw InputError(fmt::format("{}: {}", where, what));
}

// Throws for a field whose value is out of its domain.
[[noreturn]] inline void bad_value(const std::string& where, const std::string& value,
                                   const std::string& expected) {
  throw InputError(fmt::format("{}: got '{}', expected {}", where, quoted_value(value), expected));
}

}  // namespace servesim

#define SERVESIM_ASSERT(cond)                                                            \
  do {                                                                                   \
    if (!(cond)) ::servesim::detail::assert_fail(#cond, __FILE__, __LINE__);             \
  } while (0)

namespace servesim::detail {
[[noreturn]] void assert_fail(const char* cond, const char* file, int line);
}
