#pragma once
// SHA-256 (FIPS 180-4) of files and strings: fitted profiles record their inputs' hashes,
// predictions name the hash of the profile that answered, the hold-out split hashes shapes.
// Contract: hex digests are lowercase, 64 characters; an unreadable file is an InputError.
// Computed by OpenSSL's libcrypto (SHA extensions where the CPU has them: a 1.8 MB profile
// hashes in about a millisecond).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace servesim {

std::string sha256_hex(std::string_view text);
std::string sha256_file_hex(const std::string& path);
// The first 8 bytes of SHA-256(text) as a big-endian integer.
std::uint64_t sha256_u64(std::string_view text);

}  // namespace servesim
