// BatchNorm1d/2d, LayerNorm, GroupNorm and Module buffers: running statistics in training and
// eval, the cumulative average, buffers in named_state() and in save/load, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/nn/nn.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;

TEST(BatchNormLayer, TrainingUpdatesBuffersAndEvalUsesThem) {
  ad::nn::BatchNorm2d bn(2, {}, ad::kFloat64);
  const auto names = bn.named_state();
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[0].first, "weight");
  EXPECT_EQ(names[2].first, "running_mean");
  EXPECT_EQ(names[4].first, "num_batches_tracked");
  EXPECT_EQ(bn.parameters().size(), 2u);  // buffers are not trained
  ad::Generator gen(2);
  const Tensor x = ad::randn({4, 2, 3, 3}, ad::dtype(ad::kFloat64), &gen) * 2.0 + 3.0;
  const Tensor y = bn(x);
  const Tensor mean = ad::mean(x, {0, 2, 3}), var = ad::var(x, {0, 2, 3}, 1);
  for (std::int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(bn.buffer("running_mean").to_vector()[static_cast<std::size_t>(c)], 0.1 * mean.to_vector()[c], 1e-12);
    EXPECT_NEAR(bn.buffer("running_var").to_vector()[static_cast<std::size_t>(c)], 0.9 + 0.1 * var.to_vector()[c],
                1e-12);
  }
  EXPECT_EQ(bn.buffer("num_batches_tracked").item<std::int64_t>(), 1);
  EXPECT_EQ(y.to_vector(), ad::batch_norm(x, {}, {}, bn.weight(), bn.bias(), true).to_vector());
  bn.eval();
  const Tensor e = bn(x);
  EXPECT_EQ(e.to_vector(),
            ad::batch_norm(x, bn.buffer("running_mean"), bn.buffer("running_var"), bn.weight(), bn.bias(), false)
                .to_vector());
  EXPECT_EQ(bn.buffer("num_batches_tracked").item<std::int64_t>(), 1);  // eval updates nothing
  // a failed call changes nothing
  bn.train();
  EXPECT_TRUE(contains(error_of([&] { bn(ad::zeros({2, 2, 3}, ad::dtype(ad::kFloat64))); }), "[N, C, H, W]"));
  EXPECT_TRUE(contains(error_of([&] {
                         bn(ad::zeros({1, 2, 1, 1}, ad::dtype(ad::kFloat64)));
                       }),
                       "more than one value per channel"));
  EXPECT_EQ(bn.buffer("num_batches_tracked").item<std::int64_t>(), 1);
}

TEST(BatchNormLayer, WithoutMomentumTheRunningMeanIsTheCumulativeAverage) {
  ad::nn::BatchNorm1d bn(3, {.momentum = std::nullopt}, ad::kFloat64);
  ad::Generator gen(3);
  std::vector<double> sum(3, 0.0);
  for (int b = 0; b < 4; ++b) {
    const Tensor x = ad::randn({5, 3}, ad::dtype(ad::kFloat64), &gen) + static_cast<double>(b);
    bn(x);
    const auto m = ad::mean(x, {0}).to_vector();
    for (std::size_t c = 0; c < 3; ++c) sum[c] += m[c];
  }
  const auto rm = bn.buffer("running_mean").to_vector();
  for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR(rm[c], sum[c] / 4, 1e-12);
  EXPECT_EQ(bn.buffer("num_batches_tracked").item<std::int64_t>(), 4);
  EXPECT_EQ(bn(ad::zeros({2, 3, 7}, ad::dtype(ad::kFloat64))).shape(), (Shape{2, 3, 7}));  // [N, C, L]
}

TEST(BatchNormLayer, BuffersAreSavedAndLoadedWithTheParameters) {
  auto make = [] {
    return std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
        std::make_shared<ad::nn::Linear>(3, 4, true, ad::kFloat64),
        std::make_shared<ad::nn::BatchNorm1d>(4, ad::nn::BatchNormOptions{}, ad::kFloat64)});
  };
  auto a = make(), b = make();
  ad::Generator gen(4);
  for (int i = 0; i < 3; ++i) (*a)(ad::randn({6, 3}, ad::dtype(ad::kFloat64), &gen));
  const auto buffers = a->named_buffers();
  ASSERT_EQ(buffers.size(), 3u);
  EXPECT_EQ(buffers[0].first, "1.running_mean");
  const std::string path = ::testing::TempDir() + "bn_state.safetensors";
  ad::nn::save(*a, path);
  ad::nn::load(*b, path);
  for (std::size_t i = 0; i < a->named_state().size(); ++i)
    EXPECT_EQ(a->named_state()[i].second.to_vector(), b->named_state()[i].second.to_vector())
        << a->named_state()[i].first;
  EXPECT_EQ(b->named_buffers()[2].second.item<std::int64_t>(), 3);
  std::remove(path.c_str());
}

TEST(ModuleBuffers, RegistrationRules) {
  struct WithBuffer : ad::nn::Module {
    WithBuffer() {
      register_buffer("steps", ad::zeros({}, ad::dtype(ad::kInt64)));
      register_parameter("w", ad::zeros({2}));
    }
    void add(const std::string& n, const Tensor& t) { register_buffer(n, t); }
  };
  WithBuffer m;
  EXPECT_TRUE(m.has_buffer("steps"));
  EXPECT_EQ(m.buffers().size(), 1u);
  EXPECT_TRUE(contains(error_of([&] { m.add("steps", ad::zeros({1})); }), "already a buffer"));
  EXPECT_TRUE(contains(error_of([&] { m.add("w", ad::zeros({1})); }), "already a parameter"));
  EXPECT_TRUE(contains(error_of([&] { m.add("g", ad::zeros({1}).requires_grad_()); }), "requires grad"));
  EXPECT_TRUE(contains(error_of([&] { m.buffer("nope"); }), "has no buffer named 'nope' (it has: steps)"));
}

TEST(LayerAndGroupNormLayers, ParametersAndForward) {
  ad::nn::LayerNorm ln({3, 4}, 1e-5, true, ad::kFloat64);
  EXPECT_EQ(ln.parameters()[0].shape(), (Shape{3, 4}));
  ad::Generator gen(6);
  const Tensor x = ad::randn({2, 3, 4}, ad::dtype(ad::kFloat64), &gen);
  EXPECT_EQ(ln(x).to_vector(), ad::layer_norm(x, {3, 4}).to_vector());  // weight ones, bias zeros
  EXPECT_EQ(ad::nn::LayerNorm({4}, 1e-5, false).parameters().size(), 0u);
  ad::nn::GroupNorm gn(2, 6, 1e-5, true, ad::kFloat64);
  const Tensor img = ad::randn({2, 6, 2, 2}, ad::dtype(ad::kFloat64), &gen);
  EXPECT_EQ(gn(img).to_vector(), ad::group_norm(img, 2).to_vector());
  EXPECT_TRUE(contains(error_of([] { ad::nn::GroupNorm(4, 6); }), "must be positive and divide num_channels = 6"));
  EXPECT_EQ(gn.extra_repr(), "2, eps=1e-05, affine=true");
}

}  // namespace
