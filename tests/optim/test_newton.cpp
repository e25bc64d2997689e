// Newton's method with the engine's second derivatives: the Hessian comes from ad::grad with
// create_graph, the step from LAPACK's dgesv.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/optim/newton.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

// A = [[4, 1, 0], [1, 3, 1], [0, 1, 2]] (SPD: leading minors 4, 11, 18), b = (1, -2, 3).
const std::vector<double> kA{4, 1, 0, 1, 3, 1, 0, 1, 2};
const std::vector<double> kB{1, -2, 3};

// f(x) = 0.5 x^T A x + b^T x: gradient A x + b, Hessian A, minimum x* = -A^{-1} b.
ad::Tensor quadratic(const ad::Tensor& x) {
  const ad::Tensor a = ad::tensor(kA, {3, 3}, ad::dtype(x.dtype()));
  const ad::Tensor b = ad::tensor(kB, {3}, ad::dtype(x.dtype()));
  return (x * ad::matmul(a, x)).sum() * 0.5 + (b * x).sum();
}

// Rosenbrock: f(x) = (1 - x0)^2 + 100 (x1 - x0^2)^2, minimum at (1, 1).
ad::Tensor rosenbrock(const ad::Tensor& x) {
  const ad::Tensor x0 = x.slice(0, 0, 1), x1 = x.slice(0, 1, 2);
  return (ad::pow(1.0 - x0, 2.0) + 100.0 * ad::pow(x1 - ad::pow(x0, 2.0), 2.0)).sum();
}

TEST(Newton, GradientAndHessianOfTheQuadraticAreAxPlusBAndA) {
  const ad::Tensor x = ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64));
  const ad::optim::GradientAndHessian gh = ad::optim::gradient_and_hessian(quadratic, x);
  // f = 0.5 (1*7 + 2*9 + 3*8) ... : A x = (6, 10, 8), x.Ax = 6 + 20 + 24 = 50, b.x = 1 - 4 + 9 = 6, f = 31
  EXPECT_DOUBLE_EQ(gh.value, 31.0);
  EXPECT_EQ(gh.gradient.to_vector(), (std::vector<double>{7, 8, 11}));  // A x + b
  EXPECT_EQ(gh.hessian.to_vector(), kA);
  EXPECT_FALSE(x.requires_grad());  // x is only read
}

TEST(Newton, HessianOfCrossTermsMatchesHandDerivatives) {
  // f = x0^2 x1 + sin(x1): g = (2 x0 x1, x0^2 + cos x1), H = [[2 x1, 2 x0], [2 x0, -sin x1]].
  const ad::Tensor x = ad::tensor({1.5, 0.5}, ad::dtype(ad::kFloat64));
  auto f = [](const ad::Tensor& v) {
    const ad::Tensor x0 = v.slice(0, 0, 1), x1 = v.slice(0, 1, 2);
    return (x0 * x0 * x1 + ad::sin(x1)).sum();
  };
  const ad::optim::GradientAndHessian gh = ad::optim::gradient_and_hessian(f, x);
  EXPECT_NEAR(gh.gradient.at({0}), 1.5, 1e-15);                   // 2 * 1.5 * 0.5
  EXPECT_NEAR(gh.gradient.at({1}), 2.25 + std::cos(0.5), 1e-15);  // 1.5^2 + cos 0.5
  EXPECT_NEAR(gh.hessian.at({0, 0}), 1.0, 1e-15);                 // 2 * 0.5
  EXPECT_NEAR(gh.hessian.at({0, 1}), 3.0, 1e-15);                 // 2 * 1.5
  EXPECT_NEAR(gh.hessian.at({1, 0}), 3.0, 1e-15);
  EXPECT_NEAR(gh.hessian.at({1, 1}), -std::sin(0.5), 1e-15);
}

TEST(Newton, QuadraticConvergesInExactlyOneStep) {
  // x* = -A^{-1} b. By Cramer's rule with det A = 18: x* = (-12, 30, -42) / 18 = (-2/3, 5/3, -7/3).
  // Check: A x* = (-8/3 + 5/3, -2/3 + 5 - 7/3, 5/3 - 14/3) = (-1, 2, -3) = -b.
  ad::Tensor x = ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::Newton newton(x);
  const ad::optim::NewtonStep s = newton.step(quadratic);
  EXPECT_DOUBLE_EQ(s.value, 31.0);
  EXPECT_NEAR(x.at({0}), -2.0 / 3.0, 1e-14);
  EXPECT_NEAR(x.at({1}), 5.0 / 3.0, 1e-14);
  EXPECT_NEAR(x.at({2}), -7.0 / 3.0, 1e-14);
  EXPECT_EQ(newton.step_count(), 1);
  // At x* the gradient vanishes: the next step does not move.
  const ad::optim::NewtonStep again = newton.step(quadratic);
  for (double g : again.gradient.to_vector()) EXPECT_NEAR(g, 0.0, 1e-13);
  EXPECT_NEAR(x.at({1}), 5.0 / 3.0, 1e-14);
}

TEST(Newton, DampingTakesAFractionOfTheStep) {
  // Half a Newton step on the quadratic lands halfway to x*.
  ad::Tensor x = ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64));
  ad::optim::newton_step(quadratic, x, {.damping = 0.5});
  EXPECT_NEAR(x.at({0}), (1.0 - 2.0 / 3.0) / 2.0, 1e-14);
  EXPECT_NEAR(x.at({1}), (2.0 + 5.0 / 3.0) / 2.0, 1e-14);
  EXPECT_NEAR(x.at({2}), (3.0 - 7.0 / 3.0) / 2.0, 1e-14);
}

TEST(Newton, RosenbrockFromTheClassicStartConvergesQuickly) {
  ad::Tensor x = ad::tensor({-1.2, 1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::Newton newton(x);
  // First step by hand: g = (-2 * 2.2 - 400 * (-1.2) * (1 - 1.44), 200 * (1 - 1.44)) = (-215.6, -88),
  // H = [[2 - 400 (1 - 3 * 1.44), 480], [480, 200]] = [[1330, 480], [480, 200]], det = 35600,
  // d = H^{-1} g = ((200 * -215.6 + 480 * 88) / 35600, (480 * 215.6 - 1330 * 88) / 35600)
  //   = (-880 / 35600, -13552 / 35600), so x1 = (-1.2 + 0.0247191, 1 + 0.3806742).
  const ad::optim::NewtonStep first = newton.step(rosenbrock);
  EXPECT_NEAR(first.value, 24.2, 1e-13);  // 2.2^2 + 100 * 0.44^2
  EXPECT_NEAR(first.gradient.at({0}), -215.6, 1e-12);
  EXPECT_NEAR(first.gradient.at({1}), -88.0, 1e-12);
  EXPECT_NEAR(first.hessian.at({0, 0}), 1330.0, 1e-12);
  EXPECT_NEAR(first.hessian.at({0, 1}), 480.0, 1e-12);
  EXPECT_NEAR(first.hessian.at({1, 1}), 200.0, 1e-12);
  EXPECT_NEAR(x.at({0}), -1.2 + 880.0 / 35600.0, 1e-14);
  EXPECT_NEAR(x.at({1}), 1.0 + 13552.0 / 35600.0, 1e-14);
  int steps = 1;
  while (std::max(std::abs(x.at({0}) - 1.0), std::abs(x.at({1}) - 1.0)) > 1e-8 && steps < 30) {
    newton.step(rosenbrock);
    ++steps;
  }
  EXPECT_LT(steps, 30);
  EXPECT_LE(steps, 7);  // pure Newton needs 6 steps from (-1.2, 1)
  EXPECT_NEAR(x.at({0}), 1.0, 1e-8);
  EXPECT_NEAR(x.at({1}), 1.0, 1e-8);
}

TEST(Newton, Float32ParameterVector) {
  ad::Tensor x = ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat32));
  ad::optim::newton_step(quadratic, x);
  EXPECT_EQ(x.dtype(), ad::kFloat32);
  EXPECT_NEAR(x.at({0}), -2.0 / 3.0, 1e-6);
  EXPECT_NEAR(x.at({2}), -7.0 / 3.0, 1e-6);
}

TEST(Newton, SingularHessianThrowsAndLeavesXUnchanged) {
  // f = (x0 + x1)^2: H = [[2, 2], [2, 2]], singular.
  auto f = [](const ad::Tensor& v) { return ad::pow(v.sum(), 2.0); };
  ad::Tensor x = ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64));
  const std::string msg = error_of([&] { ad::optim::newton_step(f, x); });
  EXPECT_TRUE(contains(msg, "Hessian is singular")) << msg;
  EXPECT_TRUE(contains(msg, "ridge")) << msg;
  EXPECT_EQ(x.to_vector(), (std::vector<double>{1.0, 2.0}));
  // A linear f has H = 0.
  auto linear = [](const ad::Tensor& v) { return (v * 3.0).sum(); };
  EXPECT_TRUE(contains(error_of([&] { ad::optim::newton_step(linear, x); }), "singular"));
  // A ridge makes it solvable: (H + I) d = g with g = 2 * 3 * (1, 1) = (6, 6): d = (6, 6) / 5.
  ad::optim::newton_step(f, x, {.ridge = 1.0});
  EXPECT_NEAR(x.at({0}), 1.0 - 1.2, 1e-15);
  EXPECT_NEAR(x.at({1}), 2.0 - 1.2, 1e-15);
}

TEST(Newton, SolveMatchesAHandSolvedSystemAndDetectsSingularity) {
  // [[2, 1], [1, 3]] d = (3, 5): det 5, d = ((9 - 5) / 5, (10 - 3) / 5) = (0.8, 1.4).
  const ad::Tensor a = ad::tensor({2.0, 1.0, 1.0, 3.0}, {2, 2}, ad::dtype(ad::kFloat64));
  const ad::Tensor d = ad::optim::solve(a, ad::tensor({3.0, 5.0}, ad::dtype(ad::kFloat64)));
  EXPECT_NEAR(d.at({0}), 0.8, 1e-15);
  EXPECT_NEAR(d.at({1}), 1.4, 1e-15);
  // A non-symmetric system checks the row-major to column-major hand-off: [[1, 2], [0, 1]] d = (5, 2).
  const ad::Tensor u = ad::tensor({1.0, 2.0, 0.0, 1.0}, {2, 2}, ad::dtype(ad::kFloat64));
  const ad::Tensor e = ad::optim::solve(u, ad::tensor({5.0, 2.0}, ad::dtype(ad::kFloat64)));
  EXPECT_NEAR(e.at({0}), 1.0, 1e-15);
  EXPECT_NEAR(e.at({1}), 2.0, 1e-15);
  const ad::Tensor s = ad::tensor({1.0, 2.0, 2.0, 4.0}, {2, 2}, ad::dtype(ad::kFloat64));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::solve(s, ad::tensor({1.0, 1.0}, ad::dtype(ad::kFloat64)));
                       }),
                       "singular"));
  // Numerically singular: the second pivot is 1e-17 against entries of size 1.
  const ad::Tensor n = ad::tensor({1.0, 1.0, 1.0, 1.0 + 1e-17}, {2, 2}, ad::dtype(ad::kFloat64));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::solve(n, ad::tensor({1.0, 1.0}, ad::dtype(ad::kFloat64)));
                       }),
                       "singular"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::solve(a, ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64)));
                       }),
                       "solve: needs"));
}

TEST(Newton, RejectsBadInputsAndOptions) {
  ad::Tensor m = ad::zeros({2, 2}, ad::dtype(ad::kFloat64));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::newton_step(quadratic, m); }), "x must be a 1-D floating tensor"));
  ad::Tensor x = ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64));
  auto vector_valued = [](const ad::Tensor& v) { return v * 2.0; };
  EXPECT_TRUE(contains(error_of([&] { ad::optim::newton_step(vector_valued, x); }), "one-element"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::Newton(x, {.damping = 0.0}); }), "Newton: damping must be in (0, 1], got 0"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::Newton(x, {.ridge = -1.0}); }), "Newton: ridge must be finite and >= 0"));
  ad::Tensor leaf = ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::Tensor not_leaf = leaf * 2.0;
  EXPECT_TRUE(contains(error_of([&] { ad::optim::newton_step(quadratic, not_leaf); }), "pass a leaf"));
  auto nan_f = [](const ad::Tensor& v) { return ad::sqrt(v).sum(); };  // Hessian at -1: NaN
  ad::Tensor neg = ad::tensor({-1.0}, ad::dtype(ad::kFloat64));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::newton_step(nan_f, neg); }), "NaN or Inf"));
}

}  // namespace
