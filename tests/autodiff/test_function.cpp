// ad::Function<T> and AutogradContext (function.h): custom functions pass gradcheck and
// gradgradcheck in float64, wrong backwards are caught (by gradcheck, and by the count, shape and
// dtype checks, whose errors name the function), saved tensors are version-checked, the context's
// marks and needs_input_grad work, and the node behaves as any op for no_grad, hooks, retain_grad,
// DOT, ad::grad, reference counting and threads.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::AutogradContext;
using ad::GradList;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;

Tensor f64(const std::vector<double>& v) { return ad::tensor(v, ad::dtype(ad::kFloat64)); }
Tensor random_input(const ad::Shape& s, std::uint64_t seed) {
  ad::Generator gen(seed);
  return ad::randn(s, ad::dtype(ad::kFloat64), &gen).requires_grad_();
}
const ad::GradOptions kCreateGraph{.retain_graph = std::nullopt, .create_graph = true, .allow_unused = false};
void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// exp that saves its output: backward is g * y, written with differentiable ops.
struct MyExp : ad::Function<MyExp> {
  static Tensor forward(AutogradContext& ctx, const Tensor& x) {
    Tensor y = ad::exp(x);
    ctx.save_for_backward({y});
    return y;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) { return {g[0] * ctx.get_saved_variables()[0]}; }
};

// k * a * sin(b), with the number argument between the tensors.
struct ScaledSinMul : ad::Function<ScaledSinMul> {
  static Tensor forward(AutogradContext& ctx, const Tensor& a, double k, const Tensor& b) {
    ctx.save_for_backward({a, b});
    ctx.saved_data["k"] = k;
    return k * a * ad::sin(b);
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    const auto s = ctx.get_saved_variables();
    const double k = ctx.saved_data["k"].toDouble();
    return {g[0] * k * ad::sin(s[1]), g[0] * k * s[0] * ad::cos(s[1])};
  }
};

// x * y where y gets no gradient (as if it were detached).
struct MulStopRight : ad::Function<MulStopRight> {
  static Tensor forward(AutogradContext& ctx, const Tensor& x, const Tensor& y) {
    ctx.save_for_backward({y});
    return x * y;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    return {g[0] * ctx.get_saved_variables()[0], Tensor()};
  }
};

// x^2 with a wrong derivative: g * x instead of 2 g x.
struct BadSquare : ad::Function<BadSquare> {
  static Tensor forward(AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) { return {g[0] * ctx.get_saved_variables()[0]}; }
};

TEST(Function, CustomExpSavingItsOutputPassesGradcheckAndGradgradcheck) {
  const Tensor x = random_input({2, 3}, 1);
  const Tensor y = MyExp::apply(x);
  expect_near_all(y.to_vector(), ad::exp(x).to_vector(), 0);
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_STREQ(y.grad_fn()->name, "MyExp");
  auto f = [](const std::vector<Tensor>& in) { return MyExp::apply(in[0]); };
  const auto r1 = ad::gradcheck(f, {x});
  EXPECT_TRUE(r1.ok) << r1.report;
  const auto r2 = ad::gradgradcheck(f, {x});
  EXPECT_TRUE(r2.ok) << r2.report;
  // third derivative of exp through the saved output: d3/dx3 exp(x) at 0.5
  Tensor s = f64({0.5}).requires_grad_();
  Tensor d1 = ad::grad({MyExp::apply(s).sum()}, {s}, {}, kCreateGraph)[0];
  Tensor d2 = ad::grad({d1.sum()}, {s}, {}, kCreateGraph)[0];
  Tensor d3 = ad::grad({d2.sum()}, {s})[0];
  EXPECT_NEAR(d3.item(), std::exp(0.5), 1e-12);
}

TEST(Function, TwoInputsAndANumberArgumentPassGradcheckAndGradgradcheck) {
  const Tensor a = random_input({3, 2}, 2), b = random_input({3, 2}, 3);
  auto f = [](const std::vector<Tensor>& in) { return ScaledSinMul::apply(in[0], 1.5, in[1]); };
  expect_near_all(f({a, b}).to_vector(), (1.5 * a * ad::sin(b)).to_vector(), 1e-15);
  const auto r1 = ad::gradcheck(f, {a, b});
  EXPECT_TRUE(r1.ok) << r1.report;
  const auto r2 = ad::gradgradcheck(f, {a, b});
  EXPECT_TRUE(r2.ok) << r2.report;
  // broadcasting: backward returns a [3, 2] gradient for the [2]-shaped input; the engine sums it back
  const Tensor row = random_input({2}, 4);
  const auto r3 =
      ad::gradcheck([](const std::vector<Tensor>& in) { return ScaledSinMul::apply(in[0], -2.0, in[1]); }, {row, b});
  EXPECT_TRUE(r3.ok) << r3.report;
}

TEST(Function, ABackwardThatGivesNoGradientToOneInput) {
  Tensor x = random_input({4}, 5), y = random_input({4}, 6);
  const Tensor out = MulStopRight::apply(x, y);
  out.sum().backward();
  expect_near_all(x.grad().to_vector(), y.to_vector(), 0);
  EXPECT_FALSE(y.grad().defined());
  // as a function of x alone (y constant) it is right to any order
  const Tensor yc = y.detach();
  auto f = [&](const std::vector<Tensor>& in) { return MulStopRight::apply(in[0], yc) * in[0]; };
  const auto r1 = ad::gradcheck(f, {x.detach().requires_grad_()});
  EXPECT_TRUE(r1.ok) << r1.report;
  const auto r2 = ad::gradgradcheck(f, {x.detach().requires_grad_()});
  EXPECT_TRUE(r2.ok) << r2.report;
  // with both inputs differentiated, gradcheck sees the missing gradient of y
  const auto r3 = ad::gradcheck([](const std::vector<Tensor>& in) { return MulStopRight::apply(in[0], in[1]); },
                                {x.detach().requires_grad_(), y.detach().requires_grad_()});
  EXPECT_FALSE(r3.ok);
  EXPECT_TRUE(contains(r3.report, "input 1")) << r3.report;
}

struct GoodSquare : ad::Function<GoodSquare> {
  static Tensor forward(AutogradContext& ctx, const Tensor& t) {
    ctx.save_for_backward({t});
    return t * t;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    return {2.0 * g[0] * ctx.get_saved_variables()[0]};
  }
};

// x^3 whose backward is right but made of BadSquare, whose own derivative is wrong.
struct Cube : ad::Function<Cube> {
  static Tensor forward(AutogradContext& ctx, const Tensor& t) {
    ctx.save_for_backward({t});
    return t * t * t;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    return {3.0 * g[0] * BadSquare::apply(ctx.get_saved_variables()[0])};
  }
};

TEST(Function, GradcheckCatchesADeliberatelyWrongBackward) {
  const Tensor x = random_input({2, 2}, 7);
  const auto r = ad::gradcheck([](const std::vector<Tensor>& in) { return BadSquare::apply(in[0]); }, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.report, "input 0")) << r.report;
  // the same function with 2 g x passes, so the failure is the derivative's
  EXPECT_TRUE(ad::gradcheck([](const std::vector<Tensor>& in) { return GoodSquare::apply(in[0]); }, {x}).ok);
  // a right first derivative whose backward uses BadSquare: only gradgradcheck sees it
  auto cube = [](const std::vector<Tensor>& in) { return Cube::apply(in[0]); };
  EXPECT_TRUE(ad::gradcheck(cube, {x}).ok);
  EXPECT_FALSE(ad::gradgradcheck(cube, {x}).ok);
}

TEST(Function, ModifyingASavedTensorInPlaceBeforeBackwardIsTheEnginesErrorNamingTheFunction) {
  Tensor w = random_input({3}, 8);
  {
    Tensor x = w * 1.0;  // not a leaf, so it may be modified in place
    const Tensor out = MulStopRight::apply(w, x);
    x.add_(1.0);
    const std::string m = error_of([&] { out.sum().backward(); });
    EXPECT_TRUE(contains(m, "MulStopRight")) << m;
    EXPECT_TRUE(contains(m, "modified in place")) << m;
    EXPECT_TRUE(contains(m, "saved at version 0, now version 1")) << m;
  }
  {
    // a saved output, changed through a recorded in-place op
    Tensor y = MyExp::apply(w);
    y.mul_(2.0);
    const std::string m = error_of([&] { y.sum().backward(); });
    EXPECT_TRUE(contains(m, "MyExp")) << m;
    EXPECT_TRUE(contains(m, "modified in place")) << m;
  }
  {
    // without the write the same graph runs
    Tensor x = w * 1.0;
    MulStopRight::apply(w, x).sum().backward();
    EXPECT_TRUE(w.grad().defined());
  }
}

struct OneGradForTwo : ad::Function<OneGradForTwo> {
  static Tensor forward(AutogradContext&, const Tensor& a, const Tensor& b) { return a + b; }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0]}; }
};
struct WrongShape : ad::Function<WrongShape> {
  static Tensor forward(AutogradContext&, const Tensor& a) { return a * 2.0; }
  static GradList backward(AutogradContext&, const GradList&) { return {ad::ones({2}, ad::dtype(ad::kFloat64))}; }
};
struct IntegerGrad : ad::Function<IntegerGrad> {
  static Tensor forward(AutogradContext&, const Tensor& a) { return a * 2.0; }
  static GradList backward(AutogradContext&, const GradList& g) {
    return {ad::ones(g[0].shape(), ad::dtype(ad::kInt64))};
  }
};

TEST(Function, WrongGradientCountShapeAndDtypeAreErrorsNamingTheFunction) {
  const Tensor a = random_input({3}, 9), b = random_input({3}, 10);
  std::string m = error_of([&] { OneGradForTwo::apply(a, b).sum().backward(); });
  EXPECT_TRUE(contains(m, "OneGradForTwo: backward returned 1 gradient for 2 tensor inputs")) << m;
  m = error_of([&] { WrongShape::apply(a).sum().backward(); });
  EXPECT_TRUE(contains(m, "WrongShape: backward returned a gradient of shape [2] for input 0 of shape [3]")) << m;
  m = error_of([&] { IntegerGrad::apply(a).sum().backward(); });
  EXPECT_TRUE(contains(m, "IntegerGrad: backward returned a gradient of dtype Int64 for input 0")) << m;
}

// libtorch's convention: one gradient per forward argument, undefined at the non-tensor ones.
struct PerArgument : ad::Function<PerArgument> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double k) {
    ctx->saved_data["k"] = k;
    return x * k;
  }
  static ad::variable_list backward(AutogradContext* ctx, ad::variable_list g) {
    const double k = ctx->saved_data["k"].toDouble();
    if (k < 0) return {g[0] * k, ad::ones({1})};  // a gradient for the number: refused
    return {g[0] * k, Tensor(), Tensor()};        // a trailing undefined one is ignored too
  }
};

TEST(Function, LibtorchStyleSignaturesAndOneGradientPerArgument) {
  Tensor x = random_input({2}, 11);
  PerArgument::apply(x, 3.0).sum().backward();
  expect_near_all(x.grad().to_vector(), {3, 3});
  const std::string m = error_of([&] { PerArgument::apply(x, -1.0).sum().backward(); });
  EXPECT_TRUE(contains(m, "PerArgument: backward returned a gradient at position 1")) << m;
  EXPECT_TRUE(contains(m, "not a tensor")) << m;
}

// x * y, computing only the gradients needed.
struct Probe : ad::Function<Probe> {
  static Tensor forward(AutogradContext& ctx, const Tensor& x, const Tensor& y) {
    ctx.save_for_backward({x, y});
    return x * y;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    const auto s = ctx.get_saved_variables();
    ++calls;
    EXPECT_TRUE(ctx.needs_input_grad({0, 1}));
    return {ctx.needs_input_grad(0) ? g[0] * s[1] : Tensor(), ctx.needs_input_grad(1) ? g[0] * s[0] : Tensor()};
  }
  static inline int calls = 0;
};

// a + b + d, recording what needs_input_grad says in forward.
struct Reader : ad::Function<Reader> {
  static Tensor forward(AutogradContext& ctx, const Tensor& a, const Tensor& b, const Tensor& d) {
    flags = {ctx.needs_input_grad(0), ctx.needs_input_grad(1), ctx.needs_input_grad(2)};
    any_of_last_two = ctx.needs_input_grad({1, 2});
    out_of_range = error_of([&] { (void)ctx.needs_input_grad(3); });
    return a + b + d;
  }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0], g[0], g[0]}; }
  static inline std::vector<bool> flags;
  static inline bool any_of_last_two = true;
  static inline std::string out_of_range;
};

TEST(Function, NeedsInputGradFollowsTheInputs) {
  Tensor x = random_input({3}, 12);
  const Tensor c = f64({1, 2, 3});  // does not require grad
  Tensor out = Probe::apply(x, c);
  out.sum().backward();
  EXPECT_EQ(Probe::calls, 1);
  expect_near_all(x.grad().to_vector(), {1, 2, 3});
  (void)Reader::apply(c, x, c);
  EXPECT_EQ(Reader::flags, (std::vector<bool>{false, true, false}));
  EXPECT_TRUE(Reader::any_of_last_two);
  EXPECT_TRUE(contains(Reader::out_of_range, "Reader: needs_input_grad(3): forward has 3 tensor inputs"))
      << Reader::out_of_range;
  {
    ad::NoGradGuard ng;  // nothing is recorded: no input needs a gradient
    (void)Reader::apply(c, x, c);
  }
  EXPECT_EQ(Reader::flags, (std::vector<bool>{false, false, false}));
}

// max over the last dim: the values (differentiable) and where they are, as a float tensor
// marked non-differentiable and as Int64 indices (never differentiable).
struct MaxWithIndex : ad::Function<MaxWithIndex> {
  static ad::variable_list forward(AutogradContext& ctx, const Tensor& x) {
    const ad::ValuesIndices m = x.max(-1);
    const Tensor where_f = m.indices.to(ad::kFloat64);
    ctx.mark_non_differentiable({where_f});
    ctx.save_for_backward({x, m.indices});
    return {m.values, where_f, m.indices};
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    seen_zeros = g[1].defined() && g[1].abs().sum().item() == 0.0 && g[2].defined() && g[2].sum().item() == 0.0;
    const auto s = ctx.get_saved_variables();
    const Tensor onehot =
        ad::eq(ad::arange(0.0, double(s[0].size(-1)), 1.0, ad::dtype(ad::kInt64)), s[1].unsqueeze(-1));
    return {ad::where(onehot, g[0].unsqueeze(-1), ad::zeros_like(s[0]))};
  }
  static inline bool seen_zeros = false;
};

// Marks its input (not an output) non-differentiable.
struct MarksAStranger : ad::Function<MarksAStranger> {
  static Tensor forward(AutogradContext& ctx, const Tensor& t) {
    ctx.mark_non_differentiable({t});
    return t * 2.0;
  }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0]}; }
};

TEST(Function, NonDifferentiableOutputsDoNotRequireGradAndGetZeros) {
  Tensor x = f64({1, 5, 2, 7, 3, 0}).reshape({2, 3}).detach().requires_grad_();
  const ad::variable_list out = MaxWithIndex::apply(x);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].requires_grad());
  EXPECT_FALSE(out[1].requires_grad());
  EXPECT_EQ(out[1].grad_fn(), nullptr);
  EXPECT_FALSE(out[2].requires_grad());
  EXPECT_EQ(out[2].to_vector(), (std::vector<double>{1, 0}));
  EXPECT_STREQ(out[0].grad_fn()->name, "MaxWithIndex");  // one differentiable output: no extra node
  out[0].sum().backward();
  EXPECT_TRUE(MaxWithIndex::seen_zeros);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 0, 1, 0, 0}));
  const auto r = ad::gradcheck([](const std::vector<Tensor>& in) { return MaxWithIndex::apply(in[0])[0]; },
                               {random_input({3, 4}, 13)});
  EXPECT_TRUE(r.ok) << r.report;
  // marking a tensor forward did not return is an error
  const std::string m = error_of([&] { (void)MarksAStranger::apply(x); });
  EXPECT_TRUE(contains(m, "MarksAStranger: mark_non_differentiable was given a tensor")) << m;
}

TEST(Function, NoGradModeAndConstantInputsRecordNoNode) {
  const Tensor x = random_input({3}, 14);
  const std::int64_t before = ad::live_nodes();
  Tensor y;
  {
    ad::NoGradGuard ng;
    y = MyExp::apply(x);
    EXPECT_EQ(ad::live_nodes(), before);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  expect_near_all(y.to_vector(), ad::exp(x.detach()).to_vector(), 0);
  const Tensor z = MyExp::apply(x.detach());  // grad mode on, but nothing requires grad
  EXPECT_FALSE(z.requires_grad());
  EXPECT_EQ(z.grad_fn(), nullptr);
  EXPECT_EQ(ad::live_nodes(), before);
  EXPECT_NE(MyExp::apply(x).grad_fn(), nullptr);  // and with it, one
}

struct Named : ad::Function<Named> {
  static const char* name() { return "custom_square"; }
  static Tensor forward(AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    return {2.0 * g[0] * ctx.get_saved_variables()[0]};
  }
};

namespace inner {
struct Qualified : ad::Function<Qualified> {
  static Tensor forward(AutogradContext&, const Tensor& x) { return x + 1.0; }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0]}; }
};
}  // namespace inner

TEST(Function, TheNodeIsNamedAfterTheFunctionInDot) {
  const Tensor x = ad::scalar_tensor(2, ad::dtype(ad::kFloat64)).requires_grad_().set_label("x");
  const Tensor y = MyExp::apply(Named::apply(x));
  EXPECT_STREQ(y.grad_fn()->name, "MyExp");
  EXPECT_STREQ(y.grad_fn()->next[0]->name, "custom_square");
  const std::string dot = ad::to_dot(y);
  EXPECT_TRUE(contains(dot, "label=\"MyExp\\n[]")) << dot;
  EXPECT_TRUE(contains(dot, "label=\"custom_square\\n[]")) << dot;
  EXPECT_EQ(std::string(inner::Qualified::apply(x).grad_fn()->name), "inner::Qualified");
}

TEST(Function, HooksAndRetainGradSeeTheCustomOutput) {
  Tensor x = f64({0.5, -1}).requires_grad_();
  Tensor y = MyExp::apply(x);
  std::vector<double> seen;
  y.register_hook([&](const Tensor& g) {
    seen = g.to_vector();
    return g * 10.0;
  });
  y.retain_grad();
  int post = 0;
  x.register_post_accumulate_grad_hook([&](const Tensor&) { ++post; });
  (y * 3.0).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{3, 3}));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{30, 30}));
  expect_near_all(x.grad().to_vector(), {30 * std::exp(0.5), 30 * std::exp(-1.0)});
  EXPECT_EQ(post, 1);
  // ad::grad through the same kind of node, and the error of a second backward without retain_graph
  Tensor z = MyExp::apply(x);
  expect_near_all(ad::grad({z.sum()}, {x})[0].to_vector(), {std::exp(0.5), std::exp(-1.0)});
  Tensor w = MyExp::apply(x);
  w.backward(ad::ones_like(w));
  const std::string m = error_of([&] { w.backward(ad::ones_like(w)); });
  EXPECT_TRUE(contains(m, "backward through the graph a second time")) << m;
  EXPECT_TRUE(contains(m, "'MyExp'")) << m;
}

// Two differentiable outputs: sin and cos; backward counts its calls.
struct SinCos : ad::Function<SinCos> {
  static std::tuple<Tensor, Tensor> forward(AutogradContext& ctx, const Tensor& x) {
    Tensor s = ad::sin(x), c = ad::cos(x);
    ctx.save_for_backward({s, c});  // both outputs
    return {s, c};
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    ++calls;
    const auto saved = ctx.get_saved_variables();
    return {g[0] * saved[1] - g[1] * saved[0]};
  }
  static inline int calls = 0;
};

TEST(Function, SeveralDifferentiableOutputs) {
  Tensor x = random_input({2, 2}, 15);
  const auto [s, c] = SinCos::apply(x);
  expect_near_all(s.to_vector(), ad::sin(x).to_vector(), 0);
  expect_near_all(c.to_vector(), ad::cos(x).to_vector(), 0);
  EXPECT_STREQ(s.grad_fn()->name, "SinCos[0]");
  EXPECT_STREQ(c.grad_fn()->name, "SinCos[1]");
  EXPECT_EQ(s.grad_fn()->next[0], c.grad_fn()->next[0]);  // one node for the call
  EXPECT_STREQ(s.grad_fn()->next[0]->name, "SinCos");
  SinCos::calls = 0;
  (2.0 * s + 3.0 * c).sum().backward();
  EXPECT_EQ(SinCos::calls, 1);  // once for both outputs
  expect_near_all(x.grad().to_vector(), (2.0 * ad::cos(x) - 3.0 * ad::sin(x)).to_vector());
  // one output alone: the other's gradient is zero
  expect_near_all(ad::grad({std::get<1>(SinCos::apply(x)).sum()}, {x})[0].to_vector(), (-ad::sin(x)).to_vector());
  auto f = [](const std::vector<Tensor>& in) {
    auto [a, b] = SinCos::apply(in[0]);
    return a * b + b;
  };
  const auto r1 = ad::gradcheck(f, {x});
  EXPECT_TRUE(r1.ok) << r1.report;
  const auto r2 = ad::gradgradcheck(f, {x});
  EXPECT_TRUE(r2.ok) << r2.report;
}

// x0 + 2 x1 + 3 x2 + ... (+ bias), negated when asked.
struct WeightedSum : ad::Function<WeightedSum> {
  static Tensor forward(AutogradContext& ctx, const std::vector<Tensor>& xs, const std::optional<Tensor>& bias,
                        const std::string& how) {
    Tensor r = xs[0] * 1.0;
    for (std::size_t i = 1; i < xs.size(); ++i) r = r + xs[i] * double(i + 1);
    if (bias) r = r + *bias;
    ctx.saved_data["bias"] = bias.has_value();
    return how == "neg" ? -r : r;
  }
  static GradList backward(AutogradContext& ctx, const GradList& g) {
    GradList r;
    const std::size_t n = ctx.saved_data["bias"].toBool() ? 4 : 3;  // 3 list elements, and maybe the bias
    for (std::size_t i = 0; i < n; ++i) r.push_back(i < 3 ? g[0] * double(i + 1) : g[0]);
    return r;
  }
};

TEST(Function, TensorArgumentsInVectorsAndOptionals) {
  Tensor a = random_input({2}, 16), b = random_input({2}, 17), c = random_input({2}, 18), bias = random_input({2}, 19);
  WeightedSum::apply(std::vector<Tensor>{a, b, c}, std::optional<Tensor>(bias), std::string("pos")).sum().backward();
  expect_near_all(a.grad().to_vector(), {1, 1});
  expect_near_all(c.grad().to_vector(), {3, 3});
  expect_near_all(bias.grad().to_vector(), {1, 1});
  const auto r = ad::gradcheck(
      [](const std::vector<Tensor>& in) {
        return WeightedSum::apply(std::vector<Tensor>{in[0], in[1], in[2]}, std::optional<Tensor>(), std::string("x"));
      },
      {a, b, c});
  EXPECT_TRUE(r.ok) << r.report;
}

// Doubles its input in place and returns it.
struct DoubleInPlace : ad::Function<DoubleInPlace> {
  static Tensor forward(AutogradContext& ctx, Tensor x) {
    x.mul_(2.0);
    ctx.mark_dirty({x});
    return x;
  }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0] * 2.0}; }
};

TEST(Function, MarkDirtyGivesAModifiedInputThisHistory) {
  Tensor w = f64({1, 2}).requires_grad_();
  Tensor h = w * 3.0;
  h.retain_grad();
  const Tensor out = DoubleInPlace::apply(h);
  EXPECT_EQ(out.impl(), h.impl());  // the same tensor, now with this history
  EXPECT_STREQ(h.grad_fn()->name, "DoubleInPlace");
  EXPECT_EQ(h.to_vector(), (std::vector<double>{6, 12}));
  (h * h).sum().backward();
  EXPECT_EQ(h.grad().to_vector(), (std::vector<double>{12, 24}));   // retain_grad moved to the new value
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{72, 144}));  // d (6w)^2 = 72 w
  const std::string m = error_of([&] { (void)DoubleInPlace::apply(w); });
  EXPECT_TRUE(contains(m, "DoubleInPlace: mark_dirty: input 0 is a leaf tensor")) << m;
}

// Doubles its input in place and returns it and three times it: two differentiable outputs, one dirty.
struct DoubleInPlaceAndTriple : ad::Function<DoubleInPlaceAndTriple> {
  static ad::variable_list forward(AutogradContext& ctx, Tensor x) {
    x.mul_(2.0);
    ctx.mark_dirty({x});
    return {x, x * 3.0};
  }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0] * 2.0 + g[1] * 6.0}; }
};

TEST(Function, MarkDirtyWithSeveralOutputsAndOnAView) {
  Tensor w = f64({1, 2}).requires_grad_();
  Tensor h = w * 1.0;
  const ad::variable_list out = DoubleInPlaceAndTriple::apply(h);
  EXPECT_EQ(out[0].impl(), h.impl());
  EXPECT_STREQ(h.grad_fn()->name, "DoubleInPlaceAndTriple[0]");
  EXPECT_EQ(out[1].to_vector(), (std::vector<double>{6, 12}));
  (out[0] + out[1]).sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{8, 8}));
  Tensor v = w * 1.0;
  const std::string m = error_of([&] { (void)DoubleInPlace::apply(v.narrow(0, 0, 1)); });
  EXPECT_TRUE(contains(m, "DoubleInPlace: mark_dirty: input 0 (shape [1]) is a view")) << m;
}

// Returns its input as it is; the gradient is scaled by 5 to tell it from the engine's.
struct Identity : ad::Function<Identity> {
  static Tensor forward(AutogradContext&, const Tensor& x) { return x; }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0] * 5.0}; }
};

TEST(Function, ReturningAnInputLeavesTheInputAlone) {
  Tensor x = f64({1, 2}).requires_grad_();
  const Tensor y = Identity::apply(x);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_NE(y.impl(), x.impl());
  EXPECT_STREQ(y.grad_fn()->name, "Identity");
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{5, 5}));
}

// A backward that produces NaN.
struct NanBackward : ad::Function<NanBackward> {
  static Tensor forward(AutogradContext&, const Tensor& x) { return x * 1.0; }
  static GradList backward(AutogradContext&, const GradList& g) { return {g[0] * std::nan("")}; }
};

TEST(Function, AnomalyModeAndDrawGuardSeeTheFunction) {
  Tensor x = f64({1, 2}).requires_grad_();
  {
    ad::DetectAnomalyGuard anomaly;
    const std::string m = error_of([&] { NanBackward::apply(x).sum().backward(); });
    EXPECT_TRUE(contains(m, "anomaly detected: the backward of 'NanBackward'")) << m;
  }
  ad::DrawGuard draw;
  const Tensor t = ad::scalar_tensor(0.5, ad::dtype(ad::kFloat64)).requires_grad_().set_label("t");
  const auto [s, c] = SinCos::apply(t);
  const std::string dot = ad::to_dot(s * c);
  EXPECT_TRUE(contains(dot, "label=\"SinCos[0]\\n[]\\n= " + std::to_string(std::sin(0.5)).substr(0, 4))) << dot;
  EXPECT_TRUE(contains(dot, "label=\"SinCos[1]\\n[]")) << dot;
  EXPECT_TRUE(contains(dot, "label=\"SinCos\\n[2]")) << dot;  // the call's node: both gradients, flattened
}

TEST(Function, SavingOutputsMakesNoReferenceCycle) {
  const std::int64_t before = ad::live_nodes();
  {
    Tensor x = random_input({3}, 20);
    Tensor y = MyExp::apply(x);
    auto sc = SinCos::apply(x);
    EXPECT_GT(ad::live_nodes(), before);
  }
  EXPECT_EQ(ad::live_nodes(), before);
  {
    Tensor x = random_input({3}, 21);
    Tensor g = ad::grad({MyExp::apply(x).sum()}, {x}, {}, kCreateGraph)[0];
    (void)ad::grad({g.sum()}, {x});
  }
  EXPECT_EQ(ad::live_nodes(), before);
}

TEST(Function, SavedDataHoldsNumbersStringsAndShapes) {
  ad::IValue i = 3, d = 0.25, s = "text", sh = ad::Shape{2, 3}, none;
  EXPECT_EQ(i.toInt(), 3);
  EXPECT_EQ(i.toDouble(), 3.0);
  EXPECT_EQ(d.toDouble(), 0.25);
  EXPECT_EQ(s.toStringRef(), "text");
  EXPECT_EQ(sh.toIntVector(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(none.isNone());
  EXPECT_TRUE(contains(error_of([&] { (void)d.toInt(); }), "saved_data: the value is a double, not a long"));
}

TEST(Function, ThreadsApplyAndDifferentiateTheirOwnCalls) {
  Tensor w = f64({0.1, 0.2, 0.3}).requires_grad_();
  constexpr int kThreads = 4, kIters = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        Tensor loss = ScaledSinMul::apply(MyExp::apply(w), 2.0, w).sum();
        if (!loss.requires_grad()) ++failures;
        loss.backward();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  // d/dw 2 e^w sin(w) = 2 e^w (sin w + cos w), summed over every call
  const std::vector<double> wv = w.to_vector();
  std::vector<double> want;
  for (double v : wv) want.push_back(kThreads * kIters * 2.0 * std::exp(v) * (std::sin(v) + std::cos(v)));
  expect_near_all(w.grad().to_vector(), want, 1e-9);
}

// The example of docs/adding-an-op.md, as it is there.
struct ScaledExpMul : ad::Function<ScaledExpMul> {
  static ad::Tensor forward(ad::AutogradContext& ctx, const ad::Tensor& x, double k, const ad::Tensor& w) {
    ad::Tensor y = ad::exp(x * k) * w;  // grad mode is off in here: nothing is recorded
    ctx.save_for_backward({x, y});      // an input and the output: each is version-checked
    ctx.saved_data["k"] = k;            // numbers, strings, shapes, ...
    return y;
  }
  // dy/dx = k y, dy/dw = exp(k x): written with differentiable ops, so it has derivatives itself
  static ad::GradList backward(ad::AutogradContext& ctx, const ad::GradList& grad_outputs) {
    const ad::variable_list s = ctx.get_saved_variables();
    const ad::Tensor &x = s[0], &y = s[1];
    const ad::Tensor& g = grad_outputs[0];
    const double k = ctx.saved_data["k"].toDouble();
    return {ctx.needs_input_grad(0) ? g * k * y : ad::Tensor(),            // one per tensor input, in order;
            ctx.needs_input_grad(1) ? g * ad::exp(x * k) : ad::Tensor()};  // Tensor(): no gradient
  }
};

TEST(Function, TheDocsExampleWorks) {
  ad::Tensor x = ad::randn({3}, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::Tensor w = ad::randn({3}, ad::dtype(ad::kFloat64)).requires_grad_();
  ScaledExpMul::apply(x, 0.5, w).sum().backward();  // x.grad() and w.grad() are set
  auto f = [](const std::vector<ad::Tensor>& in) { return ScaledExpMul::apply(in[0], 0.5, in[1]); };
  EXPECT_TRUE(ad::gradcheck(f, {x, w}) && ad::gradgradcheck(f, {x, w}));
  expect_near_all(x.grad().to_vector(), (0.5 * ad::exp(x * 0.5) * w).to_vector());
  expect_near_all(w.grad().to_vector(), ad::exp(x * 0.5).to_vector());
  // a saved input changed after the forward
  Tensor h = x * 1.0;
  const Tensor y = ScaledExpMul::apply(h, 0.5, w);
  h.mul_(3.0);
  const std::string m = error_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(m, "backward of 'ScaledExpMul' (op #")) << m;
  EXPECT_TRUE(contains(m, "saved for its gradient was modified in place (saved at version 0, now version 1)")) << m;
}

}  // namespace
