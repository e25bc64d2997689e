// SGD's update rules and the Optimizer base (parameter checks, skipped parameters, closure
// steps, lr changes), each step computed by hand on f(p) = 0.5 p^2, whose gradient is p.
#include <gtest/gtest.h>

#include "adgraph/optim/sgd.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

// f(p) = 0.5 * p^2 has gradient p, so every step can be computed by hand.
ad::Tensor quadratic_step(ad::Tensor& p, ad::optim::Optimizer& opt) {
  opt.zero_grad();
  (ad::pow(p, 2.0) * 0.5).sum().backward();
  opt.step();
  return p;
}

TEST(SGD, PlainStepIsPMinusLrTimesGrad) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1});
  quadratic_step(p, opt);
  EXPECT_DOUBLE_EQ(p.item(), 2.0 - 0.1 * 2.0);  // 1.8
  quadratic_step(p, opt);
  EXPECT_DOUBLE_EQ(p.item(), 1.8 - 0.1 * 1.8);  // 1.62
}

TEST(SGD, MomentumMatchesHandSteps) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  quadratic_step(p, opt);  // v = 2, p = 1.8
  EXPECT_NEAR(p.item(), 1.8, 1e-15);
  quadratic_step(p, opt);  // v = 0.9*2 + 1.8 = 3.6, p = 1.8 - 0.36 = 1.44
  EXPECT_NEAR(p.item(), 1.44, 1e-15);
  EXPECT_EQ(opt.state(0).step, 2);
  EXPECT_NEAR(opt.state(0).buffers.at("momentum_buffer").item(), 3.6, 1e-15);
}

TEST(SGD, NesterovMatchesHandSteps) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  quadratic_step(p, opt);  // v = 2, step = 2 + 0.9*2 = 3.8, p = 1.62
  EXPECT_NEAR(p.item(), 1.62, 1e-15);
  quadratic_step(p, opt);  // g = 1.62, v = 1.8 + 1.62 = 3.42, step = 1.62 + 3.078 = 4.698, p = 1.62 - 0.4698
  EXPECT_NEAR(p.item(), 1.62 - 0.4698, 1e-14);
}

TEST(SGD, DampeningScalesTheNewGradientAfterTheFirstStep) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  quadratic_step(p, opt);  // first step: v = g = 2 (no dampening), p = 2 - 0.2 = 1.8
  EXPECT_NEAR(p.item(), 1.8, 1e-15);
  quadratic_step(p, opt);  // v = 0.9*2 + 0.5*1.8 = 2.7, p = 1.8 - 0.27 = 1.53
  EXPECT_NEAR(p.item(), 1.53, 1e-15);
}

TEST(SGD, WeightDecayAddsToTheGradient) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1, .weight_decay = 0.5});
  quadratic_step(p, opt);  // g = 2 + 0.5*2 = 3, p = 1.7
  EXPECT_NEAR(p.item(), 1.7, 1e-15);
}

TEST(SGD, UpdatesEachElementOfAMatrixParameter) {
  // f(W) = sum(W * C) has gradient C: one step is W - lr * C elementwise.
  ad::Tensor w = ad::tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  const ad::Tensor c = ad::tensor({1.0, -1.0, 0.5, 2.0}, {2, 2}, ad::dtype(ad::kFloat64));
  ad::optim::SGD opt({w}, {.lr = 0.5});
  (w * c).sum().backward();
  opt.step();
  const std::vector<double> expect{0.5, 2.5, 2.75, 3.0};  // [1 - 0.5, 2 + 0.5, 3 - 0.25, 4 - 1]
  EXPECT_EQ(w.to_vector(), expect);
}

TEST(SGD, Float32ParametersStayFloat32) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat32)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  quadratic_step(p, opt);
  quadratic_step(p, opt);
  EXPECT_EQ(p.dtype(), ad::kFloat32);
  EXPECT_EQ(opt.state(0).buffers.at("momentum_buffer").dtype(), ad::kFloat32);
  EXPECT_NEAR(p.item(), 1.44, 1e-6);
}

TEST(Optimizer, ParametersWithoutGradientAreSkippedAndKeepNoState) {
  ad::Tensor used = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::Tensor unused = ad::tensor({5.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({used, unused}, {.lr = 0.1, .momentum = 0.9});
  quadratic_step(used, opt);
  EXPECT_NEAR(used.item(), 1.8, 1e-15);
  EXPECT_EQ(unused.item(), 5.0);
  EXPECT_EQ(opt.state(0).step, 1);
  EXPECT_EQ(opt.state(1).step, 0);
  EXPECT_TRUE(opt.state(1).buffers.empty());
  EXPECT_EQ(opt.step_count(), 1);
}

TEST(Optimizer, ZeroGradClearsAccumulatedGradients) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1});
  (p * 3.0).sum().backward();
  (p * 3.0).sum().backward();  // accumulates: 6
  EXPECT_EQ(p.grad().item(), 6.0);
  opt.zero_grad(/*set_to_none=*/false);
  EXPECT_EQ(p.grad().item(), 0.0);
  opt.step();  // a zero gradient leaves p where it is
  EXPECT_EQ(p.item(), 2.0);
  opt.zero_grad();  // the default, as PyTorch 2.x: no gradient at all
  EXPECT_FALSE(p.grad().defined());
  opt.step();  // a parameter without a gradient is skipped
  EXPECT_EQ(p.item(), 2.0);
  (p * 3.0).sum().backward();  // the next backward stores its gradient afresh
  EXPECT_EQ(p.grad().item(), 3.0);
}

TEST(Optimizer, ClosureStepRunsTheClosureWithGradModeOn) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1});
  ad::NoGradGuard outer;  // the closure still records
  const ad::Tensor loss = opt.step([&] {
    opt.zero_grad();
    ad::Tensor l = (ad::pow(p, 2.0) * 0.5).sum();
    l.backward();
    return l;
  });
  EXPECT_DOUBLE_EQ(loss.item(), 2.0);  // 0.5 * 2^2, before the step
  EXPECT_DOUBLE_EQ(p.item(), 1.8);
}

TEST(Optimizer, SetLrChangesTheNextStep) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({p}, {.lr = 0.1});
  opt.set_lr(0.5);
  EXPECT_EQ(opt.lr(), 0.5);
  quadratic_step(p, opt);  // p = 2 - 0.5 * 2 = 1
  EXPECT_DOUBLE_EQ(p.item(), 1.0);
  EXPECT_TRUE(contains(error_of([&] { opt.set_lr(-0.1); }), "SGD: lr must be finite and >= 0, got -0.1"));
  EXPECT_TRUE(contains(error_of([&] { opt.set_lr(std::nan("")); }), "SGD: lr must be finite and >= 0"));
  EXPECT_EQ(opt.lr(), 0.5);
}

TEST(SGD, RejectsBadOptionsAndNonFloatingParameters) {
  ad::Tensor p = ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  EXPECT_THROW(ad::optim::SGD({p}, {.lr = -1.0}), ad::Error);
  EXPECT_THROW(ad::optim::SGD({p}, {.lr = 0.1, .nesterov = true}), ad::Error);
  EXPECT_THROW(ad::optim::SGD({ad::tensor({1.0}, ad::dtype(ad::kBool))}, {.lr = 0.1}), ad::Error);
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD({p}, {.lr = 0.1, .momentum = -0.5}); }),
                       "SGD: momentum must be finite and >= 0, got -0.5"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 1.5}); }),
                       "SGD: dampening must be in [0, 1], got 1.5"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD({p}, {.lr = 0.1, .weight_decay = -1}); }),
                       "SGD: weight_decay must be finite and >= 0, got -1"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}); }),
               "nesterov needs momentum > 0 and dampening = 0"));
}

TEST(Optimizer, RejectsEmptyDuplicateAndNonLeafParameters) {
  ad::Tensor p = ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::SGD(std::vector<ad::Tensor>{}, {}); }), "SGD: got an empty parameter list"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD({p, p}, {}); }), "parameter 1 is the same tensor as parameter 0"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD({p * 2.0}, {}); }), "not a leaf"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD({ad::Tensor()}, {}); }), "undefined"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD({ad::index_tensor({1})}, {}); }),
                       "parameter 0 is Int64; optimizers update floating tensors"));
}

// A frozen parameter (requires_grad off) is accepted, as in PyTorch, and left alone until it is
// unfrozen.
TEST(Optimizer, FrozenParametersAreSkippedUntilUnfrozen) {
  ad::Tensor p = ad::tensor({2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::Tensor frozen = ad::tensor({5.0}, ad::dtype(ad::kFloat64));
  ad::optim::SGD opt({p, frozen}, {.lr = 0.1});
  opt.zero_grad();
  ((p * frozen).sum()).backward();
  opt.step();
  EXPECT_DOUBLE_EQ(p.item(), 2.0 - 0.1 * 5.0);
  EXPECT_EQ(frozen.item(), 5.0);
  EXPECT_EQ(opt.state(1).step, 0);
  frozen.requires_grad_();
  opt.zero_grad();
  ((p * frozen).sum()).backward();
  opt.step();
  EXPECT_DOUBLE_EQ(frozen.item(), 5.0 - 0.1 * 1.5);  // its gradient is p = 1.5
}

}  // namespace
