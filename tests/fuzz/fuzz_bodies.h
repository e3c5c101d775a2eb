// The fuzz bodies, one per parser of user input, by name (issue 13).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace servesim::fuzz {

// Feeds one input to a parser; returns normally or throws.
using Body = void (*)(const std::uint8_t* data, std::size_t size);

// Every target, in the order tools/fuzz.sh lists them.
const std::vector<std::pair<std::string, Body>>& targets();

// The body named `name`, or nullptr.
Body find(std::string_view name);

// Runs `body` on one input; an InputError (bad input, reported properly) is swallowed, anything
// else escapes to the caller (libFuzzer or the smoke driver reports it as a crash).
void run_one(Body body, const std::uint8_t* data, std::size_t size);

}  // namespace servesim::fuzz
