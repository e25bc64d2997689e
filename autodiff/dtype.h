#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace ad {

// Element types. Float32/Float64 carry values and gradients; Int64 holds indices
// (gather, index_select, class labels) and never requires grad.
enum class Dtype : std::uint8_t { Float32, Float64, Int64 };

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kInt64 = Dtype::Int64;

inline const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::Float32:
      return "Float32";
    case Dtype::Float64:
      return "Float64";
    case Dtype::Int64:
      return "Int64";
  }
  return "?";
}

// The dtype of a result of mixed operands, as PyTorch for tensors: any Float64 makes Float64,
// else any Float32 makes Float32, else Int64. (A double argument, x * 2.0, keeps x's dtype.)
inline Dtype promote_types(Dtype a, Dtype b) {
  if (a == Dtype::Float64 || b == Dtype::Float64) return Dtype::Float64;
  if (a == Dtype::Float32 || b == Dtype::Float32) return Dtype::Float32;
  return Dtype::Int64;
}

inline std::size_t dtype_size(Dtype d) { return d == Dtype::Float32 ? 4 : 8; }
inline bool is_floating(Dtype d) { return d != Dtype::Int64; }

// The error type of the library: every message names the op, the shapes involved and a fix.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Calls f.template operator()<T>() with T the C++ type of `d`, for ops that accept any dtype.
template <class F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
  switch (d) {
    case Dtype::Float32:
      return f.template operator()<float>();
    case Dtype::Float64:
      return f.template operator()<double>();
    case Dtype::Int64:
      return f.template operator()<std::int64_t>();
  }
  throw Error("unknown dtype");
}

// Same for math ops, which need a floating dtype; `op` names the op in the error.
template <class F>
decltype(auto) dispatch_float(Dtype d, const char* op, F&& f) {
  switch (d) {
    case Dtype::Float32:
      return f.template operator()<float>();
    case Dtype::Float64:
      return f.template operator()<double>();
    case Dtype::Int64:
      break;
  }
  throw Error(std::string(op) +
              ": Int64 tensors hold indices and do not support this op; convert with .to(ad::kFloat64)");
}

}  // namespace ad
