// The row kernels of softmax, log_softmax and logsumexp (kernels/softmax.cpp): the same bits as
// the composite ops they replace, on every instruction set, on 1 and 2 threads, and the same
// special values; the ops still take the composite path for other layouts.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/kernels/simd.h"

namespace {

using ad::Shape;
using ad::Tensor;

// Equal bits, or both NaN.
void expect_same_bits(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  const std::vector<double> g = got.to_vector(), w = want.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i)
    EXPECT_TRUE(std::bit_cast<std::uint64_t>(g[i]) == std::bit_cast<std::uint64_t>(w[i]) ||
                (std::isnan(g[i]) && std::isnan(w[i])))
        << "element " << i << ": " << g[i] << " vs " << w[i];
}

// The composite formulas of ops/softmax.cpp over the last dim, for finite inputs (whose max is
// finite): lse = log(sum(exp(x - m))) + m.
Tensor composite_lse(const Tensor& x) {
  const Tensor m = ad::amax(x, {-1}, true);
  return ad::log(ad::sum(ad::exp(x - m), {-1}, true)) + m;
}

// The cap this process started with (the capped ctest runs set ADGRAPH_MAX_ISA).
void restore_cap() {
  const char* cap = std::getenv("ADGRAPH_MAX_ISA");
  ad::kernels::limit_simd(cap ? cap : "");
}

TEST(SoftmaxRows, SameBitsAsTheCompositeOpsOnEveryIsaAndThreadCount) {
  const int before = ad::get_num_threads();
  ad::manual_seed(11);
  // one row, a column of one-element rows, rows of a 3-d tensor, and enough rows to be threaded
  const std::vector<Shape> shapes = {{1000}, {5, 1}, {7, 33}, {2, 3, 17}, {700, 301}, {3, 40000}};
  for (const char* isa : {"AVX3", "AVX2", "SCALAR"}) {
    ad::kernels::limit_simd(isa);
    if (ad::simd_isa() != isa) continue;  // this CPU has not got it
    for (int threads : {1, 2}) {
      ad::set_num_threads(threads);
      for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64})
        for (const Shape& s : shapes) {
          SCOPED_TRACE(std::string(isa) + ", " + std::to_string(threads) + " threads, " + ad::shape_str(s) + " " +
                       ad::dtype_name(dt));
          const Tensor x = ad::randn(s, ad::dtype(dt)) * 30.0;  // spread: exp underflows in places
          const Tensor lse = composite_lse(x);
          expect_same_bits(ad::logsumexp(x, {-1}, true), lse);
          expect_same_bits(ad::logsumexp(x, {-1}, false), ad::sum(lse, {-1}, false));
          expect_same_bits(ad::log_softmax(x, -1), x - lse);
          expect_same_bits(ad::softmax(x, -1), ad::exp(x - lse));
        }
    }
  }
  restore_cap();
  ad::set_num_threads(before);
}

// The fused backward (a plain backward) against the composite rule (the same backward recorded
// with create_graph), bit for bit, on every instruction set and thread count.
TEST(SoftmaxRows, FusedBackwardIsTheCompositeRuleBitForBit) {
  const int before = ad::get_num_threads();
  ad::manual_seed(12);
  for (const char* isa : {"AVX3", "AVX2", "SCALAR"}) {
    ad::kernels::limit_simd(isa);
    if (ad::simd_isa() != isa) continue;
    for (int threads : {1, 2})
      for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64})
        for (const Shape& s : {Shape{9}, Shape{4, 1}, Shape{6, 35}, Shape{500, 300}}) {
          ad::set_num_threads(threads);
          SCOPED_TRACE(std::string(isa) + ", " + std::to_string(threads) + " threads, " + ad::shape_str(s) + " " +
                       ad::dtype_name(dt));
          const Tensor x = (ad::randn(s, ad::dtype(dt)) * 5.0).requires_grad_();
          const Tensor w = ad::randn(s, ad::dtype(dt)).requires_grad_();  // so the composite is recorded
          for (bool log : {true, false}) {
            auto f = [&] { return ((log ? ad::log_softmax(x, -1) : ad::softmax(x, -1)) * w).sum(); };
            const Tensor fused = ad::grad({f()}, {x})[0];
            const Tensor composite =
                ad::grad({f()}, {x}, {}, ad::GradOptions{.retain_graph = false, .create_graph = true})[0];
            ASSERT_TRUE(composite.requires_grad());  // the composite rule ran
            expect_same_bits(fused, composite.detach());
          }
        }
  }
  restore_cap();
  ad::set_num_threads(before);
}

// Infinities and NaN give what the composite path (a transposed input, reduced along dim 0)
// gives: a row with +inf has lse +inf, a row of -inf has lse -inf, NaN spreads over its row; a
// row of signed zeros (whose vector max may be either zero) gives amax's bits.
TEST(SoftmaxRows, SpecialValuesMatchTheCompositePath) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64}) {
    const Tensor x = ad::tensor({1.0, inf, -2.0, -inf, -inf, -inf, 3.0, nan, 0.5, 1e30, -1e30, 2.0, -0.0, 0.0, -0.0},
                                {5, 3}, ad::dtype(dt));
    const Tensor xt = x.t().contiguous().t();  // the same values, not contiguous: the composite path
    ASSERT_FALSE(xt.is_contiguous());
    expect_same_bits(ad::logsumexp(x, {1}, false), ad::logsumexp(xt, {1}, false));
    expect_same_bits(ad::log_softmax(x, 1), ad::log_softmax(xt, 1));
    expect_same_bits(ad::softmax(x, 1), ad::softmax(xt, 1));
    const std::vector<double> lse = ad::logsumexp(x, {1}, false).to_vector();
    EXPECT_EQ(lse[0], inf);
    EXPECT_EQ(lse[1], -inf);
    EXPECT_TRUE(std::isnan(lse[2]));
    EXPECT_NEAR(lse[3], 1e30, 1e24);
    EXPECT_EQ(ad::softmax(x, 1).at({3, 0}), 1.0);
    EXPECT_NEAR(lse[4], std::log(3.0), 1e-6);
  }
}

// Reducing other dims, or size-1 dims besides the last, is the same op either way.
TEST(SoftmaxRows, OtherDimsAndSizeOneDimsAgreeWithTheRowPath) {
  ad::manual_seed(5);
  const Tensor x = ad::randn({1, 4, 6}, ad::dtype(ad::kFloat64));
  // dims {0, 2} on [1, 4, 6] reduces the last dim only (dim 0 has size 1): the row kernel
  expect_same_bits(ad::logsumexp(x, {0, 2}, false), ad::logsumexp(x, {2}, false).reshape({4}));
  expect_same_bits(ad::logsumexp(x, {0, 2}, true), ad::logsumexp(x, {2}, true));
  // softmax along dim 1 is the composite path; the transposed tensor's last dim is that dim
  const Tensor along1 = ad::softmax(x, 1);
  const Tensor via_rows = ad::softmax(x.transpose(1, 2).contiguous(), -1).transpose(1, 2);
  const std::vector<double> a = along1.to_vector(), b = via_rows.contiguous().to_vector();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-15);
}

}  // namespace
