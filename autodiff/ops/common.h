#pragma once
// Helpers shared by the op families: output allocation and the elementwise kernels' dtype
// dispatch. Not part of the public API.
#include <string>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/kernels/broadcast.h"
#include "adgraph/autodiff/kernels/simd.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops.h"

namespace ad::detail {

// empty() for op `op`: the shape is checked (negative sizes, overflow) and a failed allocation
// is an ad::Error naming the op and the bytes asked for (factory.cpp).
Tensor empty_for(const Shape& shape, Dtype dt, const char* op);

// A 0-d constant to combine with t, by PyTorch's rule for a number operand: it takes t's dtype
// when t is floating; with an Int64 t an integral v stays Int64 (idx + 1) and any other v is
// of the default dtype (idx * 0.5); with a Bool t it is of the default dtype (mask * 0.5).
inline Tensor scalar_like(const Tensor& t, double v) {
  const Dtype d = t.dtype();
  if (is_floating(d)) return scalar_tensor(v, dtype(d));
  if (d == kInt64 && v == static_cast<double>(static_cast<std::int64_t>(v)) && v > -0x1p63 && v < 0x1p63)
    return scalar_tensor(v, dtype(kInt64));
  return scalar_tensor(v, dtype(get_default_dtype()));
}

// The view `v` again, over the contiguous base of its storage, as a recorded view of `base`
// (the history of a view is rebuilt this way after its base got a new one).
Tensor view_of_base(const Tensor& base, const Tensor& v);
// The grad_fn the base takes when an in-place op wrote `r` into its view `v` (shape_ops.cpp).
std::shared_ptr<Node> copy_slices(const Tensor& base, const Tensor& v, const Tensor& r);

// Throws naming `op` when `self` may not be written in place while recording: a leaf that
// requires grad, or a view of one (tensor.cpp).
void check_inplace_leaf(const Tensor& self, const char* op);

// Throws naming `op` unless m is a Bool tensor (`what` names the argument: "mask", "condition").
void check_bool_mask(const Tensor& m, const char* op, const char* what);

// Throws the dtype error of dispatch_float, naming `op`, unless `a` is floating.
inline void check_floating(const Tensor& a, const char* op) {
  dispatch_float(a.dtype(), op, []<class T>() {});
}

// out[i] = k(a[i]) with the vectorized kernel k (floating dtypes).
inline Tensor map_unary(const Tensor& a, const char* op, kernels::Unary k) {
  Tensor out = empty_for(a.shape(), a.dtype(), op);
  dispatch_float(a.dtype(), op, [&]<class T>() {
    kernels::map1_rows<true>(
        a.strided_data_ptr<T>(), a.shape(), a.strides(), out.data_ptr<T>(),
        [k](const T* x, std::int64_t sx, T* r, std::int64_t len) { kernels::unary(k, x, sx, r, len); });
  });
  return out;
}

// out[i] = f(a[i]) (floating dtypes), for the ops without a vectorized kernel.
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

// Int64 arithmetic that reports an overflow instead of wrapping (ok = false).
inline std::int64_t int_add(std::int64_t x, std::int64_t y, bool& ok) {
  std::int64_t r;
  ok &= !__builtin_add_overflow(x, y, &r);
  return r;
}
inline std::int64_t int_sub(std::int64_t x, std::int64_t y, bool& ok) {
  std::int64_t r;
  ok &= !__builtin_sub_overflow(x, y, &r);
  return r;
}
inline std::int64_t int_mul(std::int64_t x, std::int64_t y, bool& ok) {
  std::int64_t r;
  ok &= !__builtin_mul_overflow(x, y, &r);
  return r;
}

// A binary op's operands in their promoted dtype, and its output of the broadcast shape.
struct BinaryOperands {
  Dtype dt;
  Tensor a, b, out;
};
inline BinaryOperands binary_operands(const Tensor& a_in, const Tensor& b_in, const char* op) {
  const Dtype dt = promote_types(a_in.dtype(), b_in.dtype());
  Tensor a = as_dtype(a_in, dt), b = as_dtype(b_in, dt);
  Tensor out = empty_for(broadcast_shapes(a.shape(), b.shape(), op), dt, op);
  return {dt, std::move(a), std::move(b), std::move(out)};
}

// out = k(a, b) with broadcasting and type promotion, by the vectorized kernel k on floating
// operands. With kIntegers, Int64 operands (add, sub, mul of indices) give an Int64 result,
// computed by int_f (the kernels are floating only).
template <bool kIntegers = false, class F = std::nullptr_t>
Tensor map_binary(const Tensor& a_in, const Tensor& b_in, const char* op, kernels::Binary k, F int_f = nullptr) {
  if (a_in.dim() == 0 && b_in.dim() == 0 && a_in.dtype() == b_in.dtype() && is_floating(a_in.dtype())) {
    Tensor out = empty_for(Shape{}, a_in.dtype(), op);  // two numbers: no promotion, no broadcasting
    dispatch_float(out.dtype(), op, [&]<class T>() {
      kernels::binary(k, a_in.strided_data_ptr<T>(), 0, b_in.strided_data_ptr<T>(), 0, out.data_ptr<T>(), 1);
    });
    return out;
  }
  BinaryOperands ops = binary_operands(a_in, b_in, op);  // named members: clang 14 captures no bindings
  const Dtype dt = ops.dt;
  const Tensor &a = ops.a, &b = ops.b;
  Tensor& out = ops.out;
  auto run = [&]<class T>() {
    const T *pa = a.strided_data_ptr<T>(), *pb = b.strided_data_ptr<T>();
    if constexpr (std::is_floating_point_v<T>) {
      kernels::map2_rows<true>(pa, a.shape(), a.strides(), pb, b.shape(), b.strides(), out.data_ptr<T>(), out.shape(),
                               [k](const T* x, std::int64_t sx, const T* y, std::int64_t sy, T* r, std::int64_t len) {
                                 kernels::binary(k, x, sx, y, sy, r, len);
                               });
    } else if constexpr (kIntegers) {
      kernels::map2(pa, a.shape(), a.strides(), pb, b.shape(), b.strides(), out.data_ptr<T>(), out.shape(), int_f);
    }
  };
  if constexpr (kIntegers)
    dispatch_numeric(dt, op, run);
  else
    dispatch_float(dt, op, run);
  return out;
}

// out = f(a, b) with broadcasting and type promotion (floating), for the ops without a kernel.
template <class F>
Tensor map_binary_f(const Tensor& a_in, const Tensor& b_in, const char* op, F f) {
  BinaryOperands ops = binary_operands(a_in, b_in, op);  // named members: clang 14 captures no bindings
  const Dtype dt = ops.dt;
  const Tensor &a = ops.a, &b = ops.b;
  Tensor& out = ops.out;
  dispatch_float(dt, op, [&]<class T>() {
    kernels::map2(a.strided_data_ptr<T>(), a.shape(), a.strides(), b.strided_data_ptr<T>(), b.shape(), b.strides(),
                  out.data_ptr<T>(), out.shape(), [&](T x, T y) { return static_cast<T>(f(x, y)); });
  });
  return out;
}

}  // namespace ad::detail
