#pragma once
// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors): an
// 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, and
// "__metadata__": {string: string}}, then the raw little-endian data. Files move to and from
// PyTorch (safetensors.torch.save_file / load_file).
//
// Half precision: the engine computes in Float32 and Float64 only, but files may hold "F16" (IEEE
// 754 binary16: 1 sign, 5 exponent, 10 fraction bits) and "BF16" (bfloat16: the top 16 bits of a
// float32), as PyTorch writes them for model.half() / .bfloat16(). Reading converts them to
// Float32, exactly: every half and bfloat16 value (subnormals, signed zeros, Inf, NaN) is a float.
// Writing stores floating tensors in either on request (SafetensorsSaveOptions).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// How save_safetensors stores Float32 and Float64 tensors.
enum class FloatFormat : std::uint8_t {
  Native,  // as themselves: "F32" and "F64", bit for bit
  F16,     // IEEE binary16: largest finite 65504, smallest subnormal 2^-24, 11 significant bits
  BF16,    // bfloat16: float32's range (largest finite ~3.39e38), 8 significant bits
};

struct SafetensorsSaveOptions {
  // F16 or BF16: every floating tensor is stored in that format, each value rounded to the
  // nearest, ties to even, straight from its own precision (a Float64 value is not rounded to
  // Float32 first, which could round twice). Values below the smallest subnormal's half become
  // (signed) zero; ±Inf stays ±Inf; NaN is stored as a quiet NaN of the same sign (the payload is
  // not kept). Int64 and Bool tensors are always stored as themselves.
  FloatFormat floats_as = FloatFormat::Native;
  // A finite value whose rounding is past the format's largest finite value (|x| >= 65520 for
  // F16, >= 0x1.FFp127 for BF16) becomes ±Inf, as IEEE 754 says. By default that is refused:
  // an ad::Error names the tensor, the element, the value and the format, and nothing is
  // written (an Inf weight is seldom wanted; scale the tensor or keep it Native). true: store
  // ±Inf as IEEE does.
  bool allow_overflow = false;
};

// Writes atomically: a temporary file in the same directory, flushed, then renamed over `path`,
// so a crash never leaves a half-written file. Float32 -> "F32", Float64 -> "F64", Int64 -> "I64",
// Bool -> "BOOL"; with opt.floats_as, floating tensors as "F16" or "BF16".
// Data is laid out contiguously in the order given; the header is compact JSON padded with spaces
// to a multiple of 8 bytes, "__metadata__" first and omitted when `metadata` is empty. Names must
// be unique, non-empty and not "__metadata__". On any error the old file is left as it was.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {}, const SafetensorsSaveOptions& opt = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in file (data offset) order; fresh tensors that do not require grad
  std::map<std::string, std::string> metadata;
  // Each tensor's dtype as the file stores it: "F32", "F64", "I64", "BOOL", or "F16" / "BF16",
  // whose tensors are read as Float32 (so a caller can tell a half file from a float one).
  std::map<std::string, std::string> stored_dtypes;
};

// Reads a whole file. A missing, truncated or corrupt file (bad header length, invalid JSON,
// unknown dtype, offsets out of range or overlapping, sizes that disagree with the shape)
// throws ad::Error naming the file and the problem. So do gaps or trailing bytes in the data,
// duplicate or empty names, and headers over 100 MB, as in the reference implementation.
// Supported dtypes: F32, F64, I64, BOOL, and F16 and BF16 (read as Float32).
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace ad
