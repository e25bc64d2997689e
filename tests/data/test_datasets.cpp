// Toy datasets (moons, circles), the seeded train/test split and standardization.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/datasets.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

std::int64_t count_of(const ad::Tensor& y, double c) {
  const auto v = y.to_vector();
  return std::count(v.begin(), v.end(), c);
}

// ---------------------------------------------------------------- moons

TEST(Moons, ShapesDtypesAndBalance) {
  ad::Generator gen(0);
  for (const std::int64_t n : {2, 7, 100, 201}) {
    const auto [X, y] = ad::data::make_moons(n, 0.1, gen);
    EXPECT_EQ(X.shape(), (ad::Shape{n, 2}));
    EXPECT_EQ(X.dtype(), ad::kFloat64);
    EXPECT_EQ(y.shape(), (ad::Shape{n}));
    EXPECT_EQ(y.dtype(), ad::kInt64);
    EXPECT_EQ(count_of(y, 0), n / 2);
    EXPECT_EQ(count_of(y, 1), n - n / 2);
  }
}

TEST(Moons, NoiselessPointsLieOnTheirArcs) {
  ad::Generator gen(1);
  const auto [X, y] = ad::data::make_moons(60, 0.0, gen);
  for (std::int64_t i = 0; i < 60; ++i) {
    const double x0 = X.at({i, 0}), x1 = X.at({i, 1});
    if (y.at({i}) == 0) {  // upper arc: unit circle around (0, 0), y >= 0
      EXPECT_NEAR(std::hypot(x0, x1), 1.0, 1e-12);
      EXPECT_GE(x1, -1e-12);
    } else {  // lower arc: unit circle around (1, 0.5), y <= 0.5
      EXPECT_NEAR(std::hypot(x0 - 1.0, x1 - 0.5), 1.0, 1e-12);
      EXPECT_LE(x1, 0.5 + 1e-12);
    }
  }
}

TEST(Moons, ShuffledNotSortedByClass) {
  ad::Generator gen(2);
  const auto [X, y] = ad::data::make_moons(100, 0.0, gen);
  const auto v = y.to_vector();
  EXPECT_FALSE(std::is_sorted(v.begin(), v.end()));
}

TEST(Moons, SameSeedSameDataOtherSeedOtherData) {
  ad::Generator g1(7), g2(7), g3(8);
  const auto a = ad::data::make_moons(50, 0.2, g1);
  const auto b = ad::data::make_moons(50, 0.2, g2);
  const auto c = ad::data::make_moons(50, 0.2, g3);
  EXPECT_EQ(a.X.to_vector(), b.X.to_vector());
  EXPECT_EQ(a.y.to_vector(), b.y.to_vector());
  EXPECT_NE(a.X.to_vector(), c.X.to_vector());
  // The generator advances: a second draw differs from the first.
  EXPECT_NE(ad::data::make_moons(50, 0.2, g1).X.to_vector(), a.X.to_vector());
}

TEST(Moons, NoiseSpreadsThePoints) {
  ad::Generator gen(3);
  const auto [X, y] = ad::data::make_moons(400, 0.3, gen);
  double off = 0;  // mean distance from the noiseless arc
  for (std::int64_t i = 0; i < 400; ++i) {
    const double x0 = X.at({i, 0}), x1 = X.at({i, 1});
    const double r = y.at({i}) == 0 ? std::hypot(x0, x1) : std::hypot(x0 - 1.0, x1 - 0.5);
    off += std::abs(r - 1.0);
  }
  EXPECT_GT(off / 400, 0.05);
}

TEST(Moons, BadArguments) {
  ad::Generator gen;
  EXPECT_TRUE(contains(error_of([&] { ad::data::make_moons(1, 0.1, gen); }), "n >= 2"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::make_moons(10, -0.1, gen); }), "noise"));
}

// ---------------------------------------------------------------- circles

TEST(Circles, ShapesBalanceAndRadiiWithoutNoise) {
  ad::Generator gen(0);
  const auto [X, y] = ad::data::make_circles(101, 0.0, 0.4, gen);
  EXPECT_EQ(X.shape(), (ad::Shape{101, 2}));
  EXPECT_EQ(y.shape(), (ad::Shape{101}));
  EXPECT_EQ(y.dtype(), ad::kInt64);
  EXPECT_EQ(count_of(y, 0), 50);
  EXPECT_EQ(count_of(y, 1), 51);
  std::set<long> angles;
  for (std::int64_t i = 0; i < 101; ++i) {
    const double r = std::hypot(X.at({i, 0}), X.at({i, 1}));
    EXPECT_NEAR(r, y.at({i}) == 0 ? 1.0 : 0.4, 1e-12);
    if (y.at({i}) == 0) angles.insert(std::lround(std::atan2(X.at({i, 1}), X.at({i, 0})) * 1e6));
  }
  EXPECT_EQ(angles.size(), 50u);  // evenly spaced, no duplicate point at 0 and 2 pi
}

TEST(Circles, Determinism) {
  ad::Generator g1(11), g2(11), g3(12);
  const auto a = ad::data::make_circles(80, 0.05, 0.5, g1);
  const auto b = ad::data::make_circles(80, 0.05, 0.5, g2);
  const auto c = ad::data::make_circles(80, 0.05, 0.5, g3);
  EXPECT_EQ(a.X.to_vector(), b.X.to_vector());
  EXPECT_EQ(a.y.to_vector(), b.y.to_vector());
  EXPECT_NE(a.X.to_vector(), c.X.to_vector());
}

TEST(Circles, BadFactor) {
  ad::Generator gen;
  for (const double f : {0.0, 1.0, 1.5, -0.2}) {
    const std::string msg = error_of([&] { ad::data::make_circles(10, 0.0, f, gen); });
    EXPECT_TRUE(contains(msg, "factor")) << msg;
  }
}

TEST(FloatLabels, ColumnAndFlat) {
  const ad::Tensor y = ad::index_tensor({0, 1, 1}, {3});
  const ad::Tensor c = ad::data::float_labels(y);
  EXPECT_EQ(c.shape(), (ad::Shape{3, 1}));
  EXPECT_EQ(c.dtype(), ad::kFloat64);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{0, 1, 1}));
  const ad::Tensor f = ad::data::float_labels(y, ad::kFloat32, false);
  EXPECT_EQ(f.shape(), (ad::Shape{3}));
  EXPECT_EQ(f.dtype(), ad::kFloat32);
  EXPECT_FALSE(error_of([&] { ad::data::float_labels(ad::index_tensor({0, 1}, {1, 2})); }).empty());
}

// ---------------------------------------------------------------- train/test split

// X row i is (i, -i): the split can be traced back to sample ids.
ad::Tensor id_rows(std::int64_t n) {
  std::vector<double> v;
  for (std::int64_t i = 0; i < n; ++i) {
    v.push_back(static_cast<double>(i));
    v.push_back(-static_cast<double>(i));
  }
  return ad::tensor(v, {n, 2}, ad::dtype(ad::kFloat64));
}

TEST(Split, SizesDisjointAndCovering) {
  const std::int64_t n = 103;
  const ad::Tensor X = id_rows(n);
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < n; ++i) labels.push_back(i);
  const ad::Tensor y = ad::index_tensor(labels, {n});
  ad::Generator gen(5);
  const ad::data::Split s = ad::data::train_test_split(X, y, 0.25, gen);
  EXPECT_EQ(s.X_test.shape(), (ad::Shape{26, 2}));  // ceil(103 * 0.25)
  EXPECT_EQ(s.X_train.shape(), (ad::Shape{77, 2}));
  EXPECT_EQ(s.y_test.shape(), (ad::Shape{26}));
  EXPECT_EQ(s.y_train.shape(), (ad::Shape{77}));

  std::set<double> train, test;
  for (std::int64_t i = 0; i < 77; ++i) {
    train.insert(s.X_train.at({i, 0}));
    EXPECT_EQ(s.y_train.at({i}), s.X_train.at({i, 0}));  // rows of X and y stay paired
    EXPECT_EQ(s.X_train.at({i, 1}), -s.X_train.at({i, 0}));
  }
  for (std::int64_t i = 0; i < 26; ++i) {
    test.insert(s.X_test.at({i, 0}));
    EXPECT_EQ(s.y_test.at({i}), s.X_test.at({i, 0}));
  }
  EXPECT_EQ(train.size(), 77u);
  EXPECT_EQ(test.size(), 26u);
  for (double v : test) EXPECT_EQ(train.count(v), 0u);
  std::set<double> all = train;
  all.insert(test.begin(), test.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(n));

  // Shuffled: the test set is not just the first or last rows.
  const auto tv = s.y_test.to_vector();
  EXPECT_FALSE(std::is_sorted(tv.begin(), tv.end()));
}

TEST(Split, SeededAndReproducible) {
  const ad::Tensor X = id_rows(40);
  ad::Generator g1(9), g2(9), g3(10);
  const auto a = ad::data::train_test_split(X, {}, 0.5, g1);
  const auto b = ad::data::train_test_split(X, {}, 0.5, g2);
  const auto c = ad::data::train_test_split(X, {}, 0.5, g3);
  EXPECT_EQ(a.X_test.to_vector(), b.X_test.to_vector());
  EXPECT_NE(a.X_test.to_vector(), c.X_test.to_vector());
  EXPECT_FALSE(a.y_train.defined());
}

TEST(Split, Errors) {
  ad::Generator gen;
  const ad::Tensor X = id_rows(10);
  EXPECT_TRUE(contains(error_of([&] { ad::data::train_test_split(X, {}, 0.0, gen); }), "(0, 1)"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::train_test_split(X, {}, 1.0, gen); }), "(0, 1)"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::data::train_test_split(X, ad::index_tensor({0, 1}, {2}), 0.5, gen);
                       }),
                       "10 rows"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::train_test_split(id_rows(1), {}, 0.5, gen); }), "empty"));
}

// ---------------------------------------------------------------- standardize

TEST(Standardize, FitOnTrainApplyToBoth) {
  ad::Tensor train = ad::tensor({1, 10, 7, 2, 20, 7, 3, 30, 7}, {3, 3}, ad::dtype(ad::kFloat64));
  ad::Tensor test = ad::tensor({2, 40, 8}, {1, 3}, ad::dtype(ad::kFloat64));
  const ad::data::Standardizer s = ad::data::standardize(train, test);
  const double sd0 = std::sqrt(2.0 / 3.0), sd1 = std::sqrt(200.0 / 3.0);
  EXPECT_EQ(s.mean.to_vector(), (std::vector<double>{2, 20, 7}));
  EXPECT_NEAR(s.stddev.at({0}), sd0, 1e-12);
  EXPECT_NEAR(s.stddev.at({1}), sd1, 1e-12);
  EXPECT_EQ(s.stddev.at({2}), 1.0);  // constant column: std 1, values map to 0
  // Each training column has mean 0 and (population) std 1, except the constant one.
  for (std::int64_t c = 0; c < 2; ++c) {
    double m = 0, v = 0;
    for (std::int64_t r = 0; r < 3; ++r) m += train.at({r, c}) / 3;
    for (std::int64_t r = 0; r < 3; ++r) v += (train.at({r, c}) - m) * (train.at({r, c}) - m) / 3;
    EXPECT_NEAR(m, 0.0, 1e-12);
    EXPECT_NEAR(v, 1.0, 1e-12);
  }
  EXPECT_EQ(train.at({0, 2}), 0.0);
  // The test set uses the training statistics.
  EXPECT_NEAR(test.at({0, 0}), 0.0, 1e-12);
  EXPECT_NEAR(test.at({0, 1}), 20.0 / sd1, 1e-12);
  EXPECT_NEAR(test.at({0, 2}), 1.0, 1e-12);
  // inverse_transform round-trips.
  const auto back = s.inverse_transform(test).to_vector();
  EXPECT_NEAR(back[1], 40.0, 1e-9);
}

TEST(Standardize, SplitOverloadAndFloat32) {
  ad::Generator gen(4);
  auto [X, y] = ad::data::make_moons(64, 0.1, gen);
  ad::data::Split s = ad::data::train_test_split(X.to(ad::kFloat32), y, 0.25, gen);
  const ad::data::Standardizer sc = ad::data::standardize(s);
  EXPECT_EQ(s.X_train.dtype(), ad::kFloat32);
  EXPECT_EQ(s.X_test.dtype(), ad::kFloat32);
  EXPECT_NEAR(ad::mean(s.X_train, {0}).to_vector()[0], 0.0, 1e-5);
  EXPECT_EQ(sc.mean.shape(), (ad::Shape{2}));
}

TEST(Standardize, Errors) {
  EXPECT_FALSE(error_of([] { ad::data::Standardizer::fit(ad::zeros({3}, ad::dtype(ad::kFloat64))); }).empty());
  const ad::data::Standardizer s = ad::data::Standardizer::fit(ad::ones({2, 3}, ad::dtype(ad::kFloat64)));
  EXPECT_TRUE(contains(error_of([&] { s.transform(ad::ones({2, 4}, ad::dtype(ad::kFloat64))); }), "[rows, 3]"));
}

}  // namespace
