#include "sim/core/dtype.h"

#include "sim/core/error.h"

namespace servesim {

double dtype_bytes(DType d) {
  switch (d) {
    case DType::kFp32:
    case DType::kTf32: return 4.0;
    case DType::kBf16:
    case DType::kFp16: return 2.0;
    case DType::kFp8:
    case DType::kFp8Block:
    case DType::kInt8: return 1.0;
    case DType::kInt4: return 0.5;
    case DType::kInt2: return 0.25;
  }
  return 2.0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kFp32: return "fp32";
    case DType::kTf32: return "tf32";
    case DType::kBf16: return "bf16";
    case DType::kFp16: return "fp16";
    case DType::kFp8: return "fp8";
    case DType::kInt8: return "int8";
    case DType::kInt4: return "int4";
    case DType::kInt2: return "int2";
    case DType::kFp8Block: return "fp8_block";
  }
  return "?";
}

DType parse_dtype(const std::string& t, const std::string& where) {
  if (t == "fp32" || t == "float32" || t == "float") return DType::kFp32;
  if (t == "tf32") return DType::kTf32;
  if (t == "bf16" || t == "bfloat16") return DType::kBf16;
  if (t == "fp16" || t == "float16" || t == "half") return DType::kFp16;
  if (t == "fp8" || t == "fp8_e4m3" || t == "float8_e4m3fn") return DType::kFp8;
  if (t == "int8") return DType::kInt8;
  if (t == "int4") return DType::kInt4;
  if (t == "int2") return DType::kInt2;
  if (t == "fp8_block") return DType::kFp8Block;
  bad_value(where, t, "a dtype (fp32, tf32, bf16, fp16, fp8, fp8_block, int8, int4, int2)");
}

DType parse_kv_dtype(const std::string& t, const std::string& where) {
  const DType d = parse_dtype(t, where);
  if (d == DType::kFp8Block) bad_value(where, t, "a KV-cache dtype (fp32, tf32, bf16, fp16, fp8, int8, int4, int2)");
  return d;
}

}  // namespace servesim
