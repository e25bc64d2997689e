#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace ad {

// Element types. Float32/Float64 carry values and gradients; Int64 holds indices
// (gather, index_select, class labels) and Bool holds masks (the results of comparisons);
// neither of those two ever requires grad.
enum class Dtype : std::uint8_t { Float32, Float64, Int64, Bool };

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kInt64 = Dtype::Int64;
inline constexpr Dtype kBool = Dtype::Bool;

inline const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::Float32:
      return "Float32";
    case Dtype::Float64:
      return "Float64";
    case Dtype::Int64:
      return "Int64";
    case Dtype::Bool:
      return "Bool";
  }
  return "?";
}

// The dtype of a result of mixed operands, as PyTorch for tensors: any Float64 makes Float64,
// else any Float32 makes Float32, else any Int64 makes Int64, else Bool.
// (A double argument, x * 2.0, keeps x's dtype.)
inline Dtype promote_types(Dtype a, Dtype b) {
  if (a == Dtype::Float64 || b == Dtype::Float64) return Dtype::Float64;
  if (a == Dtype::Float32 || b == Dtype::Float32) return Dtype::Float32;
  if (a == Dtype::Int64 || b == Dtype::Int64) return Dtype::Int64;
  return Dtype::Bool;
}

inline std::size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::Float32:
      return 4;
    case Dtype::Bool:
      return 1;
    default:
      return 8;
  }
}
inline bool is_floating(Dtype d) { return d == Dtype::Float32 || d == Dtype::Float64; }

// The error type of the library: every message names the op, the shapes involved and a fix.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline constexpr unsigned bit(Dtype d) { return 1u << static_cast<unsigned>(d); }
inline constexpr unsigned kAnyDtype = bit(Dtype::Float32) | bit(Dtype::Float64) | bit(Dtype::Int64) | bit(Dtype::Bool);

// Calls f.template operator()<T>() with T the C++ type of `d` when d is in the set kAllowed (only
// those instantiations are compiled), else throws Error(refused()).
template <unsigned kAllowed, class F, class Refused>
decltype(auto) dispatch_in(Dtype d, F&& f, Refused&& refused) {
  switch (d) {
    case Dtype::Float32:
      if constexpr ((kAllowed & bit(Dtype::Float32)) != 0) return f.template operator()<float>();
      break;
    case Dtype::Float64:
      if constexpr ((kAllowed & bit(Dtype::Float64)) != 0) return f.template operator()<double>();
      break;
    case Dtype::Int64:
      if constexpr ((kAllowed & bit(Dtype::Int64)) != 0) return f.template operator()<std::int64_t>();
      break;
    case Dtype::Bool:
      if constexpr ((kAllowed & bit(Dtype::Bool)) != 0) return f.template operator()<bool>();
      break;
  }
  throw Error(refused());
}
}  // namespace detail

// Calls f.template operator()<T>() with T the C++ type of `d`, for ops that accept any dtype.
template <class F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
  return detail::dispatch_in<detail::kAnyDtype>(d, std::forward<F>(f), [] { return std::string("unknown dtype"); });
}

// Same for arithmetic, which Bool masks do not support; `op` names the op in the error.
template <class F>
decltype(auto) dispatch_numeric(Dtype d, const char* op, F&& f) {
  return detail::dispatch_in<detail::kAnyDtype & ~detail::bit(Dtype::Bool)>(d, std::forward<F>(f), [op] {
    return std::string(op) +
           ": Bool tensors hold masks and do not support arithmetic; convert with .to(ad::kFloat32) "
           "(or combine masks with logical_and / logical_or / logical_not)";
  });
}

// Same for math ops, which need a floating dtype; `op` names the op in the error.
template <class F>
decltype(auto) dispatch_float(Dtype d, const char* op, F&& f) {
  return detail::dispatch_in<detail::bit(Dtype::Float32) | detail::bit(Dtype::Float64)>(d, std::forward<F>(f), [d, op] {
    return std::string(op) + ": " + dtype_name(d) + " tensors hold " + (d == Dtype::Bool ? "masks" : "indices") +
           " and do not support this op; convert with .to(ad::kFloat32)";
  });
}

}  // namespace ad
