// batch_norm, layer_norm, group_norm (autodiff/ops/norm.cpp): values by hand, the running
// statistics' update, and errors. Gradients are in the op catalog (test_ops_gradcheck.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::error_of;

Tensor f64(const std::vector<double>& v, const Shape& s) { return ad::tensor(v, s, ad::dtype(ad::kFloat64)); }

void expect_all_near(const Tensor& t, const std::vector<double>& want, double tol = 1e-12) {
  const auto v = t.to_vector();
  ASSERT_EQ(v.size(), want.size());
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], want[i], tol) << "element " << i;
}

TEST(BatchNorm, TrainingNormalizesPerChannelAndUpdatesTheRunningStatistics) {
  // channel 0: 1, 2, 3, 6 (mean 3, biased var 3.5, unbiased 14/3); channel 1: 0, 0, 4, 4 (mean 2, var 4, 16/3)
  const Tensor x = f64({1, 0, 2, 0, 3, 4, 6, 4}, {4, 2});
  Tensor rm = ad::zeros({2}, ad::dtype(ad::kFloat64)), rv = ad::ones({2}, ad::dtype(ad::kFloat64));
  const double eps = 1e-5;
  const Tensor y = ad::batch_norm(x, rm, rv, f64({2, 1}, {2}), f64({0.5, -1}, {2}), true, 0.1, eps);
  const double s0 = std::sqrt(3.5 + eps), s1 = std::sqrt(4 + eps);
  expect_all_near(y, {2 * (1 - 3) / s0 + 0.5, (0 - 2) / s1 - 1, 2 * (2 - 3) / s0 + 0.5, (0 - 2) / s1 - 1,
                      2 * (3 - 3) / s0 + 0.5, (4 - 2) / s1 - 1, 2 * (6 - 3) / s0 + 0.5, (4 - 2) / s1 - 1});
  expect_all_near(rm, {0.1 * 3, 0.1 * 2});
  expect_all_near(rv, {0.9 + 0.1 * 14.0 / 3, 0.9 + 0.1 * 16.0 / 3});
  EXPECT_FALSE(rm.requires_grad());
  // eval: the running statistics, and nothing updated
  const Tensor e = ad::batch_norm(x, rm, rv, {}, {}, false);
  expect_all_near(e.narrow(0, 0, 1),
                  {(1 - 0.3) / std::sqrt(rv.to_vector()[0] + eps), (0 - 0.2) / std::sqrt(rv.to_vector()[1] + eps)});
  expect_all_near(rm, {0.3, 0.2});
}

TEST(BatchNorm, ImagesUseEveryDimButTheChannels) {
  ad::Generator gen(4);
  const Tensor x = ad::randn({3, 2, 4, 5}, ad::dtype(ad::kFloat64), &gen) * 3.0 + 1.0;
  const Tensor y = ad::batch_norm(x, {}, {}, {}, {}, true);
  for (std::int64_t c = 0; c < 2; ++c) {
    const Tensor yc = y.select(1, c);
    EXPECT_NEAR(yc.mean().item(), 0.0, 1e-12);
    EXPECT_NEAR(ad::var(yc, {}, 0).item(), 1.0, 1e-5);
  }
}

TEST(LayerNorm, NormalizesTheLastDimsAndGroupNormWithOneGroupAgrees) {
  ad::Generator gen(5);
  const Tensor x = ad::randn({2, 3, 4}, ad::dtype(ad::kFloat64), &gen) * 2.0 - 1.0;
  const Tensor y = ad::layer_norm(x, {4});
  for (double m : ad::mean(y, {2}).to_vector()) EXPECT_NEAR(m, 0.0, 1e-12);
  for (double v : ad::var(y, {2}, 0).to_vector()) EXPECT_NEAR(v, 1.0, 1e-4);
  // by hand on one row: 1, 2, 3, 6 -> (x - 3) / sqrt(3.5 + eps), then * w + b
  const Tensor r = ad::layer_norm(f64({1, 2, 3, 6}, {1, 4}), {4}, f64({1, 2, 3, 4}, {4}), f64({0, 0, 1, 1}, {4}));
  const double s = std::sqrt(3.5 + 1e-5);
  expect_all_near(r, {-2 / s, 2 * -1 / s, 1.0, 4 * 3 / s + 1});
  // group_norm with one group = layer_norm over (C, H, W); with C groups = per-channel (instance) norm
  const Tensor img = ad::randn({2, 4, 3, 3}, ad::dtype(ad::kFloat64), &gen);
  expect_all_near(ad::group_norm(img, 1), ad::layer_norm(img, {4, 3, 3}).to_vector());
  expect_all_near(ad::group_norm(img, 4), ad::layer_norm(img, {3, 3}).to_vector());
  const Tensor w = ad::randn({4}, ad::dtype(ad::kFloat64), &gen), b = ad::randn({4}, ad::dtype(ad::kFloat64), &gen);
  expect_all_near(
      ad::group_norm(img, 2, w, b),
      (ad::layer_norm(img.reshape({2, 2, 2, 3, 3}), {2, 3, 3}).reshape({2, 4, 3, 3}) * w.reshape({1, 4, 1, 1}) +
       b.reshape({1, 4, 1, 1}))
          .to_vector());
}

TEST(Norm, BadInputNamesTheOpAndTheShapes) {
  const Tensor x = ad::zeros({4, 3}, ad::dtype(ad::kFloat64));
  auto has = [](const std::string& m, const std::string& part) { return m.find(part) != std::string::npos; };
  std::string m = error_of(
      [&] { ad::batch_norm(x, ad::zeros({2}, ad::dtype(ad::kFloat64)), ad::ones({2}, ad::dtype(ad::kFloat64))); });
  EXPECT_TRUE(has(m, "batch_norm: running_mean must be [3]") && has(m, "got [2]")) << m;
  m = error_of([&] { ad::batch_norm(x, {}, {}); });
  EXPECT_TRUE(has(m, "eval mode") && has(m, "training = true")) << m;
  m = error_of([&] { ad::batch_norm(ad::zeros({1, 3}, ad::dtype(ad::kFloat64)), {}, {}, {}, {}, true); });
  EXPECT_TRUE(has(m, "more than one value per channel") && has(m, "[1, 3]")) << m;
  m = error_of([&] { ad::layer_norm(x, {4}); });
  EXPECT_TRUE(has(m, "layer_norm: normalized_shape [4]") && has(m, "[4, 3]")) << m;
  m = error_of([&] { ad::group_norm(x, 2); });
  EXPECT_TRUE(has(m, "group_norm: num_groups = 2 must divide the 3 channels")) << m;
  m = error_of([&] { ad::layer_norm(x, {3}, ad::ones({3})); });
  EXPECT_TRUE(has(m, "weight must be [3] Float64") && has(m, "Float32")) << m;
}

}  // namespace
