#pragma once
// The message of the InputError a call throws, or "" when it throws none: for tests that
// compare or search error messages.
#include <string>

#include "sim/core/error.h"

namespace servesim::testing {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace servesim::testing
