// The vectorized kernels (kernels/simd.cpp) on every instruction set this CPU has: math within
// Highway's documented ulps of libm and libm's own values at the edges, arithmetic bit for bit,
// the fused activation backward equal to the composite rule, accurate sums, the same bits on 1
// and 2 threads, and the dispatch picking the best instruction set the CPU has.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/kernels/simd.h"
#include "tests/test_util.h"

namespace {

using ad::Tensor;
using ad::kernels::Binary;
using ad::kernels::Unary;

// The cap this process started with (the capped ctest runs set ADGRAPH_MAX_ISA).
void restore_cap() {
  const char* cap = std::getenv("ADGRAPH_MAX_ISA");
  ad::kernels::limit_simd(cap ? cap : "");
}

// The instruction sets the CPU runs, best first (limit_simd caps the dispatch at each in turn).
std::vector<std::string> isas_here() {
  std::vector<std::string> out;
  for (const char* isa : {"AVX3", "AVX2", "SCALAR"}) {
    ad::kernels::limit_simd(isa);
    if (ad::simd_isa() == isa) out.push_back(isa);
  }
  restore_cap();
  return out;
}

// Restores the uncapped dispatch at scope exit.
struct IsaCap {
  explicit IsaCap(const std::string& isa) { ad::kernels::limit_simd(isa); }
  ~IsaCap() { restore_cap(); }
};

// The distance in units in the last place between two finite values of T.
template <class T>
double ulps(T a, T b) {
  using I = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  auto key = [](T x) {
    I i = std::bit_cast<I>(x);
    return i < 0 ? std::numeric_limits<I>::min() - i : i;  // monotone in x, -0 next to +0
  };
  return std::abs(static_cast<double>(key(a)) - static_cast<double>(key(b)));
}

// Ordinary points, the range edges of Highway's functions and libm's special values.
template <class T>
std::vector<T> points() {
  using L = std::numeric_limits<T>;
  std::vector<T> p = {0,
                      -0.0f,
                      1,
                      -1,
                      0.5,
                      -0.5,
                      1e-3,
                      -1e-3,
                      2.5,
                      -3.5,
                      10,
                      -10,
                      30,
                      -30,
                      86.9f,
                      -86.9f,
                      88.5f,
                      -88.5f,
                      104,
                      -104,
                      700,
                      -700,
                      707,
                      -707,
                      710,
                      -710,
                      38999,
                      -38999,
                      39001,
                      -39001,
                      1e6,
                      -1e6,
                      L::min(),
                      -L::min(),
                      L::denorm_min(),
                      L::max(),
                      -L::max(),
                      L::infinity(),
                      -L::infinity(),
                      L::quiet_NaN()};
  for (int i = -400; i <= 400; ++i) p.push_back(static_cast<T>(i) * T(0.0173));
  return p;
}

// The bound in ulps Highway documents for each function, plus 1 for libm's own error.
double ulp_bound(Unary op) {
  switch (op) {
    case Unary::exp:
      return 2;
    case Unary::sin:
    case Unary::cos:
      return 4;
    case Unary::log:
    case Unary::tanh:
      return 5;
    case Unary::sigmoid:  // an exp, an add and a division
      return 4;
    default:
      return 0;  // neg, abs, sqrt, relu: exact
  }
}

template <class T>
T reference(Unary op, T x) {
  switch (op) {
    case Unary::neg:
      return -x;
    case Unary::abs:
      return std::abs(x);
    case Unary::sqrt:
      return std::sqrt(x);
    case Unary::exp:
      return std::exp(x);
    case Unary::log:
      return std::log(x);
    case Unary::sin:
      return std::sin(x);
    case Unary::cos:
      return std::cos(x);
    case Unary::tanh:
      return std::tanh(x);
    case Unary::sigmoid:
      return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
    case Unary::relu:
      return x > 0 ? x : T(0);
  }
  return x;
}

template <class T>
void check_unary_on(const std::string& isa) {
  const std::vector<T> in = points<T>();
  const auto n = static_cast<std::int64_t>(in.size());
  for (Unary op : {Unary::neg, Unary::abs, Unary::sqrt, Unary::exp, Unary::log, Unary::sin, Unary::cos, Unary::tanh,
                   Unary::sigmoid, Unary::relu}) {
    std::vector<T> out(in.size()), strided(in.size() / 3);
    ad::kernels::unary(op, in.data(), 1, out.data(), n);
    ad::kernels::unary(op, in.data(), 3, strided.data(), static_cast<std::int64_t>(strided.size()));
    for (std::size_t i = 0; i < in.size(); ++i) {
      const T want = reference(op, in[i]);
      SCOPED_TRACE(isa + " op " + std::to_string(static_cast<int>(op)) + " at " + std::to_string(in[i]) + ": got " +
                   std::to_string(out[i]) + ", libm " + std::to_string(want));
      if (std::isnan(want) || std::isinf(want)) {
        EXPECT_TRUE(std::memcmp(&want, &out[i], sizeof(T)) == 0 || (std::isnan(want) && std::isnan(out[i])));
      } else {
        ASSERT_TRUE(std::isfinite(out[i]));
        // the result of a tiny argument may be subnormal, where ulps are absolute
        const bool tiny = std::abs(want) < std::numeric_limits<T>::min();
        EXPECT_LE(tiny ? std::abs(static_cast<double>(out[i] - want)) / std::numeric_limits<T>::denorm_min()
                       : ulps(out[i], want),
                  tiny ? 1e9 : ulp_bound(op));
      }
      if (i % 3 == 0 && i / 3 < strided.size()) {  // a strided input gives the contiguous result
        EXPECT_EQ(std::memcmp(&strided[i / 3], &out[i], sizeof(T)), 0);
      }
    }
  }
}

TEST(Simd, MathIsWithinHighwaysUlpsOfLibmAndLibmAtTheEdgesOnEveryIsa) {
  const std::vector<std::string> isas = isas_here();
  ASSERT_FALSE(isas.empty());
  for (const std::string& isa : isas) {
    IsaCap cap(isa);
    check_unary_on<float>(isa);
    check_unary_on<double>(isa);
  }
}

template <class T>
T binary_reference(Binary op, T x, T y) {
  switch (op) {
    case Binary::add:
      return x + y;
    case Binary::sub:
      return x - y;
    case Binary::mul:
      return x * y;
    case Binary::div:
      return x / y;
    case Binary::mul_grad:
      return x == 0 ? T(0) : x * y;
    case Binary::div_grad:
      return x == 0 ? T(0) : x / y;
    case Binary::maximum:
      return x > y ? x : y;
    case Binary::minimum:
      return x < y ? x : y;
  }
  return x;
}

template <class T>
void check_binary_on(const std::string& isa) {
  const std::vector<T> a = points<T>();
  std::vector<T> b(a.rbegin(), a.rend());
  const auto n = static_cast<std::int64_t>(a.size());
  auto same = [](T x, T y) { return std::memcmp(&x, &y, sizeof(T)) == 0 || (std::isnan(x) && std::isnan(y)); };
  for (Binary op : {Binary::add, Binary::sub, Binary::mul, Binary::div, Binary::mul_grad, Binary::div_grad,
                    Binary::maximum, Binary::minimum}) {
    SCOPED_TRACE(isa + " op " + std::to_string(static_cast<int>(op)));
    std::vector<T> vv(a.size()), vs(a.size()), sv(a.size()), st(a.size() / 2), inplace = a;
    ad::kernels::binary(op, a.data(), 1, b.data(), 1, vv.data(), n);
    ad::kernels::binary(op, a.data(), 1, b.data() + 7, 0, vs.data(), n);
    ad::kernels::binary(op, a.data() + 7, 0, b.data(), 1, sv.data(), n);
    ad::kernels::binary(op, a.data(), 2, b.data(), 2, st.data(), static_cast<std::int64_t>(st.size()));
    ad::kernels::binary(op, inplace.data(), 1, b.data(), 1, inplace.data(), n);
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(same(vv[i], binary_reference(op, a[i], b[i]))) << i;
      EXPECT_TRUE(same(vs[i], binary_reference(op, a[i], b[7]))) << i;
      EXPECT_TRUE(same(sv[i], binary_reference(op, a[7], b[i]))) << i;
      EXPECT_TRUE(same(inplace[i], vv[i])) << i;
      if (i < st.size()) {
        EXPECT_TRUE(same(st[i], binary_reference(op, a[2 * i], b[2 * i]))) << i;
      }
    }
  }
}

TEST(Simd, ArithmeticIsBitForBitTheScalarFormulaInEveryLayoutOnEveryIsa) {
  for (const std::string& isa : isas_here()) {
    IsaCap cap(isa);
    check_binary_on<float>(isa);
    check_binary_on<double>(isa);
  }
}

// The fused backward of sigmoid, tanh and relu (taken when the backward is not recorded) against
// the composite rule (taken under create_graph), bit for bit, with a seed gradient that has
// zeros and infinities (mul_grad's rule: a zero gradient stays zero).
TEST(Simd, FusedActivationBackwardEqualsTheCompositeRuleBitForBit) {
  for (const std::string& isa : isas_here()) {
    IsaCap cap(isa);
    for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64}) {
      std::vector<double> xs, gs;
      for (double x : points<double>())
        if (std::isfinite(x) && std::abs(x) < 1e30) xs.push_back(x);
      for (std::size_t i = 0; i < xs.size(); ++i)
        gs.push_back(i % 5 == 0 ? 0.0 : i % 11 == 0 ? std::numeric_limits<double>::infinity() : 0.5 + 0.01 * i);
      const Tensor g = ad::tensor(gs, ad::dtype(dt)).requires_grad_();  // so the composite is recorded
      for (const char* name : {"sigmoid", "tanh", "relu"}) {
        SCOPED_TRACE(isa + " " + name);
        auto f = [&](const Tensor& x) {
          return std::string(name) == "sigmoid" ? ad::sigmoid(x)
                 : std::string(name) == "tanh"  ? ad::tanh(x)
                                                : ad::relu(x);
        };
        const Tensor x = ad::tensor(xs, ad::dtype(dt)).requires_grad_();
        const Tensor fused = ad::grad({f(x)}, {x}, {g})[0];
        const Tensor composite =
            ad::grad({f(x)}, {x}, {g}, ad::GradOptions{.retain_graph = false, .create_graph = true})[0];
        ASSERT_TRUE(composite.requires_grad());  // the composite path ran
        ASSERT_FALSE(fused.requires_grad());
        const std::vector<double> fv = fused.to_vector(), cv = composite.detach().to_vector();
        for (std::size_t i = 0; i < fv.size(); ++i)
          EXPECT_TRUE(std::bit_cast<std::uint64_t>(fv[i]) == std::bit_cast<std::uint64_t>(cv[i]) ||
                      (std::isnan(fv[i]) && std::isnan(cv[i])))
              << "at x = " << xs[i] << ": fused " << fv[i] << ", composite " << cv[i];
      }
    }
  }
}

// The vector max: the scalar loop's value at every length (full vectors and tails), NaN when
// any element is NaN wherever it sits, -inf for no elements.
TEST(Simd, MaxIsTheLargestElementAndNaNWhenAnyIsNaNOnEveryIsa) {
  for (const std::string& isa : isas_here()) {
    IsaCap cap(isa);
    std::vector<double> v;
    for (int i = 0; i < 70; ++i) v.push_back(std::sin(1.7 * i) * 100.0 - (i == 37 ? 0.0 : 1e3 * (i % 3 == 0)));
    const std::vector<float> f(v.begin(), v.end());
    for (std::size_t n = 1; n <= v.size(); ++n) {
      double want = -std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < n; ++i) want = std::max(want, v[i]);
      EXPECT_EQ(ad::kernels::max(v.data(), static_cast<std::int64_t>(n)), want) << isa << " n = " << n;
      EXPECT_EQ(ad::kernels::max(f.data(), static_cast<std::int64_t>(n)), static_cast<float>(want)) << isa;
      for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {  // in a full vector or in the tail
        std::vector<double> w(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
        w[at] = std::numeric_limits<double>::quiet_NaN();
        EXPECT_TRUE(std::isnan(ad::kernels::max(w.data(), static_cast<std::int64_t>(n)))) << isa << " n = " << n;
      }
    }
    EXPECT_EQ(ad::kernels::max(v.data(), 0), -std::numeric_limits<double>::infinity());
  }
}

// 10^7 float32 values of 0.1: a float loop drifts by 9% (the running sum's ulp outgrows 0.1);
// the kernel's blocks in double are within float rounding of the float64 sum.
TEST(Simd, Float32SumOf1e7ElementsDoesNotDriftAsANaiveLoopDoes) {
  constexpr std::int64_t kN = 10'000'000;
  const std::vector<float> v(kN, 0.1f);
  float naive = 0;
  for (float x : v) naive += x;
  const double exact = static_cast<double>(0.1f) * kN;
  ASSERT_GT(std::abs(naive - exact) / exact, 1e-2);  // the case is hard for a naive loop
  for (const std::string& isa : isas_here()) {
    IsaCap cap(isa);
    EXPECT_LT(std::abs(ad::kernels::sum(v.data(), kN) - exact) / exact, 1e-12) << isa;
    const Tensor t = ad::full({kN}, 0.1, ad::dtype(ad::kFloat32));
    EXPECT_LT(std::abs(t.sum().item() - exact) / exact, 1e-7) << isa;  // rounded once, to float
    EXPECT_LT(std::abs(t.mean().item() - 0.1) / 0.1, 1e-7) << isa;
  }
}

TEST(Simd, ResultsAreTheSameBitsOnOneAndTwoThreadsAndRunToRun) {
  const int before = ad::get_num_threads();
  ad::manual_seed(3);
  const Tensor a = ad::randn({300'001}), b = ad::randn({300'001});
  const Tensor m = ad::randn({700, 301}), row = ad::randn({301}), col = ad::randn({700, 1});
  auto run = [&] {
    std::vector<double> r = (ad::sigmoid(a) * ad::tanh(b) + ad::exp(a)).to_vector();
    r.push_back(a.sum().item());
    r.push_back(ad::log(ad::abs(b)).sum().item());
    // broadcast rows, strided rows and row sums, which are shared among threads by rows
    for (const Tensor& t : {m + row, m * col, ad::exp(m.t()), ad::sum(m, 1), ad::sum(m, 0), ad::mean(m, 0),
                            ad::amax(m, 1), ad::amin(m, 0), ad::softmax(m, 1)})
      for (double x : t.to_vector()) r.push_back(x);
    return r;
  };
  ad::set_num_threads(1);
  const std::vector<double> one = run();
  ad::set_num_threads(2);
  const std::vector<double> two = run(), again = run();
  ad::set_num_threads(before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(two, again);
}

// Row and column reductions of a large contiguous tensor (shared among threads by output
// elements) against sums and maxima computed here in double, on 2 threads.
TEST(Simd, ThreadedRowAndColumnReductionsMatchAReference) {
  const int before = ad::get_num_threads();
  ad::set_num_threads(2);
  ad::manual_seed(8);
  const Tensor m = ad::randn({513, 257}, ad::dtype(ad::kFloat64));
  const std::vector<double> v = m.to_vector(), rows = ad::sum(m, 1).to_vector(), cols = ad::sum(m, 0).to_vector(),
                            rmax = ad::amax(m, 1).to_vector(), cmin = ad::amin(m, 0).to_vector();
  ad::set_num_threads(before);
  for (std::size_t i = 0; i < 513; ++i) {
    double s = 0, mx = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < 257; ++j) {
      s += v[i * 257 + j];
      mx = std::max(mx, v[i * 257 + j]);
    }
    EXPECT_NEAR(rows[i], s, 1e-12) << "row " << i;
    EXPECT_EQ(rmax[i], mx) << "row " << i;
  }
  for (std::size_t j = 0; j < 257; ++j) {
    double s = 0, mn = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < 513; ++i) {
      s += v[i * 257 + j];
      mn = std::min(mn, v[i * 257 + j]);
    }
    EXPECT_EQ(cols[j], s) << "column " << j;  // the same order: rows top to bottom
    EXPECT_EQ(cmin[j], mn) << "column " << j;
  }
}

// The dispatch runs the best instruction set the CPU has (Highway's requirements for each).
TEST(Simd, DispatchPicksTheBestInstructionSetOfThisCpu) {
  __builtin_cpu_init();
  const char* want = "SCALAR";
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw"))
    want = "AVX3";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    want = "AVX2";
  // ADGRAPH_MAX_ISA may cap it (the capped ctest runs); the uncapped dispatch picks `want`
  const char* cap = std::getenv("ADGRAPH_MAX_ISA");
  if (cap == nullptr) {
    EXPECT_EQ(ad::simd_isa(), want);
  }
  ad::kernels::limit_simd("");
  EXPECT_EQ(ad::simd_isa(), want);
  restore_cap();
  EXPECT_TRUE(ad::testing::contains(ad::testing::error_of([] { ad::kernels::limit_simd("AVX9"); }),
                                    "limit_simd: unknown instruction set 'AVX9'; use AVX3, AVX2 or SCALAR"));
}

}  // namespace
