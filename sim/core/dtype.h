#pragma once
// Numeric formats of weights, activations and KV entries.
#include <cstddef>
#include <string>

namespace servesim {

// kFp8Block: fp8 weights with one scale per 128 x 128 block (DeepSeek-V3's checkpoints), run by
// other GEMM kernels than per-tensor fp8 (kFp8); a weight format, not a KV-cache one.
enum class DType { kFp32, kTf32, kBf16, kFp16, kFp8, kInt8, kInt4, kInt2, kFp8Block };
// The number of DType values (tables indexed by DType).
inline constexpr std::size_t kNumDTypes = 9;
static_assert(static_cast<std::size_t>(DType::kFp8Block) + 1 == kNumDTypes, "kFp8Block is the last DType");

// Bytes per element; sub-byte formats are fractional (int4 = 0.5, int2 = 0.25, as KIVI packs them).
double dtype_bytes(DType d);
const char* dtype_name(DType d);
// Accepts our names and Hugging Face's torch_dtype spellings ("bfloat16", "float16", "float32").
// Throws InputError naming `where` on anything else.
DType parse_dtype(const std::string& text, const std::string& where);
// parse_dtype for a KV-cache dtype: also rejects the weight-only formats (fp8_block).
DType parse_kv_dtype(const std::string& text, const std::string& where);

}  // namespace servesim
