#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <utility>

#include "adgraph/nn/activation.h"
#include "adgraph/nn/dropout.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/sequential.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

struct TwoLayer : ad::nn::Module {
  TwoLayer() {
    fc1 = register_module("fc1", std::make_shared<ad::nn::Linear>(3, 4, true, ad::kFloat64));
    fc2 = register_module("fc2", std::make_shared<ad::nn::Linear>(4, 2, true, ad::kFloat64));
  }
  ad::Tensor forward(const ad::Tensor& x) const override { return fc2->forward(ad::tanh(fc1->forward(x))); }
  std::shared_ptr<ad::nn::Linear> fc1, fc2;
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
  ad::nn::Linear lin(2, 1, true, ad::kFloat64);
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
  ad::nn::Linear lin(3, 2, true, ad::kFloat64);
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
  ad::nn::Linear lin(3, 2);
  try {
    lin.forward(ad::ones({4, 5}));
    FAIL() << "expected an error";
  } catch (const ad::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[4, 5]"), std::string::npos) << e.what();
  }
}

TEST(Module, SetParamWritesInPlaceSoEveryHandleSeesIt) {
  ad::Generator gen(3);
  ad::nn::Linear lin(2, 1, true, ad::kFloat64, &gen);
  // What an optimizer would hold: the handles from parameters(), taken before the replacement.
  std::vector<ad::Tensor> held = lin.parameters();
  const ad::Tensor v = ad::tensor({0.25, 4.0}, {1, 2}, ad::dtype(ad::kFloat64));
  lin.set_param("weight", v);
  EXPECT_EQ(held[0].impl(), lin.weight().impl());  // same tensor, not a stray copy
  EXPECT_EQ(held[0].to_vector(), (std::vector<double>{0.25, 4.0}));
  EXPECT_TRUE(held[0].requires_grad());
  EXPECT_TRUE(held[0].is_leaf());
  // The module does not alias the caller's tensor: an update of the parameter leaves v alone.
  {
    ad::NoGradGuard ng;
    held[0].sub_(ad::ones({1, 2}, ad::dtype(ad::kFloat64)), 0.25);  // an SGD-like step on the held handle
  }
  EXPECT_EQ(v.to_vector(), (std::vector<double>{0.25, 4.0}));
  EXPECT_EQ(lin.weight().to_vector(), (std::vector<double>{0.0, 3.75}));
  // Gradients reach the held handle.
  lin.forward(ad::ones({1, 2}, ad::dtype(ad::kFloat64))).sum().backward();
  ASSERT_TRUE(held[0].grad().defined());
  EXPECT_EQ(held[0].grad().to_vector(), (std::vector<double>{1.0, 1.0}));
  // Shape and dtype are checked, with both in the message.
  const std::string msg = error_of([&] { lin.set_param("weight", ad::zeros({1, 2}, ad::dtype(ad::kFloat32))); });
  EXPECT_TRUE(contains(msg, "Float32")) << msg;
  EXPECT_TRUE(contains(msg, "[1, 2]")) << msg;
}

TEST(Module, RegistrationRejectsBadAndDuplicateNames) {
  struct Bad : ad::nn::Module {
    void add(const std::string& n) { register_parameter(n, ad::zeros({1}, ad::dtype(ad::kFloat64))); }
    void child(const std::string& n) { register_module(n, std::make_shared<ad::nn::ReLU>()); }
  } m;
  m.add("w");
  EXPECT_TRUE(contains(error_of([&] { m.add("w"); }), "already"));
  EXPECT_TRUE(contains(error_of([&] { m.child("w"); }), "already"));
  EXPECT_TRUE(contains(error_of([&] { m.add("a.b"); }), "'.'"));
  EXPECT_TRUE(contains(error_of([&] { m.add(""); }), "non-empty"));
  EXPECT_TRUE(contains(error_of([&] { (void)m.param("nope"); }), "it has: w"));
}

TEST(Module, DefaultForwardThrowsNamingTheType) {
  struct NoForward : ad::nn::Module {};
  NoForward m;
  const std::string msg = error_of([&] { m.forward(ad::ones({2})); });
  EXPECT_TRUE(contains(msg, "NoForward")) << msg;
  EXPECT_EQ(m.name(), "NoForward");
  EXPECT_EQ(ad::nn::Linear(1, 1).name(), "Linear");
}

TEST(Module, ForwardEitherOverloadWorksThroughABasePointer) {
  struct ConstFwd : ad::nn::Module {
    ad::Tensor forward(const ad::Tensor& x) const override { return x * 2.0; }
  };
  struct MutableFwd : ad::nn::Module {
    ad::Tensor forward(const ad::Tensor& x) override {
      ++calls;
      return x + 1.0;
    }
    int calls = 0;
  };
  auto a = std::make_shared<ConstFwd>();
  auto b = std::make_shared<MutableFwd>();
  std::shared_ptr<ad::nn::Module> ma = a, mb = b;
  const ad::Tensor x = ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(ma->forward(x).to_vector(), (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ(std::as_const(*ma).forward(x).to_vector(), (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ((*mb)(x).to_vector(), (std::vector<double>{2.0, 3.0}));
  EXPECT_EQ(b->calls, 1);
  ad::nn::Sequential seq{a, b};
  EXPECT_EQ(seq.forward(x).to_vector(), (std::vector<double>{3.0, 5.0}));
  EXPECT_EQ(b->calls, 2);
}

TEST(Module, TrainEvalReachesDropoutInsideNestedSequential) {
  ad::Generator gen(7);
  auto drop = std::make_shared<ad::nn::Dropout>(0.5, &gen);
  auto inner = std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{drop});
  ad::nn::Sequential outer{std::make_shared<ad::nn::Linear>(4, 4, true, ad::kFloat64, &gen), inner};
  const ad::Tensor x = ad::ones({8, 4}, ad::dtype(ad::kFloat64));
  outer.eval();
  EXPECT_FALSE(drop->is_training());
  EXPECT_FALSE(inner->is_training());
  // eval: deterministic, equals the Linear alone
  const auto lin = outer.at<ad::nn::Linear>(0);
  EXPECT_EQ(outer.forward(x).to_vector(), lin->forward(x).to_vector());
  outer.train();
  EXPECT_TRUE(drop->is_training());
  const auto y = outer.forward(x).to_vector(), ref = lin->forward(x).to_vector();
  int zeros = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 0.0) {
      ++zeros;
    } else {
      EXPECT_NEAR(y[i], 2.0 * ref[i], 1e-12);
    }
  }
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, 32);
}

TEST(Module, NamedModulesAndRepr) {
  ad::nn::Sequential seq{std::make_shared<ad::nn::Linear>(2, 4), std::make_shared<ad::nn::ReLU>(),
                         std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
                             std::make_shared<ad::nn::Linear>(4, 1, false), std::make_shared<ad::nn::Sigmoid>()})};
  std::vector<std::string> paths;
  for (const auto& [p, m] : seq.named_modules()) paths.push_back(p + ":" + m->name());
  EXPECT_EQ(paths, (std::vector<std::string>{"0:Linear", "1:ReLU", "2:Sequential", "2.0:Linear", "2.1:Sigmoid"}));
  std::ostringstream os;
  os << seq;
  EXPECT_EQ(os.str(),
            "Sequential(\n"
            "  (0): Linear(in_features=2, out_features=4, bias=true)\n"
            "  (1): ReLU()\n"
            "  (2): Sequential(\n"
            "    (0): Linear(in_features=4, out_features=1, bias=false)\n"
            "    (1): Sigmoid()\n"
            "  )\n"
            ")");
}

TEST(Module, LinearAcceptsOneDimAndBatchedInputs) {
  ad::Generator gen(11);
  ad::nn::Linear lin(3, 2, true, ad::kFloat64, &gen);
  const ad::Tensor x =
      ad::tensor({1, 2, 3, -1, 0, 1, 0.5, 0.5, 0.5, 2, -2, 1, 0, 0, 1, 3, 1, -1}, {3, 2, 3}, ad::dtype(ad::kFloat64));
  const ad::Tensor y = lin.forward(x);
  ASSERT_EQ(y.shape(), (ad::Shape{3, 2, 2}));
  const ad::Tensor row = lin.forward(ad::tensor({2, -2, 1}, ad::dtype(ad::kFloat64)));
  ASSERT_EQ(row.shape(), (ad::Shape{2}));
  EXPECT_NEAR(row.at({1}), y.at({1, 1, 1}), 1e-12);
  // gradcheck through the layer w.r.t. the input and both parameters, 1-D and 3-D inputs
  for (const ad::Tensor& in : {ad::tensor({2, -2, 1}, ad::dtype(ad::kFloat64)), x}) {
    const auto r = ad::gradcheck(
        [&](const std::vector<ad::Tensor>& v) {
          return ad::tanh(lin.functional_call({{"weight", v[1]}, {"bias", v[2]}}, v[0])).sum();
        },
        {in.detach().requires_grad_(), lin.weight(), lin.bias()});
    EXPECT_TRUE(r.ok) << r.report;
  }
  // Gradients of the parameters by the engine vs a hand computation: dL/dW = sum over rows of x, dL/db = N
  lin.zero_grad();
  lin.forward(x).sum().backward();
  const auto gw = lin.weight().grad().to_vector();
  EXPECT_NEAR(gw[0], 1 - 1 + 0.5 + 2 + 0 + 3, 1e-12);
  EXPECT_NEAR(gw[4], 2 + 0 + 0.5 - 2 + 0 + 1, 1e-12);
  EXPECT_EQ(lin.bias().grad().to_vector(), (std::vector<double>{6.0, 6.0}));
  EXPECT_TRUE(contains(error_of([&] { lin.forward(ad::ones({2, 3}, ad::dtype(ad::kFloat32))); }), "Float32"));
}

TEST(Module, FunctionalCallRestoresParametersEvenOnError) {
  ad::Generator gen(5);
  ad::nn::Sequential seq{std::make_shared<ad::nn::Linear>(2, 3, true, ad::kFloat64, &gen),
                         std::make_shared<ad::nn::Tanh>()};
  const auto before = seq.named_parameters();
  const ad::Tensor w = ad::zeros({3, 2}, ad::dtype(ad::kFloat64));
  const ad::Tensor y = seq.functional_call({{"0.weight", w}}, ad::ones({1, 2}, ad::dtype(ad::kFloat64)));
  const auto b = seq.at<ad::nn::Linear>(0)->bias().to_vector();
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(y.at({0, static_cast<std::int64_t>(i)}), std::tanh(b[i]), 1e-15);
  EXPECT_EQ(seq.named_parameters()[0].second.impl(), before[0].second.impl());
  EXPECT_TRUE(contains(error_of([&] {
                         seq.functional_call({{"0.weight", w}}, ad::ones({1, 5}, ad::dtype(ad::kFloat64)));
                       }),
                       "layer 0 (Linear)"));
  EXPECT_EQ(seq.named_parameters()[0].second.impl(), before[0].second.impl());
  EXPECT_TRUE(contains(error_of([&] { seq.functional_call({{"1.weight", w}}, w); }), "no parameter '1.weight'"));
  EXPECT_TRUE(contains(error_of([&] { seq.functional_call({{"0.bias", w}}, w); }), "[3]"));
}

}  // namespace

namespace {

TEST(Module, SetParamTakesTheDottedNamesOfNamedParameters) {
  TwoLayer m;
  const ad::Tensor before = m.fc2->bias();  // a handle taken earlier (like an optimizer's)
  m.set_param("fc2.bias", ad::tensor({0.25, -0.5}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(before.to_vector(), (std::vector<double>{0.25, -0.5}));
  EXPECT_EQ(m.named_parameters()[3].second.to_vector(), (std::vector<double>{0.25, -0.5}));
  EXPECT_THROW(m.set_param("fc3.bias", ad::zeros({2}, ad::dtype(ad::kFloat64))), ad::Error);
  EXPECT_THROW(m.set_param("fc2.bias", ad::zeros({3}, ad::dtype(ad::kFloat64))), ad::Error);
}

}  // namespace
