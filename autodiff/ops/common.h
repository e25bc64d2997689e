#pragma once
// Helpers shared by the op families: output allocation and the elementwise kernels' dtype
// dispatch. Not part of the public API.
#include <string>

#include "adgraph/autodiff/kernels/broadcast.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops.h"

namespace ad::detail {

// empty() for op `op`: the shape is checked (negative sizes, overflow) and a failed allocation
// is an ad::Error naming the op and the bytes asked for (factory.cpp).
Tensor empty_for(const Shape& shape, Dtype dt, const char* op);

// A 0-d constant with t's dtype.
inline Tensor scalar_like(const Tensor& t, double v) { return scalar_tensor(v, dtype(t.dtype())); }

inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw Error(std::string(op) + ": dtype mismatch, " + dtype_name(a.dtype()) + " " + shape_str(a.shape()) + " vs " +
                dtype_name(b.dtype()) + " " + shape_str(b.shape()) + "; convert one operand with .to()");
}

// Throws the dtype error of dispatch_float, naming `op`, unless `a` is floating.
inline void check_floating(const Tensor& a, const char* op) {
  dispatch_float(a.dtype(), op, []<class T>() {});
}

// out[i] = f(a[i]) (floating dtypes).
template <class F>
Tensor map_unary(const Tensor& a, const char* op, F f) {
  Tensor out = empty_for(a.shape(), a.dtype(), op);
  dispatch_float(a.dtype(), op, [&]<class T>() {
    kernels::map1_strided(a.strided_data_ptr<T>(), a.shape(), a.strides(), out.data_ptr<T>(),
                          [&](T x) { return static_cast<T>(f(x)); });
  });
  return out;
}

// out = f(a, b) with broadcasting (floating dtypes).
template <class F>
Tensor map_binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_same_dtype(a, b, op);
  Tensor out = empty_for(broadcast_shapes(a.shape(), b.shape(), op), a.dtype(), op);
  dispatch_float(a.dtype(), op, [&]<class T>() {
    kernels::map2(a.strided_data_ptr<T>(), a.shape(), a.strides(), b.strided_data_ptr<T>(), b.shape(), b.strides(),
                  out.data_ptr<T>(), out.shape(), [&](T x, T y) { return static_cast<T>(f(x, y)); });
  });
  return out;
}

}  // namespace ad::detail
