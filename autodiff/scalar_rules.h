#pragma once
// The scalar formulas that ad::Var (scalar.h) and the tensor ops (ops/*.cpp) share, so the two
// paths give the same values and derivatives, also where a naive formula would not: sigmoid far
// in its tails, pow at 0 with exponent 0. The tensor rules write the same derivatives with
// tensor ops (so they can be differentiated again); tests/autodiff/test_scalar_parity.cpp
// checks every function both paths have, value and derivatives, at ordinary and edge points.
#include <cmath>

namespace ad::rules {

// 1 / (1 + e^-x), stable on both tails: exp of a non-positive number only.
template <class T>
T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// d sigmoid(x) = s(1 - s), as s * sigmoid(-x): 1 - s would round to 0 where s rounds to 1.
template <class T>
T sigmoid_grad(T x, T s) {
  return s * sigmoid(-x);
}

// d x^p / dx = p x^(p-1), and 0 when p = 0 (x^0 = 1 is constant, also at x = 0).
template <class T>
T pow_grad_base(T x, T p) {
  return p == T(0) ? T(0) : p * std::pow(x, p - T(1));
}

// d x^p / dp = x^p log(x) (v = x^p), and 0 at x = 0 for p >= 0 (0^p is 0 or 1 there).
template <class T>
T pow_grad_exponent(T x, T p, T v) {
  return x == T(0) && p >= T(0) ? T(0) : v * std::log(x);
}

// sign(x), with sign(0) = 0: the derivative of |x|.
template <class T>
T sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

}  // namespace ad::rules
