// Learning-rate schedules: the values of each at given steps (computed by hand in the comments),
// how step() drives the optimizer's lr, and ReduceLROnPlateau on scripted metric sequences.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
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

// ---------------------------------------------------------------- StepLR, LambdaLR, LinearLR

TEST(StepLR, DecaysEveryStepSizeSteps) {
  Fixture f(1.0);
  ad::optim::StepLR s(f.opt, 3, 0.5);
  const std::vector<double> expect{1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25};  // 0.5^floor(t / 3)
  for (std::size_t t = 0; t < expect.size(); ++t) EXPECT_EQ(s.lr_at(static_cast<std::int64_t>(t)), expect[t]);
  for (int t = 1; t <= 3; ++t) s.step();
  EXPECT_EQ(f.opt.lr(), 0.5);
  EXPECT_TRUE(contains(error_of([&] { ad::optim::StepLR(f.opt, 0); }), "StepLR: step_size must be >= 1, got 0"));
}

TEST(LambdaLR, ScalesTheBaseLrByTheFactor) {
  Fixture f(0.2);
  ad::optim::LambdaLR s(f.opt, [](std::int64_t t) { return 1.0 / static_cast<double>(t + 1); });
  EXPECT_EQ(f.opt.lr(), 0.2);
  s.step();
  EXPECT_EQ(f.opt.lr(), 0.1);  // 0.2 / 2
  s.step();
  EXPECT_DOUBLE_EQ(f.opt.lr(), 0.2 / 3.0);
  ad::optim::LambdaLR bad(f.opt, [](std::int64_t t) { return t < 2 ? 1.0 : -1.0; });
  bad.step();
  EXPECT_TRUE(contains(error_of([&] { bad.step(); }), "LambdaLR: the factor of param group 0 at step 2 is -1"));
  EXPECT_EQ(bad.last_step(), 1);  // the failed step changed nothing
  EXPECT_EQ(f.opt.lr(), 0.2);
  EXPECT_TRUE(contains(error_of([&] { ad::optim::LambdaLR(f.opt, std::vector<ad::optim::LambdaLR::Factor>{}); }),
                       "got 0 factor functions for 1 param groups"));
}

TEST(LinearLR, WarmsUpWithPyTorchsDefaults) {
  Fixture f(0.3);
  ad::optim::LinearLR s(f.opt);  // start 1/3, end 1, 5 steps
  // 0.3 * (1/3 + (2/3) * t / 5): 0.1, 0.14, 0.18, 0.22, 0.26, then 0.3 from t = 5 on
  const std::vector<double> expect{0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3};
  for (std::size_t t = 0; t < expect.size(); ++t)
    EXPECT_NEAR(s.lr_at(static_cast<std::int64_t>(t)), expect[t], 1e-16) << "t = " << t;
  EXPECT_NEAR(f.opt.lr(), 0.1, 1e-16);
  EXPECT_TRUE(contains(error_of([&] { ad::optim::LinearLR(f.opt, {.start_factor = 0.0}); }),
                       "LinearLR: start_factor must be in (0, 1], got 0"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::LinearLR(f.opt, {.total_iters = 0}); }), "total_iters must be >= 1"));
}

// ---------------------------------------------------------------- OneCycleLR

TEST(OneCycleLR, TwoPhasesCosine) {
  // max 1, T = 10, pct 0.3, div 25: start 0.04, final 0.04 / 1e4 = 4e-6; phase ends at t = 2 and 9.
  Fixture f(123.0);  // the optimizer's own lr is replaced
  ad::optim::OneCycleLR s(f.opt, {.max_lr = 1.0, .total_steps = 10});
  EXPECT_NEAR(f.opt.lr(), 0.04, 1e-16);  // (PyTorch's formula rounds to 0.040000000000000036)
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.52);    // halfway up: cos(pi/2) = 0, so 1 + (0.04 - 1) / 2
  EXPECT_DOUBLE_EQ(s.lr_at(2), 1.0);     // the peak
  // t = 4: p = 2/7 of the way down from 1 to 4e-6
  EXPECT_NEAR(s.lr_at(4), 4e-6 + (1.0 - 4e-6) / 2.0 * (std::cos(std::numbers::pi * 2.0 / 7.0) + 1.0), 1e-15);
  EXPECT_NEAR(s.lr_at(9), 4e-6, 1e-18);
  EXPECT_TRUE(contains(error_of([&] { (void)s.lr_at(11); }), "OneCycleLR: tried to step 11 times"));
}

TEST(OneCycleLR, ThreePhasesLinear) {
  // T = 10, pct 0.3: phases end at 2, 4, 9; start 0.04, final 4e-6.
  Fixture f(1.0);
  ad::optim::OneCycleLR s(
      f.opt,
      {.max_lr = 1.0, .total_steps = 10, .anneal_strategy = ad::optim::AnnealStrategy::Linear, .three_phase = true});
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.52);  // 0.04 + 0.96 / 2
  EXPECT_DOUBLE_EQ(s.lr_at(2), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.52);  // halfway back down to 0.04
  EXPECT_NEAR(s.lr_at(4), 0.04, 1e-16);
  EXPECT_NEAR(s.lr_at(9), 4e-6, 1e-17);
  EXPECT_NEAR(s.lr_at(6), 0.04 + (4e-6 - 0.04) * 0.4, 1e-17);  // 2/5 of the last phase
  EXPECT_TRUE(contains(error_of([&] { ad::optim::OneCycleLR(f.opt, {.total_steps = 10}); }),
                       "OneCycleLR: max_lr must be finite and > 0, got 0"));
}

// ---------------------------------------------------------------- CosineAnnealingWarmRestarts

TEST(CosineAnnealingWarmRestarts, RestartsAfterCyclesGrowingByTMult) {
  Fixture f(1.0);
  ad::optim::CosineAnnealingWarmRestarts s(f.opt, 2, 2, 0.0);  // cycles of 2, 4, 8 steps
  auto cosine = [](double cur, double len) { return (1.0 + std::cos(std::numbers::pi * cur / len)) / 2.0; };
  EXPECT_EQ(s.lr_at(0), 1.0);
  EXPECT_NEAR(s.lr_at(1), cosine(1, 2), 1e-16);  // 0.5
  EXPECT_EQ(s.lr_at(2), 1.0);                    // restart
  EXPECT_NEAR(s.lr_at(3), cosine(1, 4), 1e-16);
  EXPECT_NEAR(s.lr_at(5), cosine(3, 4), 1e-16);
  EXPECT_EQ(s.lr_at(6), 1.0);  // restart: 2 + 4
  EXPECT_NEAR(s.lr_at(13), cosine(7, 8), 1e-16);
  EXPECT_EQ(s.lr_at(14), 1.0);  // 2 + 4 + 8
  ad::optim::CosineAnnealingWarmRestarts flat(f.opt, 3, 1, 0.1);
  EXPECT_NEAR(flat.lr_at(4), 0.1 + 0.9 * cosine(1, 3), 1e-16);
  EXPECT_EQ(flat.lr_at(6), 1.0);
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::CosineAnnealingWarmRestarts(f.opt, 2, 0); }), "T_mult must be >= 1, got 0"));
}

// ---------------------------------------------------------------- SequentialLR

TEST(SequentialLR, WarmUpThenDecayRestartingAtTheMilestone) {
  Fixture f(1.0);
  auto warm =
      std::make_shared<ad::optim::LinearLR>(f.opt, ad::optim::LinearLROptions{.start_factor = 0.1, .total_iters = 2});
  auto decay = std::make_shared<ad::optim::ExponentialLR>(f.opt, 0.5);
  ad::optim::SequentialLR s(f.opt, {warm, decay}, {2});
  const std::vector<double> expect{0.1, 0.55, 1.0, 0.5, 0.25};  // warm-up 0.1 -> 1, then 0.5^(t - 2)
  EXPECT_NEAR(f.opt.lr(), 0.1, 1e-16);
  for (std::size_t t = 1; t < expect.size(); ++t) {
    s.step();
    EXPECT_NEAR(f.opt.lr(), expect[t], 1e-16) << "t = " << t;
  }
  EXPECT_EQ(decay->base_lr(), 1.0);  // every child starts from the optimizer's initial lr
  Fixture other(1.0);
  auto foreign = std::make_shared<ad::optim::ExponentialLR>(other.opt, 0.5);
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::SequentialLR(f.opt, {warm, foreign}, {2});
                       }),
                       "schedule 1 (ExponentialLR) drives another optimizer"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::SequentialLR(f.opt, {warm, decay}, {});
                       }),
                       "needs one milestone fewer than schedules"));
}

// ---------------------------------------------------------------- param groups and state

TEST(LRScheduler, EachParamGroupFollowsTheScheduleFromItsOwnLr) {
  ad::Tensor a = ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::Tensor b = ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({{.params = {a}}, {.params = {b}, .options = ad::optim::SGDOptions{.lr = 1.0}}}, {.lr = 0.1});
  ad::optim::ExponentialLR s(opt, 0.5);
  s.step();
  EXPECT_DOUBLE_EQ(opt.lr(0), 0.05);
  EXPECT_DOUBLE_EQ(opt.lr(1), 0.5);
  EXPECT_EQ(s.base_lr(1), 1.0);
  opt.add_param_group({.params = {ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_()}});
  EXPECT_TRUE(
      contains(error_of([&] { s.step(); }), "the optimizer has 3 param groups but the schedule was built for 2"));
}

// A schedule built after its optimizer's state was restored starts from the saved initial lr,
// not from the decayed lr (which would apply the decay twice), and its restored state continues
// exactly where the saved one was.
TEST(LRScheduler, RestoringDoesNotApplyTheDecayTwice) {
  Fixture f(0.1);
  ad::optim::ExponentialLR s(f.opt, 0.5);
  for (int i = 0; i < 3; ++i) s.step();
  EXPECT_DOUBLE_EQ(f.opt.lr(), 0.0125);
  const ad::NamedTensors opt_state = f.opt.state_dict(), sched_state = s.state_dict();

  Fixture g(0.1);
  g.opt.load_state_dict(opt_state);
  EXPECT_DOUBLE_EQ(g.opt.lr(), 0.0125);
  ASSERT_TRUE(g.opt.initial_lr(0).has_value());
  EXPECT_EQ(*g.opt.initial_lr(0), 0.1);
  ad::optim::ExponentialLR resumed(g.opt, 0.5);
  EXPECT_EQ(resumed.base_lr(), 0.1);  // not 0.0125
  resumed.load_state_dict(sched_state);
  EXPECT_EQ(resumed.last_step(), 3);
  EXPECT_EQ(g.opt.lr(), f.opt.lr());
  for (int i = 0; i < 3; ++i) {
    s.step();
    resumed.step();
    EXPECT_EQ(g.opt.lr(), f.opt.lr());
  }
}

using Maker = std::function<std::unique_ptr<ad::optim::LRScheduler>(ad::optim::Optimizer&)>;

// Every schedule: saved after 4 steps and loaded into a fresh one on a fresh optimizer, it gives
// the same lrs from there on; a schedule with other settings rejects the state unchanged.
TEST(LRScheduler, EveryScheduleResumesFromItsState) {
  const std::vector<std::pair<Maker, Maker>> makers{
      {[](auto& o) { return std::make_unique<ad::optim::StepLR>(o, 2, 0.5); },
       [](auto& o) { return std::make_unique<ad::optim::StepLR>(o, 3, 0.5); }},
      {[](auto& o) { return std::make_unique<ad::optim::ExponentialLR>(o, 0.9); },
       [](auto& o) { return std::make_unique<ad::optim::ExponentialLR>(o, 0.8); }},
      {[](auto& o) {
         return std::make_unique<ad::optim::MultiStepLR>(o, std::vector<std::int64_t>{2, 5});
       },
       [](auto& o) {
         return std::make_unique<ad::optim::MultiStepLR>(o, std::vector<std::int64_t>{2, 6});
       }},
      {[](auto& o) { return std::make_unique<ad::optim::LinearLR>(o, ad::optim::LinearLROptions{.total_iters = 6}); },
       [](auto& o) { return std::make_unique<ad::optim::LinearLR>(o, ad::optim::LinearLROptions{.total_iters = 7}); }},
      {[](auto& o) { return std::make_unique<ad::optim::CosineAnnealingLR>(o, 7, 0.01); },
       [](auto& o) { return std::make_unique<ad::optim::CosineAnnealingLR>(o, 7, 0.02); }},
      {[](auto& o) { return std::make_unique<ad::optim::CosineAnnealingWarmRestarts>(o, 2, 2); },
       [](auto& o) { return std::make_unique<ad::optim::CosineAnnealingWarmRestarts>(o, 2, 3); }},
      {[](auto& o) {
         return std::make_unique<ad::optim::OneCycleLR>(o,
                                                        ad::optim::OneCycleLROptions{.max_lr = 1.0, .total_steps = 12});
       },
       [](auto& o) {
         return std::make_unique<ad::optim::OneCycleLR>(o,
                                                        ad::optim::OneCycleLROptions{.max_lr = 2.0, .total_steps = 12});
       }},
      {[](auto& o) {
         auto w = std::make_shared<ad::optim::LinearLR>(o, ad::optim::LinearLROptions{.total_iters = 3});
         auto c = std::make_shared<ad::optim::CosineAnnealingLR>(o, 5);
         return std::make_unique<ad::optim::SequentialLR>(o, std::vector<std::shared_ptr<ad::optim::LRScheduler>>{w, c},
                                                          std::vector<std::int64_t>{3});
       },
       [](auto& o) {
         auto w = std::make_shared<ad::optim::LinearLR>(o, ad::optim::LinearLROptions{.total_iters = 3});
         auto c = std::make_shared<ad::optim::CosineAnnealingLR>(o, 6);
         return std::make_unique<ad::optim::SequentialLR>(o, std::vector<std::shared_ptr<ad::optim::LRScheduler>>{w, c},
                                                          std::vector<std::int64_t>{3});
       }},
  };
  for (const auto& [make, make_other] : makers) {
    Fixture f(0.5);
    auto s = make(f.opt);
    SCOPED_TRACE(s->name());
    for (int i = 0; i < 4; ++i) s->step();
    const ad::NamedTensors opt_state = f.opt.state_dict(), state = s->state_dict();
    Fixture g(0.5);
    g.opt.load_state_dict(opt_state);
    auto r = make(g.opt);
    r->load_state_dict(state);
    EXPECT_EQ(g.opt.lr(), f.opt.lr());
    for (int i = 0; i < 5; ++i) {
      s->step();
      r->step();
      EXPECT_EQ(g.opt.lr(), f.opt.lr()) << "step " << s->last_step();
    }
    Fixture h(0.5);
    auto other = make_other(h.opt);
    const double lr_before = h.opt.lr();
    EXPECT_TRUE(contains(error_of([&] { other->load_state_dict(state); }), "in the state but"));
    EXPECT_EQ(other->last_step(), 0);
    EXPECT_EQ(h.opt.lr(), lr_before);
  }
}

class SchedulerFiles : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const {
    return (std::filesystem::temp_directory_path() / ("adgraph_sched_" + std::to_string(::getpid()) + "_" + name))
        .string();
  }
};

TEST_F(SchedulerFiles, SaveAndLoadChecksTheKind) {
  Fixture f(1.0);
  ad::optim::StepLR s(f.opt, 2, 0.5);
  for (int i = 0; i < 3; ++i) s.step();
  s.save_state(path("step.safetensors"));
  Fixture g(1.0);
  ad::optim::StepLR r(g.opt, 2, 0.5);
  r.load_state(path("step.safetensors"));
  EXPECT_EQ(r.last_step(), 3);
  EXPECT_EQ(g.opt.lr(), 0.5);
  ad::optim::ExponentialLR e(g.opt, 0.5);
  EXPECT_TRUE(contains(error_of([&] { e.load_state(path("step.safetensors")); }),
                       "holds the state of a StepLR, not ExponentialLR"));
  std::filesystem::remove(path("step.safetensors"));
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

TEST(ReduceLROnPlateau, ReducesEveryGroupAndResumesFromItsState) {
  ad::Tensor a = ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::Tensor b = ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::optim::SGD opt({{.params = {a}}, {.params = {b}, .options = ad::optim::SGDOptions{.lr = 0.1}}}, {.lr = 1.0});
  ad::optim::ReduceLROnPlateau s(opt, {.factor = 0.5, .patience = 1, .min_lr = 0.08});
  const std::vector<double> metrics{3.0, 2.0, 2.5, 2.5};
  for (double m : metrics) s.step(m);
  EXPECT_EQ(opt.lr(0), 0.5);
  EXPECT_EQ(opt.lr(1), 0.08);  // max(0.05, min_lr)
  const ad::NamedTensors state = s.state_dict();
  ad::optim::ReduceLROnPlateau r(opt, {.factor = 0.5, .patience = 1, .min_lr = 0.08});
  r.load_state_dict(state);
  EXPECT_EQ(r.best(), 2.0);
  EXPECT_EQ(r.last_step(), 4);
  EXPECT_EQ(r.num_bad_epochs(), s.num_bad_epochs());
  ad::optim::ReduceLROnPlateau other(opt, {.factor = 0.25});
  EXPECT_TRUE(contains(error_of([&] { other.load_state_dict(state); }), "factor is 0.5 in the state but 0.25"));
  EXPECT_EQ(other.last_step(), 0);
}

}  // namespace
