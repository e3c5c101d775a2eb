#pragma once
// Seeded random numbers. Contract: a component's stream is a pure function of the scenario
// seed and the component's name (Rng::for_component); there is no global generator, so two
// simulations in one process draw exactly what each would draw alone. The distributions are
// written here (not std::*_distribution, whose algorithms differ between standard libraries)
// so a seed gives the same numbers on every platform.
#include <cstdint>
#include <random>
#include <string_view>

namespace servesim {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  static Rng for_component(std::uint64_t scenario_seed, std::string_view component);

  std::uint64_t next_u64() { return engine_(); }
  double uniform01();                        // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi);  // inclusive
  double exponential(double rate);           // mean 1/rate
  double normal(double mean, double stddev);
  double lognormal(double mu, double sigma) ;
  double gamma(double shape, double scale);  // mean shape*scale

 private:
  std::mt19937_64 engine_;  // fully specified by the C++ standard
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

// The splitmix64 finaliser: a bijection of 64-bit words that mixes every input bit.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Stable 64-bit hash (FNV-1a then a splitmix64 finaliser); used for seeds and prefix hashes.
std::uint64_t stable_hash(std::string_view text, std::uint64_t seed = 0);
// Two words into one (block hashes chain through it once per block: inline on that path).
inline std::uint64_t mix64(std::uint64_t a, std::uint64_t b) { return splitmix64(a ^ splitmix64(b + 0x632be59bd9b4e019ULL)); }

}  // namespace servesim
