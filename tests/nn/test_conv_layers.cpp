// Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and Flatten: parameters, PyTorch's
// initialisation bounds, forward through the ad:: ops, errors, and a small CNN that learns.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
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

// PyTorch's layout [in, out / groups, kH, kW] and its fan_in for it, out / groups * kH * kW: with
// in = 6 > out = 2 the bound 1/sqrt(2 * 9) is larger than a Conv2d-style 1/sqrt(6 * 9), and the
// weights reach past the latter.
TEST(ConvTranspose2dLayer, PyTorchsLayoutAndInitialisation) {
  ad::Generator gen(11);
  ad::nn::ConvTranspose2d up(6, 2, {3, 3}, {.stride = {2, 2}}, true, ad::kFloat64, &gen);
  EXPECT_EQ(up.weight().shape(), (Shape{6, 2, 3, 3}));
  EXPECT_EQ(up.bias().shape(), (Shape{2}));
  EXPECT_EQ(up.in_channels(), 6);
  EXPECT_EQ(up.out_channels(), 2);
  const double bound = 1.0 / std::sqrt(2.0 * 9), conv_bound = 1.0 / std::sqrt(6.0 * 9);
  double max_abs = 0;
  for (double v : up.weight().to_vector()) max_abs = std::max(max_abs, std::abs(v));
  EXPECT_LE(max_abs, bound);
  EXPECT_GT(max_abs, conv_bound);
  for (double v : up.bias().to_vector()) EXPECT_LE(std::abs(v), bound);
  ad::nn::ConvTranspose2d grouped(4, 6, {2, 2}, {.groups = 2}, false);
  EXPECT_EQ(grouped.weight().shape(), (Shape{4, 3, 2, 2}));
  EXPECT_EQ(grouped.out_channels(), 6);
  EXPECT_EQ(grouped.parameters().size(), 1u);
  EXPECT_FALSE(grouped.bias().defined());
  EXPECT_EQ(grouped.extra_repr(),
            "in_channels=4, out_channels=6, kernel_size=[2, 2], stride=(1, 1), padding=(0, 0), "
            "output_padding=(0, 0), dilation=(1, 1), groups=2, bias=false");
}

// Each input pixel paints the kernel, scaled by its value, at stride steps; the bias is added
// everywhere. Two pixels 1 and 2 through a 2x2 kernel at stride 2 tile a 2x4 output.
TEST(ConvTranspose2dLayer, HandComputedValues) {
  ad::nn::ConvTranspose2d up(1, 1, {2, 2}, {.stride = {2, 2}}, true, ad::kFloat64);
  up.set_param("weight", ad::tensor({1.0, 10.0, 100.0, 1000.0}, {1, 1, 2, 2}, ad::dtype(ad::kFloat64)));
  up.set_param("bias", ad::tensor({0.5}, {1}, ad::dtype(ad::kFloat64)));
  const Tensor y = up(ad::tensor({1.0, 2.0}, {1, 1, 1, 2}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 4}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1.5, 10.5, 2.5, 20.5, 100.5, 1000.5, 200.5, 2000.5}));
  // Unbatched input, and the same values as the op.
  const Tensor x = ad::randn({1, 3, 2}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(up(x).shape(), (Shape{1, 6, 4}));
  EXPECT_EQ(up(x).to_vector(), ad::conv_transpose2d(x, up.weight(), up.bias(), up.options()).to_vector());
}

// H_out = (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1, per dim, over
// strides, paddings, output paddings, dilations and groups; and a Conv2d with the same options
// maps that size back to H (the transposed layer is its adjoint).
TEST(ConvTranspose2dLayer, OutputShapeFollowsPyTorchsFormula) {
  struct Case {
    ad::Size2 kernel;
    ad::ConvTranspose2dOptions opt;
    std::int64_t h, w;
  };
  const std::vector<Case> cases = {
      {{3, 3}, {}, 5, 4},
      {{3, 3}, {.stride = {2, 2}}, 4, 4},
      {{3, 2}, {.stride = {2, 3}, .padding = {1, 0}, .output_padding = {1, 2}}, 3, 5},
      {{2, 3}, {.stride = {1, 2}, .padding = {0, 1}, .dilation = {2, 3}, .groups = 2}, 4, 3},
      {{4, 4}, {.stride = {2, 2}, .padding = {1, 1}}, 7, 7},  // the DCGAN upsampling: 2x
      {{1, 1}, {.stride = {3, 3}, .output_padding = {2, 0}}, 2, 2},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(ad::shape_str({c.kernel[0], c.kernel[1], c.opt.stride[0], c.opt.stride[1], c.opt.padding[0],
                                c.opt.padding[1], c.opt.output_padding[0], c.opt.output_padding[1]}));
    ad::nn::ConvTranspose2d up(4, 6, c.kernel, c.opt);
    std::int64_t expect[2];
    const std::int64_t in[2] = {c.h, c.w};
    for (int d = 0; d < 2; ++d)
      expect[d] = (in[d] - 1) * c.opt.stride[d] - 2 * c.opt.padding[d] + c.opt.dilation[d] * (c.kernel[d] - 1) +
                  c.opt.output_padding[d] + 1;
    const Tensor y = up(ad::zeros({2, 4, c.h, c.w}));
    EXPECT_EQ(y.shape(), (Shape{2, 6, expect[0], expect[1]}));
    EXPECT_EQ(up.output_size({c.h, c.w}), (ad::Size2{expect[0], expect[1]}));
    ad::nn::Conv2d down(
        6, 4, c.kernel,
        {.stride = c.opt.stride, .padding = c.opt.padding, .dilation = c.opt.dilation, .groups = c.opt.groups});
    EXPECT_EQ(down(y).shape(), (Shape{2, 4, c.h, c.w}));
  }
  // forward(x, output_size) picks the output padding: a stride-2 Conv2d maps 7 and 8 to 4, so the
  // transposed layer reaches both from 4, and nothing else.
  ad::nn::ConvTranspose2d up(2, 2, {3, 3}, {.stride = {2, 2}, .padding = {1, 1}});
  const Tensor x = ad::randn({1, 2, 4, 4});
  EXPECT_EQ(up(x).shape(), (Shape{1, 2, 7, 7}));
  EXPECT_EQ(up.forward(x, {8, 7}).shape(), (Shape{1, 2, 8, 7}));
  ad::nn::ConvTranspose2d padded(2, 2, {3, 3}, {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 0}});
  padded.set_param("weight", up.weight());
  padded.set_param("bias", up.bias());
  EXPECT_EQ(up.forward(x, {8, 7}).to_vector(), padded(x).to_vector());
  EXPECT_TRUE(contains(error_of([&] { up.forward(x, {9, 7}); }), "dim 0 must be in [7, 8]"));
}

// The layer's gradient w.r.t. its input and parameters, by central differences in float64, with
// every option away from its default.
TEST(ConvTranspose2dLayer, GradcheckInFloat64) {
  ad::Generator gen(9);
  ad::nn::ConvTranspose2d up(
      2, 4, {2, 3}, {.stride = {2, 1}, .padding = {1, 0}, .output_padding = {1, 0}, .dilation = {1, 2}, .groups = 2},
      true, ad::kFloat64, &gen);
  const auto named = up.named_parameters();
  std::vector<Tensor> inputs{ad::randn({1, 2, 3, 3}, ad::dtype(ad::kFloat64), &gen).requires_grad_()};
  for (const auto& [n, t] : named) inputs.push_back(t);
  ASSERT_EQ(up(inputs[0]).shape(), (Shape{1, 4, 5, 7}));
  const auto r = ad::gradcheck(
      [&](const std::vector<Tensor>& v) {
        std::vector<std::pair<std::string, Tensor>> params;
        for (std::size_t i = 0; i < named.size(); ++i) params.emplace_back(named[i].first, v[i + 1]);
        return up.functional_call(params, v[0]);
      },
      inputs);
  EXPECT_TRUE(r.ok) << r.report;
  // The engine's gradients reach the registered parameters too.
  up(inputs[0]).sum().backward();
  for (const Tensor& p : up.parameters()) EXPECT_GT(ad::abs(p.grad()).sum().item(), 0.0);
}

TEST(ConvTranspose2dLayer, ErrorsNameTheLayer) {
  auto expect_error = [](auto&& f, const char* part) {
    const std::string m = error_of(f);
    EXPECT_TRUE(contains(m, "ConvTranspose2d")) << m;
    EXPECT_TRUE(contains(m, part)) << m;
  };
  expect_error(
      [] {
        ad::nn::ConvTranspose2d(2, 2, {3, 3}, {.stride = {2, 2}, .output_padding = {2, 0}});
      },
      "output_padding (2, 0) must be smaller than the stride (2, 2)");
  expect_error([] { ad::nn::ConvTranspose2d(3, 4, {3, 3}, {.groups = 2}); }, "groups = 2 must divide in=3");
  expect_error([] { ad::nn::ConvTranspose2d(3, 4, {3, 0}); }, "sizes must be positive");
  expect_error([] { ad::nn::ConvTranspose2d(3, 4, {3, 3}, {.stride = {0, 1}}); }, "stride (0, 1) must be >= 1");
  expect_error([] { ad::nn::ConvTranspose2d(3, 4, {3, 3}, {}, true, ad::kInt64); }, "floating dtype");
  ad::nn::ConvTranspose2d up(3, 4, {3, 3});
  expect_error([&] { up(ad::zeros({1, 2, 5, 5})); }, "has 2 channels, the layer's in_channels is 3");
  expect_error([&] { up(ad::zeros({5, 5})); }, "[N, C, H, W] or [C, H, W]");
  expect_error([&] { up(ad::zeros({1, 3, 5, 5}, ad::dtype(ad::kFloat64))); }, "the input is Float64");
  ad::nn::ConvTranspose2d shrink(1, 1, {1, 1}, {.padding = {1, 1}});
  expect_error([&] { shrink(ad::zeros({1, 1, 2, 2})); }, "empty");
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
