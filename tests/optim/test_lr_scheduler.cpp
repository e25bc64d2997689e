// Learning-rate schedules: the values of each at given steps (computed by hand in the comments),
// how step() drives the optimizer's lr, and ReduceLROnPlateau on scripted metric sequences.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "adgraph/optim/lr_scheduler.h"
#include "adgraph/optim/sgd.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

struct Fixture {
  explicit Fixture(double lr) : p(ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_()), opt({p}, {.lr = lr}) {}
  ad::Tensor p;
  ad::optim::SGD opt;
};

TEST(ExponentialLR, ValuesAndSteps) {
  Fixture f(0.1);
  ad::optim::ExponentialLR s(f.opt, 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.05);    // 0.1 * 0.5
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.0125);  // 0.1 * 0.5^3
  EXPECT_DOUBLE_EQ(f.opt.lr(), 0.1);
  s.step();
  EXPECT_DOUBLE_EQ(f.opt.lr(), 0.05);
  s.step();
  EXPECT_DOUBLE_EQ(f.opt.lr(), 0.025);
  EXPECT_EQ(s.last_step(), 2);
  EXPECT_DOUBLE_EQ(s.last_lr(), 0.025);
  EXPECT_DOUBLE_EQ(s.base_lr(), 0.1);
}

TEST(ExponentialLR, TheOptimizerStepsWithTheScheduledLr) {
  // f = 0.5 p^2 from p = 1 with lr 0.1 then 0.05: p = 0.9, then 0.9 - 0.05 * 0.9 = 0.855.
  Fixture f(0.1);
  ad::optim::ExponentialLR s(f.opt, 0.5);
  for (int epoch = 0; epoch < 2; ++epoch) {
    f.opt.zero_grad();
    (ad::pow(f.p, 2.0) * 0.5).sum().backward();
    f.opt.step();
    s.step();
  }
  EXPECT_NEAR(f.p.item(), 0.855, 1e-15);
}

TEST(MultiStepLR, DecaysAtEachMilestone) {
  Fixture f(1.0);
  ad::optim::MultiStepLR s(f.opt, {2, 5}, 0.1);
  const std::vector<double> expect{1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01};  // t = 0..6
  for (std::size_t t = 0; t < expect.size(); ++t) EXPECT_NEAR(s.lr_at(static_cast<std::int64_t>(t)), expect[t], 1e-16);
  for (std::size_t t = 1; t < expect.size(); ++t) {
    s.step();
    EXPECT_NEAR(f.opt.lr(), expect[t], 1e-16) << "t = " << t;
  }
}

TEST(PiecewiseConstantLR, ChangesAfterEachBoundaryLikeTensorFlow) {
  Fixture f(123.0);
  ad::optim::PiecewiseConstantLR s(f.opt, {2, 5}, {1.0, 0.5, 0.1});
  EXPECT_EQ(f.opt.lr(), 1.0);  // values[0] replaces the optimizer's lr
  // t <= 2: 1.0; 2 < t <= 5: 0.5; t > 5: 0.1
  const std::vector<double> expect{1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.1, 0.1};
  for (std::size_t t = 0; t < expect.size(); ++t) EXPECT_EQ(s.lr_at(static_cast<std::int64_t>(t)), expect[t]);
  s.set_step(3);
  EXPECT_EQ(f.opt.lr(), 0.5);
}

TEST(PolynomialLR, DecaysToEndLrAndStays) {
  Fixture f(1.0);
  ad::optim::PolynomialLR s(f.opt, {.total_steps = 4, .power = 2.0, .end_lr = 0.1});
  // lr = 0.9 (1 - min(t, 4) / 4)^2 + 0.1
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.60625);  // 0.9 * 0.5625 + 0.1
  EXPECT_DOUBLE_EQ(s.lr_at(2), 0.325);    // 0.9 * 0.25 + 0.1
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.15625);  // 0.9 * 0.0625 + 0.1
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.1);
}

TEST(PolynomialLR, CycleStretchesTheHorizonByCeilOfStepOverTotal) {
  Fixture f(1.0);
  ad::optim::PolynomialLR s(f.opt, {.total_steps = 4, .power = 2.0, .end_lr = 0.1, .cycle = true});
  // T' = 4 * max(1, ceil(t / 4)); lr = 0.9 (1 - t / T')^2 + 0.1
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1.0);        // T' = 4
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.15625);    // T' = 4: 0.9 * (1/4)^2 + 0.1
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.1);        // T' = 4: the end of the first cycle
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.2265625);  // T' = 8: 0.9 * (3/8)^2 + 0.1 = 0.9 * 0.140625 + 0.1
  EXPECT_DOUBLE_EQ(s.lr_at(8), 0.1);        // T' = 8
  EXPECT_DOUBLE_EQ(s.lr_at(9), 0.15625);    // T' = 12: 0.9 * (1/4)^2 + 0.1
}

TEST(PolynomialLR, DefaultsArePyTorchsLinearDecayToZero) {
  Fixture f(0.1);
  ad::optim::PolynomialLR s(f.opt, {.total_steps = 5});
  EXPECT_NEAR(s.lr_at(1), 0.08, 1e-16);  // 0.1 * (1 - 1/5)
  EXPECT_NEAR(s.lr_at(4), 0.02, 1e-16);
  EXPECT_EQ(s.lr_at(5), 0.0);
  EXPECT_EQ(s.lr_at(7), 0.0);
}

TEST(CosineAnnealingLR, HalfCosineFromBaseToEtaMin) {
  Fixture f(0.1);
  ad::optim::CosineAnnealingLR s(f.opt, 4, 0.01);
  // lr = 0.01 + 0.09 (1 + cos(pi t / 4)) / 2
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_NEAR(s.lr_at(1), 0.01 + 0.09 * (1.0 + std::numbers::sqrt2 / 2.0) / 2.0, 1e-16);  // 0.08681981
  EXPECT_NEAR(s.lr_at(2), 0.055, 1e-16);                                                  // cos(pi/2) = 0
  EXPECT_NEAR(s.lr_at(4), 0.01, 1e-16);                                                   // cos(pi) = -1
  EXPECT_NEAR(s.lr_at(8), 0.1, 1e-16);  // past T_max the closed form rises again (PyTorch)
  s.step();
  s.step();
  EXPECT_NEAR(f.opt.lr(), 0.055, 1e-16);
}

TEST(LRScheduler, RejectsBadArguments) {
  Fixture f(0.1);
  EXPECT_TRUE(contains(error_of([&] { ad::optim::ExponentialLR(f.opt, 0.0); }),
                       "ExponentialLR: gamma must be finite and > 0, got 0"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::MultiStepLR(f.opt, {3, 2});
                       }),
                       "MultiStepLR: milestones must be strictly increasing"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::MultiStepLR(f.opt, {0, 2});
                       }),
                       "MultiStepLR: milestones must be >= 1"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::PiecewiseConstantLR(f.opt, {2}, {1.0}); }), "one more value than boundaries"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::PiecewiseConstantLR(f.opt, {2}, {1.0, -1.0});
                       }),
                       "values must be finite and >= 0"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::PolynomialLR(f.opt, {.total_steps = 0}); }),
                       "PolynomialLR: total_steps must be >= 1, got 0"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::PolynomialLR(f.opt, {.total_steps = 3, .power = -1.0}); }), "power must be"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::CosineAnnealingLR(f.opt, 0); }), "CosineAnnealingLR: T_max must be >= 1"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::CosineAnnealingLR(f.opt, 5, -0.1); }), "eta_min must be finite and >= 0"));
  ad::optim::ExponentialLR s(f.opt, 0.5);
  EXPECT_TRUE(contains(error_of([&] { s.set_step(-1); }), "set_step: the step must be >= 0"));
  EXPECT_DOUBLE_EQ(f.opt.lr(), 0.1);  // failed constructions and calls left the lr alone
}

// ---------------------------------------------------------------- ReduceLROnPlateau

TEST(ReduceLROnPlateau, ScriptedLossWithPatienceCooldownAndMinLr) {
  Fixture f(1.0);
  ad::optim::ReduceLROnPlateau s(f.opt, {.factor = 0.5, .patience = 2, .threshold = 0.1, .cooldown = 1, .min_lr = 0.2});
  struct Row {
    double metric;
    bool reduced;
    double lr;
  };
  // improved means m < best * 0.9. bad = bad epochs after the step.
  const std::vector<Row> script{
      {10.0, false, 1.0},  // best 10
      {9.5, false, 1.0},   // 9.5 >= 9: bad 1
      {9.2, false, 1.0},   // bad 2
      {9.1, true, 0.5},    // bad 3 > 2: lr 0.5, cooldown 1
      {9.0, false, 0.5},   // bad 1, but in cooldown: counter 0, bad 0
      {8.0, false, 0.5},   // 8 < 9: best 8
      {8.0, false, 0.5},   // 8 >= 7.2: bad 1
      {8.0, false, 0.5},   // bad 2
      {8.0, true, 0.25},   // bad 3: lr 0.25
      {8.0, false, 0.25},  // cooldown
      {8.0, false, 0.25},  // bad 1
      {8.0, false, 0.25},  // bad 2
      {8.0, true, 0.2},    // bad 3: max(0.125, min_lr 0.2) = 0.2
      {8.0, false, 0.2},   // cooldown
      {8.0, false, 0.2},   // bad 1
      {8.0, false, 0.2},   // bad 2
      {8.0, false, 0.2},   // bad 3: max(0.1, 0.2) = 0.2 is no reduction
  };
  for (std::size_t i = 0; i < script.size(); ++i) {
    EXPECT_EQ(s.step(script[i].metric), script[i].reduced) << "epoch " << i + 1;
    EXPECT_DOUBLE_EQ(f.opt.lr(), script[i].lr) << "epoch " << i + 1;
  }
  EXPECT_EQ(s.best(), 8.0);
  EXPECT_EQ(s.last_step(), 17);
}

TEST(ReduceLROnPlateau, MaxModeWithAbsoluteThreshold) {
  Fixture f(1.0);
  ad::optim::ReduceLROnPlateau s(f.opt, {.mode = ad::optim::Mode::Max,
                                         .patience = 1,
                                         .threshold = 0.05,
                                         .threshold_mode = ad::optim::ThresholdMode::Abs});
  EXPECT_FALSE(s.step(0.5));    // best 0.5
  EXPECT_FALSE(s.step(0.6));    // 0.6 > 0.55: best 0.6
  EXPECT_FALSE(s.step(0.605));  // not > 0.65: bad 1
  EXPECT_TRUE(s.step(0.61));    // bad 2 > 1: lr 0.1
  EXPECT_NEAR(f.opt.lr(), 0.1, 1e-16);
  EXPECT_FALSE(s.step(0.62));  // bad 1
  EXPECT_EQ(s.num_bad_epochs(), 1);
  EXPECT_EQ(s.best(), 0.6);
}

TEST(ReduceLROnPlateau, NaNIsNeverAnImprovement) {
  Fixture f(1.0);
  ad::optim::ReduceLROnPlateau s(f.opt, {.patience = 0});
  EXPECT_FALSE(s.step(1.0));
  EXPECT_TRUE(s.step(std::nan("")));
  EXPECT_NEAR(f.opt.lr(), 0.1, 1e-16);
  EXPECT_EQ(s.best(), 1.0);
}

TEST(ReduceLROnPlateau, RejectsBadOptions) {
  Fixture f(1.0);
  EXPECT_TRUE(contains(error_of([&] { ad::optim::ReduceLROnPlateau(f.opt, {.factor = 1.0}); }),
                       "ReduceLROnPlateau: factor must be in (0, 1), got 1"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::ReduceLROnPlateau(f.opt, {.patience = -1}); }),
                       "patience must be >= 0, got -1"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::ReduceLROnPlateau(f.opt, {.threshold = -1e-4}); }),
                       "threshold must be finite and >= 0"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::ReduceLROnPlateau(f.opt, {.cooldown = -2}); }), "cooldown must be >= 0"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::ReduceLROnPlateau(f.opt, {.min_lr = -1.0}); }),
                       "min_lr must be finite and >= 0"));
}

}  // namespace
