// embedding, one_hot, dropout and cumsum (autodiff/ops/layers.cpp): values by hand, the padding
// row's missing gradient, the dropout mask's statistics and seed, Int64 cumsum, and errors.
// Gradients are in the op catalog (test_ops_gradcheck.cpp).
#include <gtest/gtest.h>

#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::error_of;

bool has(const std::string& m, const std::string& part) { return m.find(part) != std::string::npos; }

TEST(Embedding, PicksRowsAndGivesTheirGradientsExceptThePaddingRow) {
  Tensor w = ad::tensor({0, 1, 10, 11, 20, 21}, {3, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor index = ad::index_tensor({2, 0, 2, 1}, {2, 2});
  const Tensor y = ad::embedding(index, w);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{20, 21, 0, 1, 20, 21, 10, 11}));
  y.sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{1, 1, 1, 1, 2, 2}));  // row 2 used twice
  w.zero_grad();
  const Tensor yp = ad::embedding(index, w, 2);
  EXPECT_EQ(yp.to_vector(), y.to_vector());  // the padding row's values are still read
  yp.sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{1, 1, 1, 1, 0, 0}));
  EXPECT_TRUE(has(error_of([&] { ad::embedding(ad::index_tensor({3}), w); }), "embedding: index 3 is out of range"));
  EXPECT_TRUE(has(error_of([&] { ad::embedding(ad::tensor({1.0}), w); }), "must be an Int64 tensor"));
  EXPECT_TRUE(has(error_of([&] { ad::embedding(ad::index_tensor({0}), w, 3); }), "padding_idx 3 is out of range"));
}

TEST(OneHot, RowsAndInferredClassCount) {
  const Tensor h = ad::one_hot(ad::index_tensor({2, 0, 1}));
  EXPECT_EQ(h.dtype(), ad::kInt64);
  EXPECT_EQ(h.shape(), (Shape{3, 3}));
  EXPECT_EQ(h.to_vector(), (std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(ad::one_hot(ad::index_tensor({1, 0}, {2, 1}), 4).shape(), (Shape{2, 1, 4}));
  EXPECT_TRUE(has(error_of([] { ad::one_hot(ad::index_tensor({4}), 4); }), "out of range for num_classes = 4"));
  EXPECT_TRUE(has(error_of([] { ad::one_hot(ad::index_tensor({-1})); }), "out of range"));
}

TEST(DropoutFunction, KeepsAboutOneMinusPScalesThemAndRepeatsWithTheSeed) {
  const Tensor x = ad::ones({100000}, ad::dtype(ad::kFloat64));
  ad::Generator g1(11), g2(11);
  const Tensor a = ad::dropout(x, 0.25, true, &g1), b = ad::dropout(x, 0.25, true, &g2);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  std::int64_t kept = 0;
  for (double v : a.to_vector()) {
    EXPECT_TRUE(v == 0.0 || v == 1.0 / 0.75) << v;
    kept += v != 0.0;
  }
  EXPECT_NEAR(static_cast<double>(kept) / 100000.0, 0.75, 0.01);  // 7 standard deviations
  EXPECT_EQ(ad::dropout(x, 0.25, false).impl(), x.impl());        // eval: the input itself
  EXPECT_TRUE(has(error_of([&] { ad::dropout(x, 1.0); }), "p must be in [0, 1)"));
}

TEST(Cumsum, RunningSumsAlongADimAndInt64Overflow) {
  const Tensor a = ad::tensor({1, 2, 3, 4, 5, 6}, {2, 3}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(ad::cumsum(a, 1).to_vector(), (std::vector<double>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(ad::cumsum(a, 0).to_vector(), (std::vector<double>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(ad::cumsum(a, -1).to_vector(), ad::cumsum(a, 1).to_vector());
  const Tensor i = ad::cumsum(ad::index_tensor({1, 2, 3}), 0);
  EXPECT_EQ(i.dtype(), ad::kInt64);
  EXPECT_EQ(i.to_vector(), (std::vector<double>{1, 3, 6}));
  const std::int64_t big = std::int64_t{1} << 62;
  EXPECT_TRUE(has(error_of([&] {
                    ad::cumsum(ad::index_tensor({big, big}), 0);
                  }),
                  "cumsum: the Int64 running sum overflows"));
  // the gradient of sum(w * cumsum(x)) is the running sum of w from the end
  Tensor x = ad::zeros({4}, ad::dtype(ad::kFloat64)).requires_grad_();
  (ad::cumsum(x, 0) * ad::tensor({1, 2, 3, 4}, ad::dtype(ad::kFloat64))).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{10, 9, 7, 4}));
}

}  // namespace
