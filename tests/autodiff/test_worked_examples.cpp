// The classic worked examples of computation graphs and the chain rule, with every derivative
// coming from the engine and checked against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "adgraph/autodiff/autodiff.h"

namespace {

ad::Tensor scalar(double v) { return ad::scalar_tensor(v, ad::dtype(ad::kFloat64)).requires_grad_(); }

TEST(WorkedExamples, ComputationGraphJ) {
  // J = 3(a + b*c) at a=5, b=3, c=2: u = bc = 6, v = a + u = 11, J = 3v = 33.
  ad::Tensor a = scalar(5), b = scalar(3), c = scalar(2);
  const ad::Tensor u = b * c;
  const ad::Tensor v = a + u;
  const ad::Tensor J = 3.0 * v;
  J.backward();
  EXPECT_DOUBLE_EQ(J.item(), 33.0);
  EXPECT_DOUBLE_EQ(a.grad().item(), 3.0);  // dJ/da = 3
  EXPECT_DOUBLE_EQ(b.grad().item(), 6.0);  // dJ/db = 3c
  EXPECT_DOUBLE_EQ(c.grad().item(), 9.0);  // dJ/dc = 3b
}

TEST(WorkedExamples, ChainRuleOnPolynomial) {
  // y = (3x^2 + 2)^4, dy/dx = 4(3x^2 + 2)^3 * 6x.
  for (double x0 : {-2.0, -0.5, 0.0, 1.0, 1.5}) {
    ad::Tensor x = scalar(x0);
    const ad::Tensor y = ad::pow(3.0 * ad::pow(x, 2.0) + 2.0, 4.0);
    y.backward();
    const double inner = 3 * x0 * x0 + 2;
    EXPECT_NEAR(y.item(), std::pow(inner, 4), 1e-9);
    EXPECT_NEAR(x.grad().item(), 4 * std::pow(inner, 3) * 6 * x0, 1e-9) << "x = " << x0;
  }
  ad::Tensor x = scalar(1.0);
  ad::pow(3.0 * ad::pow(x, 2.0) + 2.0, 4.0).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 3000.0);  // 4 * 5^3 * 6
}

TEST(WorkedExamples, SigmoidDerivativeIsSTimesOneMinusS) {
  ad::Tensor z = ad::linspace(-6, 6, 25, ad::dtype(ad::kFloat64)).requires_grad_();
  const ad::Tensor s = ad::sigmoid(z);
  s.sum().backward();
  const auto zs = z.to_vector(), ss = s.to_vector(), gs = z.grad().to_vector();
  for (std::size_t i = 0; i < zs.size(); ++i) {
    const double expect_s = 1.0 / (1.0 + std::exp(-zs[i]));
    EXPECT_NEAR(ss[i], expect_s, 1e-15);
    EXPECT_NEAR(gs[i], expect_s * (1 - expect_s), 1e-15) << "z = " << zs[i];
  }
  EXPECT_DOUBLE_EQ(gs[12], 0.25);  // at z = 0
}

TEST(WorkedExamples, GradientDescentOnXSquaredOverTenPlusSinX) {
  // f(x) = x^2/10 + sin(x) from x = -9, learning rate 0.4, 34 steps; the gradient comes from
  // the engine, the reference sequence from the hand formula f'(x) = x/5 + cos(x).
  ad::Tensor x = scalar(-9.0);
  double ref = -9.0;
  std::vector<double> path{x.item()};
  for (int step = 0; step < 34; ++step) {
    x.zero_grad();
    const ad::Tensor f = ad::pow(x, 2.0) / 10.0 + ad::sin(x);
    f.backward();
    {
      ad::NoGradGuard no_grad;
      x.sub_(x.grad(), 0.4);
    }
    ref -= 0.4 * (ref / 5 + std::cos(ref));
    EXPECT_NEAR(x.item(), ref, 1e-12) << "step " << step + 1;
    path.push_back(x.item());
  }
  // Values from an independent float64 computation of the same iteration.
  EXPECT_NEAR(path[1], -7.915547895246129, 1e-12);
  EXPECT_NEAR(path[2], -7.257693113571966, 1e-12);
  EXPECT_NEAR(path[34], -1.307088763206182, 1e-12);
  // The end point is (nearly) the stationary point: f'(x) = x/5 + cos(x) ~ 0, the global minimum.
  EXPECT_LT(std::abs(path[34] / 5 + std::cos(path[34])), 1e-3);
}

}  // namespace
