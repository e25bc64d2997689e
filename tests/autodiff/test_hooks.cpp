// Tensor::register_hook and register_post_accumulate_grad_hook: hooks see and replace the
// gradient (non-leaf and leaf), retain_grad keeps the hooked gradient, post-accumulate hooks
// run once per pass after .grad is final and in backward order, remove_hook, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Tensor;
using ad::testing::error_of;

Tensor f64(const std::vector<double>& v) { return ad::tensor(v, ad::dtype(ad::kFloat64)); }
bool has(const std::string& m, const std::string& part) { return m.find(part) != std::string::npos; }

TEST(GradHooks, ANonLeafHookSeesAndReplacesItsGradient) {
  Tensor x = f64({1, -2}).requires_grad_();
  Tensor y = x * x;
  std::vector<double> seen;
  y.register_hook([&](const Tensor& g) {
    seen = g.to_vector();
    return g * 2.0;
  });
  y.retain_grad();
  (y * 3.0).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{3, 3}));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{6, 6}));                   // retain_grad keeps the hooked one
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2 * 6 * 1, 2 * 6 * -2}));  // d(x^2) = 2x * 6
  // the same hook runs under ad::grad
  const Tensor z = x * x;
  z.register_hook([](const Tensor& g) { return g * 10.0; });
  EXPECT_EQ(ad::grad({z.sum()}, {x})[0].to_vector(), (std::vector<double>{20, -40}));
}

TEST(GradHooks, LeafHooksRunBeforeAccumulationAndAnUndefinedResultKeepsTheGradient) {
  Tensor w = f64({1, 2, 3}).requires_grad_();
  int calls = 0;
  const auto keep = w.register_hook([&](const Tensor&) {
    ++calls;
    return Tensor();
  });
  const auto halve = w.register_hook([](const Tensor& g) { return g * 0.5; });
  (w * w).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{1, 2, 3}));  // 2w halved
  w.remove_hook(halve);
  w.zero_grad();
  (w * w).sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2, 4, 6}));
  w.remove_hook(keep);
  EXPECT_TRUE(has(error_of([&] { w.remove_hook(keep); }), "has no hook with id"));
}

TEST(GradHooks, PostAccumulateHooksRunAfterTheGradIsFinalInBackwardOrder) {
  Tensor w1 = f64({0.5, -1}).requires_grad_(), w2 = f64({2, 3}).requires_grad_();
  std::vector<std::string> order;
  std::vector<double> w1_grad_seen;
  w1.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    order.push_back("w1");
    w1_grad_seen = leaf.grad().to_vector();
  });
  w2.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back("w2"); });
  // w1 is used twice: its hook runs once, after both contributions are summed
  const Tensor h = ad::tanh(w1 * 2.0) + w1;
  (h * w2).sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"w2", "w1"}));  // the layer nearer the loss first
  EXPECT_EQ(w1_grad_seen, w1.grad().to_vector());
  ASSERT_EQ(w1_grad_seen.size(), 2u);
  EXPECT_NEAR(w1_grad_seen[0], 2.0 * (2.0 * (1 - std::pow(std::tanh(1.0), 2)) + 1), 1e-12);
}

TEST(GradHooks, BadHooksAreErrors) {
  Tensor x = f64({1, 2}).requires_grad_();
  const Tensor y = x * 2.0;
  y.register_hook([](const Tensor&) { return ad::zeros({3}, ad::dtype(ad::kFloat64)); });
  const std::string m = error_of([&] { y.sum().backward(); });
  EXPECT_TRUE(has(m, "a gradient hook on mul returned [3] Float64 for a gradient of [2] Float64")) << m;
  EXPECT_TRUE(
      has(error_of([] { f64({1}).register_hook([](const Tensor& g) { return g; }); }), "does not require grad"));
  EXPECT_TRUE(has(error_of([&] { y.register_post_accumulate_grad_hook([](const Tensor&) {}); }),
                  "only a leaf that requires grad"));
}

}  // namespace
