#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/nn/activation.h"
#include "adgraph/nn/dropout.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/mlp.h"
#include "adgraph/nn/sequential.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

ad::Tensor f64(const std::vector<double>& v, const ad::Shape& shape) {
  return ad::tensor(v, shape, ad::dtype(ad::kFloat64));
}

TEST(Sequential, ChildrenAreNamedByIndexAndAppliedInOrder) {
  ad::Generator gen(1);
  auto l0 = std::make_shared<ad::nn::Linear>(2, 3, true, ad::kFloat64, &gen);
  auto l2 = std::make_shared<ad::nn::Linear>(3, 1, false, ad::kFloat64, &gen);
  ad::nn::Sequential seq{l0, std::make_shared<ad::nn::ReLU>()};
  seq.push_back(l2);
  ASSERT_EQ(seq.size(), 3u);
  std::vector<std::string> names;
  for (const auto& [n, t] : seq.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
  EXPECT_EQ(seq.num_parameters(), 2 * 3 + 3 + 3);
  const ad::Tensor x = f64({1, -2, 0.5, 3}, {2, 2});
  EXPECT_EQ(seq.forward(x).to_vector(), l2->forward(ad::relu(l0->forward(x))).to_vector());
  EXPECT_EQ(seq(x).to_vector(), seq.forward(x).to_vector());
  EXPECT_EQ(seq.at<ad::nn::Linear>(2), l2);
  EXPECT_TRUE(contains(error_of([&] { (void)seq.at<ad::nn::Linear>(1); }), "ReLU"));
  EXPECT_TRUE(contains(error_of([&] { (void)seq[3]; }), "out of range"));
  EXPECT_TRUE(contains(error_of([&] { seq.push_back(nullptr); }), "null"));
}

TEST(Sequential, EmptyIsIdentityAndErrorsNameTheLayer) {
  ad::nn::Sequential empty;
  const ad::Tensor x = f64({1, 2}, {1, 2});
  EXPECT_EQ(empty.forward(x).impl(), x.impl());
  ad::nn::Sequential seq{std::make_shared<ad::nn::Linear>(2, 3), std::make_shared<ad::nn::ReLU>(),
                         std::make_shared<ad::nn::Linear>(4, 1)};
  const std::string msg = error_of([&] { seq.forward(ad::ones({5, 2})); });
  EXPECT_TRUE(contains(msg, "layer 2 (Linear)")) << msg;
  EXPECT_TRUE(contains(msg, "[5, 3]")) << msg;
}

TEST(Activation, ModulesMatchHandComputation) {
  const ad::Tensor x = f64({-2.0, -0.5, 0.0, 0.5, 3.0}, {5});
  const std::vector<double> xs = x.to_vector();
  const auto y_step = ad::nn::Step().forward(x).to_vector();
  const auto y_sig = ad::nn::Sigmoid().forward(x).to_vector();
  const auto y_tanh = ad::nn::Tanh().forward(x).to_vector();
  const auto y_relu = ad::nn::ReLU().forward(x).to_vector();
  const auto y_leaky = ad::nn::LeakyReLU(0.1).forward(x).to_vector();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(y_step[i], xs[i] > 0 ? 1.0 : 0.0);
    EXPECT_NEAR(y_sig[i], 1.0 / (1.0 + std::exp(-xs[i])), 1e-15);
    EXPECT_NEAR(y_tanh[i], std::tanh(xs[i]), 1e-15);
    EXPECT_EQ(y_relu[i], std::max(xs[i], 0.0));
    EXPECT_NEAR(y_leaky[i], xs[i] > 0 ? xs[i] : 0.1 * xs[i], 1e-15);
  }
  // Softmax over the last dim (default) and over dim 0
  const ad::Tensor m = f64({1, 2, 3, 1, 1, 1}, {2, 3});
  const ad::Tensor s = ad::nn::Softmax().forward(m);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(s.at({0, 2}), std::exp(3.0) / z, 1e-15);
  EXPECT_NEAR(s.at({1, 0}), 1.0 / 3.0, 1e-15);
  const ad::Tensor s0 = ad::nn::Softmax(0).forward(m);
  EXPECT_NEAR(s0.at({0, 1}), std::exp(2.0) / (std::exp(2.0) + std::exp(1.0)), 1e-15);
  const ad::Tensor ls = ad::nn::LogSoftmax(1).forward(m);
  EXPECT_NEAR(ls.at({0, 0}), 1.0 - std::log(z), 1e-14);
}

TEST(Activation, EnumFactoryAndNames) {
  using ad::nn::Activation;
  EXPECT_EQ(ad::nn::make_activation(Activation::None), nullptr);
  for (Activation a : {Activation::Step, Activation::Sigmoid, Activation::Tanh, Activation::ReLU, Activation::LeakyReLU,
                       Activation::Softmax}) {
    const auto m = ad::nn::make_activation(a);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->num_parameters(), 0);
    EXPECT_EQ(ad::nn::activation_from_string(ad::nn::to_string(a)), a);
  }
  EXPECT_EQ(ad::nn::make_activation(Activation::LeakyReLU, 0.2)->name(), "LeakyReLU");
  EXPECT_DOUBLE_EQ(
      std::dynamic_pointer_cast<ad::nn::LeakyReLU>(ad::nn::make_activation(Activation::LeakyReLU, 0.2))->slope(), 0.2);
  EXPECT_EQ(ad::nn::activation_from_string("ReLU"), Activation::ReLU);
  EXPECT_TRUE(contains(error_of([] { ad::nn::activation_from_string("gelu"); }), "leaky_relu"));
}

TEST(Activation, GradcheckThroughEachModule) {
  const ad::Tensor x = f64({-1.3, -0.4, 0.2, 0.7, 2.1, -0.05}, {2, 3}).requires_grad_();
  std::vector<std::shared_ptr<ad::nn::Module>> mods{
      std::make_shared<ad::nn::Sigmoid>(),  std::make_shared<ad::nn::Tanh>(),
      std::make_shared<ad::nn::ReLU>(),     std::make_shared<ad::nn::LeakyReLU>(0.3),
      std::make_shared<ad::nn::Softmax>(1), std::make_shared<ad::nn::LogSoftmax>(0)};
  for (const auto& m : mods) {
    const auto r = ad::gradcheck([&](const std::vector<ad::Tensor>& v) { return m->forward(v[0]); }, {x});
    EXPECT_TRUE(r.ok) << m->name() << ": " << r.report;
  }
  // Step passes no gradient.
  const ad::Tensor xs = x.detach().requires_grad_();
  ad::nn::Step().forward(xs).sum().backward();
  for (double g : xs.grad().to_vector()) EXPECT_EQ(g, 0.0);
}

TEST(Dropout, EvalIsIdentity) {
  ad::Generator gen(1);
  ad::nn::Dropout d(0.5, &gen);
  d.eval();
  const ad::Tensor x = ad::randn({100}, ad::dtype(ad::kFloat64), &gen);
  EXPECT_EQ(d.forward(x).impl(), x.impl());
}

TEST(Dropout, TrainZeroesAboutPAndScalesTheRest) {
  const double p = 0.3;
  const std::int64_t n = 100000;
  ad::Generator gen(42);
  ad::nn::Dropout d(p, &gen);
  const ad::Tensor x = ad::uniform({n}, 1.0, 2.0, ad::dtype(ad::kFloat64), &gen);  // never 0
  const auto xv = x.to_vector();
  const auto y = d.forward(x).to_vector();
  std::int64_t dropped = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (y[k] == 0.0) {
      ++dropped;
    } else {
      ASSERT_NEAR(y[k], xv[k] / (1.0 - p), 1e-12) << i;
    }
  }
  // Binomial(1e5, 0.3): sd = 145, so +-1000 is ~7 sd.
  EXPECT_NEAR(static_cast<double>(dropped), p * n, 1000.0);
  // Float32 inputs keep their dtype.
  const ad::Tensor y32 = d.forward(ad::ones({10}, ad::dtype(ad::kFloat32)));
  EXPECT_EQ(y32.dtype(), ad::kFloat32);
}

TEST(Dropout, SameSeedSameMask) {
  ad::Generator g1(9), g2(9), g3(10);
  ad::nn::Dropout a(0.5, &g1), b(0.5, &g2), c(0.5, &g3);
  const ad::Tensor x = ad::ones({1000}, ad::dtype(ad::kFloat64));
  const auto ya = a.forward(x).to_vector();
  EXPECT_EQ(ya, b.forward(x).to_vector());
  EXPECT_NE(ya, c.forward(x).to_vector());
  // successive calls draw fresh masks
  EXPECT_NE(ya, a.forward(x).to_vector());
  // the mask does not depend on the dtype: same seed, Float32 input, same zeros
  ad::Generator g4(9);
  ad::nn::Dropout e(0.5, &g4);
  const auto y32 = e.forward(ad::ones({1000}, ad::dtype(ad::kFloat32))).to_vector();
  for (std::size_t i = 0; i < ya.size(); ++i) EXPECT_EQ(ya[i] == 0.0, y32[i] == 0.0);
}

TEST(Dropout, GradientFlowsOnlyThroughKeptElements) {
  ad::Generator gen(3);
  ad::nn::Dropout d(0.25, &gen);
  const ad::Tensor x = ad::uniform({2000}, 1.0, 2.0, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  const ad::Tensor y = d.forward(x);
  y.sum().backward();
  const auto yv = y.to_vector(), g = x.grad().to_vector();
  int kept = 0;
  for (std::size_t i = 0; i < yv.size(); ++i) {
    if (yv[i] == 0.0) {
      EXPECT_EQ(g[i], 0.0);
    } else {
      ++kept;
      EXPECT_NEAR(g[i], 1.0 / 0.75, 1e-15);
    }
  }
  EXPECT_GT(kept, 0);
}

TEST(Dropout, ValidatesP) {
  EXPECT_TRUE(contains(error_of([] { ad::nn::Dropout(1.0); }), "[0, 1)"));
  EXPECT_TRUE(contains(error_of([] { ad::nn::Dropout(-0.1); }), "[0, 1)"));
  EXPECT_TRUE(contains(error_of([] { ad::nn::Dropout(std::nan("")); }), "[0, 1)"));
  ad::nn::Dropout zero(0.0);
  const ad::Tensor x = ad::ones({5});
  EXPECT_EQ(zero.forward(x).to_vector(), x.to_vector());
}

TEST(MLP, ParameterNamesShapesAndCount) {
  ad::Generator gen(0);
  ad::nn::MLP mlp({2, 4, 3, 1}, ad::nn::Activation::ReLU, ad::nn::Activation::None, ad::kFloat64, &gen);
  EXPECT_EQ(mlp.num_parameters(), 31);  // 2*4+4 + 4*3+3 + 3*1+1
  std::vector<std::string> names;
  std::vector<ad::Shape> shapes;
  for (const auto& [n, t] : mlp.named_parameters()) {
    names.push_back(n);
    shapes.push_back(t.shape());
    EXPECT_EQ(t.dtype(), ad::kFloat64);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}));
  EXPECT_EQ(shapes, (std::vector<ad::Shape>{{4, 2}, {4}, {3, 4}, {3}, {1, 3}, {1}}));
  EXPECT_EQ(mlp.size(), 5u);  // Linear ReLU Linear ReLU Linear
  // With an output activation it is one more child, and no more parameters.
  ad::nn::MLP cls({2, 4, 3}, ad::nn::Activation::Tanh, ad::nn::Activation::Softmax, ad::kFloat32, &gen);
  EXPECT_EQ(cls.size(), 4u);
  EXPECT_EQ(cls[3]->name(), "Softmax");
  EXPECT_EQ(cls.num_parameters(), 2 * 4 + 4 + 4 * 3 + 3);
  const ad::Tensor p = cls.forward(ad::ones({5, 2}));
  EXPECT_EQ(p.shape(), (ad::Shape{5, 3}));
  EXPECT_EQ(p.dtype(), ad::kFloat32);
  EXPECT_NEAR(p.sum().item(), 5.0, 1e-5);
}

TEST(MLP, ForwardMatchesHandComputationAndSeedsReproduce) {
  ad::Generator g1(5), g2(5);
  ad::nn::MLP a({2, 3, 1}, ad::nn::Activation::Sigmoid, ad::nn::Activation::None, ad::kFloat64, &g1);
  ad::nn::MLP b({2, 3, 1}, ad::nn::Activation::Sigmoid, ad::nn::Activation::None, ad::kFloat64, &g2);
  for (std::size_t i = 0; i < a.parameters().size(); ++i)
    EXPECT_EQ(a.parameters()[i].to_vector(), b.parameters()[i].to_vector());
  const auto w1 = a.linear(0)->weight().to_vector(), b1 = a.linear(0)->bias().to_vector();
  const auto w2 = a.linear(1)->weight().to_vector(), b2 = a.linear(1)->bias().to_vector();
  const double x0 = 0.7, x1 = -1.2;
  double y = b2[0];
  for (std::size_t j = 0; j < 3; ++j) {
    const double h = 1.0 / (1.0 + std::exp(-(w1[2 * j] * x0 + w1[2 * j + 1] * x1 + b1[j])));
    y += w2[j] * h;
  }
  EXPECT_NEAR(a.forward(f64({x0, x1}, {1, 2})).item(), y, 1e-14);
  EXPECT_TRUE(contains(error_of([&] { (void)a.linear(2); }), "out of range"));
}

TEST(MLP, GradcheckWrtInputsAndEveryParameter) {
  for (ad::nn::Activation act :
       {ad::nn::Activation::Tanh, ad::nn::Activation::Sigmoid, ad::nn::Activation::LeakyReLU}) {
    ad::Generator gen(17);
    ad::nn::MLP mlp({2, 4, 3, 2}, act, ad::nn::Activation::Softmax, ad::kFloat64, &gen, 0.2);
    const auto named = mlp.named_parameters();
    std::vector<ad::Tensor> inputs{ad::randn({3, 2}, ad::dtype(ad::kFloat64), &gen).requires_grad_()};
    for (const auto& [n, t] : named) inputs.push_back(t);
    const auto r = ad::gradcheck(
        [&](const std::vector<ad::Tensor>& v) {
          std::vector<std::pair<std::string, ad::Tensor>> params;
          for (std::size_t i = 0; i < named.size(); ++i) params.emplace_back(named[i].first, v[i + 1]);
          return mlp.functional_call(params, v[0]);
        },
        inputs);
    EXPECT_TRUE(r.ok) << ad::nn::to_string(act) << ": " << r.report;
  }
}

TEST(MLP, EngineGradientsOfParametersMatchFunctionalCall) {
  ad::Generator gen(23);
  ad::nn::MLP mlp({3, 5, 1}, ad::nn::Activation::Tanh, ad::nn::Activation::None, ad::kFloat64, &gen);
  const ad::Tensor x = ad::randn({4, 3}, ad::dtype(ad::kFloat64), &gen);
  mlp.forward(x).sum().backward();
  const auto params = mlp.parameters();
  const auto grads = ad::grad({mlp.forward(x).sum()}, params);
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].grad().to_vector(), grads[i].to_vector());
}

TEST(MLP, ValidatesSizes) {
  EXPECT_TRUE(contains(error_of([] { ad::nn::MLP({3}); }), "at least"));
  EXPECT_TRUE(contains(error_of([] { ad::nn::MLP({3, 0, 1}); }), "{3, 0, 1}"));
}

}  // namespace
