// clip_grad_norm_ and clip_grad_value_: hand-computed norms (2, 1, inf), scaling only above
// max_norm, the non-finite error that changes nothing, and value clamping.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/optim/clip_grad.h"
#include "tests/test_util.h"

namespace {

using ad::Tensor;

// Two leaves whose .grad are [3, 4] and [-12].
std::vector<Tensor> with_grads(double last = -12.0) {
  Tensor a = ad::zeros({2}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor b = ad::zeros({1}).requires_grad_();  // Float32: the norm is taken in Float64 all the same
  Tensor c = ad::zeros({3}).requires_grad_();  // no .grad: skipped
  a.set_grad(ad::tensor({3, 4}, ad::dtype(ad::kFloat64)));
  b.set_grad(ad::tensor({last}));
  return {a, b, c};
}

TEST(ClipGradNorm, ScalesAllGradientsTogetherAboveMaxNorm) {
  auto ps = with_grads();
  EXPECT_DOUBLE_EQ(ad::optim::clip_grad_norm_(ps, 6.5), 13.0);  // sqrt(9 + 16 + 144)
  const double coef = 6.5 / (13.0 + 1e-6);
  EXPECT_NEAR(ps[0].grad().to_vector()[0], 3 * coef, 1e-12);
  EXPECT_NEAR(ps[0].grad().to_vector()[1], 4 * coef, 1e-12);
  EXPECT_NEAR(ps[1].grad().to_vector()[0], -12 * coef, 1e-5);
  EXPECT_FALSE(ps[2].grad().defined());
  auto qs = with_grads();
  EXPECT_DOUBLE_EQ(ad::optim::clip_grad_norm_(qs, 13.5), 13.0);  // below max_norm: unchanged
  EXPECT_EQ(qs[0].grad().to_vector(), (std::vector<double>{3, 4}));
  EXPECT_DOUBLE_EQ(ad::optim::clip_grad_norm_(with_grads(), 100, {.norm_type = 1.0}), 19.0);
  EXPECT_DOUBLE_EQ(ad::optim::clip_grad_norm_(with_grads(), 100, {.norm_type = INFINITY}), 12.0);
}

TEST(ClipGradNorm, NonFiniteTotalIsAnErrorWhenAskedAndChangesNothing) {
  auto ps = with_grads(NAN);
  const std::string m =
      ad::testing::error_of([&] { ad::optim::clip_grad_norm_(ps, 1.0, {.error_if_nonfinite = true}); });
  EXPECT_NE(m.find("total norm of the gradients is nan"), std::string::npos) << m;
  EXPECT_EQ(ps[0].grad().to_vector(), (std::vector<double>{3, 4}));
  EXPECT_TRUE(std::isnan(ad::optim::clip_grad_norm_(with_grads(NAN), 1.0)));
  EXPECT_NE(ad::testing::error_of([&] { ad::optim::clip_grad_norm_(ps, -1.0); }).find("max_norm must be >= 0"),
            std::string::npos);
}

TEST(ClipGradValue, ClampsEveryElement) {
  auto ps = with_grads();
  ad::optim::clip_grad_value_(ps, 3.5);
  EXPECT_EQ(ps[0].grad().to_vector(), (std::vector<double>{3, 3.5}));
  EXPECT_EQ(ps[1].grad().to_vector(), (std::vector<double>{-3.5}));
}

}  // namespace
