// Comparisons and logical ops (Bool masks, not differentiable) and where (differentiable in
// both branches).
#include "adgraph/autodiff/ops/common.h"

namespace ad {
using detail::scalar_like;

namespace {
template <class F>
Tensor compare(const Tensor& a_in, const Tensor& b_in, const char* op, F f) {
  const Dtype dt = promote_types(a_in.dtype(), b_in.dtype());  // compared in the promoted dtype
  const Tensor a = detail::as_dtype(a_in, dt), b = detail::as_dtype(b_in, dt);
  Tensor out = detail::empty_for(broadcast_shapes(a.shape(), b.shape(), op), kBool, op);
  dispatch_all(dt, [&]<class T>() {
    kernels::map2(a.strided_data_ptr<T>(), a.shape(), a.strides(), b.strided_data_ptr<T>(), b.shape(), b.strides(),
                  out.data_ptr<bool>(), out.shape(), [&](T x, T y) { return static_cast<bool>(f(x, y)); });
  });
  return out;
}

template <class F>
Tensor logical(const Tensor& a, const Tensor& b, const char* op, F f) {
  detail::check_bool_mask(a, op, "first operand");
  detail::check_bool_mask(b, op, "second operand");
  Tensor out = detail::empty_for(broadcast_shapes(a.shape(), b.shape(), op), kBool, op);
  kernels::map2(a.strided_data_ptr<bool>(), a.shape(), a.strides(), b.strided_data_ptr<bool>(), b.shape(), b.strides(),
                out.data_ptr<bool>(), out.shape(), f);
  return out;
}
}  // namespace

void detail::check_bool_mask(const Tensor& m, const char* op, const char* what) {
  if (m.dtype() != kBool)
    throw Error(std::string(op) + ": the " + what + " must be a Bool tensor, got " + dtype_name(m.dtype()) +
                " of shape " + shape_str(m.shape()) +
                "; make one with a comparison (ad::gt(x, y), x > 0.0) or convert with .to(ad::kBool)");
}

Tensor eq(const Tensor& a, const Tensor& b) {
  return compare(a, b, "eq", [](auto x, auto y) { return x == y; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare(a, b, "ne", [](auto x, auto y) { return x != y; });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return compare(a, b, "lt", [](auto x, auto y) { return x < y; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare(a, b, "le", [](auto x, auto y) { return x <= y; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare(a, b, "gt", [](auto x, auto y) { return x > y; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare(a, b, "ge", [](auto x, auto y) { return x >= y; });
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return logical(a, b, "logical_and", [](bool x, bool y) { return x && y; });
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return logical(a, b, "logical_or", [](bool x, bool y) { return x || y; });
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return logical(a, b, "logical_xor", [](bool x, bool y) { return x != y; });
}
Tensor logical_not(const Tensor& a) {
  detail::check_bool_mask(a, "logical_not", "operand");
  Tensor out = detail::empty_for(a.shape(), kBool, "logical_not");
  kernels::map1_strided(a.strided_data_ptr<bool>(), a.shape(), a.strides(), out.data_ptr<bool>(),
                        [](bool x) { return !x; });
  return out;
}

Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator&&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
Tensor operator||(const Tensor& a, const Tensor& b) { return logical_or(a, b); }
Tensor operator!(const Tensor& a) { return logical_not(a); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator<(const Tensor& a, double b) { return lt(a, scalar_like(a, b)); }
Tensor operator>(const Tensor& a, double b) { return gt(a, scalar_like(a, b)); }
Tensor operator<=(const Tensor& a, double b) { return le(a, scalar_like(a, b)); }
Tensor operator>=(const Tensor& a, double b) { return ge(a, scalar_like(a, b)); }
Tensor operator==(const Tensor& a, double b) { return eq(a, scalar_like(a, b)); }
Tensor operator!=(const Tensor& a, double b) { return ne(a, scalar_like(a, b)); }

// d where(c, a, b) = where(c, g, 0), where(c, 0, g)
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_bool_mask(cond, "where", "condition");
  if (a.dtype() != b.dtype()) {  // promote with recorded conversions, so each branch's gradient finds its way
    const Dtype dt = promote_types(a.dtype(), b.dtype());
    return where(cond, a.to(dt), b.to(dt));
  }
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, dtype(a.dtype()));
  dispatch_all(a.dtype(), [&]<class T>() {
    {
      const bool* c = cond.strided_data_ptr<bool>();
      const T *x = a.strided_data_ptr<T>(), *y = b.strided_data_ptr<T>();
      T* o = out.data_ptr<T>();
      kernels::broadcast_rows<3>(
          shape,
          {broadcast_strides(cond.shape(), cond.strides(), shape), broadcast_strides(a.shape(), a.strides(), shape),
           broadcast_strides(b.shape(), b.strides(), shape)},
          [&](std::int64_t off, const auto& base, std::int64_t len, const auto& st) {
            for (std::int64_t j = 0; j < len; ++j)
              o[off + j] = c[base[0] + j * st[0]] ? x[base[1] + j * st[1]] : y[base[2] + j * st[2]];
          });
    }
  });
  return record("where", out, {a, b}, [c = SavedTensor(cond)](const Tensor& g, const Tensor&) {
    const Tensor zero = scalar_like(g, 0.0);
    return GradList{where(c.get(), g, zero), where(c.get(), zero, g)};
  });
}

}  // namespace ad
