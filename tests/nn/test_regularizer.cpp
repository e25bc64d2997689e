#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/nn/linear.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/mlp.h"
#include "adgraph/nn/regularizer.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

ad::Tensor f64(const std::vector<double>& v, const ad::Shape& shape) {
  return ad::tensor(v, shape, ad::dtype(ad::kFloat64)).requires_grad_();
}

TEST(Regularizer, L1ValueAndGradientIsSign) {
  const ad::Tensor a = f64({1.5, -2.0, 0.0, 0.25}, {2, 2});
  const ad::Tensor b = f64({-3.0}, {1});
  const ad::Tensor l1 = ad::nn::l1_penalty({a, b});
  EXPECT_EQ(l1.dim(), 0);
  EXPECT_DOUBLE_EQ(l1.item(), 1.5 + 2.0 + 0.0 + 0.25 + 3.0);
  l1.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{1.0, -1.0, 0.0, 1.0}));  // sign(w), 0 at 0
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{-1.0}));
}

TEST(Regularizer, L2IsSumOfSquaresWithoutAHalf) {
  const ad::Tensor a = f64({1.5, -2.0, 0.0, 0.25}, {2, 2});
  const ad::Tensor b = f64({-3.0}, {1});
  const ad::Tensor l2 = ad::nn::l2_penalty({a, b});
  EXPECT_DOUBLE_EQ(l2.item(), 2.25 + 4.0 + 0.0 + 0.0625 + 9.0);
  l2.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{3.0, -4.0, 0.0, 0.5}));  // 2 w
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{-6.0}));
}

TEST(Regularizer, Gradcheck) {
  ad::Generator gen(6);
  const ad::Tensor a = ad::randn({3, 2}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  const ad::Tensor b = ad::randn({4}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  auto r = ad::gradcheck([](const std::vector<ad::Tensor>& v) { return ad::nn::l2_penalty(v); }, {a, b});
  EXPECT_TRUE(r.ok) << r.report;
  r = ad::gradcheck([](const std::vector<ad::Tensor>& v) { return ad::nn::l1_penalty(v); }, {a, b});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(Regularizer, WeightsSelectsOnlyWeightsAndTheTermJoinsTheLoss) {
  ad::Generator gen(9);
  ad::nn::MLP mlp({2, 3, 1}, ad::nn::Activation::Tanh, ad::nn::Activation::None, ad::kFloat64, &gen);
  const auto w = ad::nn::weights(mlp);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].impl(), mlp.linear(0)->weight().impl());
  EXPECT_EQ(w[1].impl(), mlp.linear(1)->weight().impl());
  // loss + lambda * l2: the weights' gradient gains 2 lambda w, the biases' does not change.
  const ad::Tensor x = ad::randn({5, 2}, ad::dtype(ad::kFloat64), &gen);
  const ad::Tensor y = ad::randn({5, 1}, ad::dtype(ad::kFloat64), &gen);
  const double lambda = 0.1;
  ad::nn::mse_loss(mlp.forward(x), y).backward();
  std::vector<std::vector<double>> plain;
  for (const auto& p : mlp.parameters()) plain.push_back(p.grad().to_vector());
  mlp.zero_grad();
  (ad::nn::mse_loss(mlp.forward(x), y) + lambda * ad::nn::l2_penalty(w)).backward();
  const auto params = mlp.named_parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto g = params[i].second.grad().to_vector(), v = params[i].second.to_vector();
    const bool is_weight = params[i].first.ends_with("weight");
    for (std::size_t j = 0; j < g.size(); ++j)
      EXPECT_NEAR(g[j], plain[i][j] + (is_weight ? 2 * lambda * v[j] : 0.0), 1e-14) << params[i].first;
  }
}

TEST(Regularizer, Errors) {
  EXPECT_TRUE(contains(error_of([] { ad::nn::l2_penalty({}); }), "no tensors"));
  EXPECT_TRUE(contains(error_of([] {
                         ad::nn::l1_penalty({ad::ones({2}, ad::dtype(ad::kFloat64)), ad::ones({2})});
                       }),
                       "Float32"));
  EXPECT_TRUE(contains(error_of([] { ad::nn::l1_penalty({ad::Tensor()}); }), "undefined"));
}

}  // namespace
