// The backward engine, one test per failure mode peers suffered (../shared/design/failure-modes.md):
// deep chains, fan-out, shared subexpressions, repeated backward, ad::grad, detach / no-grad,
// version counters, retain_grad, anomaly mode, leaks, accumulation across graphs (threads:
// test_concurrency.cpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define AD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AD_TEST_ASAN 1
#endif
#endif
#ifdef AD_TEST_ASAN
// From <sanitizer/allocator_interface.h> (not shipped with every compiler): drains the quarantine.
extern "C" void __sanitizer_purge_allocator(void);
// ASan keeps up to 256 MB of freed blocks in quarantine by default, which an RSS bound cannot
// tell from a leak (ManySmallGraphs saw +62 MB). 16 MB still catches use-after-free of recent
// frees and lets the RSS check mean something. ASAN_OPTIONS in the environment still applies.
// allocator_may_return_null: an allocation of terabytes (test_bad_input.cpp) must fail like
// malloc does, as a bad_alloc the library turns into an ad::Error, not abort the process.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16:allocator_may_return_null=1"; }
#endif

namespace {

using ad::Shape;
using ad::Tensor;

using ad::testing::contains;
using ad::testing::error_of;

const ad::GradOptions kCreateGraph{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false};

Tensor leaf(double v) { return ad::scalar_tensor(v, ad::dtype(ad::kFloat64)).requires_grad_(); }
Tensor leaf(std::initializer_list<double> v) { return ad::tensor(v, ad::dtype(ad::kFloat64)).requires_grad_(); }

std::size_t count_of(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + part.size())) ++n;
  return n;
}

// Resident set size in bytes. Under ASan, freed blocks sit in a quarantine first: drain it so
// that only memory still in use is counted.
std::int64_t rss_bytes() {
#ifdef AD_TEST_ASAN
  __sanitizer_purge_allocator();
#endif
  std::ifstream f("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

// Depth of the long-chain tests: 500k (1M nodes) normally, 200k under the sanitizers.
#ifdef AD_TEST_ASAN
constexpr int kDeep = 200000;
#else
constexpr int kDeep = 500000;
#endif

// ---------------------------------------------------------------- deep chains

TEST(EngineDeepChain, BackwardAndDestroyWithoutRecursion) {
  const std::int64_t base = ad::live_nodes();
  {
    Tensor x = leaf(1.0);
    Tensor y = x;
    for (int i = 0; i < kDeep; ++i) y = y * 1.000001 + 0.0;
    EXPECT_GE(ad::live_nodes() - base, 2 * kDeep);
    const double expect = std::pow(1.000001, kDeep);
    EXPECT_NEAR(y.item() / expect, 1.0, 1e-9);
    y.backward();
    ASSERT_TRUE(x.grad().defined());
    EXPECT_NEAR(x.grad().item() / expect, 1.0, 1e-9);
    y = Tensor();  // drops 2 * kDeep nodes
    EXPECT_EQ(ad::live_nodes(), base);
  }
  EXPECT_EQ(ad::live_nodes(), base);
}

TEST(EngineDeepChain, DestroyWithSavedTensorsAlive) {
  // Without a backward, every mul closure still holds its input (and through it the previous node).
  const std::int64_t base = ad::live_nodes();
  {
    Tensor x = leaf(2.0);
    Tensor y = x;
    for (int i = 0; i < kDeep; ++i) y = ad::sin(y * 1.0) + 0.0;
    EXPECT_GE(ad::live_nodes() - base, 3 * kDeep);
  }
  EXPECT_EQ(ad::live_nodes(), base);
  {
    Tensor x = leaf(2.0);
    Tensor y = x;
    for (int i = 0; i < kDeep; ++i) y = y * 1.0;
    y.backward({}, {.retain_graph = true});
    EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
  }
  EXPECT_EQ(ad::live_nodes(), base);
}

TEST(EngineDeepChain, DotExportOfDeepChain) {
  constexpr int kDepth = 200000;
  const std::int64_t base = ad::live_nodes();
  {
    Tensor x = leaf(1.0);
    x.set_label("x");
    Tensor y = x;
    for (int i = 0; i < kDepth; ++i) y = y * 1.000001 + 0.0;
    const std::string dot = ad::to_dot(y);
    EXPECT_TRUE(contains(dot, "digraph")) << dot.substr(0, 200);
    // per step: mul <- (previous, constant), add <- (mul, constant)
    EXPECT_EQ(count_of(dot, "->"), static_cast<std::size_t>(4 * kDepth));
    EXPECT_EQ(count_of(dot, "label=\"mul"), static_cast<std::size_t>(kDepth));
    EXPECT_EQ(count_of(dot, "label=\"add"), static_cast<std::size_t>(kDepth));
    EXPECT_TRUE(contains(dot, "label=\"x")) << "the leaf's label is missing";
  }
  EXPECT_EQ(ad::live_nodes(), base);
}

// ---------------------------------------------------------------- fan-out

TEST(EngineFanOut, AddToItself) {
  Tensor a = leaf(3.0);
  Tensor b = a + a;
  Tensor c = b + b;
  c.backward();
  EXPECT_DOUBLE_EQ(c.item(), 12.0);
  EXPECT_DOUBLE_EQ(a.grad().item(), 4.0);

  Tensor v = leaf({1, -2, 5});
  Tensor w = v + v;
  ((w + w) * v).sum().backward();  // d/dv of 4 v^2 = 8 v
  EXPECT_EQ(v.grad().to_vector(), (std::vector<double>{8, -16, 40}));
}

TEST(EngineFanOut, NodeWithThreeConsumers) {
  const double a0 = 0.7;
  Tensor a = leaf(a0);
  Tensor h = a * a;  // one node, three consumers
  Tensor y = h + h * h + ad::sin(h);
  y.backward();
  const double h0 = a0 * a0;
  EXPECT_NEAR(y.item(), h0 + h0 * h0 + std::sin(h0), 1e-15);
  EXPECT_NEAR(a.grad().item(), (1 + 2 * h0 + std::cos(h0)) * 2 * a0, 1e-14);

  // a leaf with three consumers
  Tensor x = leaf(1.5);
  Tensor z = x * 2.0 + x * 3.0 + ad::exp(x);
  z.backward();
  EXPECT_NEAR(x.grad().item(), 5.0 + std::exp(1.5), 1e-14);
}

TEST(EngineFanOut, Diamond) {
  const double a0 = 0.3;
  Tensor a = leaf(a0);
  Tensor b = a * 3.0;
  Tensor c = ad::exp(a);
  Tensor d = b * c;
  d.backward();
  EXPECT_NEAR(a.grad().item(), 3 * std::exp(a0) + 3 * a0 * std::exp(a0), 1e-14);

  // nested diamonds on a vector: y = sum((x*x + x) * (x*x - x)) = sum(x^4 - x^2)
  Tensor x = leaf({0.5, -1.0, 2.0});
  Tensor s = x * x;
  Tensor y = ((s + x) * (s - x)).sum();
  y.backward();
  const std::vector<double> g = x.grad().to_vector();
  const double xs[] = {0.5, -1.0, 2.0};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(g[static_cast<std::size_t>(i)], 4 * std::pow(xs[i], 3) - 2 * xs[i], 1e-14);
}

// ---------------------------------------------------------------- shared subexpressions

TEST(EngineSharedSubexpressions, VisitedOnce) {
  const auto t0 = std::chrono::steady_clock::now();
  Tensor x = leaf(1.0);
  Tensor y = x;
  for (int i = 0; i < 30; ++i) y = y + y;
  y.backward();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 0.5);
  EXPECT_EQ(x.grad().item(), std::ldexp(1.0, 30));
  EXPECT_EQ(y.item(), std::ldexp(1.0, 30));

  // same with a multiplication: y = x^(2^k) via y = y*y, k = 6: dy/dx = 64 x^63
  Tensor p = leaf(1.01);
  Tensor q = p;
  for (int i = 0; i < 6; ++i) q = q * q;
  q.backward();
  EXPECT_NEAR(p.grad().item() / (64 * std::pow(1.01, 63)), 1.0, 1e-13);
}

// ---------------------------------------------------------------- repeated backward

TEST(EngineRepeatedBackward, RetainGraphTwiceDoubles) {
  Tensor x = leaf({1, 2, 3});
  Tensor w = leaf({0.5, -1, 4});
  Tensor y = (ad::exp(x) * w + x * x).sum();
  y.backward({}, {.retain_graph = true});
  const std::vector<double> g1 = x.grad().to_vector(), gw1 = w.grad().to_vector();
  for (std::size_t i = 0; i < 3; ++i) {
    const double xi = static_cast<double>(i + 1);
    EXPECT_NEAR(gw1[i], std::exp(xi), 1e-12);
  }
  y.backward({}, {.retain_graph = true});
  const std::vector<double> g2 = x.grad().to_vector(), gw2 = w.grad().to_vector();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(g2[i], 2 * g1[i]);
    EXPECT_EQ(gw2[i], 2 * gw1[i]);
  }
  x.zero_grad();
  w.zero_grad();
  y.backward({}, {.retain_graph = true});
  EXPECT_EQ(x.grad().to_vector(), g1);
  EXPECT_EQ(w.grad().to_vector(), gw1);
  // determinism: the same backward gives bit-identical gradients
  x.zero_grad();
  w.zero_grad();
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), g1);
}

TEST(EngineRepeatedBackward, SecondTimeWithoutRetainThrows) {
  Tensor x = leaf({1, 2});
  Tensor y = (x * x).sum();
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 4}));
  const std::string m = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(m, "second time")) << m;
  EXPECT_TRUE(contains(m, "'sum'")) << m;
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 4}));  // untouched by the failed call

  Tensor z = leaf(2.0);
  Tensor u = z * z;
  u.backward();
  const std::string m2 = error_of([&] { u.backward(); });
  EXPECT_TRUE(contains(m2, "second time")) << m2;
  EXPECT_TRUE(contains(m2, "'mul'")) << m2;
}

TEST(EngineRepeatedBackward, NonScalarNeedsGradient) {
  Tensor x = leaf({1, 2, 3, 4, 5, 6});
  Tensor y = x.reshape({2, 3}) * 2.0;
  const std::string m = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(m, "[2, 3]")) << m;
  EXPECT_FALSE(x.grad().defined());

  y.backward(ad::tensor({1, 10, 100, 1000, 1e4, 1e5}, {2, 3}, ad::dtype(ad::kFloat64)), {.retain_graph = true});
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 20, 200, 2000, 2e4, 2e5}));

  const std::string bad = error_of([&] {
    y.backward(ad::ones({3, 2}, ad::dtype(ad::kFloat64)), {.retain_graph = true});
  });
  EXPECT_TRUE(contains(bad, "[3, 2]")) << bad;
  EXPECT_TRUE(contains(bad, "[2, 3]")) << bad;
  EXPECT_THROW(y.backward(ad::ones({2, 3}, ad::dtype(ad::kFloat32)), {.retain_graph = true}), ad::Error);
  EXPECT_THROW(y.backward(ad::ones({6}, ad::dtype(ad::kFloat64)), {.retain_graph = true}), ad::Error);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 20, 200, 2000, 2e4, 2e5}));

  // a one-element non-0-d output needs no gradient
  Tensor s = (x * 1.0).sum({0}, true);
  EXPECT_EQ(s.shape(), (Shape{1}));
  x.zero_grad();
  s.backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(6, 1.0));

  // an output that does not require grad
  EXPECT_THROW(ad::tensor({1.0}, ad::dtype(ad::kFloat64)).backward(), ad::Error);
}

TEST(EngineRepeatedBackward, GivenGradientIsNotModified) {
  Tensor x = leaf({1, 2});
  Tensor G = ad::tensor({3, 4}, ad::dtype(ad::kFloat64));
  Tensor y = x * 1.0;
  y.backward(G);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 4}));
  (x * 1.0).backward(G);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6, 8}));
  EXPECT_EQ(G.to_vector(), (std::vector<double>{3, 4}));
  // a leaf as its own output
  Tensor l = leaf({1, 1});
  l.backward(G);
  l.backward(G);
  EXPECT_EQ(l.grad().to_vector(), (std::vector<double>{6, 8}));
  EXPECT_EQ(G.to_vector(), (std::vector<double>{3, 4}));
}

TEST(EngineRepeatedBackward, MultipleOutputs) {
  Tensor x = leaf(1.5);
  Tensor y1 = x * 2.0;
  Tensor y2 = y1 * 3.0;  // depends on y1: y1 must wait for y2's contribution
  ad::backward({y1, y2});
  EXPECT_DOUBLE_EQ(x.grad().item(), 8.0);

  Tensor z = leaf(2.0);
  Tensor u = z * z;
  ad::backward({u, u});  // the same output twice counts twice
  EXPECT_DOUBLE_EQ(z.grad().item(), 8.0);

  Tensor p = leaf({1, 2});
  Tensor q = p * 3.0;
  Tensor r = p.sum();
  ad::backward({q, r},
               {ad::tensor({1, -1}, ad::dtype(ad::kFloat64)), ad::scalar_tensor(10.0, ad::dtype(ad::kFloat64))});
  EXPECT_EQ(p.grad().to_vector(), (std::vector<double>{13, 7}));
  EXPECT_THROW(ad::backward({q, r}, {ad::tensor({1, -1}, ad::dtype(ad::kFloat64))}), ad::Error);
}

// ---------------------------------------------------------------- ad::grad

TEST(EngineGrad, ReturnsWithoutTouchingDotGrad) {
  Tensor x = leaf({1, 2, 3});
  Tensor w = leaf({4, 5, 6});
  Tensor y = (x * w).sum();
  auto g = ad::grad({y}, {x, w}, {}, {.retain_graph = true});
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].to_vector(), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(g[1].to_vector(), (std::vector<double>{1, 2, 3}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_FALSE(g[0].requires_grad());

  // only the inputs asked for
  auto gx = ad::grad({y}, {x}, {}, {.retain_graph = true});
  EXPECT_EQ(gx[0].to_vector(), (std::vector<double>{4, 5, 6}));
  EXPECT_FALSE(w.grad().defined());

  // with respect to an intermediate
  Tensor h = x * 2.0;
  Tensor z = (h * h).sum();
  auto gh = ad::grad({z}, {h});
  EXPECT_EQ(gh[0].to_vector(), (std::vector<double>{4, 8, 12}));
  EXPECT_FALSE(x.grad().defined());

  // retain_graph defaults to false: the graph is freed
  auto once = ad::grad({y}, {x});
  EXPECT_EQ(once[0].to_vector(), (std::vector<double>{4, 5, 6}));
  const std::string m = error_of([&] { ad::grad({y}, {x}); });
  EXPECT_TRUE(contains(m, "second time")) << m;
}

// An op that counts how often its backward rule runs: y = x, dy/dx = g.
Tensor counted(const Tensor& x, int& calls) {
  return ad::record("counted", x * 1.0, {x}, [&calls](const Tensor& g, const Tensor&) {
    ++calls;
    return ad::GradList{g};
  });
}

TEST(EngineGrad, RunsOnlyTheNodesOnAPathToTheInputs) {
  Tensor a = ad::scalar_tensor(2.0, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor b = ad::scalar_tensor(3.0, ad::dtype(ad::kFloat64)).requires_grad_();
  int a_side = 0, b_side = 0, above = 0;
  const Tensor y = counted(counted(a, a_side) * counted(b, b_side), above);
  const auto g = ad::grad({y}, {a}, {}, {.retain_graph = true});
  EXPECT_EQ(g[0].item(), 3.0);
  EXPECT_EQ(a_side, 1);
  EXPECT_EQ(above, 1);
  EXPECT_EQ(b_side, 0) << "b's branch cannot reach a: its rule must not run";
  // An input inside the graph: nothing below it runs.
  const Tensor mid = counted(a, a_side);
  const Tensor z = mid * mid;
  a_side = 0;
  EXPECT_EQ(ad::grad({z}, {mid})[0].item(), 4.0);
  EXPECT_EQ(a_side, 0);
  EXPECT_FALSE(a.grad().defined());
}

TEST(EngineGrad, ManyInputsTheSameOneTwice) {
  std::vector<Tensor> xs;
  Tensor sum = ad::scalar_tensor(0.0, ad::dtype(ad::kFloat64));
  for (int i = 0; i < 2000; ++i) {
    xs.push_back(ad::scalar_tensor(i, ad::dtype(ad::kFloat64)).requires_grad_());
    sum = sum + xs.back() * static_cast<double>(i);
  }
  xs.push_back(xs[7]);
  const auto g = ad::grad({sum}, xs);
  ASSERT_EQ(g.size(), xs.size());
  for (int i = 0; i < 2000; ++i) EXPECT_EQ(g[static_cast<std::size_t>(i)].item(), i);
  EXPECT_EQ(g.back().item(), 7.0);
}

TEST(EngineGrad, AllowUnused) {
  Tensor x = leaf({1, 2});
  Tensor unused = leaf({7, 7});
  Tensor y = (x * x).sum();
  const std::string m = error_of([&] { ad::grad({y}, {x, unused}, {}, {.retain_graph = true}); });
  EXPECT_TRUE(contains(m, "input 1")) << m;
  auto g = ad::grad({y}, {x, unused}, {}, {.retain_graph = true, .allow_unused = true});
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].to_vector(), (std::vector<double>{2, 4}));
  EXPECT_FALSE(g[1].defined());
  EXPECT_FALSE(unused.grad().defined());
  EXPECT_THROW(ad::grad({y}, {ad::tensor({1.0}, ad::dtype(ad::kFloat64))}, {}, {.retain_graph = true}),
               ad::Error);  // not requiring grad
}

TEST(EngineGrad, CreateGraphSecondDerivatives) {
  for (double x0 : {-1.5, 0.0, 0.5, 2.0}) {
    Tensor x = leaf(x0);
    Tensor y = x * x * x;
    auto d1 = ad::grad({y}, {x}, {}, kCreateGraph);
    EXPECT_TRUE(d1[0].requires_grad());
    EXPECT_NEAR(d1[0].item(), 3 * x0 * x0, 1e-14);
    auto d2 = ad::grad({d1[0]}, {x}, {}, kCreateGraph);
    EXPECT_NEAR(d2[0].item(), 6 * x0, 1e-14) << "x = " << x0;
    auto d3 = ad::grad({d2[0]}, {x});
    EXPECT_NEAR(d3[0].item(), 6.0, 1e-14);
    EXPECT_FALSE(x.grad().defined());

    Tensor xp = leaf(x0);
    auto p1 = ad::grad({ad::pow(xp, 3.0)}, {xp}, {}, kCreateGraph);
    auto p2 = ad::grad({p1[0]}, {xp});
    EXPECT_NEAR(p2[0].item(), 6 * x0, 1e-14);
  }
  // through exp (which saves its output) and tanh: d2/dx2 exp(2x) = 4 exp(2x)
  Tensor x = leaf(0.3);
  auto e1 = ad::grad({ad::exp(x * 2.0)}, {x}, {}, kCreateGraph);
  auto e2 = ad::grad({e1[0]}, {x});
  EXPECT_NEAR(e2[0].item(), 4 * std::exp(0.6), 1e-13);
}

// ---------------------------------------------------------------- detach and no-grad

TEST(EngineNoGrad, DetachStopsGradients) {
  Tensor x = leaf({1, 2, 3});
  Tensor y = (x * x.detach()).sum();  // only the first factor carries the gradient
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 2, 3}));
  Tensor c = (x.detach() * 5.0).sum();
  EXPECT_FALSE(c.requires_grad());
  EXPECT_THROW(c.backward(), ad::Error);
}

TEST(EngineNoGrad, NoGradGuard) {
  Tensor x = leaf({1, 2});
  ASSERT_TRUE(ad::GradMode::is_enabled());
  {
    ad::NoGradGuard ng;
    EXPECT_FALSE(ad::GradMode::is_enabled());
    Tensor y = ad::exp(x * 2.0).sum();
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    {
      ad::AutoGradMode on(true);  // re-enable locally
      EXPECT_TRUE((x * 2.0).requires_grad());
    }
    EXPECT_FALSE(ad::GradMode::is_enabled());
    {
      ad::NoGradGuard nested;
      EXPECT_FALSE(ad::GradMode::is_enabled());
    }
    EXPECT_FALSE(ad::GradMode::is_enabled());
  }
  EXPECT_TRUE(ad::GradMode::is_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());

  // restored when the scope is left by an exception
  try {
    ad::NoGradGuard ng;
    ad::add(x, ad::zeros({5}, ad::dtype(ad::kFloat64)));
  } catch (const ad::Error&) {
  }
  EXPECT_TRUE(ad::GradMode::is_enabled());

  // and after a backward (which runs with grad mode off unless create_graph)
  (x * x).sum().backward();
  EXPECT_TRUE(ad::GradMode::is_enabled());
  {
    ad::NoGradGuard ng;
    (x * x).sum();  // not recorded, no error
  }
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 4}));
  EXPECT_FALSE(x.grad().requires_grad());
}

// ---------------------------------------------------------------- version counters

TEST(EngineVersionCounter, MutatedSavedInputThrowsNamingOpShapeVersions) {
  Tensor x = leaf({1, 2, 3});
  Tensor w = ad::tensor({4, 5, 6}, ad::dtype(ad::kFloat64));
  Tensor y = (x * w).sum();
  {
    ad::NoGradGuard ng;
    w.add_(1.0);
  }
  const std::string m = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(m, "'mul'")) << m;
  EXPECT_TRUE(contains(m, "[3]")) << m;
  EXPECT_TRUE(contains(m, "version 0")) << m;
  EXPECT_TRUE(contains(m, "version 1")) << m;
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(ad::GradMode::is_enabled());  // restored although the backward threw
}

TEST(EngineVersionCounter, MutationThroughAViewOrOfALeafIsSeen) {
  Tensor x = leaf({1, 2, 3, 4});
  Tensor w = leaf({1, 1, 1, 1});
  Tensor y = (x * w).sum();
  Tensor view = x.detach().reshape({2, 2});
  view.mul_(2.0);
  view.mul_(2.0);
  const std::string m = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(m, "'mul'")) << m;
  EXPECT_TRUE(contains(m, "[4]")) << m;
  EXPECT_TRUE(contains(m, "version 0")) << m;
  EXPECT_TRUE(contains(m, "version 2")) << m;

  // a leaf that requires grad, updated under no-grad (like an optimizer step) before backward
  Tensor a = leaf({1, 2});
  Tensor b = leaf({3, 4});
  Tensor z = (a * b).sum();
  {
    ad::NoGradGuard ng;
    a.sub_(ad::tensor({1, 1}, ad::dtype(ad::kFloat64)));
  }
  EXPECT_THROW(z.backward(), ad::Error);

  // an unmodified save still works, and so does a fresh graph after the mutation
  Tensor z2 = (a * b).sum();
  z2.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{3, 4}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{0, 1}));
}

TEST(EngineVersionCounter, MutatedSavedOutputThrows) {
  Tensor x = leaf({0.5, 1.0});
  Tensor e = ad::exp(x);  // saves its output
  Tensor y = e.sum();
  {
    ad::NoGradGuard ng;
    e.mul_(2.0);
  }
  const std::string m = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(m, "'exp'")) << m;
  EXPECT_TRUE(contains(m, "version 0")) << m;
  EXPECT_TRUE(contains(m, "version 1")) << m;
}

// ---------------------------------------------------------------- retain_grad

TEST(EngineRetainGrad, IntermediateKeepsGrad) {
  Tensor x = leaf({1, 2, 3});
  Tensor h = x * 3.0;
  Tensor k = h + 1.0;
  h.retain_grad();
  Tensor y = (k * h).sum();  // dy/dh = k + h = 2h + 1, dy/dx = 3(2h + 1)
  y.backward({}, {.retain_graph = true});
  ASSERT_TRUE(h.grad().defined());
  EXPECT_EQ(h.grad().to_vector(), (std::vector<double>{7, 13, 19}));
  EXPECT_FALSE(k.grad().defined());  // not retained
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{21, 39, 57}));
  y.backward();
  EXPECT_EQ(h.grad().to_vector(), (std::vector<double>{14, 26, 38}));  // accumulates like a leaf
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{42, 78, 114}));
  h.zero_grad();
  EXPECT_EQ(h.grad().to_vector(), (std::vector<double>{0, 0, 0}));
}

// ---------------------------------------------------------------- anomaly mode

TEST(EngineAnomaly, InfFromSqrtAtZero) {
  {
    ad::DetectAnomalyGuard guard;
    EXPECT_TRUE(ad::AnomalyMode::is_enabled());
    Tensor x = leaf(0.0);
    Tensor y = ad::sqrt(x);
    const std::string m = error_of([&] { y.backward(); });
    EXPECT_TRUE(contains(m, "'sqrt'")) << m;
    EXPECT_TRUE(contains(m, "Inf")) << m;
  }
  EXPECT_FALSE(ad::AnomalyMode::is_enabled());
  Tensor x = leaf(0.0);
  EXPECT_NO_THROW(ad::sqrt(x).backward());
  EXPECT_TRUE(std::isinf(x.grad().item()));
}

TEST(EngineAnomaly, NaNNamesTheForwardOp) {
  {
    ad::DetectAnomalyGuard guard;
    Tensor x = leaf(-1.0);
    Tensor y = ad::sqrt(x) * 2.0 + 1.0;  // sqrt(-1) = NaN, and so is its derivative
    const std::string m = error_of([&] { y.backward(); });
    EXPECT_TRUE(contains(m, "'sqrt'")) << m;
    EXPECT_TRUE(contains(m, "NaN")) << m;
    EXPECT_FALSE(contains(m, "'mul'")) << m;
    EXPECT_FALSE(contains(m, "'add'")) << m;
  }
  Tensor x = leaf(-1.0);
  EXPECT_NO_THROW((ad::sqrt(x) * 2.0 + 1.0).backward());
  EXPECT_TRUE(std::isnan(x.grad().item()));
}

TEST(EngineAnomaly, LogZeroTimesZero) {
  // log(0) * 0: the forward is NaN; the backward multiplies the zero gradient by the Inf
  // derivative of log, which by the documented convention (mul_grad/div_grad, docs/engine.md)
  // is exactly 0, so there is no anomaly in the backward.
  {
    ad::DetectAnomalyGuard guard;
    Tensor x = leaf(0.0);
    Tensor y = ad::log(x) * 0.0;
    EXPECT_TRUE(std::isnan(y.item()));
    EXPECT_NO_THROW(y.backward());
    EXPECT_EQ(x.grad().item(), 0.0);
    // while log(0) * 1 has an Inf gradient, named after log
    Tensor z = leaf(0.0);
    const std::string m = error_of([&] { (ad::log(z) * 1.0).backward(); });
    EXPECT_TRUE(contains(m, "'log'")) << m;
    EXPECT_TRUE(contains(m, "Inf")) << m;
  }
  EXPECT_FALSE(ad::AnomalyMode::is_enabled());
  Tensor z = leaf(0.0);
  EXPECT_NO_THROW((ad::log(z) * 1.0).backward());
  EXPECT_TRUE(std::isinf(z.grad().item()));
  {
    ad::DetectAnomalyGuard guard;  // finite gradients pass
    Tensor w = leaf(2.0);
    EXPECT_NO_THROW((ad::log(w) * 3.0).backward());
    EXPECT_DOUBLE_EQ(w.grad().item(), 1.5);
  }
}

// ---------------------------------------------------------------- leaks

TEST(EngineLeaks, ManySmallGraphs) {
  const std::int64_t base = ad::live_nodes();
  Tensor w = ad::tensor({0.1, -0.2, 0.3, 0.4}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor x = ad::tensor({1.0, 2.0, 3.0, 4.0}, ad::dtype(ad::kFloat64));
  std::int64_t rss_after_warmup = 0;
  constexpr int kIters = 100000;
  for (int i = 0; i < kIters; ++i) {
    Tensor y = (ad::tanh(w * x) + ad::exp(w) * 0.5).sum();
    y.backward();
    if (i == 999) rss_after_warmup = rss_bytes();
  }
  const std::int64_t rss_end = rss_bytes();
  EXPECT_EQ(ad::live_nodes(), base);
  EXPECT_LT(rss_end - rss_after_warmup, 20ll << 20)
      << "RSS grew by " << (rss_end - rss_after_warmup) / (1 << 20) << " MB";
  // the gradient accumulated over every iteration
  const double w0 = 0.1, x0 = 1.0;
  const double per = x0 * (1 - std::tanh(w0 * x0) * std::tanh(w0 * x0)) + 0.5 * std::exp(w0);
  EXPECT_NEAR(w.grad().to_vector()[0] / (kIters * per), 1.0, 1e-9);
}

TEST(EngineLeaks, EveryOpFamilyFreesItsGraph) {
  const std::int64_t base = ad::live_nodes();
  ad::Generator gen(3);
  for (int round = 0; round < 2; ++round) {  // round 0: drop without backward; round 1: after backward
    {
      Tensor a = ad::randn({3, 4}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
      Tensor b = ad::randn({4, 3}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
      Tensor pos = ad::rand({3, 4}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
      Tensor idx = ad::index_tensor({2, 0});
      Tensor gidx = ad::index_tensor({0, 1, 2, 3, 3, 2, 1, 0, 0, 0, 0, 0}, {3, 4});
      std::vector<Tensor> parts = {
          ad::exp(a),
          ad::log(pos + 1.0),
          ad::sqrt(pos + 0.5),
          ad::tanh(a),
          ad::sigmoid(a),
          ad::relu(a),
          ad::leaky_relu(a),
          ad::abs(a),
          ad::sin(a) * ad::cos(a),
          ad::clamp(a, -0.5, 0.5),
          ad::pow(pos, 1.5),
          ad::pow(pos + 0.1, a),
          ad::maximum(a, pos),
          ad::minimum(a, pos),
          a / (pos + 1.0),
          -a - pos,
          ad::where(a > 0.0, a, pos),
          ad::softmax(a, 1),
          ad::log_softmax(a, 0),
          ad::matmul(a, b).sum({1}, true) + ad::zeros({3, 4}, ad::dtype(ad::kFloat64)),
          ad::transpose(b, 0, 1),
          ad::permute(b, {1, 0}),
          ad::expand(ad::logsumexp(a, {1}, true), {3, 4}),
          ad::expand(ad::amax(a, {0}, true), {3, 4}),
          ad::expand(ad::amin(a, {1}, true), {3, 4}),
          ad::expand(a.mean(), {3, 4}),
          a.reshape({4, 3}).reshape({3, 4}),
          ad::cat({ad::slice(a, 1, 0, 2), ad::slice(a, 1, 2, 4)}, 1),
          ad::stack({a, pos}, 0).sum({0}),
          ad::index_select(a, 0, idx).sum({0}, true) + a,
          ad::gather(a, 1, gidx),
          a.clone(),
          a.to(ad::kFloat32).to(ad::kFloat64),
          a.unsqueeze(0).squeeze(0),
      };
      Tensor total = ad::scalar_tensor(0.0, ad::dtype(ad::kFloat64));
      for (const Tensor& p : parts) total = total + p.sum();
      EXPECT_GT(ad::live_nodes(), base + 30);
      if (round == 1) {
        total.backward();
        EXPECT_TRUE(a.grad().defined());
        EXPECT_TRUE(b.grad().defined());
        EXPECT_TRUE(pos.grad().defined());
      }
    }
    EXPECT_EQ(ad::live_nodes(), base) << "round " << round;
  }
}

TEST(EngineLeaks, CreateGraphFreesEverything) {
  const std::int64_t base = ad::live_nodes();
  for (int i = 0; i < 100; ++i) {
    Tensor x = ad::tensor({0.5, 1.5}, ad::dtype(ad::kFloat64)).requires_grad_();
    Tensor y = (ad::exp(x) * ad::tanh(x) * x).sum();
    auto g1 = ad::grad({y}, {x}, {}, kCreateGraph);
    auto g2 = ad::grad({g1[0].sum()}, {x}, {}, kCreateGraph);
    (g2[0] * g2[0]).sum().backward();
  }
  EXPECT_EQ(ad::live_nodes(), base);
  {
    // backward(create_graph) puts a differentiable .grad in the leaf (a leaf <-> grad cycle);
    // zero_grad() breaks it, as documented.
    Tensor x = leaf(2.0);
    (x * x * x).backward({}, {.retain_graph = false, .create_graph = true});
    EXPECT_DOUBLE_EQ(x.grad().item(), 12.0);
    EXPECT_NE(x.grad().grad_fn(), nullptr);
    x.zero_grad();
    EXPECT_DOUBLE_EQ(x.grad().item(), 0.0);
  }
  EXPECT_EQ(ad::live_nodes(), base);
}

TEST(EngineLeaks, FailedCreateGraphBackwardLeavesNoCycle) {
  // A backward that throws part-way (here: anomaly mode) leaves gradients in the buffers of the
  // nodes it did not reach. With create_graph those gradients have history that can lead back
  // to the node holding them (exp's gradient g * out references exp, whose input is n2).
  const std::int64_t base = ad::live_nodes();
  {
    Tensor a = leaf(1.0);
    Tensor n2 = a * 1.0;
    Tensor n1 = ad::exp(n2);
    Tensor z = ad::sqrt(n2 * 0.0);  // d sqrt at 0 = Inf
    Tensor y = z + n1;
    ad::DetectAnomalyGuard guard;
    const std::string m = error_of([&] { ad::grad({y}, {a}, {}, kCreateGraph); });
    EXPECT_TRUE(contains(m, "'sqrt'")) << m;
    EXPECT_TRUE(ad::GradMode::is_enabled());
  }
  EXPECT_EQ(ad::live_nodes(), base) << "nodes kept alive by a reference cycle after the failed backward";
}

// ---------------------------------------------------------------- leaves in many graphs

TEST(EngineAccumulation, LeafUsedInManyGraphs) {
  Tensor w = leaf({1, 2});
  for (int k = 1; k <= 5; ++k) (w * static_cast<double>(k)).sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{15, 15}));

  // graphs built before either backward
  Tensor v = leaf({1, 2});
  Tensor y1 = (v * v).sum();
  Tensor y2 = (v * 3.0).sum();
  y2.backward();
  y1.backward();
  EXPECT_EQ(v.grad().to_vector(), (std::vector<double>{5, 7}));
  // and mixed with ad::grad, which does not accumulate
  Tensor y3 = (v * 10.0).sum();
  auto g = ad::grad({y3}, {v});
  EXPECT_EQ(g[0].to_vector(), (std::vector<double>{10, 10}));
  EXPECT_EQ(v.grad().to_vector(), (std::vector<double>{5, 7}));
  // set_grad replaces, backward adds on top
  v.set_grad(ad::tensor({100, 100}, ad::dtype(ad::kFloat64)));
  (v * 1.0).sum().backward();
  EXPECT_EQ(v.grad().to_vector(), (std::vector<double>{101, 101}));
  EXPECT_THROW(v.set_grad(ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64))), ad::Error);
}

TEST(EngineAccumulation, LeafGradientsNeverAlias) {
  // Two leaves receiving the very same gradient tensor (add passes g to both inputs) must end up
  // with independent .grad tensors: a later backward that reaches only one must not change the other.
  Tensor a = leaf(1.0), c = leaf(2.0);
  (a + c).backward();
  (a * 5.0).backward();
  EXPECT_DOUBLE_EQ(a.grad().item(), 6.0);
  EXPECT_DOUBLE_EQ(c.grad().item(), 1.0);

  // same after a create_graph backward
  Tensor p = leaf(1.0), q = leaf(2.0);
  (p + q).backward({}, {.retain_graph = false, .create_graph = true});
  EXPECT_DOUBLE_EQ(p.grad().item(), 1.0);
  EXPECT_DOUBLE_EQ(q.grad().item(), 1.0);
  (p * 5.0).backward();
  EXPECT_DOUBLE_EQ(p.grad().item(), 6.0);
  EXPECT_DOUBLE_EQ(q.grad().item(), 1.0);

  // and the caller's gradient tensor is never adopted as a .grad
  Tensor r = leaf({1, 1}), s = leaf({1, 1});
  Tensor G = ad::tensor({3, 4}, ad::dtype(ad::kFloat64));
  (r + s).backward(G, {.create_graph = true});
  (r * 1.0).sum().backward();
  EXPECT_EQ(G.to_vector(), (std::vector<double>{3, 4}));
  EXPECT_EQ(r.grad().to_vector(), (std::vector<double>{4, 5}));
  EXPECT_EQ(s.grad().to_vector(), (std::vector<double>{3, 4}));
}

}  // namespace

namespace {

// retain_grad() accumulates like a leaf: the caller's seed gradient is never adopted as .grad,
// so a later in-place accumulation cannot change it.
TEST(EngineRetainGrad, RetainedGradNeverAliasesTheSeed) {
  Tensor x = ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor y = x * 3.0;
  y.retain_grad();
  const Tensor seed = ad::tensor({1.0, 1.0}, ad::dtype(ad::kFloat64));
  y.backward(seed, {.retain_graph = true, .create_graph = true});
  y.backward(seed);
  EXPECT_EQ(seed.to_vector(), (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{2.0, 2.0}));
  x.zero_grad();  // drops the create_graph history held by x.grad
}

}  // namespace

namespace {

// A custom op out = a + b (recorded with ad::record) whose backward returns `grads(g)`.
Tensor custom_add(const Tensor& a, const Tensor& b, std::function<ad::GradList(const Tensor&)> grads) {
  Tensor out;
  {
    ad::NoGradGuard ng;
    out = a + b;
  }
  return ad::record("my_add", out, {a, b}, [grads](const Tensor& g, const Tensor&) { return grads(g); });
}

// A backward rule with the wrong number of gradients, or a gradient that cannot be reduced to its
// input's shape, is an error naming the op (it used to be dropped or reshaped silently).
TEST(EngineRuleChecks, WrongGradientCountOrShapeNamesTheOp) {
  const Tensor a = ad::ones({2, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor b = ad::ones({2, 2}, ad::dtype(ad::kFloat64)).requires_grad_();

  const std::string count =
      error_of([&] { custom_add(a, b, [](const Tensor& g) { return ad::GradList{g}; }).sum().backward(); });
  EXPECT_TRUE(contains(count, "my_add")) << count;
  EXPECT_TRUE(contains(count, "returned 1 gradients for its 2 inputs")) << count;
  EXPECT_FALSE(a.grad().defined());  // nothing was accumulated

  const std::string shape = error_of([&] {
    custom_add(a, b,
               [](const Tensor& g) {
                 return ad::GradList{g, ad::ones({3}, ad::dtype(ad::kFloat64))};
               })
        .sum()
        .backward();
  });
  EXPECT_TRUE(contains(shape, "my_add")) << shape;
  EXPECT_TRUE(contains(shape, "gradient of shape [3] for its input 1 of shape [2, 2]")) << shape;

  // Still fine: an undefined gradient for an input, and one that broadcasting reduces ([2, 2] -> [2, 1]).
  const Tensor c = ad::ones({2, 1}, ad::dtype(ad::kFloat64)).requires_grad_();
  custom_add(a, c, [](const Tensor& g) { return ad::GradList{Tensor(), g}; }).sum().backward();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_EQ(c.grad().to_vector(), (std::vector<double>{2.0, 2.0}));
}

}  // namespace

// ---------------------------------------------------------------- lean nodes

TEST(EngineLeanNodes, MulSavesAnOperandOnlyForTheOthersGradient) {
  Tensor w = ad::ones({3}, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor x = w * 2.0;  // a non-leaf: only handles and saved copies refer to its impl
  const Tensor c = ad::full({3}, 4.0, ad::dtype(ad::kFloat64));
  const long x_refs = x.impl_ptr().use_count(), c_refs = c.impl_ptr().use_count();
  Tensor y = x * c;  // x's gradient needs c; c needs no gradient, so x is not saved
  EXPECT_EQ(x.impl_ptr().use_count(), x_refs);
  EXPECT_EQ(c.impl_ptr().use_count(), c_refs + 1);
  Tensor z = c * x;  // the same with the operands swapped
  EXPECT_EQ(x.impl_ptr().use_count(), x_refs);
  EXPECT_EQ(c.impl_ptr().use_count(), c_refs + 2);
  (y + z).sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{16, 16, 16}));
}

TEST(EngineLeanNodes, NodesHoldNoDrawingDataUnlessAsked) {
  Tensor a = ad::scalar_tensor(2.0, ad::dtype(ad::kFloat64)).requires_grad_();
  EXPECT_EQ((a * 3.0).grad_fn()->drawing, nullptr);
  ad::DrawGuard draw;
  const Tensor y = a * 3.0;
  ASSERT_NE(y.grad_fn()->drawing, nullptr);
  EXPECT_EQ(y.grad_fn()->drawing->out_value, 6.0);
  EXPECT_EQ(y.grad_fn()->drawing->input_value[1], 3.0);
}

namespace {

// A backward pass that starts inside another one (here from a backward rule) meets nodes the
// outer pass has claimed: it finds their slots in its own map, and both passes get their sums.
TEST(EngineSlots, APassInsideAPassFindsTheOuterPassesNodesThroughItsMap) {
  Tensor x = ad::tensor({1.5, -2.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor h = x * x;  // shared by both passes
  Tensor inner;            // d sum(h * h) / dx = 4 x^3, computed while the outer pass runs
  const Tensor y = custom_add(h, h, [&](const Tensor& g) {
    ad::AutoGradMode record_here(true);  // a backward rule runs with grad mode off
    const Tensor hh = h * h;
    inner = ad::grad({hh.sum()}, {x}, {}, {.retain_graph = true})[0];
    return ad::GradList{g, g};
  });
  y.sum().backward({}, {.retain_graph = true});
  EXPECT_EQ(inner.to_vector(), (std::vector<double>{4 * 1.5 * 1.5 * 1.5, 4 * -8.0}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4 * 1.5, 4 * -2.0}));  // d sum(2 x^2) / dx
  // The claims were given back: a later pass claims the nodes again and gets the same result.
  x.zero_grad();
  (h + h).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4 * 1.5, 4 * -2.0}));
}

}  // namespace
