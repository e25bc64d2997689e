// Matrix products (ops/linalg.cpp on kernels/gemm.cpp): Float32 runs on oneDNN, Float64 on
// OpenBLAS; both must agree with a plain triple loop in every layout the ops hand them.
// Gradients are in the op catalog (test_ops_gradcheck.cpp).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <thread>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;

// The product of the last two dims, one batch at a time, by the definition (in double).
std::vector<double> reference_matmul(const Tensor& a, const Tensor& b) {
  const Tensor ac = a.to(ad::kFloat64).contiguous(), bc = b.to(ad::kFloat64).contiguous();
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const std::int64_t batches = a.dim() == 3 ? a.size(0) : 1;
  const std::vector<double> av = ac.to_vector(), bv = bc.to_vector();
  std::vector<double> out(static_cast<std::size_t>(batches * m * n), 0.0);
  for (std::int64_t p = 0; p < batches; ++p)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t l = 0; l < k; ++l)
          s +=
              av[static_cast<std::size_t>(p * m * k + i * k + l)] * bv[static_cast<std::size_t>(p * k * n + l * n + j)];
        out[static_cast<std::size_t>(p * m * n + i * n + j)] = s;
      }
  return out;
}

TEST(Linalg, BothDtypesMatchTheDefinitionInEveryLayout) {
  ad::Generator gen(5);
  // odd sizes (not multiples of any vector width), a tall-skinny one, an empty sum
  for (const auto& [m, k, n] :
       std::vector<std::array<std::int64_t, 3>>{{1, 1, 1}, {7, 13, 5}, {33, 17, 65}, {130, 3, 2}, {4, 0, 3}}) {
    for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64}) {
      SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + " " + ad::dtype_name(dt));
      const Tensor a = ad::randn({2, m, k}, ad::dtype(dt), &gen), b = ad::randn({2, k, n}, ad::dtype(dt), &gen);
      const std::vector<double> want = reference_matmul(a, b);
      const double tol = dt == ad::kFloat32 ? 1e-5 : 1e-12;
      // plain, both operands transposed views (read in place with the transpose flag), a sliced
      // operand (a leading dim larger than the row), and matmul_t's own flags
      const Tensor wide = ad::cat({b, b}, -1);
      for (const Tensor& got :
           {ad::matmul(a, b),
            ad::matmul(a.transpose(1, 2).contiguous().transpose(1, 2), b.transpose(1, 2).contiguous().transpose(1, 2)),
            ad::matmul(a, wide.slice(-1, 0, n)),
            ad::matmul_t(a.transpose(1, 2).contiguous(), b.transpose(1, 2).contiguous(), true, true)}) {
        ASSERT_EQ(got.shape(), (Shape{2, m, n}));
        EXPECT_EQ(got.dtype(), dt);
        const std::vector<double> g = got.to_vector();
        for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], tol * (1 + std::abs(want[i]))) << i;
      }
    }
  }
}

TEST(Linalg, Float32ProductsAreBitIdenticalRunToRun) {
  ad::Generator gen(9);
  const Tensor a = ad::randn({300, 200}, {}, &gen), b = ad::randn({200, 100}, {}, &gen);
  const std::vector<double> first = ad::matmul(a, b).to_vector();
  for (int r = 0; r < 3; ++r) EXPECT_EQ(ad::matmul(a, b).to_vector(), first);
}

TEST(Linalg, OneThreadCountForEveryThread) {
  const int before = ad::get_num_threads();
  EXPECT_GE(before, 1);
  ad::Generator gen(3);
  const Tensor a = ad::randn({64, 48}, {}, &gen), b = ad::randn({48, 32}, {}, &gen);
  const std::vector<double> want = ad::matmul(a, b).to_vector();
  ad::set_num_threads(1);
  EXPECT_EQ(ad::get_num_threads(), 1);
  std::vector<double> got;
  std::thread t([&] {  // a thread started later uses the same count
    EXPECT_EQ(ad::get_num_threads(), 1);
    got = ad::matmul(a, b).to_vector();
  });
  t.join();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i])));
  EXPECT_TRUE(ad::testing::contains(ad::testing::error_of([] { ad::set_num_threads(0); }),
                                    "set_num_threads: the count must be >= 1, got 0"));
  ad::set_num_threads(before);
  EXPECT_EQ(ad::get_num_threads(), before);
}

}  // namespace
