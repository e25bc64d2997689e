// Indexing (ops/index.cpp): x.index({...}) with integers, slices, None, Ellipsis and one Int64
// tensor; index_put_; masked_fill and masked_select. Gradients are in the op catalog.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using namespace ad::indexing;  // NOLINT: the names read like Python's x[...]
using ad::Shape;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;
using ad::testing::iota;
constexpr auto v = ad::testing::values;

TEST(Index, IntegersSlicesNoneAndEllipsisAreViews) {
  const Tensor x = iota({2, 3, 4});
  const Tensor a = x.index({0, Slice(1, 3), None, Ellipsis});  // x[0, 1:3, None, ...]
  EXPECT_EQ(a.shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(a.impl()->storage, x.impl()->storage);
  EXPECT_EQ(a.to_vector(), v({4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(x.index({Ellipsis, -1}).to_vector(), v({3, 7, 11, 15, 19, 23}));  // x[..., -1]
  EXPECT_EQ(x.index({1, Slice(None, None, 2), Slice(-2)}).to_vector(), v({14, 15, 22, 23}));
  EXPECT_EQ(x.index({None}).shape(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(x.index({1, 2, 3}).dim(), 0);
  EXPECT_EQ(x.index({1, 2, 3}).item(), 23.0);
  EXPECT_EQ(x.index({}).impl(), x.impl());
}

TEST(Index, ATensorIndexPicksPositionsAlongItsDim) {
  const Tensor x = iota({3, 4});
  const Tensor r = x.index({Slice(), ad::index_tensor({3, 0, 3})});  // x[:, [3, 0, 3]]
  EXPECT_EQ(r.shape(), (Shape{3, 3}));
  EXPECT_EQ(r.to_vector(), v({3, 0, 3, 7, 4, 7, 11, 8, 11}));
  EXPECT_EQ(x.index({ad::index_tensor({-1}), 1}).to_vector(), v({9}));
}

TEST(Index, IndexPutWritesThroughToTheTensor) {
  Tensor x = ad::zeros({3, 4}, ad::dtype(ad::kFloat64));
  x.index_put_({Slice(None, 2), 1}, 5.0);  // x[:2, 1] = 5
  x.index_put_({2}, ad::tensor({1.0, 2.0, 3.0, 4.0}, ad::dtype(ad::kFloat64)));
  x.index_put_({Slice(), ad::index_tensor({3, 0})},
               ad::tensor({-1.0, -2.0}, ad::dtype(ad::kFloat64)));  // broadcast over rows
  EXPECT_EQ(x.to_vector(), v({-2, 5, 0, -1, -2, 5, 0, -1, -2, 2, 3, -1}));
}

TEST(Index, MasksFillAndSelect) {
  Tensor x = iota({2, 3}).requires_grad_();
  const Tensor mask = x > 2.5;  // a Bool mask
  EXPECT_EQ(mask.dtype(), ad::kBool);
  const Tensor f = ad::masked_fill(x, mask, -1.0);
  EXPECT_EQ(f.to_vector(), v({0, 1, 2, -1, -1, -1}));
  const Tensor s = ad::masked_select(x, ad::tensor({1.0, 0.0, 1.0}, ad::dtype(ad::kBool)));  // a row mask, broadcast
  EXPECT_EQ(s.to_vector(), v({0, 2, 3, 5}));
  (f.sum() + (s * 10.0).sum()).backward();
  EXPECT_EQ(x.grad().to_vector(), v({11, 1, 11, 10, 0, 10}));
}

TEST(Index, BoolMaskIndexSelectsTheTrueElementsOfTheDimsItCovers) {
  Tensor x = iota({2, 3}).requires_grad_();  // [[0 1 2] [3 4 5]]
  const Tensor all = x.index({x > 1.5});     // a mask over both dims: the elements, row-major
  EXPECT_EQ(all.shape(), (Shape{4}));
  EXPECT_EQ(all.to_vector(), v({2, 3, 4, 5}));
  const Tensor rows = x.index({ad::tensor({0, 1}, ad::dtype(ad::kBool))});  // a mask over dim 0: whole rows
  EXPECT_EQ(rows.shape(), (Shape{1, 3}));
  EXPECT_EQ(rows.to_vector(), v({3, 4, 5}));
  const Tensor cols = x.index({Slice(), ad::tensor({1, 0, 1}, ad::dtype(ad::kBool))});  // after a slice: columns
  EXPECT_EQ(cols.shape(), (Shape{2, 2}));
  EXPECT_EQ(cols.to_vector(), v({0, 2, 3, 5}));
  (all.sum() + 10.0 * cols.sum()).backward();  // differentiable: the gradient goes to the picked elements
  EXPECT_EQ(x.grad().to_vector(), v({10, 0, 11, 11, 1, 11}));
}

TEST(Index, IndexPutWithABoolMaskWritesTheTrueElements) {
  Tensor x = iota({2, 3});
  x.index_put_({x > 3.5}, -1.0);  // x[x > 3.5] = -1
  EXPECT_EQ(x.to_vector(), v({0, 1, 2, 3, -1, -1}));
  x.index_put_({ad::tensor({1, 0}, ad::dtype(ad::kBool))}, ad::tensor({7, 8, 9}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(x.to_vector(), v({7, 8, 9, 3, -1, -1}));  // a row mask: the value broadcasts over the row
  Tensor y = iota({2, 2, 2});
  y.index_put_({Slice(), ad::tensor({0, 1, 1, 0}, {2, 2}, ad::dtype(ad::kBool))},
               ad::tensor({-1, -2}, {2, 1}, ad::dtype(ad::kFloat64)));  // mask over dims 1 and 2, per batch row
  EXPECT_EQ(y.to_vector(), v({0, -1, -1, 3, 4, -2, -2, 7}));
}

TEST(Index, BadIndicesNameTheOpTheDimAndTheSize) {
  Tensor x = iota({3, 4});
  EXPECT_TRUE(contains(error_of([&] {
                         x.index({0, 4});
                       }),
                       "index: index 4 is out of range for dim 1 of shape [3, 4] (size 4"));
  EXPECT_TRUE(contains(error_of([&] { x.index({-4}); }), "index: index -4 is out of range for dim 0"));
  EXPECT_TRUE(contains(error_of([&] { x.index({0, 0, 0}); }), "index: 3 indices for a tensor of shape [3, 4]"));
  EXPECT_TRUE(contains(error_of([&] { x.index({Ellipsis, Ellipsis}); }), "at most one Ellipsis"));
  EXPECT_TRUE(contains(error_of([&] { x.index({Slice(0, 3, -1)}); }), "index: slice step must be positive"));
  EXPECT_TRUE(contains(error_of([&] { x.index({ad::index_tensor({5})}); }),
                       "index: tensor index 5 (element 0) is out of range for a dim of size 3"));
  EXPECT_TRUE(contains(error_of([&] { x.index({ad::ones({3})}); }),
                       "index: a tensor index must hold Int64 positions or be a Bool mask, got Float32"));
  EXPECT_TRUE(contains(error_of([&] { x.index({ad::ones({4}, ad::dtype(ad::kBool))}); }),
                       "index: a Bool mask of shape [4] must match the sizes of the dims it indexes"));
  EXPECT_TRUE(contains(error_of([&] { ad::masked_fill(x, x, 0.0); }), "masked_fill: the mask must be a Bool tensor"));
  EXPECT_TRUE(contains(error_of([&] { ad::where(x, x, x); }), "where: the condition must be a Bool tensor"));
  EXPECT_TRUE(contains(error_of([&] {
                         x.index_put_({0}, ad::tensor({1.0, 2.0}, ad::dtype(ad::kFloat64)));
                       }),
                       "copy_:"));
  EXPECT_TRUE(contains(error_of([&] { ad::masked_select(x, ad::ones({2}, ad::dtype(ad::kBool))); }),
                       "masked_select: the mask of shape [2]"));
  Tensor w = ad::ones({2}, ad::dtype(ad::kFloat64)).requires_grad_();
  EXPECT_TRUE(contains(error_of([&] { w.index_put_({0}, 3.0); }),
                       "index_put_: a leaf tensor of shape [2] that requires grad cannot be modified in place"));
}

}  // namespace
