#include <gtest/gtest.h>

#include "optim/sgd.h"

namespace {

// f(p) = 0.5 * p^2 has gradient p, so every step can be computed by hand.
ad::Tensor quadratic_step(ad::Tensor& p, optim::Optimizer& opt) {
  opt.zero_grad();
  (ad::pow(p, 2.0) * 0.5).sum().backward();
  opt.step();
  return p;
}

TEST(SGD, PlainStepIsPMinusLrTimesGrad) {
  ad::Tensor p = ad::tensor({2.0}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.1});
  quadratic_step(p, opt);
  EXPECT_DOUBLE_EQ(p.item(), 2.0 - 0.1 * 2.0);  // 1.8
  quadratic_step(p, opt);
  EXPECT_DOUBLE_EQ(p.item(), 1.8 - 0.1 * 1.8);  // 1.62
}

TEST(SGD, MomentumMatchesHandSteps) {
  ad::Tensor p = ad::tensor({2.0}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  quadratic_step(p, opt);  // v = 2, p = 1.8
  EXPECT_NEAR(p.item(), 1.8, 1e-15);
  quadratic_step(p, opt);  // v = 0.9*2 + 1.8 = 3.6, p = 1.8 - 0.36 = 1.44
  EXPECT_NEAR(p.item(), 1.44, 1e-15);
}

TEST(SGD, NesterovMatchesHandSteps) {
  ad::Tensor p = ad::tensor({2.0}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  quadratic_step(p, opt);  // v = 2, step = 2 + 0.9*2 = 3.8, p = 1.62
  EXPECT_NEAR(p.item(), 1.62, 1e-15);
  quadratic_step(p, opt);  // g = 1.62, v = 1.8 + 1.62 = 3.42, step = 1.62 + 3.078 = 4.698, p = 1.62 - 0.4698
  EXPECT_NEAR(p.item(), 1.62 - 0.4698, 1e-14);
}

TEST(SGD, WeightDecayAddsToTheGradient) {
  ad::Tensor p = ad::tensor({2.0}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.1, .weight_decay = 0.5});
  quadratic_step(p, opt);  // g = 2 + 0.5*2 = 3, p = 1.7
  EXPECT_NEAR(p.item(), 1.7, 1e-15);
}

TEST(SGD, RejectsBadOptionsAndNonTrainableParameters) {
  ad::Tensor p = ad::tensor({1.0}).requires_grad_();
  EXPECT_THROW(optim::SGD({p}, {.lr = -1.0}), ad::Error);
  EXPECT_THROW(optim::SGD({p}, {.lr = 0.1, .nesterov = true}), ad::Error);
  EXPECT_THROW(optim::SGD({ad::tensor({1.0})}, {.lr = 0.1}), ad::Error);
}

}  // namespace
