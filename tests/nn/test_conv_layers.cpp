// Conv1d, Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and Flatten: parameters, PyTorch's
// initialisation bounds, forward through the ad:: ops, errors, and a small CNN that learns.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "adgraph/nn/nn.h"
#include "adgraph/optim/adam.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;

TEST(Conv2dLayer, ParametersInitialisationAndForward) {
  ad::Generator gen(3);
  ad::nn::Conv2d conv(4, 6, {3, 2}, {.stride = {2, 1}, .padding = {1, 0}, .groups = 2}, true, ad::kFloat64, &gen);
  const auto named = conv.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(conv.weight().shape(), (Shape{6, 2, 3, 2}));
  EXPECT_EQ(conv.bias().shape(), (Shape{6}));
  const double bound = 1.0 / std::sqrt(2.0 * 3 * 2);  // fan_in = in / groups * kH * kW
  for (const Tensor& p : conv.parameters())
    for (double v : p.to_vector()) EXPECT_LE(std::abs(v), bound);
  const Tensor x = ad::randn({2, 4, 5, 4}, ad::dtype(ad::kFloat64), &gen);
  const Tensor y = conv(x);
  EXPECT_EQ(y.to_vector(), ad::conv2d(x, conv.weight(), conv.bias(), conv.options()).to_vector());
  EXPECT_EQ(y.shape(), (Shape{2, 6, 3, 3}));
  EXPECT_TRUE(contains(conv.extra_repr(), "in_channels=4, out_channels=6, kernel_size=[3, 2], stride=(2, 1)"))
      << conv.extra_repr();
  ad::nn::Conv2d no_bias(1, 2, {3, 3}, {.same = true}, false);
  EXPECT_EQ(no_bias.parameters().size(), 1u);
  EXPECT_EQ(no_bias(ad::zeros({1, 1, 7, 5})).shape(), (Shape{1, 2, 7, 5}));
}

TEST(Conv1dLayer, ShapesAndErrors) {
  ad::nn::Conv1d conv(3, 4, 5, {.padding = 2});
  EXPECT_EQ(conv.weight().shape(), (Shape{4, 3, 5}));
  EXPECT_EQ(conv(ad::zeros({2, 3, 10})).shape(), (Shape{2, 4, 10}));
  const std::string m = error_of([&] { conv(ad::zeros({2, 2, 10})); });
  EXPECT_TRUE(contains(m, "conv1d") || contains(m, "conv2d")) << m;
  EXPECT_TRUE(contains(error_of([] { ad::nn::Conv1d(3, 4, 5, {.groups = 2}); }), "groups = 2 must divide in=3"));
  EXPECT_TRUE(contains(error_of([] { ad::nn::Conv2d(3, 4, {0, 3}); }), "sizes must be positive"));
}

TEST(PoolingLayers, ForwardThroughTheOpsAndFlatten) {
  const Tensor x = ad::arange(0, 32, 1).reshape({1, 2, 4, 4});
  EXPECT_EQ(ad::nn::MaxPool2d({2, 2})(x).to_vector(), ad::max_pool2d(x, {2, 2}).to_vector());
  EXPECT_EQ(ad::nn::AvgPool2d({2, 2}, {.stride = {1, 1}})(x).shape(), (Shape{1, 2, 3, 3}));
  EXPECT_EQ(ad::nn::AdaptiveAvgPool2d({1, 1})(x).to_vector(), (std::vector<double>{7.5, 23.5}));
  EXPECT_EQ(ad::nn::Flatten()(x).shape(), (Shape{1, 32}));
  EXPECT_EQ(ad::nn::Flatten(0, 1)(x).shape(), (Shape{2, 4, 4}));
  EXPECT_EQ(ad::nn::Flatten(2)(x).shape(), (Shape{1, 2, 16}));
  EXPECT_TRUE(contains(error_of([&] { ad::nn::Flatten(3, 1)(x); }), "do not fit an input of shape [1, 2, 4, 4]"));
  EXPECT_EQ(ad::nn::MaxPool2d({3, 3}, {.padding = {1, 1}}).extra_repr(),
            "kernel_size=(3, 3), stride=(3, 3), padding=(1, 1)");
}

// Vertical against horizontal bars on 6x6 images, at random positions with noise: a
// Conv-ReLU-MaxPool-Flatten-Linear net separates them after a few dozen Adam steps, and the
// gradient reaches every parameter.
TEST(SmallCnn, LearnsBarOrientation) {
  ad::Generator gen(5);
  const std::int64_t n = 64;
  std::vector<double> images(static_cast<std::size_t>(n * 36)), labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const bool vertical = i % 2 == 0;
    const auto pos = static_cast<std::int64_t>(gen.uniform(0.0, 6.0));
    for (std::int64_t r = 0; r < 6; ++r)
      for (std::int64_t c = 0; c < 6; ++c)
        images[static_cast<std::size_t>(i * 36 + r * 6 + c)] =
            ((vertical ? c : r) == pos ? 1.0 : 0.0) + gen.uniform(-0.2, 0.2);
    labels[static_cast<std::size_t>(i)] = vertical ? 1.0 : 0.0;
  }
  const Tensor x = ad::tensor(images, {n, 1, 6, 6}, {});
  const Tensor y = ad::tensor(labels, {n}, {}).to(ad::kInt64);
  ad::nn::Sequential net{std::make_shared<ad::nn::Conv2d>(1, 4, ad::Size2{3, 3}, ad::Conv2dOptions{.padding = {1, 1}},
                                                          true, ad::kFloat32, &gen),
                         std::make_shared<ad::nn::ReLU>(), std::make_shared<ad::nn::MaxPool2d>(ad::Size2{2, 2}),
                         std::make_shared<ad::nn::Flatten>(),
                         std::make_shared<ad::nn::Linear>(4 * 3 * 3, 2, true, ad::kFloat32, &gen)};
  ad::optim::Adam opt(net.parameters(), {.lr = 0.05});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    const Tensor loss = ad::nn::cross_entropy(net(x), y);
    loss.backward();
    if (step == 0) {
      first = loss.item();
      for (const Tensor& p : net.parameters()) EXPECT_GT(ad::abs(p.grad()).sum().item(), 0.0);
    }
    last = loss.item();
    opt.step();
  }
  EXPECT_LT(last, 0.1 * first) << "first " << first << " last " << last;
  const Tensor pred = ad::argmax(net(x), 1);
  EXPECT_EQ(ad::eq(pred, y).to(ad::kFloat32).mean().item(), 1.0);
}

}  // namespace
