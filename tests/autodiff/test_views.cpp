// Strided views (ops/shape_ops.cpp): they share storage and version with their base, writes
// through them reach it, contiguous() copies only when needed, and in-place ops on views follow
// the autograd rules. Gradients of every view op on every layout are in test_ops_gradcheck.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/safetensors.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;
using ad::testing::iota;
constexpr auto v = ad::testing::values;

bool same_storage(const Tensor& a, const Tensor& b) { return a.impl()->storage == b.impl()->storage; }

TEST(Views, EachViewOpSharesStorageWithItsLayout) {
  const Tensor x = iota({3, 4});
  EXPECT_EQ(x.strides(), (Shape{4, 1}));
  EXPECT_TRUE(x.is_contiguous());

  const Tensor t = x.t();
  EXPECT_TRUE(same_storage(t, x));
  EXPECT_EQ(t.strides(), (Shape{1, 4}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.at({3, 1}), 7.0);

  const Tensor s = x.slice(1, 1, 4, 2);  // columns 1 and 3
  EXPECT_TRUE(same_storage(s, x));
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.strides(), (Shape{4, 2}));
  EXPECT_EQ(s.storage_offset(), 1);
  EXPECT_EQ(s.to_vector(), v({1, 3, 5, 7, 9, 11}));

  const Tensor row = x.select(0, 2);
  EXPECT_EQ(row.shape(), (Shape{4}));
  EXPECT_EQ(row.storage_offset(), 8);
  EXPECT_TRUE(row.is_contiguous());
  EXPECT_EQ(x.select(1, -1).to_vector(), v({3, 7, 11}));
  EXPECT_EQ(x.narrow(0, 1, 2).to_vector(), v({4, 5, 6, 7, 8, 9, 10, 11}));

  const Tensor e = ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64)).reshape({2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_EQ(e.to_vector(), v({1, 1, 1, 2, 2, 2}));

  EXPECT_EQ(x.diagonal().to_vector(), v({0, 5, 10}));
  EXPECT_EQ(x.diagonal(1).to_vector(), v({1, 6, 11}));
  EXPECT_EQ(x.diagonal(-1).to_vector(), v({4, 9}));
  EXPECT_EQ(x.diagonal().strides(), (Shape{5}));

  const Tensor w = ad::arange(0.0, 6.0, 1.0).unfold(0, 3, 2);  // windows [0 1 2] [2 3 4]
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.strides(), (Shape{2, 1}));
  EXPECT_EQ(w.to_vector(), v({0, 1, 2, 2, 3, 4}));

  EXPECT_TRUE(same_storage(x.permute({1, 0}), x));
  EXPECT_TRUE(same_storage(x.unsqueeze(1).squeeze(1), x));
  EXPECT_TRUE(same_storage(x.reshape({2, 6}), x));
  EXPECT_TRUE(same_storage(x.view({12}), x));
}

TEST(Views, ReshapeCopiesOnlyWhenTheStridesCannotShowTheShape) {
  const Tensor x = iota({2, 3, 4});
  EXPECT_TRUE(same_storage(x.slice(0, 1, 2).reshape({12}), x));         // a contiguous slice: a view
  EXPECT_TRUE(same_storage(x.permute({1, 2, 0}).reshape({12, 2}), x));  // dims 1, 2 still merge
  const Tensor t = x.transpose(1, 2);
  const Tensor r = t.reshape({2, 12});
  EXPECT_FALSE(same_storage(r, x));  // the merged dims are not contiguous: copied, once
  EXPECT_TRUE(r.is_contiguous());
  EXPECT_EQ(r.to_vector(), t.contiguous().to_vector());
  const std::string msg = error_of([&] { t.view({2, 12}); });
  EXPECT_TRUE(contains(msg, "view: a tensor of shape [2, 4, 3]")) << msg;
  EXPECT_TRUE(contains(msg, "use reshape, or contiguous().view()")) << msg;
}

TEST(Views, ContiguousCopiesOnlyWhenNeeded) {
  const Tensor x = iota({3, 4});
  EXPECT_EQ(x.contiguous().impl(), x.impl());
  const Tensor c = x.t().contiguous();
  EXPECT_FALSE(same_storage(c, x));
  EXPECT_EQ(c.strides(), (Shape{3, 1}));
  EXPECT_EQ(c.to_vector(), v({0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
}

TEST(Views, WritesThroughAViewReachTheBaseAndBumpItsVersion) {
  Tensor x = ad::zeros({3, 4}, ad::dtype(ad::kFloat64));
  const auto v0 = x.version();
  x.slice(0, 0, 2).fill_(7);  // the first two rows
  EXPECT_EQ(x.to_vector(), v({7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0}));
  EXPECT_GT(x.version(), v0);
  x.select(1, 3).add_(1.0);  // a column: a strided write
  EXPECT_EQ(x.at({2, 3}), 1.0);
  EXPECT_EQ(x.at({0, 3}), 8.0);
  x.t().diagonal().copy_(ad::tensor({-1.0, -2.0, -3.0}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(x.at({1, 1}), -2.0);
  x.narrow(1, 0, 2).mul_(ad::tensor({10.0, 100.0}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(x.at({2, 1}), 0.0);
  EXPECT_EQ(x.at({0, 1}), 700.0);
}

TEST(Views, AnArgumentThatOverlapsTheTargetIsReadBeforeItIsOverwritten) {
  Tensor x = iota({3, 3});
  const Tensor xt = x.t().contiguous();
  Tensor want = x.clone();
  want.add_(xt);
  x.add_(x.t());  // reads x's elements that the write changes
  EXPECT_EQ(x.to_vector(), want.to_vector());
}

TEST(Views, InPlaceOnOverlappingViewsIsRefused) {
  Tensor base = ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64));
  Tensor e = base.reshape({2, 1}).expand({2, 3});
  EXPECT_TRUE(contains(error_of([&] { e.fill_(0); }), "fill_: the tensor of shape [2, 3] (strides [1, 0])"));
  Tensor w = ad::arange(0.0, 6.0, 1.0).unfold(0, 3, 1);
  EXPECT_TRUE(contains(error_of([&] { w.add_(1.0); }), "several elements share memory"));
}

TEST(Views, InPlaceOnAViewFollowsTheAutogradRules) {
  Tensor w = ad::ones({2, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
  // While recording, a view of a leaf that requires grad is refused (as PyTorch).
  const std::string msg = error_of([&] { w.slice(0, 0, 1).fill_(0); });
  EXPECT_TRUE(contains(msg, "fill_: the tensor of shape [1, 3] is a view of a leaf tensor of shape [2, 3]")) << msg;
  // Without recording (an optimizer step) the write goes through to the parameter.
  {
    ad::NoGradGuard ng;
    w.select(0, 1).mul_(3.0);
  }
  EXPECT_EQ(w.to_vector(), v({1, 1, 1, 3, 3, 3}));
  // A view of a non-leaf: recorded (the tests below have the details).
  Tensor h = w * 2.0;
  h.t().select(0, 0).zero_();  // column 0 of h
  EXPECT_EQ(h.to_vector(), v({0, 2, 2, 0, 6, 6}));
  h.sum().backward();
  EXPECT_EQ(w.grad().to_vector(), v({0, 2, 2, 0, 2, 2}));
  w.zero_grad();
  // A saved tensor changed through a view of it is caught at backward.
  Tensor a = w * 1.0;
  Tensor y = ad::exp(a).sum() + (a * a).sum();
  {
    ad::NoGradGuard ng;
    a.slice(1, 0, 1).fill_(5.0);
  }
  EXPECT_TRUE(contains(error_of([&] { y.backward(); }), "modified in place"));
}

// ---------------------------------------------------------------- recorded in-place ops

TEST(InPlaceAutograd, OnANonLeafTheOpIsRecorded) {
  Tensor x = ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor y = x * 2.0;
  y.add_(1.0).mul_(x);  // y = (2x + 1) * x
  EXPECT_EQ(y.to_vector(), v({3, 10, 21}));
  EXPECT_FALSE(y.is_leaf());
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector(), v({5, 9, 13}));  // 4x + 1
}

TEST(InPlaceAutograd, WritingATensorThatRequiresGradIntoAConstantRecordsIt) {
  Tensor x = ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor out = ad::zeros({2, 3}, ad::dtype(ad::kFloat64));          // a leaf that does not require grad
  out.select(0, 1).copy_(x * x);                                    // out[1] = x^2
  out.index_put_({0, ad::index_tensor({0, 2})}, x.slice(0, 0, 2));  // out[0, [0, 2]] = x[:2]
  EXPECT_TRUE(out.requires_grad());
  EXPECT_FALSE(out.is_leaf());
  EXPECT_EQ(out.to_vector(), v({1, 0, 2, 1, 4, 9}));
  (out * ad::tensor({1, 10, 100, 1000, 1000, 1000}, {2, 3}, ad::dtype(ad::kFloat64))).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), v({2001, 4100, 6000}));  // 2000x + [1, 100, 0]
}

TEST(InPlaceAutograd, ThroughAViewTheBaseAndEveryViewFollow) {
  Tensor x = iota({2, 3}).requires_grad_();  // [[0 1 2] [3 4 5]]
  Tensor y = x.clone();
  const Tensor u = y.select(0, 0);  // a view made before the write
  y.slice(1, 0, 2).mul_(3.0);       // y[:, :2] *= 3, through another view
  EXPECT_EQ(y.to_vector(), v({0, 3, 2, 9, 12, 5}));
  EXPECT_EQ(u.to_vector(), v({0, 3, 2}));        // u shows the new values ...
  u.sum().backward({}, {.retain_graph = true});  // ... and its gradient follows them
  EXPECT_EQ(x.grad().to_vector(), v({3, 3, 1, 0, 0, 0}));
  x.zero_grad();
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector(), v({3, 3, 1, 3, 3, 1}));
}

TEST(InPlaceAutograd, AnArgumentThatSharesTheStorageIsReadBeforeTheWrite) {
  Tensor x = ad::tensor({1, 2, 3, 4}, {2, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor y = x * 1.0;
  y.add_(y.t());  // y = x + x^T, the transpose read from the old values
  EXPECT_EQ(y.to_vector(), v({2, 5, 5, 8}));
  (y * ad::tensor({1, 2, 3, 4}, {2, 2}, ad::dtype(ad::kFloat64))).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), v({2, 5, 5, 8}));  // w + w^T
}

TEST(InPlaceAutograd, RetainedGradSavedTensorsAndLeaksFollowTheRules) {
  const std::int64_t base = ad::live_nodes();
  {
    Tensor x = ad::tensor({1, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
    Tensor y = x * 2.0;
    y.retain_grad();
    y.add_(1.0);  // .grad of y is the gradient at its new value
    (y * 3.0).sum().backward();
    EXPECT_EQ(y.grad().to_vector(), v({3, 3}));
    EXPECT_EQ(x.grad().to_vector(), v({6, 6}));
    // a tensor saved by an op and then changed in place is still caught at backward
    Tensor a = x * 1.0;
    const Tensor b = (a * a).sum();
    a.add_(1.0);
    EXPECT_TRUE(contains(error_of([&] { b.backward(); }), "modified in place"));
  }
  EXPECT_EQ(ad::live_nodes(), base);  // views hold their base, not a cycle
}

TEST(InPlaceAutograd, ViewsMadeWithoutGradModeAndNonContiguousBasesAreRefused) {
  Tensor a = iota({2, 2}).requires_grad_();
  Tensor b = a * 2.0;
  Tensor view;
  {
    ad::NoGradGuard ng;
    view = b.slice(0, 0, 1);
  }
  // writing it would change b without its history: refused (as PyTorch)
  EXPECT_TRUE(contains(error_of([&] { view.mul_(10.0); }),
                       "mul_: the tensor of shape [1, 2] is a view made under NoGradGuard"));
  {
    ad::NoGradGuard ng;
    view.mul_(10.0);  // fine without recording
  }
  Tensor w = ad::ones({2, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor d = (a * 1.0).t().detach();  // not contiguous, and no view of anything
  EXPECT_TRUE(contains(error_of([&] { d.add_(w); }), "add_: the tensor of shape [2, 2] is not contiguous"));
}

TEST(InPlaceAutograd, RetainGradOnAViewFollowsItsNewHistory) {
  Tensor a = iota({3}).requires_grad_();
  Tensor b = a * 1.0;
  Tensor w2 = b.slice(0, 0, 2), u = b.slice(0, 1, 3);
  w2.retain_grad();
  u.retain_grad();
  w2.mul_(3.0);
  (w2 * 1.0 + u * 2.0).sum().backward();
  EXPECT_EQ(w2.grad().to_vector(), v({1, 1}));            // the gradient at w2's new value
  EXPECT_EQ(u.grad().to_vector(), v({2, 2}));             // a sibling view still gets its .grad
  EXPECT_EQ(a.grad().to_vector(), v({3, 3 + 2 * 3, 2}));  // u sees b[1] tripled too
}

TEST(InPlaceAutograd, ASavedViewOfTheBaseMakesNoCycle) {
  const std::int64_t base = ad::live_nodes();
  {
    Tensor a = iota({2, 2}).requires_grad_();
    Tensor h = a * 1.0;
    const Tensor row = h.select(0, 0);
    const Tensor s = row * row;  // mul saves row, a view of h
    h.add_(s);                   // h's new history passes through that mul
    EXPECT_TRUE(contains(error_of([&] { h.sum().backward(); }), "modified in place"));  // row changed
  }
  EXPECT_EQ(ad::live_nodes(), base);
}

TEST(InPlaceAutograd, GradcheckAndGradgradcheckThroughInPlaceOps) {
  const auto f = [](const std::vector<Tensor>& in) {
    const Tensor& x = in[0];
    const Tensor& w = in[1];
    Tensor y = x * w;
    y.slice(0, 0, 1).mul_(w.slice(0, 0, 1));  // row 0 *= w[0]
    y.add_(x, 0.5);
    y.select(1, 2).copy_(ad::sin(x.select(1, 0)));  // column 2 = sin(x[:, 0])
    Tensor z = ad::zeros({2, 3}, ad::dtype(ad::kFloat64));
    // (mul saves its operands: copies, since y changes in place below)
    z.index_put_({ad::indexing::Slice(), 1}, y.select(1, 0).clone() * y.select(1, 1).clone());
    z.index_put_({z > 0.5}, 0.25);  // a mask, fill through views
    y.div_(w + 3.0).addcmul_(x, w, 0.5).lerp_(z, 0.25);
    return ad::exp(y).sum() + (z * z).sum();
  };
  ad::Generator gen(11);
  const std::vector<Tensor> xs{ad::rand({2, 3}, ad::dtype(ad::kFloat64), &gen).requires_grad_(),
                               ad::rand({2, 3}, ad::dtype(ad::kFloat64), &gen).requires_grad_()};
  const auto r1 = ad::gradcheck(f, xs);
  EXPECT_TRUE(r1.ok) << r1.report;
  const auto r2 = ad::gradgradcheck(f, xs);
  EXPECT_TRUE(r2.ok) << r2.report;
}

TEST(Views, GradientsFlowBackThroughViewsAndGradIsContiguous) {
  Tensor x = iota({3, 4}).requires_grad_();
  // each element picked once by the slice, twice by two overlapping unfold windows
  const Tensor y = (x.t().slice(0, 1, 3) * 2.0).sum() + x.select(0, 0).unfold(0, 3, 1).sum();
  y.backward();
  EXPECT_TRUE(x.grad().is_contiguous());
  EXPECT_EQ(x.grad().to_vector(), v({1, 4, 4, 1, 0, 2, 2, 0, 0, 2, 2, 0}));
}

TEST(Views, MatmulReadsTransposedViewsInPlaceWithTheSameResult) {
  ad::Generator gen(3);
  const Tensor a = ad::randn({4, 5}, ad::dtype(ad::kFloat64), &gen);
  const Tensor b = ad::randn({6, 5}, ad::dtype(ad::kFloat64), &gen);
  const Tensor want = ad::matmul(a, b.t().contiguous());
  const Tensor got = ad::matmul(a, b.t());
  const auto w = want.to_vector(), g = got.to_vector();
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-12);
  // a strided (every other column) operand is copied once, same values
  const Tensor wide = ad::randn({4, 10}, ad::dtype(ad::kFloat64), &gen);
  const Tensor sliced = wide.slice(1, 0, 10, 2);
  const auto s1 = ad::matmul(sliced, b.t()).to_vector(), s2 = ad::matmul(sliced.contiguous(), b.t()).to_vector();
  for (std::size_t i = 0; i < s1.size(); ++i) EXPECT_NEAR(s1[i], s2[i], 1e-12);
}

TEST(Views, DataPtrRefusesANonContiguousViewStridedDataPtrFollowsIt) {
  Tensor x = iota({2, 3});
  const Tensor t = x.t();
  EXPECT_TRUE(contains(error_of([&] { (void)t.data_ptr<double>(); }), "call .contiguous() first"));
  EXPECT_EQ(t.strided_data_ptr<double>()[t.stride(0) * 2 + t.stride(1) * 1], 5.0);  // t[2][1] = x[1][2]
  EXPECT_EQ(x.select(0, 1).data_ptr<double>()[0], 3.0);  // a row is contiguous (at an offset)
}

TEST(Views, SavedViewsWriteTheirElements) {
  const auto dir = std::filesystem::temp_directory_path() / ("ad_views_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "v.safetensors").string();
  const Tensor x = iota({3, 4});
  ad::save_safetensors(path, {{"t", x.t()}, {"row", x.select(0, 2)}, {"diag", x.diagonal()}});
  const auto f = ad::load_safetensors(path);
  EXPECT_EQ(f.tensors[0].second.to_vector(), x.t().to_vector());
  EXPECT_EQ(f.tensors[1].second.to_vector(), v({8, 9, 10, 11}));
  EXPECT_EQ(f.tensors[2].second.to_vector(), v({0, 5, 10}));
  std::filesystem::remove_all(dir);
}

TEST(Views, BadArgumentsNameTheViewOp) {
  const Tensor x = iota({3, 4});
  EXPECT_TRUE(contains(error_of([&] { x.select(1, 4); }), "select: index 4 is out of range for dim 1"));
  EXPECT_TRUE(contains(error_of([&] { x.narrow(0, 2, 2); }), "narrow: start 2 and length 2 do not fit"));
  EXPECT_TRUE(contains(error_of([&] { x.diagonal(0, 1, 1); }), "diagonal: dim0 and dim1 are both dim 1"));
  EXPECT_TRUE(contains(error_of([&] { x.unfold(1, 5, 1); }), "unfold: window size 5 does not fit"));
  EXPECT_TRUE(contains(error_of([&] { x.unfold(1, 2, 0); }), "unfold: step must be positive"));
}

}  // namespace
