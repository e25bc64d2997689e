// Numerics from design/failure-modes.md: stable softmax family and sigmoid at extreme inputs, one
// documented convention at kinks, broadcasting gradients, bit-identical repeated backward, and
// higher-order derivatives (grad of grad).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;
using TV = std::vector<Tensor>;

std::size_t count_edges(const std::string& dot) {
  std::size_t n = 0;
  for (std::size_t at = dot.find("->"); at != std::string::npos; at = dot.find("->", at + 2)) ++n;
  return n;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor f64(std::initializer_list<double> v) { return ad::tensor(v, ad::dtype(ad::kFloat64)); }
Tensor leaf(std::initializer_list<double> v, ad::Dtype d = ad::kFloat64) {
  return ad::tensor(v, ad::dtype(d)).requires_grad_();
}
Tensor leaf_vec(const std::vector<double>& v, ad::Dtype d = ad::kFloat64) {
  return ad::tensor(v, ad::dtype(d)).requires_grad_();
}

bool all_finite(const Tensor& t) {
  for (double x : t.to_vector())
    if (!std::isfinite(x)) return false;
  return true;
}

// ---- float64 references computed by hand: log-sum-exp with the max subtracted
double ref_lse(const std::vector<double>& x) {
  const double m = *std::max_element(x.begin(), x.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}
std::vector<double> ref_log_softmax(const std::vector<double>& x) {
  const double lse = ref_lse(x);
  std::vector<double> out;
  for (double v : x) out.push_back(v - lse);
  return out;
}
std::vector<double> ref_softmax(const std::vector<double>& x) {
  std::vector<double> out;
  for (double v : ref_log_softmax(x)) out.push_back(std::exp(v));
  return out;
}

const char* dname(ad::Dtype d) { return ad::dtype_name(d); }

// ======================================================================== stable numerics

class NumericsSoftmax : public ::testing::TestWithParam<std::tuple<std::vector<double>, ad::Dtype>> {};

TEST_P(NumericsSoftmax, ExtremeLogitsAreFiniteAndMatchFloat64Reference) {
  const auto& [logits, dt] = GetParam();
  const bool is64 = dt == ad::kFloat64;
  const double rel = is64 ? 1e-13 : 2e-6;  // relative tolerance on values
  const double abs_tol = is64 ? 1e-300 : 1e-7;
  const auto ref_ls = ref_log_softmax(logits);
  const auto ref_sm = ref_softmax(logits);

  // log_softmax values
  Tensor x = leaf_vec(logits, dt);
  const Tensor ls = ad::log_softmax(x, 0);
  ASSERT_EQ(ls.dtype(), dt);
  ASSERT_TRUE(all_finite(ls)) << ls;
  const auto lsv = ls.to_vector();
  for (std::size_t i = 0; i < logits.size(); ++i)
    EXPECT_NEAR(lsv[i], ref_ls[i], abs_tol + rel * std::max(1.0, std::abs(ref_ls[i])))
        << "log_softmax[" << i << "] " << dname(dt);

  // softmax values
  const Tensor sm = ad::softmax(x, 0);
  ASSERT_TRUE(all_finite(sm)) << sm;
  const auto smv = sm.to_vector();
  double total = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    EXPECT_NEAR(smv[i], ref_sm[i], abs_tol + rel * ref_sm[i]) << "softmax[" << i << "] " << dname(dt);
    EXPECT_GE(smv[i], 0.0);
    total += smv[i];
  }
  EXPECT_NEAR(total, 1.0, is64 ? 1e-15 : 1e-6);

  // Cross-entropy on the least likely class: d(-log_softmax[k]) = softmax - onehot(k).
  const std::size_t k = static_cast<std::size_t>(std::min_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<double> onehot(logits.size(), 0.0);
  onehot[k] = 1.0;
  {
    Tensor xl = leaf_vec(logits, dt);
    const Tensor loss = -(ad::log_softmax(xl, 0) * ad::tensor(onehot, ad::dtype(dt))).sum();
    EXPECT_TRUE(std::isfinite(loss.item()));
    EXPECT_NEAR(loss.item(), -ref_ls[k], rel * std::abs(ref_ls[k]) + abs_tol);
    loss.backward();
    ASSERT_TRUE(xl.grad().defined());
    ASSERT_TRUE(all_finite(xl.grad())) << xl.grad();
    const auto g = xl.grad().to_vector();
    for (std::size_t i = 0; i < logits.size(); ++i)
      EXPECT_NEAR(g[i], ref_sm[i] - onehot[i], is64 ? 1e-14 : 1e-6) << "d CE / d logit[" << i << "] " << dname(dt);
  }
  // Weighted softmax: d sum(w * softmax) = s * (w - sum(w s)).
  {
    std::vector<double> w = {0.3, -1.2, 2.0, 0.7};
    w.resize(logits.size());
    Tensor xs = leaf_vec(logits, dt);
    const Tensor loss = (ad::softmax(xs, 0) * ad::tensor(w, ad::dtype(dt))).sum();
    loss.backward();
    ASSERT_TRUE(all_finite(xs.grad())) << xs.grad();
    double ws = 0;
    for (std::size_t i = 0; i < w.size(); ++i) ws += w[i] * ref_sm[i];
    const auto g = xs.grad().to_vector();
    for (std::size_t i = 0; i < logits.size(); ++i)
      EXPECT_NEAR(g[i], ref_sm[i] * (w[i] - ws), is64 ? 1e-14 : 1e-6)
          << "d sum(w softmax) / d logit[" << i << "] " << dname(dt);
  }
  // Batched: the same logits as two rows of a [2, n] tensor, reduced along dim 1 (and dim -1).
  {
    std::vector<double> two = logits;
    two.insert(two.end(), logits.begin(), logits.end());
    const Tensor xb = ad::tensor(two, {2, static_cast<std::int64_t>(logits.size())}, ad::dtype(dt)).requires_grad_();
    const auto lsb = ad::log_softmax(xb, -1).to_vector();
    const auto smb = ad::softmax(xb, 1).to_vector();
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t i = 0; i < logits.size(); ++i) {
        EXPECT_NEAR(lsb[r * logits.size() + i], ref_ls[i], abs_tol + rel * std::max(1.0, std::abs(ref_ls[i])));
        EXPECT_NEAR(smb[r * logits.size() + i], ref_sm[i], abs_tol + rel * ref_sm[i]);
      }
  }
}

std::string softmax_case_name(const ::testing::TestParamInfo<NumericsSoftmax::ParamType>& info) {
  const std::vector<double>& v = std::get<0>(info.param);
  return std::string(v.size() == 3 ? "logits_431_279_427" : "logits_1e4") + "_" +
         ad::dtype_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Numerics, NumericsSoftmax,
                         ::testing::Combine(::testing::Values(std::vector<double>{-431.0, 279.0, 427.0},
                                                              std::vector<double>{1e4, -1e4}),
                                            ::testing::Values(ad::kFloat64, ad::kFloat32)),
                         softmax_case_name);

TEST(NumericsSoftmax, MaskedMinusInfLogitGivesZeroProbabilityAndNoNaN) {
  Tensor x = leaf({2.0, -kInf, 0.5});
  const Tensor sm = ad::softmax(x, 0);
  const auto v = sm.to_vector();
  const auto ref = ref_softmax({2.0, -kInf, 0.5});
  EXPECT_EQ(v[1], 0.0);
  EXPECT_NEAR(v[0], ref[0], 1e-15);
  EXPECT_NEAR(v[2], ref[2], 1e-15);
  (sm * f64({1.0, 2.0, 3.0})).sum().backward();
  for (double g : x.grad().to_vector()) EXPECT_FALSE(std::isnan(g));
}

TEST(NumericsSigmoid, AtPlusMinus100Float64ValuesAndLowerTailGradient) {
  Tensor x = leaf({100.0, -100.0});
  const Tensor s = ad::sigmoid(x);
  const auto v = s.to_vector();
  const double e = std::exp(-100.0);  // 3.720075976020836e-44
  EXPECT_EQ(v[0], 1.0);               // 1/(1+3.7e-44) rounds to 1
  EXPECT_NEAR(v[1], e, 1e-12 * e);    // not flushed to 0
  s.backward(ad::ones_like(s));
  const auto g = x.grad().to_vector();
  for (double gi : g) {
    EXPECT_TRUE(std::isfinite(gi));
    EXPECT_GE(gi, 0.0);
  }
  EXPECT_NEAR(g[1], e, 1e-10 * e) << "sigmoid'(-100) = e^-100 / (1 + e^-100)^2";
}

// sigmoid'(x) = sigmoid(x) * sigmoid(-x) is symmetric: at +100 it is ~3.7e-44 in float64 too,
// which is representable. Computing it as s * (1 - s) with s rounded to 1 loses it entirely.
TEST(NumericsSigmoid, GradientAtPlus100Float64IsTheTinyTrueValue) {
  Tensor x = leaf({100.0});
  ad::sigmoid(x).sum().backward();
  const double e = std::exp(-100.0);
  const double g = x.grad().item();
  EXPECT_FALSE(std::isnan(g));
  EXPECT_NEAR(g, e, 1e-6 * e) << "sigmoid'(100) should be ~3.72e-44 (= sigmoid'(-100)), got " << g;
}

TEST(NumericsSigmoid, AtPlusMinus100Float32FiniteGradientZeroOrTinyNotNaN) {
  Tensor x = leaf({100.0, -100.0}, ad::kFloat32);
  const Tensor s = ad::sigmoid(x);
  const auto v = s.to_vector();
  EXPECT_EQ(v[0], 1.0);
  EXPECT_TRUE(std::isfinite(v[1]));
  EXPECT_GE(v[1], 0.0);
  EXPECT_LT(v[1], 1e-40);
  s.backward(ad::ones_like(s));
  for (double g : x.grad().to_vector()) {
    EXPECT_FALSE(std::isnan(g));
    EXPECT_TRUE(std::isfinite(g));
    EXPECT_GE(g, 0.0);
    EXPECT_LT(g, 1e-40);
  }
}

TEST(NumericsSigmoid, BinaryCrossEntropyOfSigmoidAtMinus100Float64) {
  // -log(sigmoid(z)) at z = -100 is 100 + log1p(e^-100) ~ 100; its derivative is -(1 - sigmoid(z)) ~ -1.
  Tensor z = leaf({-100.0});
  const Tensor loss = -ad::log(ad::sigmoid(z)).sum();
  EXPECT_NEAR(loss.item(), 100.0, 1e-12);
  loss.backward();
  EXPECT_NEAR(z.grad().item(), -1.0, 1e-12);
}

TEST(NumericsLogsumexp, TwoThousandsIsThousandPlusLn2) {
  for (ad::Dtype dt : {ad::kFloat64, ad::kFloat32}) {
    SCOPED_TRACE(dname(dt));
    Tensor x = leaf({1000.0, 1000.0}, dt);
    const Tensor y = ad::logsumexp(x, {0});
    EXPECT_EQ(y.dim(), 0);
    EXPECT_NEAR(y.item(), 1000.0 + std::log(2.0), dt == ad::kFloat64 ? 1e-12 : 1e-4);
    y.backward();
    // 1000 + ln 2 carries an absolute rounding error up to ulp/2 (3e-5 in float32, 6e-14 in float64),
    // which exp(x - lse) turns into a relative error of the same size.
    for (double g : x.grad().to_vector()) EXPECT_NEAR(g, 0.5, dt == ad::kFloat64 ? 2e-13 : 5e-5);
  }
  // keepdim and all-dims forms
  const Tensor x2 = ad::tensor({1000.0, 1000.0, -1000.0, 1000.0}, {2, 2}, ad::dtype(ad::kFloat64));
  const auto rows = ad::logsumexp(x2, {1}, true);
  EXPECT_EQ(rows.shape(), (Shape{2, 1}));
  EXPECT_NEAR(rows.to_vector()[0], 1000.0 + std::log(2.0), 1e-12);
  EXPECT_NEAR(rows.to_vector()[1], 1000.0, 1e-12);
  EXPECT_NEAR(ad::logsumexp(x2, {}).item(), 1000.0 + std::log(3.0), 1e-12);
}

TEST(NumericsLogsumexp, AllMinusInfGivesMinusInfWithoutNaN) {
  for (ad::Dtype dt : {ad::kFloat64, ad::kFloat32}) {
    SCOPED_TRACE(dname(dt));
    const Tensor y = ad::logsumexp(ad::tensor({-kInf, -kInf, -kInf}, ad::dtype(dt)), {0});
    EXPECT_FALSE(std::isnan(y.item()));
    EXPECT_EQ(y.item(), -kInf);
    // one all -inf row next to a finite one
    const Tensor m = ad::tensor({-kInf, -kInf, 0.0, 0.0}, {2, 2}, ad::dtype(dt));
    const auto r = ad::logsumexp(m, {1}).to_vector();
    EXPECT_EQ(r[0], -kInf);
    EXPECT_NEAR(r[1], std::log(2.0), 1e-6);
  }
}

// ======================================================================== kinks

double grad_at(const std::function<Tensor(const Tensor&)>& f, double x0) {
  Tensor x = leaf({x0});
  f(x).sum().backward();
  return x.grad().item();
}

TEST(NumericsKinks, ReluAbsStepLeakyReluAtZero) {
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::relu(x); }, 0.0), 0.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return x.relu(); }, 0.0), 0.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::relu(x); }, 1e-300), 1.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::abs(x); }, 0.0), 0.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::abs(x); }, -0.0), 0.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::abs(x); }, -2.0), -1.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::step(x); }, 0.0), 0.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::step(x); }, 1.0), 0.0);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::leaky_relu(x); }, 0.0), 0.01);
  EXPECT_DOUBLE_EQ(grad_at([](const Tensor& x) { return ad::leaky_relu(x, 0.2); }, 0.0), 0.2);
  EXPECT_DOUBLE_EQ(grad_at([](const Tensor& x) { return ad::leaky_relu(x, 0.2); }, -3.0), 0.2);
  EXPECT_EQ(grad_at([](const Tensor& x) { return ad::leaky_relu(x, 0.2); }, 3.0), 1.0);
  // forward values at the kink
  EXPECT_EQ(ad::relu(f64({0.0})).item(), 0.0);
  EXPECT_EQ(ad::step(f64({0.0})).item(), 0.0);
  EXPECT_EQ(ad::leaky_relu(f64({0.0})).item(), 0.0);
}

TEST(NumericsKinks, ClampGradientIsOneOnTheClosedInterval) {
  Tensor x = leaf({-1.0, 2.0, -1.5, 2.5, 0.3, -1.0 - 1e-12, 2.0 + 1e-12});
  const Tensor y = ad::clamp(x, -1.0, 2.0);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{-1.0, 2.0, -1.0, 2.0, 0.3, -1.0, 2.0}));
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0}));
  // lo == hi: the single point is inside
  Tensor z = leaf({0.5, 0.4});
  ad::clamp(z, 0.5, 0.5).sum().backward();
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{1.0, 0.0}));
}

TEST(NumericsKinks, MaximumMinimumTiesSplitTheGradient) {
  for (bool is_max : {true, false}) {
    SCOPED_TRACE(is_max ? "maximum" : "minimum");
    Tensor a = leaf({1.5, -2.0, 3.0});
    Tensor b = leaf({1.5, -2.0, 0.0});
    const Tensor y = is_max ? ad::maximum(a, b) : ad::minimum(a, b);
    (y * f64({2.0, 4.0, 8.0})).sum().backward();
    EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{1.0, 2.0, is_max ? 8.0 : 0.0}));
    EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{1.0, 2.0, is_max ? 0.0 : 8.0}));
  }
  // the same tensor on both sides: the halves add back to 1
  Tensor x = leaf({0.7, -0.2});
  ad::maximum(x, x).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1.0, 1.0}));
  // a tie with a broadcast operand: b receives one half from each of the 3 ties
  Tensor c = leaf({2.0, 2.0, 2.0});
  Tensor d = leaf({2.0});
  ad::maximum(c, d).sum().backward();
  EXPECT_EQ(c.grad().to_vector(), (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(d.grad().to_vector(), (std::vector<double>{1.5}));
}

TEST(NumericsKinks, AmaxAminTiesShareTheGradientEqually) {
  {
    Tensor x = leaf({1.0, 3.0, 3.0, 2.0});
    const Tensor m = ad::amax(x);
    EXPECT_EQ(m.item(), 3.0);
    m.backward();
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.0, 0.5, 0.5, 0.0}));
  }
  {
    Tensor x = leaf({-1.0, 3.0, -1.0, 2.0});
    x.min().backward();
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.5, 0.0, 0.5, 0.0}));
  }
  {
    Tensor x = ad::tensor({1.0, 3.0, 3.0, 2.0, 2.0, 2.0}, {2, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
    const Tensor m = ad::amax(x, {1});
    EXPECT_EQ(m.to_vector(), (std::vector<double>{3.0, 2.0}));
    (m * f64({1.0, 3.0})).sum().backward();
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.0, 0.5, 0.5, 1.0, 1.0, 1.0}));
  }
  {
    // along dim 0 with keepdim: column 0 is a tie (5, 5), column 1 has a unique minimum 1
    Tensor x = ad::tensor({5.0, 1.0, 5.0, 3.0}, {2, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
    const Tensor m = ad::amin(x, {0}, true);
    EXPECT_EQ(m.shape(), (Shape{1, 2}));
    EXPECT_EQ(m.to_vector(), (std::vector<double>{5.0, 1.0}));
    m.sum().backward();
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.5, 1.0, 0.5, 0.0}));
  }
}

// where(x > 0, sqrt(x), x): at x = -1 the untaken branch is sqrt(-1) = NaN; the gradient must
// still be exactly 1 (no NaN leaking from the branch not taken).
void check_where_sqrt(bool anomaly) {
  Tensor x = leaf({-1.0, 4.0});
  const auto run = [&] {
    const Tensor y = ad::where(x > 0.0, ad::sqrt(x), x);
    EXPECT_EQ(y.to_vector(), (std::vector<double>{-1.0, 2.0}));
    y.sum().backward();
  };
  if (anomaly) {
    ad::DetectAnomalyGuard guard;
    EXPECT_NO_THROW(run());
  } else {
    run();
  }
  ASSERT_TRUE(x.grad().defined());
  const auto g = x.grad().to_vector();
  EXPECT_FALSE(std::isnan(g[0]));
  EXPECT_EQ(g[0], 1.0);
  EXPECT_EQ(g[1], 0.25);
}

TEST(NumericsKinks, WhereSqrtAtNegativeHasGradientOneNoNaN) { check_where_sqrt(false); }
TEST(NumericsKinks, WhereSqrtAtNegativeUnderDetectAnomaly) { check_where_sqrt(true); }

// ======================================================================== broadcasting

struct BinOp {
  const char* name;
  Tensor (*fn)(const Tensor&, const Tensor&);
};

// Values +-(0.3 + 0.25 k + offset + jitter), jitter in [0, 0.05): with offsets 0 and 0.1 for the
// two operands, no value of one is within 0.05 of a value of the other (no maximum ties inside
// the finite-difference step) and |value| >= 0.3 (safe divisor).
Tensor random_in(const Shape& s, ad::Generator& gen, double offset) {
  std::vector<double> v(static_cast<std::size_t>(ad::numel_of(s)));
  for (auto& x : v) {
    const double k = std::floor(gen.uniform(0.0, 7.0));
    x = (0.3 + 0.25 * k + offset + gen.uniform(0.0, 0.05)) * (gen.uniform() < 0.5 ? -1.0 : 1.0);
  }
  return ad::tensor(v, s, ad::dtype(ad::kFloat64));
}

// Numeric gradient of L(a, b) = sum(f(a, b) * w) w.r.t. input `which`, by central differences.
std::vector<double> numeric_grad(const BinOp& op, Tensor a, Tensor b, const Tensor& w, int which) {
  ad::NoGradGuard ng;
  a = a.detach().clone();
  b = b.detach().clone();
  Tensor& t = which == 0 ? a : b;
  std::vector<double> out(static_cast<std::size_t>(t.numel()));
  const double eps = 1e-6;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    double* p = t.data_ptr<double>() + i;
    const double orig = *p;
    *p = orig + eps;
    const double fp = (op.fn(a, b) * w).sum().item();
    *p = orig - eps;
    const double fm = (op.fn(a, b) * w).sum().item();
    *p = orig;
    out[static_cast<std::size_t>(i)] = (fp - fm) / (2 * eps);
  }
  return out;
}

TEST(NumericsBroadcasting, GradientShapesEqualInputShapesAndValuesMatchNumerics) {
  const std::vector<BinOp> ops = {
      {"add", ad::add}, {"sub", ad::sub}, {"mul", ad::mul}, {"div", ad::div}, {"maximum", ad::maximum}};
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{3, 4}, {1, 4}}, {{3, 4}, {4}},    {{2, 1, 4, 8}, {2, 1, 4, 1}}, {{}, {2, 3}}, {{1, 4}, {3, 4}}, {{4}, {3, 4}},
      {{2, 3}, {}},     {{3, 1}, {1, 4}},
  };
  std::uint64_t seed = 100;
  for (const auto& op : ops) {
    for (const auto& [sa, sb] : pairs) {
      SCOPED_TRACE(std::string(op.name) + " " + ad::shape_str(sa) + " with " + ad::shape_str(sb));
      ad::Generator gen(seed++);
      Tensor a = random_in(sa, gen, 0.0).requires_grad_();
      Tensor b = random_in(sb, gen, 0.1).requires_grad_();
      const Tensor y = op.fn(a, b);
      EXPECT_EQ(y.shape(), ad::broadcast_shapes(sa, sb, "test"));
      const Tensor w = ad::randn(y.shape(), ad::dtype(ad::kFloat64), &gen);
      (y * w).sum().backward();
      ASSERT_TRUE(a.grad().defined());
      ASSERT_TRUE(b.grad().defined());
      EXPECT_EQ(a.grad().shape(), sa);
      EXPECT_EQ(b.grad().shape(), sb);
      EXPECT_EQ(a.grad().dtype(), ad::kFloat64);
      const auto na = numeric_grad(op, a, b, w, 0), nb = numeric_grad(op, a, b, w, 1);
      const auto ga = a.grad().to_vector(), gb = b.grad().to_vector();
      for (std::size_t i = 0; i < na.size(); ++i)
        EXPECT_NEAR(ga[i], na[i], 1e-6 + 1e-6 * std::abs(na[i])) << "a[" << i << "]";
      for (std::size_t i = 0; i < nb.size(); ++i)
        EXPECT_NEAR(gb[i], nb[i], 1e-6 + 1e-6 * std::abs(nb[i])) << "b[" << i << "]";
      const auto r = ad::gradcheck([&op](const TV& x) { return op.fn(x[0], x[1]); }, {a, b});
      EXPECT_TRUE(r.ok) << r.report;
    }
  }
}

// ======================================================================== determinism

struct Model {
  Tensor x, w, b, t;
};

Model make_model(ad::Dtype dt) {
  ad::Generator gen(42);
  Model m;
  m.x = ad::randn({8, 16}, ad::dtype(dt), &gen).requires_grad_();
  m.w = ad::randn({16, 5}, ad::dtype(dt), &gen).requires_grad_();
  m.b = ad::randn({5}, ad::dtype(dt), &gen).requires_grad_();
  m.t = ad::rand({8, 5}, ad::dtype(dt), &gen);
  return m;
}

Tensor model_loss(const Model& m) {
  const Tensor h = ad::tanh(ad::matmul(m.x, m.w) + m.b);
  const Tensor ls = ad::log_softmax(h * 3.0, 1);
  return -(ls * m.t).sum() + (m.x * m.x).mean() + ad::amax(h, {0}).sum() +
         ad::sigmoid(m.b).sum() * ad::logsumexp(h, {1}).mean();
}

std::vector<unsigned char> bytes_of(const Tensor& t) {
  std::vector<unsigned char> v(static_cast<std::size_t>(t.numel()) * ad::dtype_size(t.dtype()));
  if (t.dtype() == ad::kFloat32)
    std::memcpy(v.data(), t.data_ptr<float>(), v.size());
  else
    std::memcpy(v.data(), t.data_ptr<double>(), v.size());
  return v;
}

// memcmp of the two tensors' bytes (same dtype and shape required).
bool same_bits(const Tensor& p, const Tensor& q) {
  if (!p.defined() || !q.defined() || p.dtype() != q.dtype() || p.shape() != q.shape()) return false;
  const auto bp = bytes_of(p), bq = bytes_of(q);
  return std::memcmp(bp.data(), bq.data(), bp.size()) == 0;
}

TEST(NumericsDeterminism, SameBackwardTwiceGivesBitIdenticalGradients) {
  for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64}) {
    SCOPED_TRACE(dname(dt));
    // Two independent builds of the same graph.
    Model m1 = make_model(dt), m2 = make_model(dt);
    model_loss(m1).backward();
    model_loss(m2).backward();
    EXPECT_TRUE(same_bits(m1.x.grad(), m2.x.grad()));
    EXPECT_TRUE(same_bits(m1.w.grad(), m2.w.grad()));
    EXPECT_TRUE(same_bits(m1.b.grad(), m2.b.grad()));
    EXPECT_TRUE(all_finite(m1.w.grad()));

    // The same retained graph twice, with zero_grad in between.
    Model m3 = make_model(dt);
    const Tensor loss = model_loss(m3);
    loss.backward({}, ad::BackwardOptions{.retain_graph = true, .create_graph = false});
    const Tensor first = m3.w.grad().clone();
    m3.x.zero_grad();
    m3.w.zero_grad();
    m3.b.zero_grad();
    loss.backward({}, ad::BackwardOptions{.retain_graph = true, .create_graph = false});
    EXPECT_TRUE(same_bits(first, m3.w.grad()));
    EXPECT_TRUE(same_bits(first, m1.w.grad()));
    EXPECT_TRUE(same_bits(m3.x.grad(), m1.x.grad()));

    // ad::grad returns the same bits as .grad.
    Model m4 = make_model(dt);
    const auto gs = ad::grad({model_loss(m4)}, {m4.x, m4.w, m4.b});
    EXPECT_TRUE(same_bits(gs[0], m1.x.grad()));
    EXPECT_TRUE(same_bits(gs[1], m1.w.grad()));
    EXPECT_TRUE(same_bits(gs[2], m1.b.grad()));
  }
}

// ======================================================================== higher order

TEST(NumericsHigherOrder, SecondDerivativeOfLinearIsZeroNotAnError) {
  for (int form = 0; form < 3; ++form) {
    SCOPED_TRACE("form " + std::to_string(form));
    Tensor x = leaf({1.5});
    const Tensor y = form == 0 ? 2.0 * x : form == 1 ? x * 2.0 : x + x;
    const auto g = ad::grad({y}, {x}, {},
                            ad::GradOptions{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false});
    ASSERT_TRUE(g[0].defined());
    EXPECT_EQ(g[0].item(), 2.0);
    std::vector<Tensor> g2;
    EXPECT_NO_THROW(
        g2 = ad::grad({g[0]}, {x}, {},
                      ad::GradOptions{.retain_graph = std::nullopt, .create_graph = false, .allow_unused = true}))
        << "d2(2x)/dx2 must be undefined or zero, not an error";
    if (!g2.empty() && g2[0].defined()) {
      for (double v : g2[0].to_vector()) EXPECT_EQ(v, 0.0);
    }
  }
}

TEST(NumericsHigherOrder, SecondDerivativeOfSquareIsTwo) {
  Tensor x = leaf({1.5, -0.5});
  const auto g = ad::grad({(x * x).sum()}, {x}, {},
                          ad::GradOptions{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false});
  EXPECT_EQ(g[0].to_vector(), (std::vector<double>{3.0, -1.0}));
  const auto h = ad::grad({g[0].sum()}, {x});
  EXPECT_EQ(h[0].to_vector(), (std::vector<double>{2.0, 2.0}));
  // third derivative of x^3 is 6
  Tensor z = leaf({0.7});
  const auto d1 = ad::grad({ad::pow(z, 3.0).sum()}, {z}, {},
                           ad::GradOptions{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false});
  const auto d2 = ad::grad({d1[0].sum()}, {z}, {},
                           ad::GradOptions{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false});
  const auto d3 = ad::grad({d2[0].sum()}, {z});
  EXPECT_NEAR(d1[0].item(), 3 * 0.49, 1e-15);
  EXPECT_NEAR(d2[0].item(), 6 * 0.7, 1e-15);
  EXPECT_NEAR(d3[0].item(), 6.0, 1e-15);
}

// x^p with a tensor exponent: d/dx at x = 0, p = 0 is 0 (x^0 = 1 everywhere), as for the scalar
// exponent, not 0 * 0^-1 = NaN; d/dp = x^p log x is 0 at x = 0, p >= 0. Also to second order.
TEST(NumericsPow, TensorExponentZeroAtZeroBaseHasZeroGradient) {
  Tensor x = leaf({0.0, 0.0, 0.5, 2.0});
  Tensor p = leaf({0.0, 1.0, 0.0, 3.0});
  ad::pow(x, p).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.0, 1.0, 0.0, 12.0}));
  EXPECT_EQ(p.grad().to_vector(), (std::vector<double>{0.0, 0.0, std::log(0.5), 8.0 * std::log(2.0)}));
  Tensor xs = leaf({0.0, 0.5});
  ad::pow(xs, 0.0).sum().backward();  // the scalar exponent agrees
  EXPECT_EQ(xs.grad().to_vector(), (std::vector<double>{0.0, 0.0}));

  // Central differences in x agree, p = 0 at x = 0 included (both sides give 1).
  const Tensor p_const = ad::tensor({0.0, 1.0, 2.5}, ad::dtype(ad::kFloat64));
  const auto f = [&](const std::vector<Tensor>& in) { return ad::pow(in[0], p_const); };
  const Tensor x0 = leaf({0.0, 0.7, 1.3});
  const ad::GradcheckResult first = ad::gradcheck(f, {x0});
  EXPECT_TRUE(first.ok) << first.report;
  const ad::GradcheckResult second = ad::gradgradcheck(f, {x0});
  EXPECT_TRUE(second.ok) << second.report;
}

// Hessian of hypot(x, y) = sqrt(x^2 + y^2): [[y^2, -xy], [-xy, x^2]] / r^3.
void expect_hypot_hessian(double x0, double y0, const std::function<Tensor(const Tensor&, const Tensor&)>& f) {
  Tensor x = ad::scalar_tensor(x0, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor y = ad::scalar_tensor(y0, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor r = f(x, y);
  const double rr = std::hypot(x0, y0), r3 = rr * rr * rr;
  EXPECT_NEAR(r.item(), rr, 1e-15 * rr);
  const auto g = ad::grad({r}, {x, y}, {},
                          ad::GradOptions{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false});
  EXPECT_NEAR(g[0].item(), x0 / rr, 1e-15);
  EXPECT_NEAR(g[1].item(), y0 / rr, 1e-15);
  const double H[2][2] = {{y0 * y0 / r3, -x0 * y0 / r3}, {-x0 * y0 / r3, x0 * x0 / r3}};
  for (int i = 0; i < 2; ++i) {
    const auto row = ad::grad({g[static_cast<std::size_t>(i)]}, {x, y}, {},
                              ad::GradOptions{.retain_graph = true, .create_graph = false, .allow_unused = false});
    EXPECT_NEAR(row[0].item(), H[i][0], 1e-14) << "H[" << i << "][0]";
    EXPECT_NEAR(row[1].item(), H[i][1], 1e-14) << "H[" << i << "][1]";
  }
}

TEST(NumericsHigherOrder, HessianOfHypotEqualsAnalytic) {
  const auto via_mul = [](const Tensor& x, const Tensor& y) { return ad::sqrt(x * x + y * y); };
  const auto via_pow = [](const Tensor& x, const Tensor& y) { return ad::sqrt(ad::pow(x, 2.0) + ad::pow(y, 2.0)); };
  const auto via_stack = [](const Tensor& x, const Tensor& y) {
    const Tensor v = ad::stack({x, y});
    return ad::sqrt((v * v).sum());
  };
  for (auto [x0, y0] : {std::pair{3.0, 4.0}, std::pair{1.3, -0.7}, std::pair{-2.0, 0.5}}) {
    SCOPED_TRACE("at (" + std::to_string(x0) + ", " + std::to_string(y0) + ")");
    expect_hypot_hessian(x0, y0, via_mul);
    expect_hypot_hessian(x0, y0, via_pow);
    expect_hypot_hessian(x0, y0, via_stack);
  }
}

TEST(NumericsHigherOrder, QuadraticHessianVectorProductsEqualAv) {
  constexpr std::int64_t n = 400;
  ad::Generator gen(2024);
  const Tensor B = ad::randn({n, n}, ad::dtype(ad::kFloat64), &gen);
  const Tensor A = (B + ad::transpose(B, 0, 1)) * 0.5;  // symmetric, constant
  const double* a = A.data_ptr<double>();
  for (std::int64_t i = 0; i < 5; ++i) ASSERT_EQ(a[i * n + (i + 7)], a[(i + 7) * n + i]);
  auto Av = [&](const std::vector<double>& v) {
    std::vector<double> out(static_cast<std::size_t>(n), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < n; ++j) s += a[i * n + j] * v[static_cast<std::size_t>(j)];
      out[static_cast<std::size_t>(i)] = s;
    }
    return out;
  };

  Tensor x = ad::randn({n}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  const Tensor f = 0.5 * ad::matmul(x, ad::matmul(A, x));
  EXPECT_EQ(f.dim(), 0);
  const auto g = ad::grad({f}, {x}, {},
                          ad::GradOptions{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false});
  ASSERT_EQ(g[0].shape(), (Shape{n}));
  EXPECT_TRUE(g[0].requires_grad());
  const auto ax = Av(x.to_vector());
  const auto gv = g[0].to_vector();
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(gv[static_cast<std::size_t>(i)], ax[static_cast<std::size_t>(i)], 1e-9) << "grad[" << i << "]";

  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE("v #" + std::to_string(k));
    const Tensor v = ad::randn({n}, ad::dtype(ad::kFloat64), &gen);
    const auto hv =
        ad::grad({g[0]}, {x}, {v}, ad::GradOptions{.retain_graph = true, .create_graph = false, .allow_unused = false});
    ASSERT_TRUE(hv[0].defined());
    ASSERT_EQ(hv[0].shape(), (Shape{n}));
    const auto ref = Av(v.to_vector());
    const auto got = hv[0].to_vector();
    double max_err = 0;
    for (std::int64_t i = 0; i < n; ++i)
      max_err = std::max(max_err, std::abs(got[static_cast<std::size_t>(i)] - ref[static_cast<std::size_t>(i)]));
    EXPECT_LE(max_err, 1e-9);
  }
}

}  // namespace

namespace {

// The mean of no elements is NaN (0/0), as in PyTorch; the sum of none is 0. Its gradient is
// empty like its input.
TEST(NumericsMean, OfAnEmptyTensorIsNaN) {
  const Tensor e = ad::zeros({0, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
  EXPECT_TRUE(std::isnan(ad::mean(e).item()));
  EXPECT_EQ(ad::sum(e).item(), 0.0);
  const std::vector<double> by_col = ad::mean(e, {0}, false).to_vector();
  ASSERT_EQ(by_col.size(), 3u);
  for (const double v : by_col) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(ad::mean(e, {1}, false).numel(), 0);  // no rows: nothing to average, no NaN either
  ad::mean(e, {1}, false).sum().backward();
  EXPECT_EQ(e.grad().numel(), 0);
  const Tensor f = ad::zeros({0}, ad::dtype(ad::kFloat32));
  EXPECT_TRUE(std::isnan(ad::mean(f).item()));
}

}  // namespace

namespace {

// ---------------------------------------------------------------- reductions with published values

TEST(NumericsReductions, VarStdNormMatchHandComputedValues) {
  const ad::Tensor x = ad::tensor({1.0, 2.0, 3.0, 4.0}, ad::dtype(ad::kFloat64));
  EXPECT_DOUBLE_EQ(ad::var(x).item(), 5.0 / 3.0);  // sum of squared deviations 5, n - 1 = 3
  EXPECT_DOUBLE_EQ(ad::var(x, {}, 0).item(), 1.25);
  EXPECT_DOUBLE_EQ(ad::std(x).item(), std::sqrt(5.0 / 3.0));
  EXPECT_TRUE(std::isnan(ad::var(ad::tensor({2.0}, ad::dtype(ad::kFloat64))).item()));  // no degree of freedom left
  EXPECT_DOUBLE_EQ(ad::norm(ad::tensor({3.0, -4.0}, ad::dtype(ad::kFloat64))).item(), 5.0);
  EXPECT_DOUBLE_EQ(ad::norm(ad::tensor({3.0, -4.0}, ad::dtype(ad::kFloat64)), 1.0).item(), 7.0);
  EXPECT_DOUBLE_EQ(ad::norm(ad::tensor({3.0, -4.0}, ad::dtype(ad::kFloat64)), INFINITY).item(), 4.0);
  const ad::Tensor m = ad::tensor({1.0, 2.0, 3.0, 5.0}, {2, 2}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(ad::var(m, {1}).to_vector(), (std::vector<double>{0.5, 2.0}));
}

TEST(NumericsReductions, EveryReductionTakesOneDimOrAListWithKeepdim) {
  const Tensor x = ad::tensor({1, 2, 3, 4, 5, 6}, {2, 3}, ad::dtype(ad::kFloat64));
  using Reduce = std::function<Tensor(const Tensor&, const ad::Dims&, bool)>;
  const std::vector<std::pair<std::string, Reduce>> reductions = {
      {"sum", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::sum(a, d, k); }},
      {"mean", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::mean(a, d, k); }},
      {"prod", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::prod(a, d, k); }},
      {"amax", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::amax(a, d, k); }},
      {"amin", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::amin(a, d, k); }},
      {"logsumexp", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::logsumexp(a, d, k); }},
      {"var", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::var(a, d, 1, k); }},
      {"std", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::std(a, d, 1, k); }},
      {"norm", [](const Tensor& a, const ad::Dims& d, bool k) { return ad::norm(a, 2.0, d, k); }},
  };
  for (const auto& entry : reductions) {
    const auto& name = entry.first;  // named, not bound: clang 14 captures no bindings in a lambda
    const auto& r = entry.second;
    SCOPED_TRACE(name);
    EXPECT_EQ(r(x, 1, false).shape(), (Shape{2}));  // one dim, as an int
    EXPECT_EQ(r(x, -1, true).shape(), (Shape{2, 1}));
    EXPECT_EQ(r(x, {0, 1}, false).shape(), (Shape{}));  // a list
    EXPECT_EQ(r(x, {0, 1}, true).shape(), (Shape{1, 1}));
    EXPECT_EQ(r(x, {}, false).shape(), (Shape{}));  // none: all dims
    EXPECT_EQ(r(x, 1, false).to_vector(), r(x, {1}, false).to_vector());
    EXPECT_TRUE(contains(error_of([&] { r(x, 2, false); }), name + ": dim 2 is out of range"));
    EXPECT_TRUE(contains(error_of([&] { r(x, {1, -1}, false); }), name + ": dim"));  // repeated
  }
  EXPECT_EQ(x.sum(1).to_vector(), (std::vector<double>{6, 15}));  // the methods take an int too
  EXPECT_EQ(x.mean(0).to_vector(), (std::vector<double>{2.5, 3.5, 4.5}));
  EXPECT_EQ(x.prod(1).to_vector(), (std::vector<double>{6, 120}));
  EXPECT_EQ(x.logsumexp(0, true).shape(), (Shape{1, 3}));
}

TEST(NumericsReductions, ProdGradientIsExactAtZeros) {
  // rows: no zero, one zero, two zeros, three zeros
  ad::Tensor x =
      ad::tensor({2, 3, 4, 5, 2, 0, 3, 4, 0, 3, 0, 5, 0, 0, 0, 7}, {4, 4}, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor p = ad::prod(x, 1);
  EXPECT_EQ(p.to_vector(), (std::vector<double>{120, 0, 0, 0}));
  p.sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{60, 40, 30, 24,  // prod of the others
                                                       0, 24, 0, 0,     // only the zero gets 2*3*4
                                                       0, 0, 0, 0,      // two zeros: every product has one
                                                       0, 0, 0, 0}));
  EXPECT_EQ(ad::prod(ad::tensor({2, 3, 4}, {3, 1}, ad::dtype(ad::kFloat64)), {0, 1}, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(ad::prod(ad::zeros({0}, ad::dtype(ad::kFloat64))).item(), 1.0);  // the empty product
  EXPECT_EQ(ad::tensor({2, 3, 4}, {3, 1}, ad::dtype(ad::kFloat64)).prod(0).item(), 24.0);
  // gradcheck and gradgradcheck on inputs that are exactly 0 (prod is multilinear, so central
  // differences are exact): second derivatives are right with one and with two zeros in a row
  const auto f = [](const TV& in) { return ad::prod(in[0], 1); };
  const TV xs{x.detach().requires_grad_()};
  EXPECT_TRUE(ad::gradcheck(f, xs).ok) << ad::gradcheck(f, xs).report;
  EXPECT_TRUE(ad::gradgradcheck(f, xs).ok) << ad::gradgradcheck(f, xs).report;
}

TEST(NumericsReductions, NormOfTheZeroVectorHasGradientZero) {
  ad::Tensor z = ad::zeros({3}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::norm(z).backward();
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{0, 0, 0}));
}

TEST(NumericsReductions, MaxWithIndicesTakesTheFirstTieAndRoutesTheGradientThere) {
  ad::Tensor x = ad::tensor({1.0, 7.0, 7.0, 2.0, 9.0, 0.0}, {2, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
  const auto [values, indices] = ad::max(x, 1);
  EXPECT_EQ(values.to_vector(), (std::vector<double>{7, 9}));
  EXPECT_EQ(indices.dtype(), ad::kInt64);
  EXPECT_EQ(indices.to_vector(), (std::vector<double>{1, 1}));  // the first of the tied 7s
  values.sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 0, 0, 1, 0}));
  const auto mn = x.min(0, true);
  EXPECT_EQ(mn.values.shape(), (ad::Shape{1, 3}));
  EXPECT_EQ(mn.indices.to_vector(), (std::vector<double>{0, 0, 1}));
  // amax shares the gradient among ties instead
  ad::Tensor y = ad::tensor({7.0, 7.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::amax(y).backward();
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{0.5, 0.5}));
}

TEST(NumericsReductions, ItemConvertsAndRefusesWhatHasNoInteger) {
  EXPECT_EQ(ad::scalar_tensor(2.75, ad::dtype(ad::kFloat64)).item<float>(), 2.75f);
  EXPECT_EQ(ad::scalar_tensor(-3.0, ad::dtype(ad::kFloat64)).item<int>(), -3);
  EXPECT_EQ(ad::index_tensor({std::int64_t{1} << 62}, {}).item<std::int64_t>(), std::int64_t{1} << 62);  // exact
  EXPECT_TRUE(ad::scalar_tensor(1.0, ad::dtype(ad::kFloat64)).item<bool>());
  EXPECT_THROW(ad::scalar_tensor(NAN, ad::dtype(ad::kFloat64)).item<int>(), ad::Error);
  EXPECT_THROW(ad::scalar_tensor(3e9, ad::dtype(ad::kFloat64)).item<int>(), ad::Error);
  EXPECT_THROW(ad::index_tensor({std::int64_t{1} << 40}, {}).item<int>(), ad::Error);
}

// x * c, c * x and x / c with c a number keep c in the node instead of a 0-d tensor of it: the
// first and second derivatives are the bits of the same op with a 0-d tensor operand, and the
// graph still shows the constant as an input.
TEST(NumericsArithmetic, NumberOperandsGiveTheDerivativesOfA0dTensorOperand) {
  for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64}) {
    const Tensor x = ad::tensor({-1.5, 0.0, 2.0, 1e-3}, ad::dtype(dt)).requires_grad_();
    const Tensor c = ad::scalar_tensor(-2.5, ad::dtype(dt));
    const std::vector<std::pair<Tensor, Tensor>> pairs = {{x * -2.5, x * c}, {-2.5 * x, c * x}, {x / -2.5, x / c}};
    for (const auto& pr : pairs) {
      const Tensor lean = pr.first, tensor_path = pr.second;
      EXPECT_EQ(lean.to_vector(), tensor_path.to_vector());
      // first derivative (of a non-linear use, so the second is not zero) and the second
      auto d = [&](const Tensor& y) {
        return ad::grad({(y * y).sum()}, {x}, {}, ad::GradOptions{.retain_graph = true, .create_graph = true})[0];
      };
      const Tensor g1 = d(lean), g2 = d(tensor_path);
      EXPECT_EQ(g1.detach().to_vector(), g2.detach().to_vector());
      EXPECT_EQ(ad::grad({g1.sum()}, {x})[0].to_vector(), ad::grad({g2.sum()}, {x})[0].to_vector());
      EXPECT_EQ(count_edges(ad::to_dot(lean)), count_edges(ad::to_dot(tensor_path)));
    }
  }
}

}  // namespace
