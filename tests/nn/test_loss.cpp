#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "adgraph/nn/loss.h"
#include "tests/test_util.h"

namespace {

using ad::nn::Reduction;
using ad::testing::contains;
using ad::testing::error_of;

ad::Tensor f64(const std::vector<double>& v, const ad::Shape& shape) {
  return ad::tensor(v, shape, ad::dtype(ad::kFloat64));
}
ad::Tensor f64(const std::vector<double>& v) {
  return ad::tensor(v, {static_cast<std::int64_t>(v.size())}, ad::dtype(ad::kFloat64));
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// ---- values against hand computation

TEST(Loss, MseValues) {
  const ad::Tensor x = f64({1, 2}), y = f64({0, 4});
  EXPECT_DOUBLE_EQ(ad::nn::mse_loss(x, y).item(), 2.5);
  EXPECT_DOUBLE_EQ(ad::nn::mse_loss(x, y, Reduction::Sum).item(), 5.0);
  EXPECT_EQ(ad::nn::mse_loss(x, y, Reduction::None).to_vector(), (std::vector<double>{1.0, 4.0}));
  EXPECT_EQ(ad::nn::mse_loss(x, y).dim(), 0);
}

TEST(Loss, L1Values) {
  const ad::Tensor x = f64({1, 2}), y = f64({0, 4});
  EXPECT_DOUBLE_EQ(ad::nn::l1_loss(x, y).item(), 1.5);
  EXPECT_DOUBLE_EQ(ad::nn::l1_loss(x, y, Reduction::Sum).item(), 3.0);
  EXPECT_EQ(ad::nn::l1_loss(x, y, Reduction::None).to_vector(), (std::vector<double>{1.0, 2.0}));
}

TEST(Loss, HuberValues) {
  // residuals 0.5 (quadratic: 0.125) and -3 (linear: 1 * (3 - 0.5) = 2.5)
  const ad::Tensor x = f64({0.5, 1.0}), y = f64({0.0, 4.0});
  EXPECT_DOUBLE_EQ(ad::nn::huber_loss(x, y, 1.0).item(), (0.125 + 2.5) / 2);
  // delta 2: 0.125 and 2 * (3 - 1) = 4
  EXPECT_EQ(ad::nn::huber_loss(x, y, 2.0, Reduction::None).to_vector(), (std::vector<double>{0.125, 4.0}));
  // at |r| = delta both branches agree: 0.5
  EXPECT_DOUBLE_EQ(ad::nn::huber_loss(f64({1.0}), f64({0.0}), 1.0).item(), 0.5);
  EXPECT_TRUE(contains(error_of([&] { ad::nn::huber_loss(x, y, 0.0); }), "delta"));
  EXPECT_TRUE(contains(error_of([&] { ad::nn::huber_loss(x, y, -1.0); }), "delta"));
}

TEST(Loss, BinaryCrossEntropyValues) {
  const ad::Tensor p = f64({0.8, 0.3, 0.5}), y = f64({1, 0, 0.25});
  const double l0 = -std::log(0.8), l1 = -std::log(0.7), l2 = -(0.25 * std::log(0.5) + 0.75 * std::log(0.5));
  EXPECT_NEAR(ad::nn::binary_cross_entropy(p, y).item(), (l0 + l1 + l2) / 3, 1e-15);
  const auto none = ad::nn::binary_cross_entropy(p, y, Reduction::None).to_vector();
  EXPECT_NEAR(none[0], l0, 1e-15);
  EXPECT_NEAR(none[1], l1, 1e-15);
  EXPECT_NEAR(none[2], l2, 1e-15);
  // Saturated probabilities as PyTorch: each log clamped at -100, so a wrong certainty costs 100
  const auto sat = ad::nn::binary_cross_entropy(f64({0.0, 1.0, 1.0}), f64({1, 0, 1}), Reduction::None).to_vector();
  EXPECT_EQ(sat, (std::vector<double>{100.0, 100.0, 0.0}));
  const ad::Tensor s32 = ad::nn::binary_cross_entropy(ad::tensor({0.0, 1.0}, ad::dtype(ad::kFloat32)),
                                                      ad::tensor({1.0, 0.0}, ad::dtype(ad::kFloat32)), Reduction::None);
  EXPECT_EQ(s32.to_vector(), (std::vector<double>{100.0, 100.0}));
  // and the gradient is PyTorch's (p - y) / max(p (1 - p), 1e-12): large, so the prediction
  // learns (torch.nn.functional.binary_cross_entropy gives -5e11 and 5e11 here, the mean of two)
  const ad::Tensor q = f64({0.0, 1.0}).requires_grad_();
  ad::nn::binary_cross_entropy(q, f64({1, 0})).backward();
  EXPECT_EQ(q.grad().to_vector(), (std::vector<double>{-5e11, 5e11}));
}

TEST(Loss, BinaryCrossEntropyWithLogitsMatchesSigmoidThenBce) {
  const std::vector<double> xs{-3.0, -0.7, 0.0, 0.4, 2.5}, ys{0.0, 1.0, 1.0, 0.3, 0.0};
  const auto l = ad::nn::binary_cross_entropy_with_logits(f64(xs), f64(ys), Reduction::None).to_vector();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double p = sigmoid(xs[i]);
    EXPECT_NEAR(l[i], -(ys[i] * std::log(p) + (1 - ys[i]) * std::log(1 - p)), 1e-14) << i;
  }
  EXPECT_NEAR(ad::nn::binary_cross_entropy_with_logits(f64(xs), f64(ys)).item(),
              ad::nn::binary_cross_entropy(ad::sigmoid(f64(xs)), f64(ys)).item(), 1e-14);
}

TEST(Loss, BinaryCrossEntropyWithLogitsIsStableAtExtremeLogits) {
  const ad::Tensor x = f64({100, 100, -100, -100, 1e4, -1e4, 1e4, -1e4}).requires_grad_();
  const ad::Tensor y = f64({1, 0, 1, 0, 1, 0, 0, 1});
  const ad::Tensor l = ad::nn::binary_cross_entropy_with_logits(x, y, Reduction::None);
  const auto v = l.to_vector();
  const double tiny = std::log1p(std::exp(-100.0));  // 3.7e-44, kept exactly (log1p, not log(1 + .))
  EXPECT_DOUBLE_EQ(v[0], tiny);
  EXPECT_DOUBLE_EQ(v[1], 100.0);
  EXPECT_DOUBLE_EQ(v[2], 100.0);
  EXPECT_DOUBLE_EQ(v[3], tiny);
  EXPECT_EQ(v[4], 0.0);
  EXPECT_EQ(v[5], 0.0);
  EXPECT_EQ(v[6], 1e4);
  EXPECT_EQ(v[7], 1e4);
  // gradient sigmoid(x) - y, finite everywhere
  l.sum().backward();
  const auto g = x.grad().to_vector();
  const std::vector<double> want{
      -std::exp(-100.0) / (1 + std::exp(-100.0)), 1.0, -1.0, std::exp(-100.0), 0.0, 0.0, 1.0, -1.0};
  for (std::size_t i = 0; i < g.size(); ++i) {
    ASSERT_TRUE(std::isfinite(g[i])) << i;
    EXPECT_NEAR(g[i], want[i], 1e-15 + 1e-12 * std::abs(want[i])) << i;
  }
  EXPECT_NEAR(g[0] / want[0], 1.0, 1e-12);  // even the 1e-44 gradient is right, not rounded to 0
}

TEST(Loss, BinaryCrossEntropyWithLogitsGradientAtZeroIsHalfMinusTarget) {
  // relu(x) - x y + log(1 + exp(-|x|)) taken literally would give -y here (relu'(0) = |x|'(0) = 0).
  const ad::Tensor x = f64({0.0, 0.0, 0.0}).requires_grad_();
  const ad::Tensor l = ad::nn::binary_cross_entropy_with_logits(x, f64({0.0, 1.0, 0.25}), Reduction::Sum);
  EXPECT_NEAR(l.item(), 3 * std::log(2.0), 1e-15);
  l.backward();
  const auto g = x.grad().to_vector();
  EXPECT_DOUBLE_EQ(g[0], 0.5);
  EXPECT_DOUBLE_EQ(g[1], -0.5);
  EXPECT_DOUBLE_EQ(g[2], 0.25);
}

TEST(Loss, CrossEntropyWithClassIndices) {
  const ad::Tensor logits = f64({1, 2, 3, 0, 0, 0}, {2, 3});
  const ad::Tensor t = ad::index_tensor({2, 0});
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double l0 = lse0 - 3.0, l1 = std::log(3.0);
  EXPECT_NEAR(ad::nn::cross_entropy(logits, t).item(), (l0 + l1) / 2, 1e-15);
  EXPECT_NEAR(ad::nn::cross_entropy(logits, t, Reduction::Sum).item(), l0 + l1, 1e-15);
  const auto none = ad::nn::cross_entropy(logits, t, Reduction::None);
  ASSERT_EQ(none.shape(), (ad::Shape{2}));
  EXPECT_NEAR(none.at({0}), l0, 1e-15);
  EXPECT_NEAR(none.at({1}), l1, 1e-15);
  // one sample: logits [C], target []
  EXPECT_NEAR(ad::nn::cross_entropy(f64({1, 2, 3}), ad::index_tensor({2}).reshape({})).item(), l0, 1e-15);
  EXPECT_EQ(ad::nn::cross_entropy(f64({1, 2, 3}), ad::index_tensor({2}), Reduction::None).dim(), 0);
  EXPECT_NEAR(ad::nn::cross_entropy(f64({1, 2, 3}), ad::index_tensor({2})).item(), l0, 1e-15);
  // nll_loss on log-probabilities
  const ad::Tensor lp = ad::log(f64({0.2, 0.8, 0.5, 0.5}, {2, 2}));
  EXPECT_NEAR(ad::nn::nll_loss(lp, ad::index_tensor({1, 0})).item(), -(std::log(0.8) + std::log(0.5)) / 2, 1e-15);
}

TEST(Loss, CrossEntropyWithOneHotEqualsClassIndices) {
  ad::Generator gen(4);
  const ad::Tensor logits = ad::randn({5, 4}, ad::dtype(ad::kFloat64), &gen);
  const std::vector<std::int64_t> cls{3, 0, 1, 1, 2};
  std::vector<double> onehot(20, 0.0);
  for (std::size_t i = 0; i < cls.size(); ++i) onehot[i * 4 + static_cast<std::size_t>(cls[i])] = 1.0;
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    const auto a = ad::nn::cross_entropy(logits, ad::index_tensor(cls), r).to_vector();
    const auto b = ad::nn::cross_entropy(logits, f64(onehot, {5, 4}), r).to_vector();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-14);
  }
  // and gradients w.r.t. the logits agree
  const ad::Tensor x1 = logits.detach().requires_grad_(), x2 = logits.detach().requires_grad_();
  ad::nn::cross_entropy(x1, ad::index_tensor(cls)).backward();
  ad::nn::cross_entropy(x2, f64(onehot, {5, 4})).backward();
  const auto g1 = x1.grad().to_vector(), g2 = x2.grad().to_vector();
  for (std::size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g1[i], g2[i], 1e-15);
}

TEST(Loss, CrossEntropyWithSoftLabels) {
  const ad::Tensor logits = f64({0.5, -1.0, 2.0}, {1, 3});
  const ad::Tensor y = f64({0.2, 0.3, 0.5}, {1, 3});
  const double lse = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0));
  const double want = -(0.2 * (0.5 - lse) + 0.3 * (-1.0 - lse) + 0.5 * (2.0 - lse));
  EXPECT_NEAR(ad::nn::cross_entropy(logits, y).item(), want, 1e-15);
}

TEST(Loss, CrossEntropyIsStableAtExtremeLogits) {
  const ad::Tensor x = f64({-431, 279, 427}, {1, 3}).requires_grad_();
  // hand: loss_k = logsumexp - x_k with logsumexp = 427 + log1p(e^-148 + e^-858)
  const double lse = 427.0 + std::log1p(std::exp(-148.0) + std::exp(-858.0));
  const double want[3] = {lse + 431.0, lse - 279.0, lse - 427.0};  // 858, 148, 3.6e-65
  for (std::int64_t k = 0; k < 3; ++k) {
    const double l = ad::nn::cross_entropy(x, ad::index_tensor({k})).item();
    ASSERT_TRUE(std::isfinite(l));
    EXPECT_NEAR(l, want[k], 1e-12) << k;
  }
  ad::nn::cross_entropy(x, ad::index_tensor({1})).backward();
  const auto g = x.grad().to_vector();  // softmax - onehot = [e^-858, e^-148 - 1, ~1]
  EXPECT_NEAR(g[0], 0.0, 1e-300);
  EXPECT_NEAR(g[1], -1.0, 1e-15);
  EXPECT_NEAR(g[2], 1.0, 1e-15);

  const ad::Tensor z = f64({1e4, -1e4}, {1, 2}).requires_grad_();
  EXPECT_EQ(ad::nn::cross_entropy(z, ad::index_tensor({0})).item(), 0.0);
  EXPECT_EQ(ad::nn::cross_entropy(z, ad::index_tensor({1})).item(), 2e4);
  ad::nn::cross_entropy(z, ad::index_tensor({1})).backward();
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{1.0, -1.0}));
  // the probability-target path too
  EXPECT_EQ(ad::nn::cross_entropy(z.detach(), f64({0, 1}, {1, 2})).item(), 2e4);
  // and Float32
  const ad::Tensor z32 = ad::tensor({1e4, -1e4}, {1, 2}, ad::dtype(ad::kFloat32));
  EXPECT_EQ(ad::nn::cross_entropy(z32, ad::index_tensor({1})).item(), 2e4);
}

// ---- PyTorch's options of the class losses and of BCE with logits, by hand

double lse(const std::vector<double>& row) {
  double m = row[0], t = 0;
  for (double v : row) m = std::max(m, v);
  for (double v : row) t += std::exp(v - m);
  return m + std::log(t);
}

TEST(Loss, ClassWeightsIgnoreIndexAndLabelSmoothingAsPyTorch) {
  const std::vector<std::vector<double>> x = {{0.5, -1.0, 2.0}, {1.5, 0.2, -0.3}, {-0.4, 0.9, 0.1}};
  std::vector<double> flat;
  for (const auto& r : x) flat.insert(flat.end(), r.begin(), r.end());
  const ad::Tensor in = ad::tensor(flat, {3, 3}, ad::dtype(ad::kFloat64));
  const std::vector<double> w = {1.0, 2.0, 0.5};
  const ad::Tensor wt = ad::tensor(w, ad::dtype(ad::kFloat64));
  auto logp = [&](std::size_t n, std::size_t c) { return x[n][c] - lse(x[n]); };
  // weight: sum_n w[y_n] (-logp[n, y_n]) / sum_n w[y_n]
  const std::vector<std::size_t> y = {0, 2, 1};
  double num = 0, den = 0;
  for (std::size_t n = 0; n < 3; ++n) {
    num += w[y[n]] * -logp(n, y[n]);
    den += w[y[n]];
  }
  const ad::Tensor t = ad::index_tensor({0, 2, 1});
  EXPECT_NEAR(ad::nn::cross_entropy(in, t, {.weight = wt}).item(), num / den, 1e-14);
  EXPECT_NEAR(ad::nn::cross_entropy(in, t, {.weight = wt, .reduction = Reduction::Sum}).item(), num, 1e-14);
  // ignore_index: sample 1 counts for nothing, also in the mean's denominator
  const ad::Tensor ti = ad::index_tensor({0, -100, 1});
  const auto none = ad::nn::cross_entropy(in, ti, {.reduction = Reduction::None}).to_vector();
  EXPECT_EQ(none[1], 0.0);
  EXPECT_NEAR(ad::nn::cross_entropy(in, ti, {}).item(), (-logp(0, 0) - logp(2, 1)) / 2, 1e-14);
  EXPECT_NEAR(ad::nn::nll_loss(ad::log_softmax(in, 1), ad::index_tensor({0, 2, 2}), {.ignore_index = 2}).item(),
              -logp(0, 0), 1e-14);
  // label smoothing s: (1 - s) (-logp[y]) + s / C sum_c (-logp[c]), and the same from one-hot targets
  const double s = 0.2;
  double smooth = 0;
  for (std::size_t n = 0; n < 3; ++n) {
    double all = 0;
    for (std::size_t c = 0; c < 3; ++c) all += -logp(n, c);
    smooth += (1 - s) * -logp(n, y[n]) + s / 3 * all;
  }
  EXPECT_NEAR(ad::nn::cross_entropy(in, t, {.label_smoothing = s}).item(), smooth / 3, 1e-14);
  const ad::Tensor onehot = ad::one_hot(t, 3).to(ad::kFloat64);
  EXPECT_NEAR(ad::nn::cross_entropy(in, onehot, {.label_smoothing = s}).item(), smooth / 3, 1e-14);
  // errors
  EXPECT_TRUE(contains(error_of([&] { ad::nn::cross_entropy(in, t, {.weight = ad::ones({3})}); }),
                       "weight Float32 [3] must be [3] Float64"));
  EXPECT_TRUE(contains(error_of([&] { ad::nn::cross_entropy(in, t, {.label_smoothing = 1.5}); }),
                       "label_smoothing must be in [0, 1]"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::nn::cross_entropy(in, ad::index_tensor({0, -1, 1}));
                       }),
                       "target[1] = -1 is not a class index"));
}

TEST(Loss, BceWithLogitsPosWeightAndWeightAsPyTorch) {
  const std::vector<double> xs = {-2.0, -0.3, 0.0, 0.7, 3.0, 40.0}, ys = {1, 0, 1, 0.4, 0, 1};
  const std::vector<double> pw = {2, 2, 0.5, 3, 1, 4}, wv = {1, 0.5, 2, 1, 3, 1};
  const auto l = ad::nn::binary_cross_entropy_with_logits(
                     f64(xs), f64(ys), {.weight = f64(wv), .pos_weight = f64(pw), .reduction = Reduction::None})
                     .to_vector();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double logsig = -std::log1p(std::exp(-xs[i])), log1msig = -xs[i] - std::log1p(std::exp(-xs[i]));
    EXPECT_NEAR(l[i], -wv[i] * (pw[i] * ys[i] * logsig + (1 - ys[i]) * log1msig), 1e-13) << i;
  }
  // pos_weight [C] broadcasts over the rows
  const ad::Tensor x2 = ad::tensor({1, -1, 0.5, 2}, {2, 2}, ad::dtype(ad::kFloat64));
  const ad::Tensor y2 = ad::tensor({1, 1, 0, 1}, {2, 2}, ad::dtype(ad::kFloat64));
  const ad::Tensor pos = ad::tensor({3, 0.5}, ad::dtype(ad::kFloat64));
  EXPECT_NEAR(ad::nn::binary_cross_entropy_with_logits(x2, y2, {.pos_weight = pos}).item(),
              ad::mean(ad::nn::binary_cross_entropy_with_logits(x2, y2, Reduction::None) *
                       ad::where(y2 > 0.5, pos.expand({2, 2}), ad::ones_like(y2)))
                  .item(),
              1e-14);
  EXPECT_TRUE(contains(error_of([&] {
                         ad::nn::binary_cross_entropy_with_logits(
                             x2, y2, {.pos_weight = ad::ones({3}, ad::dtype(ad::kFloat64))});
                       }),
                       "pos_weight Float64 [3] must broadcast"));
}

// ---- gradients by the engine vs central differences

TEST(Loss, GradcheckEveryLossWrtInputAndTarget) {
  ad::Generator gen(8);
  const ad::Tensor a = ad::randn({3, 4}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  const ad::Tensor b = ad::randn({3, 4}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  const ad::Tensor p = ad::uniform({3, 4}, 0.05, 0.95, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  const ad::Tensor y = ad::uniform({3, 4}, 0.0, 1.0, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  const ad::Tensor soft = ad::softmax(ad::randn({3, 4}, ad::dtype(ad::kFloat64), &gen), 1).requires_grad_();
  const ad::Tensor cls = ad::index_tensor({2, 0, 3});
  struct Case {
    std::string name;
    ad::TensorFunction f;
    std::vector<ad::Tensor> in;
  };
  using V = const std::vector<ad::Tensor>&;
  std::vector<Case> cases{
      {"mse", [](V v) { return ad::nn::mse_loss(v[0], v[1]); }, {a, b}},
      {"mse none", [](V v) { return ad::nn::mse_loss(v[0], v[1], Reduction::None); }, {a, b}},
      {"l1", [](V v) { return ad::nn::l1_loss(v[0], v[1], Reduction::Sum); }, {a, b}},
      {"huber", [](V v) { return ad::nn::huber_loss(v[0], v[1], 0.7); }, {a, b}},
      {"bce", [](V v) { return ad::nn::binary_cross_entropy(v[0], v[1]); }, {p, y}},
      {"bce logits", [](V v) { return ad::nn::binary_cross_entropy_with_logits(v[0], v[1]); }, {a, y}},
      {"bce logits none",
       [](V v) { return ad::nn::binary_cross_entropy_with_logits(v[0], v[1], Reduction::None); },
       {a * 20.0, y}},
      {"ce indices", [&](V v) { return ad::nn::cross_entropy(v[0], cls); }, {a}},
      {"ce indices none", [&](V v) { return ad::nn::cross_entropy(v[0], cls, Reduction::None); }, {a}},
      {"ce one sample",
       [&](V v) { return ad::nn::cross_entropy(v[0], ad::index_tensor({1})); },
       {f64({0.3, -1, 2, 0.1})}},
      {"ce probabilities", [](V v) { return ad::nn::cross_entropy(v[0], v[1]); }, {a, soft}},
      {"ce weight ignore smoothing",
       [&](V v) {
         return ad::nn::cross_entropy(
             v[0], ad::index_tensor({2, -100, 3}),
             {.weight = ad::tensor({1, 2, 0.5, 3}, ad::dtype(ad::kFloat64)), .label_smoothing = 0.1});
       },
       {a}},
      {"ce probabilities weight smoothing",
       [](V v) {
         return ad::nn::cross_entropy(
             v[0], v[1], {.weight = ad::tensor({1, 2, 0.5, 3}, ad::dtype(ad::kFloat64)), .label_smoothing = 0.3});
       },
       {a, soft}},
      {"bce logits pos_weight weight",
       [](V v) {
         return ad::nn::binary_cross_entropy_with_logits(
             v[0], v[1],
             {.weight = ad::tensor({1, 0.5, 2, 1}, ad::dtype(ad::kFloat64)),
              .pos_weight = ad::tensor({3, 1, 0.2, 2}, ad::dtype(ad::kFloat64))});
       },
       {a * 3.0, y}},
      {"nll", [&](V v) { return ad::nn::nll_loss(ad::log_softmax(v[0], 1), cls, Reduction::Sum); }, {b}},
  };
  for (auto& c : cases) {
    for (auto& t : c.in) t = t.detach().requires_grad_();
    const auto r = ad::gradcheck(c.f, c.in);
    EXPECT_TRUE(r.ok) << c.name << ": " << r.report;
  }
}

// ---- validation

TEST(Loss, ShapeAndDtypeErrorsNameTheLossShapesAndFix) {
  const ad::Tensor x = ad::zeros({4, 1}, ad::dtype(ad::kFloat64));
  std::string msg = error_of([&] { ad::nn::mse_loss(x, ad::zeros({4}, ad::dtype(ad::kFloat64))); });
  EXPECT_TRUE(contains(msg, "mse_loss")) << msg;
  EXPECT_TRUE(contains(msg, "[4, 1]")) << msg;
  EXPECT_TRUE(contains(msg, "[4]")) << msg;
  EXPECT_TRUE(contains(msg, "reshape")) << msg;
  msg = error_of([&] { ad::nn::l1_loss(x, ad::zeros({4, 1}, ad::dtype(ad::kFloat32))); });
  EXPECT_TRUE(contains(msg, "l1_loss") && contains(msg, "Float32") && contains(msg, ".to(")) << msg;
  msg = error_of([&] { ad::nn::huber_loss(ad::index_tensor({1}), ad::index_tensor({1})); });
  EXPECT_TRUE(contains(msg, "huber_loss") && contains(msg, "Int64")) << msg;
  msg = error_of([&] { ad::nn::binary_cross_entropy(f64({2.5, 0.5}), f64({1, 0})); });
  EXPECT_TRUE(contains(msg, "binary_cross_entropy_with_logits")) << msg;
  msg = error_of([&] { ad::nn::binary_cross_entropy(f64({std::nan(""), 0.5}), f64({1, 0})); });
  EXPECT_TRUE(contains(msg, "[0, 1]")) << msg;

  const ad::Tensor logits = ad::zeros({3, 5}, ad::dtype(ad::kFloat64));
  msg = error_of([&] { ad::nn::cross_entropy(logits, ad::index_tensor({0, 1})); });
  EXPECT_TRUE(contains(msg, "cross_entropy") && contains(msg, "[2]") && contains(msg, "[3, 5]") && contains(msg, "[3]"))
      << msg;
  msg = error_of([&] { ad::nn::cross_entropy(logits, ad::index_tensor({0, 5, 1})); });
  EXPECT_TRUE(contains(msg, "target[1] = 5") && contains(msg, "[0, 5)")) << msg;
  msg = error_of([&] { ad::nn::cross_entropy(logits, ad::index_tensor({0, -1, 1})); });
  EXPECT_TRUE(contains(msg, "target[1] = -1")) << msg;
  msg = error_of([&] { ad::nn::cross_entropy(logits, ad::zeros({3}, ad::dtype(ad::kFloat64))); });
  EXPECT_TRUE(contains(msg, "Int64 class indices") && contains(msg, "one-hot")) << msg;
  msg = error_of([&] { ad::nn::cross_entropy(logits, ad::zeros({3, 5}, ad::dtype(ad::kFloat32))); });
  EXPECT_TRUE(contains(msg, "dtype")) << msg;
  msg = error_of([&] {
    ad::nn::cross_entropy(ad::zeros({2, 3, 4}, ad::dtype(ad::kFloat64)), ad::index_tensor({0, 1}));
  });
  EXPECT_TRUE(contains(msg, "[N, C]") && contains(msg, "[2, 3, 4]")) << msg;
  msg = error_of([&] { ad::nn::nll_loss(logits, f64({0, 1, 2})); });
  EXPECT_TRUE(contains(msg, "nll_loss") && contains(msg, "Int64")) << msg;
  msg = error_of([&] { ad::nn::mse_loss(ad::Tensor(), x); });
  EXPECT_TRUE(contains(msg, "undefined")) << msg;
}

}  // namespace
