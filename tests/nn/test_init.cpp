#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "adgraph/nn/init.h"
#include "adgraph/nn/linear.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;
namespace init = ad::nn::init;

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats(const ad::Tensor& t) {
  const auto v = t.to_vector();
  Stats s;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  return s;
}

// A parameter-like tensor: a leaf that requires grad (init must work on it, under NoGradGuard).
ad::Tensor weight(ad::Shape shape, ad::Dtype dt = ad::kFloat64) {
  return ad::zeros(shape, ad::dtype(dt)).requires_grad_();
}

TEST(Init, FanInAndFanOutLikePyTorch) {
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(ad::zeros({30, 20})), (std::pair<std::int64_t, std::int64_t>{20, 30}));
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(ad::zeros({8, 3, 5, 5})),
            (std::pair<std::int64_t, std::int64_t>{75, 200}));
  EXPECT_TRUE(contains(error_of([] { init::calculate_fan_in_and_fan_out(ad::zeros({7})); }), "at least 2 dims"));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::ReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::Sigmoid), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::LeakyReLU, 0.0), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::LeakyReLU, 0.2), std::sqrt(2.0 / 1.04));
}

TEST(Init, ConstantsInPlaceOnAParameter) {
  ad::Tensor w = weight({3, 4});
  const auto v0 = w.version();
  const ad::Tensor r = init::constant_(w, 0.5);
  EXPECT_EQ(r.impl(), w.impl());  // same tensor, returned for chaining
  EXPECT_GT(w.version(), v0);
  for (double x : w.to_vector()) EXPECT_EQ(x, 0.5);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
  init::ones_(w);
  for (double x : w.to_vector()) EXPECT_EQ(x, 1.0);
  init::zeros_(w);
  for (double x : w.to_vector()) EXPECT_EQ(x, 0.0);
  // Works on a module's parameter through its const handle, and the module sees it.
  ad::nn::Linear lin(3, 2, true, ad::kFloat32);
  init::constant_(lin.bias(), -2.0);
  init::zeros_(lin.weight());
  EXPECT_EQ(lin.forward(ad::ones({1, 3})).to_vector(), (std::vector<double>{-2.0, -2.0}));
  EXPECT_TRUE(contains(error_of([] { init::zeros_(ad::index_tensor({1, 2})); }), "Int64"));
}

TEST(Init, UniformAndNormal) {
  ad::Generator gen(1);
  ad::Tensor w = weight({500, 500});
  init::uniform_(w, gen, -2.0, 3.0);
  Stats s = stats(w);
  EXPECT_GE(s.min, -2.0);
  EXPECT_LT(s.max, 3.0);
  EXPECT_NEAR(s.mean, 0.5, 0.02);
  EXPECT_NEAR(s.std, 5.0 / std::sqrt(12.0), 0.01);
  init::normal_(w, gen, 1.0, 0.5);
  s = stats(w);
  EXPECT_NEAR(s.mean, 1.0, 0.005);
  EXPECT_NEAR(s.std, 0.5, 0.005);
  init::normal_(w, gen, 3.0, 0.0);
  EXPECT_EQ(stats(w).max, 3.0);
  EXPECT_EQ(stats(w).min, 3.0);
  EXPECT_TRUE(contains(error_of([&] { init::uniform_(w, gen, 1.0, 0.0); }), "a <= b"));
  EXPECT_TRUE(contains(error_of([&] { init::normal_(w, gen, 0.0, -1.0); }), "std >= 0"));
}

TEST(Init, XavierStatistics) {
  ad::Generator gen(2);
  ad::Tensor w = weight({500, 500});
  init::xavier_uniform_(w, gen);
  const double bound = std::sqrt(6.0 / 1000.0);
  Stats s = stats(w);
  EXPECT_LE(s.max, bound);
  EXPECT_GE(s.min, -bound);
  EXPECT_GT(s.max, 0.99 * bound);
  EXPECT_LT(s.min, -0.99 * bound);
  EXPECT_NEAR(s.std, bound / std::sqrt(3.0), 0.02 * bound / std::sqrt(3.0));
  EXPECT_NEAR(s.mean, 0.0, 0.01 * bound);
  // gain scales the bound; a non-square weight uses fan_in + fan_out
  ad::Tensor r = weight({200, 800});
  init::xavier_uniform_(r, gen, 2.0);
  EXPECT_NEAR(stats(r).std, 2.0 * std::sqrt(6.0 / 1000.0) / std::sqrt(3.0), 0.02 * 2.0 * std::sqrt(2.0 / 1000.0));
  init::xavier_normal_(w, gen);
  s = stats(w);
  EXPECT_NEAR(s.std, std::sqrt(2.0 / 1000.0), 0.02 * std::sqrt(2.0 / 1000.0));
  EXPECT_NEAR(s.mean, 0.0, 0.01 * std::sqrt(2.0 / 1000.0));
}

TEST(Init, KaimingStatistics) {
  ad::Generator gen(3);
  ad::Tensor w = weight({300, 500});  // fan_in 500, fan_out 300
  init::kaiming_normal_(w, gen);
  const double std_in = std::sqrt(2.0 / 500.0);
  Stats s = stats(w);
  EXPECT_NEAR(s.std, std_in, 0.02 * std_in);
  EXPECT_NEAR(s.mean, 0.0, 0.01 * std_in);
  init::kaiming_uniform_(w, gen);
  s = stats(w);
  EXPECT_NEAR(s.std, std_in, 0.02 * std_in);
  EXPECT_LE(s.max, std::sqrt(3.0) * std_in);
  EXPECT_GT(s.max, 0.99 * std::sqrt(3.0) * std_in);
  // fan_out mode and an explicit nonlinearity
  init::kaiming_normal_(w, gen, 0.0, init::FanMode::FanOut, init::Nonlinearity::Tanh);
  const double std_out = (5.0 / 3.0) / std::sqrt(300.0);
  EXPECT_NEAR(stats(w).std, std_out, 0.02 * std_out);
  // Float32 parameters
  ad::Tensor w32 = weight({500, 500}, ad::kFloat32);
  init::kaiming_normal_(w32, gen);
  EXPECT_EQ(w32.dtype(), ad::kFloat32);
  EXPECT_NEAR(stats(w32).std, std::sqrt(2.0 / 500.0), 0.02 * std::sqrt(2.0 / 500.0));
}

TEST(Init, SameSeedReproduces) {
  ad::Generator g1(77), g2(77), g3(78);
  ad::Tensor a = weight({20, 30}), b = weight({20, 30}), c = weight({20, 30});
  init::kaiming_uniform_(a, g1);
  init::kaiming_uniform_(b, g2);
  init::kaiming_uniform_(c, g3);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());
  init::xavier_normal_(a, g1);
  init::xavier_normal_(b, g2);
  EXPECT_EQ(a.to_vector(), b.to_vector());
}

TEST(Init, RecordsNothing) {
  ad::Generator gen(4);
  ad::Tensor w = weight({4, 4});
  init::xavier_uniform_(w, gen);
  EXPECT_TRUE(w.is_leaf());
  EXPECT_EQ(w.grad_fn(), nullptr);
  // The parameter still trains normally afterwards.
  (w * w).sum().backward();
  const auto g = w.grad().to_vector(), v = w.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_DOUBLE_EQ(g[i], 2 * v[i]);
}

}  // namespace
