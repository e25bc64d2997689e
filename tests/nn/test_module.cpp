#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <utility>

#include "adgraph/nn/activation.h"
#include "adgraph/nn/conv.h"
#include "adgraph/nn/dropout.h"
#include "adgraph/nn/embedding.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/normalization.h"
#include "adgraph/nn/pooling.h"
#include "adgraph/nn/sequential.h"
#include "adgraph/optim/sgd.h"
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

// Every layer with parameters or buffers, chained: Conv2d, BatchNorm2d (running statistics and
// an Int64 counter), MaxPool2d, ConvTranspose2d, GroupNorm, Conv1d, LayerNorm, Linear, and an
// Embedding whose rows are added to the features.
struct Zoo : ad::nn::Module {
  explicit Zoo(ad::Generator* gen) {
    conv = register_module(
        "conv", std::make_shared<ad::nn::Conv2d>(1, 4, ad::Size2{3, 3}, ad::Conv2dOptions{.padding = {1, 1}}, true,
                                                 ad::kFloat32, gen));
    bn = register_module("bn", std::make_shared<ad::nn::BatchNorm2d>(4));
    up = register_module(
        "up", std::make_shared<ad::nn::ConvTranspose2d>(
                  4, 2, ad::Size2{2, 2}, ad::ConvTranspose2dOptions{.stride = {2, 2}}, true, ad::kFloat32, gen));
    gn = register_module("gn", std::make_shared<ad::nn::GroupNorm>(1, 2));
    conv1 = register_module("conv1",
                            std::make_shared<ad::nn::Conv1d>(2, 3, 3, ad::Conv1dOptions{}, true, ad::kFloat32, gen));
    ln = register_module("ln", std::make_shared<ad::nn::LayerNorm>(ad::Shape{42}));
    emb = register_module("emb",
                          std::make_shared<ad::nn::Embedding>(5, 42, ad::nn::EmbeddingOptions{}, ad::kFloat32, gen));
    fc = register_module("fc", std::make_shared<ad::nn::Linear>(42, 3, true, ad::kFloat32, gen));
  }
  // x [N, 1, 4, 4]; the sample i also looks up embedding row i % 5.
  ad::Tensor forward(const ad::Tensor& x) override {
    const std::int64_t n = x.size(0);
    ad::Tensor h = ad::max_pool2d(ad::relu((*bn)((*conv)(x))), {2, 2});  // [N, 4, 2, 2]
    h = (*gn)((*up)(h)).reshape({n, 2, 16});                             // [N, 2, 16]
    h = (*conv1)(h).reshape({n, 42});                                    // [N, 3, 14]
    std::vector<std::int64_t> ids;
    for (std::int64_t i = 0; i < n; ++i) ids.push_back(i % 5);
    h = (*ln)(h) + (*emb)(ad::index_tensor(ids));
    return (*fc)(ad::tanh(h));
  }
  std::shared_ptr<ad::nn::Conv2d> conv;
  std::shared_ptr<ad::nn::BatchNorm2d> bn;
  std::shared_ptr<ad::nn::ConvTranspose2d> up;
  std::shared_ptr<ad::nn::GroupNorm> gn;
  std::shared_ptr<ad::nn::Conv1d> conv1;
  std::shared_ptr<ad::nn::LayerNorm> ln;
  std::shared_ptr<ad::nn::Embedding> emb;
  std::shared_ptr<ad::nn::Linear> fc;
};

// A Float32 model converted to Float64 computes what it computed (to float precision), in both
// modes, reports the new dtype on every parameter and floating buffer (the Int64 counter kept),
// and trains: BatchNorm's running statistics update in Float64, and an optimizer built after
// to() takes a step that lowers the loss.
TEST(ModuleTo, Float64ModelGivesTheFloat32OutputAndTrains) {
  ad::Generator gen(7);
  Zoo m(&gen);
  const ad::Tensor x = ad::randn({6, 1, 4, 4}, {}, &gen);
  const ad::Tensor target = ad::randn({6, 3}, {}, &gen);
  (void)m(x);  // one training forward: running statistics away from 0 and 1, the counter at 1
  const ad::Tensor train32 = m(x);
  m.eval();
  const ad::Tensor eval32 = m(x);
  m.train();
  const std::vector<ad::Tensor> old_params = m.parameters();
  const std::int64_t count = m.bn->buffer("num_batches_tracked").item<std::int64_t>();
  const std::vector<double> running_mean = m.bn->buffer("running_mean").to_vector();

  m.to(ad::kFloat64);
  for (const auto& [name, p] : m.named_parameters()) {
    EXPECT_EQ(p.dtype(), ad::kFloat64) << name;
    EXPECT_TRUE(p.requires_grad()) << name;
    EXPECT_TRUE(p.is_leaf()) << name;
  }
  for (const auto& [name, b] : m.named_buffers())
    EXPECT_EQ(b.dtype(), name == "bn.num_batches_tracked" ? ad::kInt64 : ad::kFloat64) << name;
  EXPECT_EQ(m.bn->buffer("num_batches_tracked").item<std::int64_t>(), count);
  EXPECT_EQ(m.bn->buffer("running_mean").to_vector(), running_mean);  // Float32 -> Float64 is exact
  // The handles taken before are the old tensors: the module no longer uses them.
  for (std::size_t i = 0; i < old_params.size(); ++i) {
    EXPECT_EQ(old_params[i].dtype(), ad::kFloat32);
    EXPECT_NE(old_params[i].impl(), m.parameters()[i].impl());
    EXPECT_EQ(old_params[i].to_vector(), m.parameters()[i].to_vector());
  }
  std::int64_t old_count = 0;
  for (const auto& p : old_params) old_count += p.numel();
  EXPECT_EQ(m.num_parameters(), old_count);

  const ad::Tensor x64 = x.to(ad::kFloat64);
  m.eval();
  const ad::Tensor eval64 = m(x64);
  m.train();
  const ad::Tensor train64 = m(x64);  // also the counter's second update, in Int64
  EXPECT_EQ(eval64.dtype(), ad::kFloat64);
  const std::vector<double> a = eval32.to_vector(), b = eval64.to_vector(), c = train32.to_vector(),
                            d = train64.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 2e-5 * (1 + std::abs(b[i]))) << i;
    EXPECT_NEAR(c[i], d[i], 2e-5 * (1 + std::abs(d[i]))) << i;
  }
  EXPECT_EQ(m.bn->buffer("num_batches_tracked").item<std::int64_t>(), count + 1);
  EXPECT_EQ(m.bn->buffer("running_mean").dtype(), ad::kFloat64);
  EXPECT_NE(m.bn->buffer("running_mean").to_vector(), running_mean);  // updated in Float64

  ad::optim::SGD opt(m.parameters(), {.lr = 0.05});
  const ad::Tensor t64 = target.to(ad::kFloat64);
  opt.zero_grad();
  const ad::Tensor loss = ad::nn::mse_loss(m(x64), t64);
  loss.backward();
  for (const auto& [name, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), ad::kFloat64) << name;
  }
  opt.step();
  m.eval();
  const double before = ad::nn::mse_loss(eval64, t64).item();
  const double after = ad::nn::mse_loss(m(x64), t64).item();
  EXPECT_LT(after, before);
  // The step reached the new parameters (all but conv.bias, which BatchNorm's mean cancels).
  for (std::size_t i = 0; i < old_params.size(); ++i) {
    const ad::Tensor p = m.parameters()[i];
    if (ad::amax(ad::abs(p.grad())).item() > 1e-9) {  // conv.bias: ~1e-17, rounding
      EXPECT_NE(old_params[i].to(ad::kFloat64).to_vector(), p.to_vector()) << i;
    }
  }

  // And back: Float64 -> Float32 rounds, and the model still runs in Float32.
  m.to(ad::kFloat32);
  for (const auto& p : m.parameters()) EXPECT_EQ(p.dtype(), ad::kFloat32);
  EXPECT_EQ(m(x).dtype(), ad::kFloat32);
}

// PyTorch converts .grad along with the parameter; a frozen parameter stays frozen; tensors
// registered as the same tensor (tied weights) stay tied; the current dtype is a no-op.
TEST(ModuleTo, ConvertsGradientsKeepsFrozenAndTiedAndTheCurrentDtype) {
  struct Tied : ad::nn::Module {
    Tied() {
      const ad::Tensor w = ad::tensor({0.5, -1.5, 2.25, 3.0}, {2, 2}, {});
      register_parameter("w1", w);  // the same tensor twice: two handles over one storage
      register_parameter("w2", w);
      register_parameter("other", ad::ones({2}));
      register_buffer("scale", ad::full({}, 0.1));
      register_buffer("steps", ad::index_tensor({3}, {}));
      register_buffer("mask", ad::tensor({1, 0}, ad::dtype(ad::kBool)));
      frozen = register_module("frozen", ad::nn::Embedding::from_pretrained(ad::ones({3, 2})));
    }
    std::shared_ptr<ad::nn::Embedding> frozen;
  } m;
  (m.param("w1") * 3.0).sum().backward();
  const std::vector<double> w1_grad = m.param("w1").grad().to_vector();

  // The current dtype: nothing changes, every handle stays the module's.
  const std::vector<ad::Tensor> before = m.parameters();
  const std::vector<ad::Tensor> buffers_before = m.buffers();
  m.to(ad::kFloat32);
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(m.parameters()[i].impl(), before[i].impl());
  for (std::size_t i = 0; i < buffers_before.size(); ++i) EXPECT_EQ(m.buffers()[i].impl(), buffers_before[i].impl());

  m.to(ad::kFloat64);
  const ad::Tensor g = m.param("w1").grad();
  ASSERT_TRUE(g.defined());
  EXPECT_EQ(g.dtype(), ad::kFloat64);
  EXPECT_EQ(g.to_vector(), w1_grad);
  EXPECT_FALSE(m.param("w2").grad().defined());                             // a parameter without .grad stays without
  EXPECT_EQ(m.param("w1").impl()->storage, m.param("w2").impl()->storage);  // still tied...
  EXPECT_NE(m.param("w1").impl(), m.param("w2").impl());                    // ...as two handles
  m.set_param("w2", ad::zeros({2, 2}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(m.param("w1").to_vector(), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_NE(m.param("other").impl()->storage, m.param("w1").impl()->storage);
  EXPECT_FALSE(m.frozen->weight().requires_grad());
  EXPECT_EQ(m.frozen->weight().dtype(), ad::kFloat64);
  EXPECT_EQ(m.buffer("scale").dtype(), ad::kFloat64);
  EXPECT_DOUBLE_EQ(m.buffer("scale").item(), static_cast<double>(0.1f));
  EXPECT_EQ(m.buffer("steps").dtype(), ad::kInt64);
  EXPECT_EQ(m.buffer("steps").impl(), buffers_before[1].impl());  // kept as it was
  EXPECT_EQ(m.buffer("mask").impl(), buffers_before[2].impl());
}

TEST(ModuleTo, RefusesANonFloatingDtype) {
  TwoLayer m;
  const std::vector<ad::Tensor> before = m.parameters();
  for (ad::Dtype d : {ad::kInt64, ad::kBool}) {
    const std::string msg = error_of([&] { m.to(d); });
    EXPECT_TRUE(contains(
        msg, "Module::to: TwoLayer can only be converted to a floating dtype, got " + std::string(ad::dtype_name(d))))
        << msg;
    EXPECT_TRUE(contains(msg, "ad::kFloat32 or ad::kFloat64")) << msg;
  }
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(m.parameters()[i].impl(), before[i].impl());
}

}  // namespace
