// Fuzz smoke for CI (issue 13), no libFuzzer needed: replays a target's seed corpus and a fixed
// number of deterministic mutations of it through the same body the libFuzzer harness runs.
// Under the asan preset a memory or UB defect aborts; an exception other than InputError is
// reported with the input that raised it (written to the file named by --crash).
//   fuzz_smoke TARGET CORPUS_DIR MUTATIONS SEED
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_bodies.h"

namespace {
namespace fs = std::filesystem;
using Bytes = std::string;

// Tokens that parsers of numbers, JSON and CSV tend to mishandle.
const char* const kTokens[] = {"-1", "0", "1e400", "-1e400", "18446744073709551616", "NaN", "null", "true",
                               "[", "]", "{", "}", "\"", ",", ":", "\n", "\r\n", "\xEF\xBB\xBF", "\\u0000", "9999999999"};

// One random edit of `in`: flip a byte, insert or delete a run, duplicate a run, insert a token,
// or splice in a piece of another corpus input.
Bytes mutate(const Bytes& in, const std::vector<Bytes>& corpus, std::mt19937_64& rng) {
  Bytes s = in;
  auto pick = [&](std::size_t n) { return n == 0 ? std::size_t{0} : static_cast<std::size_t>(rng() % n); };
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = pick(s.size() + 1);
    switch (rng() % 6) {
      case 0:
        if (!s.empty()) s[std::min(at, s.size() - 1)] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:
        s.insert(at, 1 + pick(8), static_cast<char>(rng() % 256));
        break;
      case 2:
        s.erase(at, 1 + pick(16));
        break;
      case 3: {
        const std::size_t from = pick(s.size());
        const Bytes run = s.substr(from, 1 + pick(32));
        s.insert(at, run);
        break;
      }
      case 4:
        s.insert(at, kTokens[pick(std::size(kTokens))]);
        break;
      default: {
        const Bytes& other = corpus[pick(corpus.size())];
        const std::size_t from = pick(other.size());
        s.insert(at, other.substr(from, 1 + pick(64)));
        break;
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: fuzz_smoke TARGET CORPUS_DIR MUTATIONS SEED\n");
    return 2;
  }
  const servesim::fuzz::Body body = servesim::fuzz::find(argv[1]);
  if (body == nullptr) {
    std::fprintf(stderr, "fuzz_smoke: unknown target %s\n", argv[1]);
    return 2;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(argv[2])) files.push_back(e.path());
  std::sort(files.begin(), files.end());  // directory order is not deterministic
  std::vector<Bytes> corpus;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "fuzz_smoke: no seed inputs in %s\n", argv[2]);
    return 2;
  }
  const long mutations = std::stol(argv[3]);
  std::mt19937_64 rng(std::stoull(argv[4]));
  long runs = 0;
  auto one = [&](const Bytes& input) {
    try {
      servesim::fuzz::run_one(body, reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fuzz_smoke %s: input %ld (%zu bytes) escaped with: %s\n", argv[1], runs, input.size(), e.what());
      std::ofstream(fs::path("fuzz_smoke-crash-") += argv[1], std::ios::binary).write(input.data(), static_cast<std::streamsize>(input.size()));
      return false;
    }
    ++runs;
    return true;
  };
  for (const auto& seed : corpus) {
    if (!one(seed)) return 1;
  }
  for (long i = 0; i < mutations; ++i) {
    if (!one(mutate(corpus[static_cast<std::size_t>(i) % corpus.size()], corpus, rng))) return 1;
  }
  std::printf("fuzz_smoke %s: %ld inputs, none escaped\n", argv[1], runs);
  return 0;
}
