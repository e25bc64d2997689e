#pragma once
// Helpers shared by the op families: output allocation and the elementwise kernels' dtype
// dispatch. Not part of the public API.
#include <string>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/kernels/broadcast.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops.h"

namespace ad::detail {

// empty() for op `op`: the shape is checked (negative sizes, overflow) and a failed allocation
// is an ad::Error naming the op and the bytes asked for (factory.cpp).
Tensor empty_for(const Shape& shape, Dtype dt, const char* op);

// A 0-d constant with t's dtype.
inline Tensor scalar_like(const Tensor& t, double v) { return scalar_tensor(v, dtype(t.dtype())); }

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

// `t` in dtype d for a kernel to read: itself when it has it, else a converted copy that is not
// recorded (the op's node records the original; the engine casts its gradient back).
inline Tensor as_dtype(const Tensor& t, Dtype d) {
  if (t.dtype() == d) return t;
  AutoGradMode off(false);
  return t.to(d);
}

// out = f(a, b) with broadcasting and type promotion (floating results).
template <class F>
Tensor map_binary(const Tensor& a_in, const Tensor& b_in, const char* op, F f) {
  const Dtype dt = promote_types(a_in.dtype(), b_in.dtype());
  const Tensor a = as_dtype(a_in, dt), b = as_dtype(b_in, dt);
  Tensor out = empty_for(broadcast_shapes(a.shape(), b.shape(), op), dt, op);
  dispatch_float(dt, op, [&]<class T>() {
    kernels::map2(a.strided_data_ptr<T>(), a.shape(), a.strides(), b.strided_data_ptr<T>(), b.shape(), b.strides(),
                  out.data_ptr<T>(), out.shape(), [&](T x, T y) { return static_cast<T>(f(x, y)); });
  });
  return out;
}

}  // namespace ad::detail
