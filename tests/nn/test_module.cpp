#include <gtest/gtest.h>

#include "nn/linear.h"

namespace {

struct TwoLayer : nn::Module {
  TwoLayer() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(3, 4, true, ad::kFloat64));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(4, 2, true, ad::kFloat64));
  }
  ad::Tensor forward(const ad::Tensor& x) const { return fc2->forward(ad::tanh(fc1->forward(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

TEST(Module, NamedParametersAreStableAndNested) {
  TwoLayer m;
  const auto named = m.named_parameters();
  ASSERT_EQ(named.size(), 4u);
  EXPECT_EQ(named[0].first, "fc1.weight");
  EXPECT_EQ(named[1].first, "fc1.bias");
  EXPECT_EQ(named[2].first, "fc2.weight");
  EXPECT_EQ(named[3].first, "fc2.bias");
  EXPECT_EQ(m.num_parameters(), 3 * 4 + 4 + 4 * 2 + 2);
  for (const auto& [name, t] : named) EXPECT_TRUE(t.requires_grad()) << name;
}

TEST(Module, ReplacingAParameterKeepsItInParameters) {
  nn::Linear lin(2, 1, true, ad::kFloat64);
  lin.set_param("weight", ad::tensor({0.5, -2.0}, {1, 2}, ad::dtype(ad::kFloat64)));
  const auto params = lin.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_DOUBLE_EQ(params[0].at({0, 1}), -2.0);
  EXPECT_TRUE(params[0].requires_grad());
  // The layer computes with the replaced weight: y = 0.5*1 - 2*1 + b
  const ad::Tensor y = lin.forward(ad::ones({1, 2}, ad::dtype(ad::kFloat64)));
  EXPECT_DOUBLE_EQ(y.item(), -1.5 + lin.bias().item());
  EXPECT_THROW(lin.set_param("weight", ad::zeros({2, 2}, ad::dtype(ad::kFloat64))), ad::Error);
  EXPECT_THROW(lin.set_param("nope", ad::zeros({1, 2}, ad::dtype(ad::kFloat64))), ad::Error);
}

TEST(Module, TrainEvalPropagatesToChildren) {
  TwoLayer m;
  m.eval();
  EXPECT_FALSE(m.fc1->is_training());
  m.train();
  EXPECT_TRUE(m.fc2->is_training());
}

TEST(Module, LinearMatchesHandComputationAndGradchecks) {
  nn::Linear lin(3, 2, true, ad::kFloat64);
  const ad::Tensor x = ad::tensor({1, 2, 3, -1, 0, 1}, {2, 3}, ad::dtype(ad::kFloat64));
  const ad::Tensor y = lin.forward(x);
  const auto w = lin.weight().to_vector(), b = lin.bias().to_vector();
  EXPECT_NEAR(y.at({1, 0}), -w[0] + w[2] + b[0], 1e-12);
  EXPECT_NEAR(y.at({0, 1}), w[3] + 2 * w[4] + 3 * w[5] + b[1], 1e-12);
  const auto r = ad::gradcheck(
      [&](const std::vector<ad::Tensor>& in) { return ad::tanh(ad::matmul(in[0], in[1].t()) + in[2]).sum(); },
      {x, lin.weight(), lin.bias()});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(Module, ZeroGradClearsEveryParameter) {
  TwoLayer m;
  m.forward(ad::ones({5, 3}, ad::dtype(ad::kFloat64))).sum().backward();
  for (const auto& p : m.parameters()) ASSERT_TRUE(p.grad().defined());
  m.zero_grad();
  for (const auto& p : m.parameters())
    for (double g : p.grad().to_vector()) EXPECT_EQ(g, 0.0);
}

TEST(Module, LinearRejectsWrongInputWidth) {
  nn::Linear lin(3, 2);
  try {
    lin.forward(ad::ones({4, 5}));
    FAIL() << "expected an error";
  } catch (const ad::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[4, 5]"), std::string::npos) << e.what();
  }
}

}  // namespace
