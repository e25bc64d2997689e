// Arithmetic: add, sub, mul, div, neg, pow, maximum, minimum, and the operators.
#include <cmath>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {
// map_binary for add/sub/mul, which also take Int64 operands: an Int64 result that overflows is
// an error naming the op, never a wrapped value.
template <class I>
Tensor integer_safe(const Tensor& a, const Tensor& b, const char* op, kernels::Binary k, I int_op) {
  bool ok = true;
  Tensor out = detail::map_binary<true>(a, b, op, k, [&](std::int64_t x, std::int64_t y) { return int_op(x, y, ok); });
  if (!ok)
    throw Error(std::string(op) + ": the Int64 result overflows for operands of shapes " + shape_str(a.shape()) +
                " and " + shape_str(b.shape()) + "; convert to .to(ad::kFloat64) first");
  return out;
}
}  // namespace

using detail::map_binary;
using detail::map_unary;
using detail::scalar_like;

// d(a+b) = g, g   (the engine sums each gradient back to its input's shape)
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = integer_safe(a, b, "add", kernels::Binary::add, detail::int_add);
  return record("add", out, {a, b}, [](const Tensor& g, const Tensor&) { return GradList{g, g}; });
}

// d(a-b) = g, -g
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = integer_safe(a, b, "sub", kernels::Binary::sub, detail::int_sub);
  return record("sub", out, {a, b}, [](const Tensor& g, const Tensor&) { return GradList{g, -g}; });
}

// d(a*b) = g*b, g*a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = integer_safe(a, b, "mul", kernels::Binary::mul, detail::int_mul);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  // each operand is saved only for the other's gradient
  return record("mul", out, {a, b},
                [sa = gb ? SavedTensor(a) : SavedTensor(), sb = ga ? SavedTensor(b) : SavedTensor(), ga, gb](
                    const Tensor& g, const Tensor&) {
                  return GradList{ga ? mul_grad(g, sb.get()) : Tensor(), gb ? mul_grad(g, sa.get()) : Tensor()};
                });
}

// d(a/b) = g/b, -g*a/b^2
Tensor div(const Tensor& a, const Tensor& b) {
  if (!is_floating(promote_types(a.dtype(), b.dtype())))  // true division: integers give the default dtype
    return div(a.to(get_default_dtype()), b.to(get_default_dtype()));
  Tensor out = map_binary(a, b, "div", kernels::Binary::div);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(
      "div", out, {a, b},
      [sa = gb ? SavedTensor(a) : SavedTensor(), sb = SavedTensor(b), ga, gb](const Tensor& g, const Tensor&) {
        const Tensor& bv = sb.get();
        return GradList{ga ? div_grad(g, bv) : Tensor(), gb ? -mul_grad(g, sa.get() / (bv * bv)) : Tensor()};
      });
}

// d mul_grad(g, d) = mul_grad(gg, d), mul_grad(gg, g)
Tensor mul_grad(const Tensor& g, const Tensor& d) {
  Tensor out = map_binary(g, d, "mul_grad", kernels::Binary::mul_grad);
  return record("mul_grad", out, {g, d}, [sg = SavedTensor(g), sd = SavedTensor(d)](const Tensor& gg, const Tensor&) {
    return GradList{mul_grad(gg, sd.get()), mul_grad(gg, sg.get())};
  });
}

// d div_grad(g, d) = div_grad(gg, d), -div_grad(gg * g, d^2)
Tensor div_grad(const Tensor& g, const Tensor& d) {
  Tensor out = map_binary(g, d, "div_grad", kernels::Binary::div_grad);
  return record("div_grad", out, {g, d}, [sg = SavedTensor(g), sd = SavedTensor(d)](const Tensor& gg, const Tensor&) {
    const Tensor& dv = sd.get();
    return GradList{div_grad(gg, dv), -div_grad(mul_grad(gg, sg.get()), dv * dv)};
  });
}

// d(-a) = -g
Tensor neg(const Tensor& a) {
  Tensor out = map_unary(a, "neg", kernels::Unary::neg);
  return record("neg", out, {a}, [](const Tensor& g, const Tensor&) { return GradList{-g}; });
}

// d(a^p) = g * p * a^(p-1)
Tensor pow(const Tensor& a, double p) {
  Tensor out = map_unary(a, "pow", [p](auto x) { return std::pow(x, p); });
  return record("pow", out, {a}, [sa = SavedTensor(a), p](const Tensor& g, const Tensor&) {
    if (p == 0.0) return GradList{zeros_like(g)};
    return GradList{mul_grad(g, p * pow(sa.get(), p - 1.0))};
  });
}

// d(a^b) = g * b * a^(b-1), g * a^b * log(a)   (the first is 0 where b = 0, as for a scalar
// exponent, also at a = 0; the second is 0 where a = 0 and b >= 0)
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = detail::map_binary_f(a, b, "pow", [](auto x, auto y) { return std::pow(x, y); });
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(
      "pow", out, {a, b},
      [sa = SavedTensor(a), sb = SavedTensor(b), ga, gb](const Tensor& g, const Tensor& o) {
        const Tensor &av = sa.get(), &bv = sb.get();
        const Tensor zero = scalar_like(av, 0.0);
        Tensor da = ga ? where(eq(bv, zero), zero, mul_grad(g, bv * pow(av, bv - 1.0))) : Tensor();
        Tensor db = gb ? where(logical_and(eq(av, zero), ge(bv, zero)), zero, mul_grad(g, o * log(av))) : Tensor();
        return GradList{da, db};
      },
      /*keep_output=*/true);
}

namespace {
// Share of the gradient that goes to `a` in maximum/minimum: 1 where a wins, 1/2 on ties.
Tensor winner_weight(const Tensor& a, const Tensor& b, bool is_max) {
  const Dtype dt = promote_types(a.dtype(), b.dtype());
  return (is_max ? gt(a, b) : lt(a, b)).to(dt) + eq(a, b).to(dt) * 0.5;
}

Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  const char* name = is_max ? "maximum" : "minimum";
  Tensor out = map_binary(a, b, name, is_max ? kernels::Binary::maximum : kernels::Binary::minimum);
  return record(name, out, {a, b}, [sa = SavedTensor(a), sb = SavedTensor(b), is_max](const Tensor& g, const Tensor&) {
    const Tensor w = winner_weight(sa.get(), sb.get(), is_max);
    return GradList{mul_grad(g, w), mul_grad(g, 1.0 - w)};
  });
}
// a * c, c * a or a / c for a number c: the node keeps c itself rather than the 0-d tensor of it,
// which would be most of what a chain of scalar steps holds (a tensor is 256 bytes, c is 8). The
// constant is still recorded as the op's second input (shape, dtype, and its value under
// DrawGuard), so graphs show it as before.
Tensor scaled(const Tensor& a, double c, bool divide, bool c_first) {
  const Tensor k = scalar_like(a, c);
  const Tensor& x = c_first ? k : a;
  const Tensor& y = c_first ? a : k;
  if (!needs_grad({&a})) return divide ? div(x, y) : mul(x, y);
  Tensor out;
  {
    NoGradGuard ng;
    out = divide ? div(x, y) : mul(x, y);
  }
  // d(a*c) = g*c;  d(a/c) = g/c   (mul's and div's rules, the same bits)
  return record(divide ? "div" : "mul", out, {x, y}, [c, divide, c_first](const Tensor& g, const Tensor&) {
    const Tensor kg = scalar_like(g, c);
    Tensor ga = divide ? div_grad(g, kg) : mul_grad(g, kg);
    return c_first ? GradList{Tensor(), std::move(ga)} : GradList{std::move(ga), Tensor()};
  });
}
}  // namespace

// d max(a,b) = g*[a>b] + g/2*[a=b], g*[a<b] + g/2*[a=b]
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
// d min(a,b) = g*[a<b] + g/2*[a=b], g*[a>b] + g/2*[a=b]
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return scaled(a, b, false, false); }
Tensor operator/(const Tensor& a, double b) { return scaled(a, b, true, false); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return scaled(b, a, false, true); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }
Tensor Tensor::operator-() const { return neg(*this); }
Tensor Tensor::pow(double p) const { return ad::pow(*this, p); }
Tensor Tensor::pow(const Tensor& p) const { return ad::pow(*this, p); }

}  // namespace ad
