// libFuzzer entry point of one target; FUZZ_TARGET_NAME (a string literal) picks the body.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/fuzz_bodies.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const servesim::fuzz::Body body = servesim::fuzz::find(FUZZ_TARGET_NAME);
  if (body == nullptr) {
    std::fprintf(stderr, "unknown fuzz target %s\n", FUZZ_TARGET_NAME);
    std::abort();
  }
  servesim::fuzz::run_one(body, data, size);
  return 0;
}
