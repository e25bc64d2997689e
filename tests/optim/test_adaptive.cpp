// AdaGrad, RMSprop, AdaDelta, Adam, AMSGrad and AdamW: two or three steps of each, computed by
// hand (the arithmetic is in the comments), on f(p) = 0.5 p^2 (gradient p) or on linear losses
// f(p) = c . p (gradient c). Gradients always come from the engine's backward.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/optim/adadelta.h"
#include "adgraph/optim/adagrad.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/rmsprop.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

// One step on f(p) = 0.5 * sum(p^2).
void quadratic_step(const ad::Tensor& p, ad::optim::Optimizer& opt) {
  opt.zero_grad();
  (ad::pow(p, 2.0) * 0.5).sum().backward();
  opt.step();
}

// One step on f(p) = sum(c * p), whose gradient is c.
void linear_step(const ad::Tensor& p, ad::optim::Optimizer& opt, const std::vector<double>& c) {
  opt.zero_grad();
  (p * ad::tensor(c, ad::dtype(ad::kFloat64))).sum().backward();
  opt.step();
}

ad::Tensor param(std::initializer_list<double> v) { return ad::tensor(v, ad::dtype(ad::kFloat64)).requires_grad_(); }

// ---------------------------------------------------------------- AdaGrad

TEST(Adagrad, QuadraticHandSteps) {
  ad::Tensor p = param({2.0});
  ad::optim::Adagrad opt({p}, {.lr = 0.1, .eps = 0.0});
  quadratic_step(p, opt);  // g = 2, sum = 4, p = 2 - 0.1 * 2 / 2 = 1.9
  EXPECT_NEAR(p.item(), 1.9, 1e-15);
  quadratic_step(p, opt);  // g = 1.9, sum = 4 + 3.61 = 7.61, p = 1.9 - 0.19 / sqrt(7.61) = 1.9 - 0.0688749...
  EXPECT_NEAR(p.item(), 1.8311250538085306, 1e-14);
  EXPECT_NEAR(opt.state(0).buffers.at("sum").item(), 7.61, 1e-14);
  quadratic_step(p, opt);  // g = 1.83112505, sum = 7.61 + 3.35301896 = 10.96301896, p -= 0.183112505 / 3.31104499
  EXPECT_NEAR(p.item(), 1.7758215150085808, 1e-14);
}

TEST(Adagrad, LrDecayAndInitialAccumulatorPerCoordinate) {
  // f = 3 p0 - 4 p1, gradient (3, -4); sum starts at 1; clr_t = 0.1 / (1 + (t - 1) * 0.5).
  ad::Tensor p = param({1.0, 1.0});
  ad::optim::Adagrad opt({p}, {.lr = 0.1, .lr_decay = 0.5, .initial_accumulator_value = 1.0, .eps = 0.0});
  // t = 1: clr = 0.1, sum = (1 + 9, 1 + 16) = (10, 17), p = (1 - 0.3 / sqrt(10), 1 + 0.4 / sqrt(17))
  linear_step(p, opt, {3.0, -4.0});
  EXPECT_NEAR(p.at({0}), 1.0 - 0.3 / std::sqrt(10.0), 1e-15);  // 0.90513167
  EXPECT_NEAR(p.at({1}), 1.0 + 0.4 / std::sqrt(17.0), 1e-15);  // 1.09701425
  // t = 2: clr = 0.1 / 1.5, sum = (19, 33), p0 -= 0.2 / sqrt(19), p1 += (0.4 / 1.5) / sqrt(33)
  linear_step(p, opt, {3.0, -4.0});
  EXPECT_NEAR(p.at({0}), 0.8592485234208362, 1e-15);
  EXPECT_NEAR(p.at({1}), 1.143434958269386, 1e-15);
}

TEST(Adagrad, WeightDecayAndDefaultEps) {
  // f = p, wd = 1: g = 1 + p = 3 at p = 2; sum = 9, p = 2 - 0.1 * 3 / (3 + 1e-10)
  ad::Tensor p = param({2.0});
  ad::optim::Adagrad opt({p}, {.lr = 0.1, .weight_decay = 1.0});
  linear_step(p, opt, {1.0});
  EXPECT_NEAR(p.item(), 2.0 - 0.3 / (3.0 + 1e-10), 1e-15);
}

// ---------------------------------------------------------------- RMSprop

TEST(RMSprop, QuadraticHandSteps) {
  ad::Tensor p = param({2.0});
  ad::optim::RMSprop opt({p}, {.lr = 0.01, .alpha = 0.99, .eps = 0.0});
  quadratic_step(p, opt);  // v = 0.01 * 4 = 0.04, d = 0.2, p = 2 - 0.01 * 2 / 0.2 = 1.9
  EXPECT_NEAR(p.item(), 1.9, 1e-14);
  quadratic_step(p, opt);  // v = 0.0396 + 0.0361 = 0.0757, d = 0.27513633, p = 1.9 - 0.019 / d = 1.83094333
  EXPECT_NEAR(p.item(), 1.8309433254024428, 1e-14);
  quadratic_step(p, opt);  // v = 0.99 * 0.0757 + 0.01 * 1.83094333^2 = 0.10846653, p -= 0.0183094 / 0.3293426
  EXPECT_NEAR(p.item(), 1.775349441103702, 1e-14);
}

TEST(RMSprop, MomentumHandSteps) {
  ad::Tensor p = param({2.0});
  ad::optim::RMSprop opt({p}, {.lr = 0.01, .eps = 0.0, .momentum = 0.9});
  quadratic_step(p, opt);  // v = 0.04, b = 2 / 0.2 = 10, p = 2 - 0.01 * 10 = 1.9
  EXPECT_NEAR(p.item(), 1.9, 1e-14);
  quadratic_step(p, opt);  // v = 0.0757, b = 9 + 1.9 / 0.27513633 = 15.90566746, p = 1.9 - 0.1590566746
  EXPECT_NEAR(p.item(), 1.740943325402443, 1e-14);
  EXPECT_NEAR(opt.state(0).buffers.at("momentum_buffer").item(), 15.905667459755726, 1e-12);
  quadratic_step(p, opt);  // v = 0.10525184, b = 0.9 * 15.90566746 + 1.74094333 / 0.32442539 = 19.681337
  EXPECT_NEAR(p.item(), 1.5441299553701069, 1e-14);
}

TEST(RMSprop, CenteredSubtractsTheSquaredMeanGradient) {
  ad::Tensor p = param({2.0});
  ad::optim::RMSprop opt({p}, {.lr = 0.01, .eps = 0.0, .centered = true});
  // v = 0.04, m = 0.01 * 2 = 0.02, d = sqrt(0.04 - 0.0004) = sqrt(0.0396) = 0.19899749, p = 2 - 0.02 / d
  quadratic_step(p, opt);
  EXPECT_NEAR(p.item(), 1.899496218474079, 1e-14);
  // v = 0.0396 + 0.01 * 1.89949622^2 = 0.07568086, m = 0.0198 + 0.01899496 = 0.03879496,
  // d = sqrt(0.07568086 - 0.00150505) = 0.27235236, p -= 0.01 * 1.89949622 / d
  quadratic_step(p, opt);
  EXPECT_NEAR(p.item(), 1.8297521488413429, 1e-14);
}

TEST(RMSprop, WeightDecayAddsToTheGradient) {
  // f = p, wd = 0.5: g = 1 + 0.5 p.
  ad::Tensor p = param({2.0});
  ad::optim::RMSprop opt({p}, {.lr = 0.01, .eps = 0.0, .weight_decay = 0.5});
  linear_step(p, opt, {1.0});  // g = 2, v = 0.04, p = 2 - 0.01 * 2 / 0.2 = 1.9
  EXPECT_NEAR(p.item(), 1.9, 1e-14);
  linear_step(p, opt, {1.0});  // g = 1.95, v = 0.0396 + 0.038025 = 0.077625, p = 1.9 - 0.0195 / 0.27861263
  EXPECT_NEAR(p.item(), 1.8300103527324385, 1e-14);
}

// ---------------------------------------------------------------- AdaDelta

TEST(Adadelta, DefaultsAreLrOneRhoPointNineEpsOneEMinusSix) {
  ad::Tensor p = param({2.0});
  ad::optim::Adadelta opt({p});
  EXPECT_EQ(opt.lr(), 1.0);
  EXPECT_EQ(opt.options().rho, 0.9);
  EXPECT_EQ(opt.options().eps, 1e-6);
}

TEST(Adadelta, QuadraticHandSteps) {
  ad::Tensor p = param({2.0});
  ad::optim::Adadelta opt({p});  // lr 1, rho 0.9, eps 1e-6
  // v = 0.1 * 4 = 0.4, d = sqrt(0 + 1e-6) / sqrt(0.4 + 1e-6) * 2 = 0.00316227, u = 0.1 d^2 = 9.99997e-7
  quadratic_step(p, opt);
  EXPECT_NEAR(p.item(), 2.0 - 2.0 * std::sqrt(1e-6 / 0.400001), 1e-15);  // 1.99683773
  EXPECT_NEAR(opt.state(0).buffers.at("acc_delta").item(), 9.999975000062502e-07, 1e-20);
  // g = 1.99683773, v = 0.36 + 0.1 g^2 = 0.75873609, d = sqrt(u + 1e-6) / sqrt(v + 1e-6) g = 0.00324199
  quadratic_step(p, opt);
  EXPECT_NEAR(p.item(), 1.9935957350142592, 1e-15);
  quadratic_step(p, opt);  // v = 1.08030488, d = 0.00329497
  EXPECT_NEAR(p.item(), 1.990300761714474, 1e-15);
}

TEST(Adadelta, LrScalesTheStep) {
  ad::Tensor a = param({2.0}), b = param({2.0});
  ad::optim::Adadelta full({a}), half({b}, {.lr = 0.5});
  quadratic_step(a, full);
  quadratic_step(b, half);
  EXPECT_NEAR(2.0 - b.item(), 0.5 * (2.0 - a.item()), 1e-15);
}

// ---------------------------------------------------------------- Adam / AMSGrad / AdamW

TEST(Adam, QuadraticHandSteps) {
  ad::Tensor p = param({2.0});
  ad::optim::Adam opt({p}, {.lr = 0.1, .eps = 0.0});
  // m = 0.1 * 2 = 0.2, v = 0.001 * 4 = 0.004; m^ = 0.2 / 0.1 = 2, v^ = 0.004 / 0.001 = 4; p = 2 - 0.1 * 2 / 2
  quadratic_step(p, opt);
  EXPECT_NEAR(p.item(), 1.9, 1e-14);
  // g = 1.9: m = 0.18 + 0.19 = 0.37, v = 0.003996 + 0.00361 = 0.007606; m^ = 0.37 / 0.19 = 1.94736842,
  // v^ = 0.007606 / 0.001999 = 3.80490245; p = 1.9 - 0.1 * 1.94736842 / 1.95061592 = 1.80016649
  quadratic_step(p, opt);
  EXPECT_NEAR(p.item(), 1.8001664856103092, 1e-14);
  EXPECT_NEAR(opt.state(0).buffers.at("exp_avg").item(), 0.37, 1e-15);
  EXPECT_NEAR(opt.state(0).buffers.at("exp_avg_sq").item(), 0.007606, 1e-17);
  quadratic_step(p, opt);  // m = 0.51301665, v = 0.01083899; m^ = 1.89305036, v^ = 3.6166132
  EXPECT_NEAR(p.item(), 1.7006233912808162, 1e-14);
}

TEST(Adam, DefaultEpsEntersTheDenominator) {
  ad::Tensor p = param({2.0});
  ad::optim::Adam opt({p}, {.lr = 0.1});
  quadratic_step(p, opt);  // p = 2 - 0.1 * 2 / (2 + 1e-8)
  EXPECT_NEAR(p.item(), 2.0 - 0.2 / (2.0 + 1e-8), 1e-15);
}

TEST(Adam, L2WeightDecayEntersTheMoments) {
  // f = p, wd = 0.5: g = 1 + 0.5 p. Without decay every g is 1, so each step is exactly lr.
  ad::Tensor p = param({2.0}), q = param({2.0});
  ad::optim::Adam decayed({p}, {.lr = 0.1, .eps = 0.0, .weight_decay = 0.5});
  ad::optim::Adam plain({q}, {.lr = 0.1, .eps = 0.0});
  linear_step(p, decayed, {1.0});  // g = 2: first step is lr * sign(g): p = 1.9
  linear_step(q, plain, {1.0});
  EXPECT_NEAR(p.item(), 1.9, 1e-14);
  EXPECT_NEAR(q.item(), 1.9, 1e-14);
  // g = 1.95: m = 0.18 + 0.195 = 0.375, v = 0.003996 + 0.0038025 = 0.0077985; m^ = 1.97368421,
  // v^ = 3.9012006, sqrt = 1.97514572; p = 1.9 - 0.1 * 0.99925783 = 1.80007399
  linear_step(p, decayed, {1.0});
  linear_step(q, plain, {1.0});
  EXPECT_NEAR(p.item(), 1.8000739948288964, 1e-14);
  EXPECT_NEAR(q.item(), 1.8, 1e-14);
  linear_step(p, decayed, {1.0});
  EXPECT_NEAR(p.item(), 1.7002738439641791, 1e-14);
}

TEST(Adam, AmsgradDividesByTheRunningMaximumOfV) {
  // Gradients 10 then 0.1: v1 = 0.001 * 100 = 0.1, v2 = 0.0999 + 0.00001 = 0.09991 < v1, so
  // AMSGrad keeps v_max = 0.1 and takes a smaller second step.
  ad::Tensor a = param({1.0}), b = param({1.0});
  ad::optim::Adam ams({a}, {.lr = 0.1, .eps = 0.0, .amsgrad = true});
  ad::optim::Adam plain({b}, {.lr = 0.1, .eps = 0.0});
  linear_step(a, ams, {10.0});  // both: p = 1 - 0.1 = 0.9
  linear_step(b, plain, {10.0});
  EXPECT_NEAR(a.item(), 0.9, 1e-15);
  EXPECT_NEAR(b.item(), 0.9, 1e-15);
  // m = 0.9 + 0.01 = 0.91, m^ = 0.91 / 0.19 = 4.78947368; bias_correction2 = 0.001999
  //   AMSGrad: v^ = 0.1 / 0.001999 = 50.0250125, p = 0.9 - 0.1 * 4.78947368 / 7.07283624 = 0.83228355
  //   Adam:    v^ = 0.09991 / 0.001999 = 49.979990, p = 0.9 - 0.1 * 4.78947368 / 7.06965275 = 0.83225306
  linear_step(a, ams, {0.1});
  linear_step(b, plain, {0.1});
  EXPECT_NEAR(a.item(), 0.8322835490554046, 1e-15);
  EXPECT_NEAR(b.item(), 0.8322530560681688, 1e-15);
  EXPECT_NEAR(ams.state(0).buffers.at("max_exp_avg_sq").item(), 0.1, 1e-16);
  EXPECT_EQ(plain.state(0).buffers.count("max_exp_avg_sq"), 0u);
}

TEST(AdamW, DecoupledDecayHandSteps) {
  // f = p (g = 1 always, so each Adam step is exactly lr = 0.1), wd = 0.5: p = p * (1 - 0.05) - 0.1.
  ad::Tensor p = param({2.0});
  ad::optim::AdamW opt({p}, {.lr = 0.1, .eps = 0.0, .weight_decay = 0.5});
  linear_step(p, opt, {1.0});  // 2 * 0.95 - 0.1 = 1.8
  EXPECT_NEAR(p.item(), 1.8, 1e-14);
  linear_step(p, opt, {1.0});  // 1.8 * 0.95 - 0.1 = 1.61
  EXPECT_NEAR(p.item(), 1.61, 1e-14);
  linear_step(p, opt, {1.0});  // 1.61 * 0.95 - 0.1 = 1.4295
  EXPECT_NEAR(p.item(), 1.4295, 1e-14);
  // The decay never reaches the moments: m and v are those of g = 1.
  EXPECT_NEAR(opt.state(0).buffers.at("exp_avg").item(), 0.271, 1e-15);  // 1 - 0.9^3
}

TEST(AdamW, DiffersFromAdamExactlyByTheDecoupledDecayTerm) {
  // With a gradient that does not depend on p, AdamW's step is Adam's (no decay) step u_t plus
  // the decay: p_t = (1 - lr wd) p_{t-1} - u_t, where u_t = q_{t-1} - q_t for Adam's iterate q.
  const double lr = 0.05, wd = 0.3;
  ad::Tensor q = param({1.5, -2.0}), p = param({1.5, -2.0});
  ad::optim::Adam adam({q}, {.lr = lr});
  ad::optim::AdamW adamw({p}, {.lr = lr, .weight_decay = wd});
  const std::vector<std::vector<double>> grads{{1.0, -2.0}, {0.5, 3.0}, {-4.0, 0.25}, {2.0, 2.0}};
  for (const auto& c : grads) {
    const std::vector<double> q0 = q.to_vector(), p0 = p.to_vector();
    linear_step(q, adam, c);
    linear_step(p, adamw, c);
    const std::vector<double> q1 = q.to_vector(), p1 = p.to_vector();
    for (std::size_t i = 0; i < 2; ++i) {
      const double u = q0[i] - q1[i];
      EXPECT_NEAR(p1[i], (1.0 - lr * wd) * p0[i] - u, 1e-15);
    }
  }
  // Adam with L2 decay is a different method: its trajectory differs from AdamW's.
  ad::Tensor r = param({1.5, -2.0});
  ad::optim::Adam adam_l2({r}, {.lr = lr, .weight_decay = wd});
  for (const auto& c : grads) linear_step(r, adam_l2, c);
  EXPECT_GT(std::abs(r.at({0}) - p.at({0})), 1e-4);
}

TEST(AdamW, WithoutDecayIsBitIdenticalToAdam) {
  ad::Tensor a = param({2.0, -1.0}), b = param({2.0, -1.0});
  ad::optim::Adam adam({a}, {.lr = 0.1});
  ad::optim::AdamW adamw({b}, {.lr = 0.1, .weight_decay = 0.0});
  for (int i = 0; i < 4; ++i) {
    quadratic_step(a, adam);
    quadratic_step(b, adamw);
  }
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_EQ(ad::optim::AdamW({param({1.0})}).options().weight_decay, 1e-2);  // PyTorch's default
  EXPECT_EQ(ad::optim::Adam({param({1.0})}).options().weight_decay, 0.0);
}

TEST(Adam, Float32ParametersKeepFloat32State) {
  ad::Tensor p = ad::tensor({2.0, -3.0}, ad::dtype(ad::kFloat32)).requires_grad_();
  ad::optim::Adam opt({p}, {.lr = 0.1});
  quadratic_step(p, opt);  // first step: lr * sign(g)
  EXPECT_EQ(p.dtype(), ad::kFloat32);
  EXPECT_EQ(opt.state(0).buffers.at("exp_avg").dtype(), ad::kFloat32);
  EXPECT_NEAR(p.at({0}), 1.9, 1e-6);
  EXPECT_NEAR(p.at({1}), -2.9, 1e-6);
}

// ---------------------------------------------------------------- option checks

TEST(AdaptiveOptimizers, RejectBadOptionsNamingTheOptimizerOptionAndRange) {
  ad::Tensor p = param({1.0});
  EXPECT_TRUE(contains(error_of([&] { ad::optim::Adagrad({p}, {.lr = -1.0}); }),
                       "Adagrad: lr must be finite and >= 0, got -1"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::Adagrad({p}, {.lr_decay = -0.1}); }),
                       "Adagrad: lr_decay must be finite and >= 0, got -0.1"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::Adagrad({p}, {.initial_accumulator_value = -1.0}); }),
                       "Adagrad: initial_accumulator_value must be"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::Adagrad({p}, {.eps = -1e-10}); }), "Adagrad: eps must be finite and >= 0"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::RMSprop({p}, {.alpha = 1.5}); }),
                       "RMSprop: alpha must be in [0, 1], got 1.5"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::RMSprop({p}, {.momentum = -0.9}); }),
                       "RMSprop: momentum must be finite and >= 0"));
  EXPECT_TRUE(
      contains(error_of([&] { ad::optim::RMSprop({p}, {.weight_decay = -1.0}); }), "RMSprop: weight_decay must be"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::Adadelta({p}, {.rho = -0.1}); }),
                       "Adadelta: rho must be in [0, 1], got -0.1"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::Adadelta({p}, {.eps = std::nan("")}); }),
                       "Adadelta: eps must be finite and >= 0, got nan"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::Adam({p}, {.betas = {1.0, 0.999}});
                       }),
                       "Adam: betas.first must be in [0, 1), got 1"));
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::Adam({p}, {.betas = {0.9, -0.5}});
                       }),
                       "Adam: betas.second must be in [0, 1), got -0.5"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::Adam({p}, {.eps = -1.0}); }), "Adam: eps must be finite and >= 0"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::AdamW({p}, {.weight_decay = -0.01}); }),
                       "AdamW: weight_decay must be finite and >= 0, got -0.01"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::AdamW({p}, {.lr = std::numeric_limits<double>::infinity()}); }),
                       "AdamW: lr must be finite"));
}

}  // namespace
