#pragma once
// Toy 2-D classification datasets (like scikit-learn's make_moons / make_circles), a seeded
// train/test split and feature standardization.
//
//   ad::Generator gen(0);
//   auto [X, y] = ad::data::make_moons(200, 0.1, gen);            // X Float64 [200, 2], y Int64 [200]
//   ad::data::Split s = ad::data::train_test_split(X, y, 0.25, gen);  // 150 train, 50 test rows
//   ad::data::Standardizer sc = ad::data::standardize(s);             // fit on s.X_train, applied to both
#include <cstdint>

#include "adgraph/autodiff/random.h"
#include "adgraph/autodiff/tensor.h"
#include "adgraph/data/csv.h"  // ad::data::Dataset

namespace ad::data {

// Two interleaving half circles: class 0 is the upper arc (cos t, sin t), class 1 the lower arc
// (1 - cos t, 0.5 - sin t), t in [0, pi]; n / 2 samples of class 0 (rounded down), the rest
// class 1. The rows are shuffled, then Gaussian noise with std `noise` is added to X.
// Throws ad::Error when n < 2 or noise < 0.
Dataset make_moons(std::int64_t n, double noise, ad::Generator& gen);

// Two concentric circles: class 0 on the unit circle, class 1 on the circle of radius `factor`
// (0 < factor < 1), angles evenly spaced in [0, 2 pi); n / 2 samples of class 0 (rounded down).
// Shuffled, then Gaussian noise with std `noise` is added. Throws ad::Error on bad arguments.
Dataset make_circles(std::int64_t n, double noise, double factor, ad::Generator& gen);

// 0/1 class labels (Int64 [n]) as a float column [n, 1] (or [n] when `column` is false), the
// target layout of a single-logit binary cross-entropy.
ad::Tensor float_labels(const ad::Tensor& y, ad::Dtype dtype = ad::kFloat64, bool column = true);

struct Split {
  ad::Tensor X_train, X_test, y_train, y_test;
};

// Shuffles the rows with ad::randperm(n, &gen) and puts the first ceil(n * test_fraction) into
// the test set (as scikit-learn), the rest into the training set, with ad::index_select.
// `y` may be undefined (then y_train / y_test are too). Throws ad::Error when the fraction is
// not in (0, 1), when a side would be empty or when X and y disagree on the number of rows.
Split train_test_split(const ad::Tensor& X, const ad::Tensor& y, double test_fraction, ad::Generator& gen);

// Per-column standardization: (x - mean) / std with the population std (ddof 0, as
// scikit-learn's StandardScaler); a constant column gets std 1, so it maps to 0 (not NaN).
struct Standardizer {
  ad::Tensor mean;    // [features], the dtype of the fitted X
  ad::Tensor stddev;  // [features]

  static Standardizer fit(const ad::Tensor& X);             // X: float [rows, features]
  ad::Tensor transform(const ad::Tensor& X) const;          // no autograd history
  ad::Tensor inverse_transform(const ad::Tensor& Z) const;  // Z * stddev + mean
};

// Fits on `X_train` and replaces both tensors by their standardized versions.
Standardizer standardize(ad::Tensor& X_train, ad::Tensor& X_test);
// The same for a split: fit on split.X_train, applied to X_train and X_test.
Standardizer standardize(Split& split);

}  // namespace ad::data
