// Functional autograd (autodiff/functional.h): jacobian (rows and columns), hessian, vjp, jvp,
// hvp against derivatives by hand; create_graph gives differentiable results; x is untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;

Tensor f64(const std::vector<double>& v, const Shape& s = {}) {
  return s.empty() ? ad::tensor(v, ad::dtype(ad::kFloat64)) : ad::tensor(v, s, ad::dtype(ad::kFloat64));
}

// f(x) = [x0^2 x1, sin(x1), x0 + 3 x2]: J = [[2 x0 x1, x0^2, 0], [0, cos x1, 0], [1, 0, 3]]
Tensor f(const Tensor& x) {
  return ad::stack({x.select(0, 0) * x.select(0, 0) * x.select(0, 1), ad::sin(x.select(0, 1)),
                    x.select(0, 0) + 3.0 * x.select(0, 2)});
}
std::vector<double> jac(double x0, double x1) { return {2 * x0 * x1, x0 * x0, 0, 0, std::cos(x1), 0, 1, 0, 3}; }

void expect_near(const Tensor& t, const std::vector<double>& want) {
  const auto v = t.to_vector();
  ASSERT_EQ(v.size(), want.size());
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], want[i], 1e-12) << i;
}

TEST(Functional, JacobianByRowsAndByColumnsMatchTheHandDerivative) {
  const Tensor x = f64({1.5, -0.5, 2.0});
  for (ad::JacobianMode mode : {ad::JacobianMode::rows, ad::JacobianMode::columns, ad::JacobianMode::automatic}) {
    const Tensor j = ad::jacobian(f, x, {.mode = mode});
    EXPECT_EQ(j.shape(), (Shape{3, 3}));
    expect_near(j, jac(1.5, -0.5));
    EXPECT_FALSE(j.requires_grad());
  }
  EXPECT_FALSE(x.requires_grad());  // x untouched
  // shapes: f: [2, 2] -> [3] gives [3, 2, 2]
  const Tensor m = f64({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(ad::jacobian([](const Tensor& z) { return ad::sum(z * z, {0}).reshape({2}); }, m).shape(),
            (Shape{2, 2, 2}));
  // an output that does not depend on x: zeros
  expect_near(ad::jacobian([](const Tensor& z) { return ad::ones({2}, ad::dtype(ad::kFloat64)) + 0.0 * z.detach(); },
                           f64({1, 2})),
              {0, 0, 0, 0});
}

TEST(Functional, VjpJvpAndHvp) {
  const Tensor x = f64({1.5, -0.5, 2.0});
  const std::vector<double> j = jac(1.5, -0.5);
  const Tensor v = f64({1, -2, 0.5}), u = f64({0.3, 1, -1});
  const auto [y1, vj] = ad::vjp(f, x, v);
  const auto [y2, ju] = ad::jvp(f, x, u);
  std::vector<double> want_vj(3, 0), want_ju(3, 0);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) {
      want_vj[c] += v.to_vector()[r] * j[r * 3 + c];
      want_ju[r] += j[r * 3 + c] * u.to_vector()[c];
    }
  expect_near(vj, want_vj);
  expect_near(ju, want_ju);
  expect_near(y1, f(x).to_vector());
  // g(x) = x0^2 x1 + x1^3: H = [[2 x1, 2 x0], [2 x0, 6 x1]]
  auto g = [](const Tensor& z) {
    const Tensor a = z.select(0, 0), b = z.select(0, 1);
    return a * a * b + b * b * b;
  };
  const Tensor p = f64({0.7, -1.2});
  const std::vector<double> h = {2 * -1.2, 2 * 0.7, 2 * 0.7, 6 * -1.2};
  expect_near(ad::hessian(g, p), h);
  const auto [gv, hv] = ad::hvp(g, p, f64({1, 2}));
  expect_near(hv, {h[0] + 2 * h[1], h[2] + 2 * h[3]});
  EXPECT_NEAR(gv.item(), 0.49 * -1.2 - 1.728, 1e-12);
  EXPECT_TRUE(ad::testing::error_of([&] { ad::hessian(f, x); }).find("one element") != std::string::npos);
  EXPECT_TRUE(ad::testing::error_of([&] { ad::jvp(f, x, f64({1})); }).find("v must have x's shape") !=
              std::string::npos);
}

TEST(Functional, CreateGraphGivesDerivativesOfDerivatives) {
  // d/dx of the Hessian-vector product of g(x) = x^4 (1-D): H v = 12 x^2 v, its derivative 24 x v
  Tensor x = f64({0.5}).requires_grad_();
  auto g = [](const Tensor& z) { return ad::sum(z * z * z * z); };
  const auto [y, hv] = ad::hvp(g, x, f64({2}), {.create_graph = true});
  expect_near(hv, {12 * 0.25 * 2});
  // ... and d/dx (H v) reaches x: 24 x v
  hv.sum().backward();
  expect_near(x.grad(), {24 * 0.5 * 2});
  // through jacobian: J = diag(3 x^2) of x^3, d/dx sum(J) = 6 x
  Tensor w = f64({1.0, 2.0}).requires_grad_();
  const Tensor jw = ad::jacobian([](const Tensor& z) { return z * z * z; }, w, {.create_graph = true});
  expect_near(jw, {3, 0, 0, 12});
  jw.sum().backward();
  expect_near(w.grad(), {6, 12});
  // without create_graph nothing reaches w
  EXPECT_FALSE(ad::jacobian([](const Tensor& z) { return z * z; }, w).requires_grad());
}

}  // namespace

namespace {

// A deep tanh MLP y = sum(W_L tanh(... tanh(W_1 x))) whose blocks of `per` layers are
// checkpointed: the gradients of the weights and of x equal the plain run's bit for bit.
TEST(Checkpoint, GradientsEqualThePlainRunBitForBit) {
  ad::Generator gen(3);
  std::vector<Tensor> ws;
  for (int l = 0; l < 8; ++l) ws.push_back((ad::randn({6, 6}, ad::dtype(ad::kFloat64), &gen) * 0.4).requires_grad_());
  const Tensor x0 = ad::randn({5, 6}, ad::dtype(ad::kFloat64), &gen);
  auto block = [&](int from, int to) {
    return [&ws, from, to](const std::vector<Tensor>& in) {
      Tensor h = in[0];
      for (int l = from; l < to; ++l) h = ad::tanh(ad::matmul(h, ws[static_cast<std::size_t>(l)]));
      return h;
    };
  };
  auto run = [&](bool checkpointed) {
    Tensor x = x0.detach().requires_grad_();
    for (Tensor& w : ws) w.zero_grad();
    Tensor h = x;
    for (int b = 0; b < 4; ++b)
      h = checkpointed ? ad::checkpoint(block(2 * b, 2 * b + 2), {h}) : block(2 * b, 2 * b + 2)({h});
    (h * h).sum().backward();
    std::vector<std::vector<double>> grads{x.grad().to_vector()};
    for (const Tensor& w : ws) grads.push_back(w.grad().to_vector());
    return grads;
  };
  const auto plain = run(false), ckpt = run(true);
  ASSERT_EQ(plain.size(), ckpt.size());
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(plain[i], ckpt[i]) << "tensor " << i;
  // the checkpointed forward keeps no intermediate: 4 nodes between x and the loss's inputs
  Tensor x = x0.detach().requires_grad_();
  const Tensor y = ad::checkpoint(block(0, 8), {x});
  EXPECT_STREQ(y.grad_fn()->name, "checkpoint");
  EXPECT_EQ(y.grad_fn()->next.size(), 1u);
}

TEST(Checkpoint, ErrorsForChangedInputsAndHigherOrder) {
  Tensor x = ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor h = x * 1.0;
  const Tensor y = ad::checkpoint([](const std::vector<Tensor>& in) { return (in[0] * in[0]).sum(); }, {h});
  {
    ad::NoGradGuard ng;
    Tensor(h).mul_(2.0);  // modified after the forward
  }
  EXPECT_NE(ad::testing::error_of([&] { y.backward(); }).find("modified in place"), std::string::npos);
  const Tensor z = ad::checkpoint([](const std::vector<Tensor>& in) { return (in[0] * in[0]).sum(); }, {x});
  EXPECT_NE(ad::testing::error_of([&] { ad::grad({z}, {x}, {}, {.retain_graph = true, .create_graph = true}); }).find("create_graph"),
            std::string::npos);
  EXPECT_EQ(ad::grad({z}, {x})[0].to_vector(), (std::vector<double>{2, 4}));
}

}  // namespace
