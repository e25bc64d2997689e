// Convolution and pooling (autodiff/ops/conv.cpp): values against direct loops over the
// definitions and hand-computed cases, max_pool2d's indices, and the errors for bad shapes.
// Gradients (gradcheck and gradgradcheck) are in the op catalog (test_ops_gradcheck.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::error_of;

Tensor randn(const Shape& s, std::uint64_t seed) {
  ad::Generator gen(seed);
  return ad::randn(s, ad::dtype(ad::kFloat64), &gen);
}

struct Geometry {
  ad::Size2 stride = {1, 1};
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;
  ad::Size2 dilation = {1, 1};
  std::int64_t groups = 1;
};

// out[n][o][i][j] = b[o] + sum_{c in o's group, p, q} w[o][c][p][q] * x[n][c][i s + p d - top][j s + q d - left],
// with zeros outside x: the definition, loop by loop.
std::vector<double> direct_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Geometry& g, Shape* shape) {
  const auto xv = x.to_vector(), wv = w.to_vector();
  const auto bv = b.defined() ? b.to_vector() : std::vector<double>(static_cast<std::size_t>(w.size(0)), 0.0);
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const std::int64_t oc = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3);
  const std::int64_t oh = (h + g.top + g.bottom - g.dilation[0] * (kh - 1) - 1) / g.stride[0] + 1;
  const std::int64_t ow = (wd + g.left + g.right - g.dilation[1] * (kw - 1) - 1) / g.stride[1] + 1;
  *shape = {n, oc, oh, ow};
  std::vector<double> out(static_cast<std::size_t>(n * oc * oh * ow));
  for (std::int64_t in = 0; in < n; ++in)
    for (std::int64_t o = 0; o < oc; ++o)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          double s = bv[static_cast<std::size_t>(o)];
          const std::int64_t group = o / (oc / g.groups);
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t p = 0; p < kh; ++p)
              for (std::int64_t q = 0; q < kw; ++q) {
                const std::int64_t r = i * g.stride[0] + p * g.dilation[0] - g.top;
                const std::int64_t col = j * g.stride[1] + q * g.dilation[1] - g.left;
                if (r < 0 || r >= h || col < 0 || col >= wd) continue;
                const std::int64_t cx = group * cg + ci;
                s += wv[static_cast<std::size_t>(((o * cg + ci) * kh + p) * kw + q)] *
                     xv[static_cast<std::size_t>(((in * c + cx) * h + r) * wd + col)];
              }
          out[static_cast<std::size_t>(((in * oc + o) * oh + i) * ow + j)] = s;
        }
  return out;
}

void expect_near(const Tensor& got, const std::vector<double>& want, const Shape& shape) {
  ASSERT_EQ(got.shape(), shape);
  const auto g = got.to_vector();
  ASSERT_EQ(g.size(), want.size());
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-12) << "element " << i;
}

TEST(Conv2d, MatchesTheDefinitionForStridesPaddingDilationAndGroups) {
  struct Case {
    Shape x, w;
    ad::Conv2dOptions opt;
    Geometry geo;
  };
  const std::vector<Case> cases = {
      {{2, 3, 5, 6}, {4, 3, 3, 3}, {}, {}},
      {{1, 2, 7, 6},
       {3, 2, 3, 2},
       {.stride = {2, 1}, .padding = {1, 2}, .dilation = {1, 2}},
       {.stride = {2, 1}, .top = 1, .bottom = 1, .left = 2, .right = 2, .dilation = {1, 2}}},
      {{2, 4, 5, 5}, {6, 2, 2, 3}, {.stride = {1, 2}, .groups = 2}, {.stride = {1, 2}, .groups = 2}},
      {{1, 3, 6, 5},
       {3, 1, 3, 3},
       {.padding = {1, 1}, .groups = 3},
       {.top = 1, .bottom = 1, .left = 1, .right = 1, .groups = 3}},
      // 'same': total padding dilation * (k - 1), the odd element after
      {{1, 2, 5, 6}, {2, 2, 4, 3}, {.same = true}, {.top = 1, .bottom = 2, .left = 1, .right = 1}},
      {{1, 2, 6, 6},
       {2, 2, 3, 2},
       {.dilation = {2, 3}, .same = true},
       {.top = 2, .bottom = 2, .left = 1, .right = 2, .dilation = {2, 3}}},
  };
  std::uint64_t seed = 1;
  for (const Case& c : cases) {
    const Tensor x = randn(c.x, seed++), w = randn(c.w, seed++), b = randn({c.w[0]}, seed++);
    for (const Tensor& bias : {Tensor(), b}) {
      Shape shape;
      const auto want = direct_conv2d(x, w, bias, c.geo, &shape);
      expect_near(ad::conv2d(x, w, bias, c.opt), want, shape);
    }
    if (c.opt.same) {
      EXPECT_EQ(ad::conv2d(x, w, b, c.opt).size(2), c.x[2]);
      EXPECT_EQ(ad::conv2d(x, w, b, c.opt).size(3), c.x[3]);
    }
  }
}

// conv2d's first-order backward is a streamed kernel (chunks of samples, the windows unfolded
// into a scratch buffer); with create_graph it is composed of unfold, matmul and fold instead.
// Both must give the same gradients: over one chunk and several (windows per sample > 256 make
// one sample per chunk), with groups, strides, padding and dilation, in float64 and float32.
TEST(Conv2d, StreamedBackwardEqualsTheComposedOne) {
  struct Case {
    Shape x, w;
    ad::Conv2dOptions opt;
  };
  const std::vector<Case> cases{
      {{5, 2, 6, 6}, {3, 2, 3, 3}, {}},                                                  // one chunk
      {{3, 2, 20, 20}, {4, 2, 3, 3}, {}},                                                // 324 windows: 3 chunks
      {{4, 4, 9, 9}, {6, 2, 3, 3}, {.stride = {2, 1}, .padding = {1, 2}, .groups = 2}},  // groups, padding
      {{2, 3, 11, 11}, {2, 3, 3, 2}, {.stride = {1, 1}, .padding = {0, 0}, .dilation = {2, 3}}},  // dilation
  };
  for (ad::Dtype dt : {ad::kFloat64, ad::kFloat32}) {
    for (const Case& c : cases) {
      ad::Generator gen(5);
      const Tensor x = ad::randn(c.x, ad::dtype(dt), &gen).requires_grad_();
      const Tensor w = ad::randn(c.w, ad::dtype(dt), &gen).requires_grad_();
      const Tensor y = ad::conv2d(x, w, {}, c.opt);
      const Tensor gy = ad::randn(y.shape(), ad::dtype(dt), &gen);
      const std::vector<Tensor> streamed = ad::grad({y}, {x, w}, {gy}, {.retain_graph = true});
      const std::vector<Tensor> composed = ad::grad({y}, {x, w}, {gy}, {.retain_graph = true, .create_graph = true});
      const double tol = dt == ad::kFloat64 ? 1e-12 : 1e-4;
      for (int i = 0; i < 2; ++i) {
        const std::vector<double> a = streamed[static_cast<std::size_t>(i)].to_vector();
        const std::vector<double> b = composed[static_cast<std::size_t>(i)].to_vector();
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t k = 0; k < a.size(); ++k)
          ASSERT_NEAR(a[k], b[k], tol * (1.0 + std::abs(b[k]))) << "input " << i << " element " << k;
      }
    }
  }
}

// The streamed backward shares its chunks among threads in fixed slots: the gradients are the same
// bits on one thread and on two.
TEST(Conv2d, GradientsDoNotDependOnTheThreadCount) {
  ad::Generator gen(8);
  const Tensor x = ad::randn({16, 3, 20, 20}, {}, &gen).requires_grad_();  // 324 windows: 16 chunks
  const Tensor w = ad::randn({4, 3, 3, 3}, {}, &gen).requires_grad_();
  const Tensor gy = ad::randn({16, 4, 18, 18}, {}, &gen);
  std::vector<std::vector<double>> runs[2];
  const int before = ad::get_num_threads();
  for (int threads : {1, 2}) {
    ad::set_num_threads(threads);
    const Tensor y = ad::conv2d(x, w, {});
    for (const Tensor& gr : ad::grad({y}, {x, w}, {gy})) runs[threads - 1].push_back(gr.to_vector());
  }
  ad::set_num_threads(before);
  EXPECT_EQ(runs[0], runs[1]);
}

TEST(Conv2d, HandComputedAndUnbatched) {
  // x = 1..9 in a 3x3 plane, the 2x2 kernel [[1, 0], [0, -1]]: x[i][j] - x[i+1][j+1] = -4 everywhere
  const Tensor x = ad::arange(1, 10, 1, ad::dtype(ad::kFloat64)).reshape({1, 3, 3});
  const Tensor w = ad::tensor({1, 0, 0, -1}, {1, 1, 2, 2}, ad::dtype(ad::kFloat64));
  const Tensor y = ad::conv2d(x, w, ad::tensor({0.5}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{-3.5, -3.5, -3.5, -3.5}));
}

TEST(Conv1d, MatchesConv2dOverOneRow) {
  const Tensor x = randn({2, 4, 9}, 11), w = randn({6, 2, 3}, 12), b = randn({6}, 13);
  const ad::Conv1dOptions o{.stride = 2, .padding = 1, .dilation = 2, .groups = 2};
  Shape shape;
  const auto want = direct_conv2d(x.unsqueeze(2), w.unsqueeze(2), b,
                                  {.stride = {1, 2}, .left = 1, .right = 1, .dilation = {1, 2}, .groups = 2}, &shape);
  expect_near(ad::conv1d(x, w, b, o), want, {shape[0], shape[1], shape[3]});
  EXPECT_EQ(ad::conv1d(x.select(0, 0), w, b, o).shape(), (Shape{6, shape[3]}));  // unbatched
  EXPECT_EQ(ad::conv1d(x, w, b, {.groups = 2, .same = true}).shape(), (Shape{2, 6, 9}));
}

TEST(Pad, ConstantAndReflectAsPyTorch) {
  const Tensor a = ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(ad::pad(a, {2, 1}, ad::PadMode::reflect).to_vector(), (std::vector<double>{3, 2, 1, 2, 3, 2}));
  EXPECT_EQ(ad::pad(a, {1, 2}, ad::PadMode::constant, 7).to_vector(), (std::vector<double>{7, 1, 2, 3, 7, 7}));
  // 2-D: {left, right, top, bottom}
  const Tensor m = ad::tensor({1, 2, 3, 4}, {2, 2}, ad::dtype(ad::kFloat64));
  const Tensor p = ad::pad(m, {1, 0, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{3, 3}));
  EXPECT_EQ(p.to_vector(), (std::vector<double>{0, 1, 2, 0, 3, 4, 0, 0, 0}));
  EXPECT_EQ(ad::pad(m, {1, 1, 1, 1}, ad::PadMode::reflect).to_vector(),
            (std::vector<double>{4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1}));
}

TEST(Pool2d, MaxValuesAndIndicesByHand) {
  // 4x4 plane 0..15 with two bumps; 2x2 windows, stride 2
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<std::size_t>(i)] = i;
  v[0] = 20;  // top-left window's max at flat index 0
  v[9] = 30;  // bottom-left window's max at flat index 9
  const Tensor x = ad::tensor(v, {1, 1, 4, 4}, ad::dtype(ad::kFloat64));
  const ad::ValuesIndices r = ad::max_pool2d_with_indices(x, {2, 2});
  EXPECT_EQ(r.values.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(r.values.to_vector(), (std::vector<double>{20, 7, 30, 15}));
  EXPECT_EQ(r.indices.dtype(), ad::kInt64);
  EXPECT_EQ(r.indices.to_vector(), (std::vector<double>{0, 7, 9, 15}));
  // padding 1, stride 1, kernel 3: the corner window sees x[0..1][0..1] and -inf padding
  const ad::ValuesIndices p =
      ad::max_pool2d_with_indices(x.select(0, 0), {3, 3}, {.stride = {1, 1}, .padding = {1, 1}});
  EXPECT_EQ(p.values.shape(), (Shape{1, 4, 4}));
  EXPECT_EQ(p.values.to_vector()[0], 20);
  EXPECT_EQ(p.indices.to_vector()[0], 0);
  EXPECT_EQ(p.indices.to_vector()[15], 15);
  EXPECT_EQ(p.values.to_vector()[5], 30);  // window centred on (1, 1) covers index 9
  EXPECT_EQ(p.indices.to_vector()[5], 9);
  // a NaN wins its window (PyTorch propagates it), also after a larger value
  std::vector<double> nv = v;
  nv[5] = NAN;
  const ad::ValuesIndices nr =
      ad::max_pool2d_with_indices(ad::tensor(nv, {1, 1, 4, 4}, ad::dtype(ad::kFloat64)), {2, 2});
  EXPECT_TRUE(std::isnan(nr.values.to_vector()[0]));
  EXPECT_EQ(nr.indices.to_vector(), (std::vector<double>{5, 7, 9, 15}));
  // the gradient goes to each window's maximum only
  Tensor xg = x.detach().requires_grad_();
  ad::max_pool2d(xg, {2, 2}).sum().backward();
  std::vector<double> want(16, 0.0);
  for (int i : {0, 7, 9, 15}) want[static_cast<std::size_t>(i)] = 1.0;
  EXPECT_EQ(xg.grad().to_vector(), want);
}

TEST(Pool2d, AverageCountsPaddingAndAdaptiveWindowsAsPyTorch) {
  const Tensor x = ad::arange(0, 16, 1, ad::dtype(ad::kFloat64)).reshape({1, 1, 4, 4});
  EXPECT_EQ(ad::avg_pool2d(x, {2, 2}).to_vector(), (std::vector<double>{2.5, 4.5, 10.5, 12.5}));
  // padding 1 with a 2x2 kernel, stride 2: the corner averages x.select(0, 0)[0] with three zeros
  const Tensor p = ad::avg_pool2d(x, {2, 2}, {.padding = {1, 1}});
  EXPECT_EQ(p.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(p.to_vector()[0], 0.0 / 4);
  EXPECT_EQ(p.to_vector()[1], (1.0 + 2.0) / 4);
  EXPECT_EQ(p.to_vector()[4], (5.0 + 6.0 + 9.0 + 10.0) / 4);
  // adaptive 5x7 -> 3x4: windows rows {0-1, 1-3, 3-4}, cols {0-1, 1-3, 3-5, 5-6}
  const Tensor a = randn({2, 3, 5, 7}, 21);
  const Tensor y = ad::adaptive_avg_pool2d(a, {3, 4});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 3, 4}));
  const auto av = a.to_vector(), yv = y.to_vector();
  for (std::int64_t pl = 0; pl < 6; ++pl)
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 4; ++j) {
        const std::int64_t r0 = i * 5 / 3, r1 = ((i + 1) * 5 + 2) / 3, c0 = j * 7 / 4, c1 = ((j + 1) * 7 + 3) / 4;
        double s = 0;
        for (std::int64_t r = r0; r < r1; ++r)
          for (std::int64_t c = c0; c < c1; ++c) s += av[static_cast<std::size_t>((pl * 5 + r) * 7 + c)];
        EXPECT_NEAR(yv[static_cast<std::size_t>((pl * 3 + i) * 4 + j)], s / static_cast<double>((r1 - r0) * (c1 - c0)),
                    1e-12);
      }
  // output size = input size is the identity
  EXPECT_EQ(ad::adaptive_avg_pool2d(a, {5, 7}).to_vector(), a.to_vector());
}

TEST(Conv2d, BadShapesNameTheOpTheShapesAndTheFix) {
  const Tensor x = randn({2, 3, 5, 5}, 1);
  auto has = [](const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; };
  std::string m = error_of([&] { ad::conv2d(x, randn({4, 2, 3, 3}, 2)); });
  EXPECT_TRUE(has(m, "conv2d") && has(m, "[4, 2, 3, 3]") && has(m, "[2, 3, 5, 5]") && has(m, "expects 2")) << m;
  m = error_of([&] { ad::conv2d(x, randn({4, 3, 7, 3}, 2)); });
  EXPECT_TRUE(has(m, "conv2d") && has(m, "larger than the padded input") && has(m, "more padding")) << m;
  m = error_of([&] { ad::conv2d(x, randn({4, 1, 3, 3}, 2), {}, {.groups = 2}); });
  EXPECT_TRUE(has(m, "groups = 2 must divide")) << m;
  m = error_of([&] { ad::conv2d(x, randn({4, 3, 3, 3}, 2), randn({3}, 3)); });
  EXPECT_TRUE(has(m, "bias must be [4]") && has(m, "got [3]")) << m;
  m = error_of([&] { ad::conv2d(x, randn({4, 3, 3, 3}, 2), {}, {.stride = {2, 2}, .same = true}); });
  EXPECT_TRUE(has(m, "'same' needs stride 1")) << m;
  m = error_of([&] { ad::conv2d(x.to(ad::kFloat32), randn({4, 3, 3, 3}, 2)); });
  EXPECT_TRUE(has(m, "Float32") && has(m, "Float64")) << m;
  m = error_of([&] { ad::conv2d(randn({5, 5}, 1), randn({4, 3, 3, 3}, 2)); });
  EXPECT_TRUE(has(m, "[N, C, H, W] or [C, H, W]") && has(m, "[5, 5]")) << m;
  m = error_of([&] { ad::conv2d(x, randn({4, 3, 3, 3}, 2), {}, {.stride = {0, 1}}); });
  EXPECT_TRUE(has(m, "stride {0, 1} must be >= 1")) << m;
  m = error_of([&] { ad::pad(randn({3}, 1), {3, 0}, ad::PadMode::reflect); });
  EXPECT_TRUE(has(m, "pad") && has(m, "smaller than its size 3")) << m;
  m = error_of([&] { ad::pad(randn({3}, 1), {1, 1, 1}); });
  EXPECT_TRUE(has(m, "pad: 3 padding sizes")) << m;
  m = error_of([&] { ad::max_pool2d(x, {2, 2}, {.padding = {2, 0}}); });
  EXPECT_TRUE(has(m, "max_pool2d") && has(m, "at most half the kernel")) << m;
  m = error_of([&] { ad::conv1d(x, randn({4, 3, 3}, 2)); });
  EXPECT_TRUE(has(m, "conv1d") && has(m, "[N, C, L] or [C, L]")) << m;
}

}  // namespace

namespace {

// unfold (im2col) against the definition, and fold as its adjoint: <fold(c), x> = <c, unfold(x)>.
TEST(Fold, UnfoldIsIm2colAndFoldItsAdjoint) {
  const Tensor x = randn({2, 3, 5, 6}, 31);
  const ad::FoldOptions o{.stride = {2, 1}, .padding = {1, 2}, .dilation = {1, 2}};
  const Tensor cols = ad::unfold(x, {2, 3}, o);
  const std::int64_t oh = (5 + 2 - 1 - 1) / 2 + 1, ow = (6 + 4 - 4 - 1) / 1 + 1;
  ASSERT_EQ(cols.shape(), (Shape{2, 3 * 2 * 3, oh * ow}));
  const auto xv = x.to_vector(), cv = cols.to_vector();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t i = 0; i < 2; ++i)
        for (std::int64_t j = 0; j < 3; ++j)
          for (std::int64_t y = 0; y < oh; ++y)
            for (std::int64_t xx = 0; xx < ow; ++xx) {
              const std::int64_t r = y * 2 - 1 + i, q = xx - 2 + 2 * j;
              const double want = r < 0 || r >= 5 || q < 0 || q >= 6
                                      ? 0.0
                                      : xv[static_cast<std::size_t>(((n * 3 + c) * 5 + r) * 6 + q)];
              EXPECT_EQ(cv[static_cast<std::size_t>(((n * 18 + (c * 2 + i) * 3 + j) * oh + y) * ow + xx)], want);
            }
  const Tensor c2 = randn(cols.shape(), 32);
  const Tensor back = ad::fold(c2, {5, 6}, {2, 3}, o);
  ASSERT_EQ(back.shape(), x.shape());
  EXPECT_NEAR((back * x).sum().item(), (c2 * cols).sum().item(), 1e-10);
  const std::string m = error_of([&] { ad::fold(c2, {5, 7}, {2, 3}, o); });
  EXPECT_NE(m.find("fold:"), std::string::npos) << m;
  EXPECT_NE(m.find("windows"), std::string::npos) << m;
}

}  // namespace

namespace {

// conv_transpose2d is conv2d's adjoint: <conv_transpose2d(x, w), y> = <x, conv2d(y, w)>, for
// strides, padding, dilation, groups and output_padding; and its output size is PyTorch's.
TEST(ConvTranspose2d, IsTheAdjointOfConv2dWithPyTorchsOutputSize) {
  struct Case {
    Shape x, w;
    ad::ConvTranspose2dOptions opt;
    Shape out;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4, 5}, {3, 2, 3, 3}, {}, {2, 2, 6, 7}},
      {{1, 4, 3, 3},
       {4, 3, 2, 3},
       {.stride = {2, 1}, .padding = {1, 1}, .output_padding = {1, 0}, .groups = 2},
       {1, 6, 5, 3}},
      {{1, 2, 3, 4}, {2, 1, 2, 2}, {.stride = {3, 2}, .dilation = {2, 1}}, {1, 1, 9, 8}},
  };
  std::uint64_t seed = 40;
  for (const Case& c : cases) {
    const Tensor x = randn(c.x, seed++), w = randn(c.w, seed++);
    const Tensor y = ad::conv_transpose2d(x, w, {}, c.opt);
    ASSERT_EQ(y.shape(), c.out);
    const Tensor probe = randn(c.out, seed++);
    const ad::Conv2dOptions back{
        .stride = c.opt.stride, .padding = c.opt.padding, .dilation = c.opt.dilation, .groups = c.opt.groups};
    // conv2d of the output-sized probe; output_padding's extra row/column is read by no window
    const Tensor cx = ad::conv2d(probe, w, {}, back);
    ASSERT_EQ(cx.shape(), x.shape());
    EXPECT_NEAR((y * probe).sum().item(), (x * cx).sum().item(), 1e-10);
  }
  const Tensor b = randn({2}, 50);
  const Tensor x = randn({2, 3, 4, 5}, 51), w = randn({3, 2, 3, 3}, 52);
  expect_near(ad::conv_transpose2d(x, w, b), (ad::conv_transpose2d(x, w) + b.reshape({1, 2, 1, 1})).to_vector(),
              {2, 2, 6, 7});
  const std::string m = error_of([&] { ad::conv_transpose2d(x, w, {}, {.output_padding = {1, 0}}); });
  EXPECT_NE(m.find("output_padding {1, 0} must be smaller than the stride {1, 1}"), std::string::npos) << m;
}

}  // namespace
