#include "sim/cost/sha256.h"

#include <fstream>
#include <memory>
#include <vector>

#include <openssl/evp.h>

#include "sim/core/error.h"

namespace servesim {
namespace {

using Digest = std::array<std::uint8_t, 32>;

// Streams bytes into one SHA-256 digest.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    SERVESIM_ASSERT(ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1);
  }
  void update(const void* data, std::size_t len) { SERVESIM_ASSERT(EVP_DigestUpdate(ctx_.get(), data, len) == 1); }
  Digest finish() {
    Digest d{};
    unsigned int n = 0;
    SERVESIM_ASSERT(EVP_DigestFinal_ex(ctx_.get(), d.data(), &n) == 1 && n == d.size());
    return d;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

Digest digest(std::string_view text) {
  Sha256 s;
  s.update(text.data(), text.size());
  return s.finish();
}

std::string to_hex(const Digest& d) {
  static const char* digits = "0123456789abcdef";
  std::string s(64, '0');
  for (std::size_t i = 0; i < 32; ++i) {
    s[2 * i] = digits[d[i] >> 4];
    s[2 * i + 1] = digits[d[i] & 15];
  }
  return s;
}

}  // namespace

std::string sha256_hex(std::string_view text) { return to_hex(digest(text)); }

std::string sha256_file_hex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path, "cannot open file (missing or unreadable)");
  Sha256 s;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    s.update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return to_hex(s.finish());
}

std::uint64_t sha256_u64(std::string_view text) {
  const Digest d = digest(text);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | d[static_cast<std::size_t>(i)];
  return v;
}

}  // namespace servesim
