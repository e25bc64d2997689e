#include "adgraph/data/datasets.h"

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/ops.h"

namespace ad::data {
namespace {

// Shuffles the rows (ad::randperm), then adds N(0, noise^2) to every coordinate.
Dataset finish(std::vector<double> xy, std::vector<std::int64_t> labels, double noise, ad::Generator& gen) {
  const auto n = static_cast<std::int64_t>(labels.size());
  const ad::Tensor perm = ad::randperm(n, &gen);
  const std::int64_t* p = perm.data_ptr<std::int64_t>();
  std::vector<double> X(xy.size());
  std::vector<std::int64_t> y(labels.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const auto src = static_cast<std::size_t>(p[i]);
    const auto dst = static_cast<std::size_t>(i);
    X[2 * dst] = xy[2 * src];
    X[2 * dst + 1] = xy[2 * src + 1];
    y[dst] = labels[src];
  }
  if (noise > 0.0)
    for (double& v : X) v += gen.normal(0.0, noise);
  return {ad::tensor(X, {n, 2}, ad::dtype(ad::kFloat64)), ad::index_tensor(y, {n})};
}

void check_common(const char* op, std::int64_t n, double noise) {
  if (n < 2) throw ad::Error(std::string(op) + ": need n >= 2 samples (one per class), got " + std::to_string(n));
  if (!(noise >= 0.0) || !std::isfinite(noise))
    throw ad::Error(std::string(op) + ": noise is the std of Gaussian noise and must be finite and >= 0, got " +
                    std::to_string(noise));
}

// linspace(lo, hi, m) (endpoint included) or arange-like spacing without the endpoint.
double spaced(double lo, double hi, std::int64_t i, std::int64_t m, bool endpoint) {
  if (endpoint) return m == 1 ? lo : lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(m - 1);
  return lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(m);
}

}  // namespace

Dataset make_moons(std::int64_t n, double noise, ad::Generator& gen) {
  check_common("make_moons", n, noise);
  const std::int64_t n_out = n / 2, n_in = n - n_out;
  std::vector<double> xy;
  std::vector<std::int64_t> labels;
  xy.reserve(static_cast<std::size_t>(2 * n));
  for (std::int64_t i = 0; i < n_out; ++i) {
    const double t = spaced(0.0, std::numbers::pi, i, n_out, true);
    xy.push_back(std::cos(t));
    xy.push_back(std::sin(t));
    labels.push_back(0);
  }
  for (std::int64_t i = 0; i < n_in; ++i) {
    const double t = spaced(0.0, std::numbers::pi, i, n_in, true);
    xy.push_back(1.0 - std::cos(t));
    xy.push_back(0.5 - std::sin(t));
    labels.push_back(1);
  }
  return finish(std::move(xy), std::move(labels), noise, gen);
}

Dataset make_circles(std::int64_t n, double noise, double factor, ad::Generator& gen) {
  check_common("make_circles", n, noise);
  if (!(factor > 0.0 && factor < 1.0))
    throw ad::Error("make_circles: factor is the inner radius over the outer one and must be in (0, 1), got " +
                    std::to_string(factor));
  const std::int64_t n_out = n / 2, n_in = n - n_out;
  std::vector<double> xy;
  std::vector<std::int64_t> labels;
  xy.reserve(static_cast<std::size_t>(2 * n));
  for (std::int64_t i = 0; i < n_out; ++i) {
    const double t = spaced(0.0, 2.0 * std::numbers::pi, i, n_out, false);
    xy.push_back(std::cos(t));
    xy.push_back(std::sin(t));
    labels.push_back(0);
  }
  for (std::int64_t i = 0; i < n_in; ++i) {
    const double t = spaced(0.0, 2.0 * std::numbers::pi, i, n_in, false);
    xy.push_back(factor * std::cos(t));
    xy.push_back(factor * std::sin(t));
    labels.push_back(1);
  }
  return finish(std::move(xy), std::move(labels), noise, gen);
}

ad::Tensor float_labels(const ad::Tensor& y, ad::Dtype dtype, bool column) {
  if (!y.defined()) throw ad::Error("float_labels: the label tensor is undefined");
  if (y.dim() != 1) throw ad::Error("float_labels: expected 1-D labels [n], got shape " + ad::shape_str(y.shape()));
  if (!ad::is_floating(dtype)) throw ad::Error("float_labels: the target dtype must be Float32 or Float64");
  const ad::Tensor f = y.detach().to(dtype);
  return column ? f.reshape({y.size(0), 1}) : f;
}

// ---------------------------------------------------------------- split

Split train_test_split(const ad::Tensor& X, const ad::Tensor& y, double test_fraction, ad::Generator& gen) {
  if (!X.defined() || X.dim() < 1) throw ad::Error("train_test_split: X must be a tensor with the samples along dim 0");
  const std::int64_t n = X.size(0);
  if (y.defined() && (y.dim() < 1 || y.size(0) != n))
    throw ad::Error("train_test_split: X has " + std::to_string(n) + " rows but y has shape " +
                    ad::shape_str(y.shape()) + "; they must have the same number of samples along dim 0");
  if (!(test_fraction > 0.0 && test_fraction < 1.0))
    throw ad::Error("train_test_split: test_fraction must be in (0, 1), got " + std::to_string(test_fraction));
  const auto n_test = static_cast<std::int64_t>(std::ceil(test_fraction * static_cast<double>(n) - 1e-9));
  const std::int64_t n_train = n - n_test;
  if (n_test < 1 || n_train < 1)
    throw ad::Error("train_test_split: " + std::to_string(n) + " samples with test_fraction " +
                    std::to_string(test_fraction) + " leave an empty " + (n_test < 1 ? "test" : "training") + " set");
  const ad::Tensor perm = ad::randperm(n, &gen);
  const ad::Tensor test_idx = ad::slice(perm, 0, 0, n_test);
  const ad::Tensor train_idx = ad::slice(perm, 0, n_test, n);
  ad::NoGradGuard no_grad;
  Split s;
  s.X_train = ad::index_select(X.detach(), 0, train_idx);
  s.X_test = ad::index_select(X.detach(), 0, test_idx);
  if (y.defined()) {
    s.y_train = ad::index_select(y.detach(), 0, train_idx);
    s.y_test = ad::index_select(y.detach(), 0, test_idx);
  }
  return s;
}

// ---------------------------------------------------------------- standardize

Standardizer Standardizer::fit(const ad::Tensor& X) {
  if (!X.defined() || X.dim() != 2 || X.size(0) < 1)
    throw ad::Error("Standardizer::fit: expected a non-empty 2-D [rows, features] tensor, got " +
                    (X.defined() ? ad::shape_str(X.shape()) : std::string("an undefined tensor")));
  if (!ad::is_floating(X.dtype()))
    throw ad::Error("Standardizer::fit: X must be Float32 or Float64; convert with .to(ad::kFloat64)");
  const std::int64_t rows = X.size(0), cols = X.size(1);
  const std::vector<double> v = X.to_vector();
  std::vector<double> mean(static_cast<std::size_t>(cols), 0.0), sd(static_cast<std::size_t>(cols), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      mean[static_cast<std::size_t>(c)] += v[static_cast<std::size_t>(r * cols + c)];
  for (double& m : mean) m /= static_cast<double>(rows);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const double d = v[static_cast<std::size_t>(r * cols + c)] - mean[static_cast<std::size_t>(c)];
      sd[static_cast<std::size_t>(c)] += d * d;
    }
  for (std::size_t c = 0; c < sd.size(); ++c) {
    sd[c] = std::sqrt(sd[c] / static_cast<double>(rows));
    // Constant columns (e.g. the always-blank border pixels of the digits) keep their scale.
    if (!(sd[c] > 1e-12 * std::max(1.0, std::abs(mean[c])))) sd[c] = 1.0;
  }
  Standardizer s;
  s.mean = ad::tensor(mean, {cols}, ad::dtype(X.dtype()));
  s.stddev = ad::tensor(sd, {cols}, ad::dtype(X.dtype()));
  return s;
}

ad::Tensor Standardizer::transform(const ad::Tensor& X) const {
  if (!mean.defined()) throw ad::Error("Standardizer::transform: call Standardizer::fit first");
  if (!X.defined() || X.dim() != 2 || X.size(1) != mean.size(0))
    throw ad::Error("Standardizer::transform: expected [rows, " + std::to_string(mean.size(0)) + "], got " +
                    (X.defined() ? ad::shape_str(X.shape()) : std::string("an undefined tensor")));
  ad::NoGradGuard no_grad;
  return (X.detach().to(mean.dtype()) - mean) / stddev;
}

ad::Tensor Standardizer::inverse_transform(const ad::Tensor& Z) const {
  if (!mean.defined()) throw ad::Error("Standardizer::inverse_transform: call Standardizer::fit first");
  if (!Z.defined() || Z.dim() != 2 || Z.size(1) != mean.size(0))
    throw ad::Error("Standardizer::inverse_transform: expected [rows, " + std::to_string(mean.size(0)) + "], got " +
                    (Z.defined() ? ad::shape_str(Z.shape()) : std::string("an undefined tensor")));
  ad::NoGradGuard no_grad;
  return Z.detach().to(mean.dtype()) * stddev + mean;
}

Standardizer standardize(ad::Tensor& X_train, ad::Tensor& X_test) {
  Standardizer s = Standardizer::fit(X_train);
  X_train = s.transform(X_train);
  if (X_test.defined()) X_test = s.transform(X_test);
  return s;
}

Standardizer standardize(Split& split) { return standardize(split.X_train, split.X_test); }

}  // namespace ad::data
