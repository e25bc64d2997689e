// Elementwise math: exp, log, sqrt, abs, sin, cos, clamp.
#include <cmath>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
using detail::map_unary;
using detail::scalar_like;

// d exp(a) = g * exp(a)
Tensor exp(const Tensor& a) {
  Tensor out = map_unary(a, "exp", kernels::Unary::exp);
  return record(
      "exp", out, {a}, [](const Tensor& g, const Tensor& o) { return GradList{mul_grad(g, o)}; }, true);
}

// d log(a) = g / a
Tensor log(const Tensor& a) {
  Tensor out = map_unary(a, "log", kernels::Unary::log);
  return record("log", out, {a},
                [sa = SavedTensor(a)](const Tensor& g, const Tensor&) { return GradList{div_grad(g, sa.get())}; });
}

// d sqrt(a) = g / (2 sqrt(a))
Tensor sqrt(const Tensor& a) {
  Tensor out = map_unary(a, "sqrt", kernels::Unary::sqrt);
  return record(
      "sqrt", out, {a}, [](const Tensor& g, const Tensor& o) { return GradList{div_grad(g, o * 2.0)}; }, true);
}

// d|a| = g * sign(a)   (sign(0) = 0)
Tensor abs(const Tensor& a) {
  Tensor out = map_unary(a, "abs", kernels::Unary::abs);
  return record("abs", out, {a}, [sa = SavedTensor(a)](const Tensor& g, const Tensor&) {
    const Tensor& x = sa.get();
    const Tensor zero = scalar_like(x, 0.0);
    return GradList{mul_grad(g, gt(x, zero).to(x.dtype()) - lt(x, zero).to(x.dtype()))};
  });
}

// d sin(a) = g * cos(a)
Tensor sin(const Tensor& a) {
  Tensor out = map_unary(a, "sin", kernels::Unary::sin);
  return record("sin", out, {a},
                [sa = SavedTensor(a)](const Tensor& g, const Tensor&) { return GradList{mul_grad(g, cos(sa.get()))}; });
}

// d cos(a) = -g * sin(a)
Tensor cos(const Tensor& a) {
  Tensor out = map_unary(a, "cos", kernels::Unary::cos);
  return record("cos", out, {a}, [sa = SavedTensor(a)](const Tensor& g, const Tensor&) {
    return GradList{-mul_grad(g, sin(sa.get()))};
  });
}

// d clamp(a, lo, hi) = g * [lo <= a <= hi]
Tensor clamp(const Tensor& a, double lo, double hi) {
  if (lo > hi) throw Error("clamp: lo " + std::to_string(lo) + " is greater than hi " + std::to_string(hi));
  Tensor out = map_unary(a, "clamp", [lo, hi](auto x) { return x < lo ? lo : (x > hi ? hi : x); });
  return record("clamp", out, {a}, [sa = SavedTensor(a), lo, hi](const Tensor& g, const Tensor&) {
    const Tensor& x = sa.get();
    return GradList{mul_grad(g, logical_and(x >= lo, x <= hi).to(x.dtype()))};
  });
}

Tensor Tensor::exp() const { return ad::exp(*this); }
Tensor Tensor::log() const { return ad::log(*this); }
Tensor Tensor::sqrt() const { return ad::sqrt(*this); }
Tensor Tensor::abs() const { return ad::abs(*this); }
Tensor Tensor::sin() const { return ad::sin(*this); }
Tensor Tensor::cos() const { return ad::cos(*this); }
Tensor Tensor::clamp(double lo, double hi) const { return ad::clamp(*this, lo, hi); }

}  // namespace ad
