// Shape helpers: broadcasting, dim wrapping, strides, printing of shapes.
#include <gtest/gtest.h>

#include <string>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/shape.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;

using ad::testing::contains;
using ad::testing::error_of;

TEST(Shape, BroadcastShapesValid) {
  EXPECT_EQ(ad::broadcast_shapes({3, 4}, {1, 4}, "add"), (Shape{3, 4}));
  EXPECT_EQ(ad::broadcast_shapes({3, 4}, {4}, "add"), (Shape{3, 4}));
  EXPECT_EQ(ad::broadcast_shapes({4}, {3, 4}, "add"), (Shape{3, 4}));
  EXPECT_EQ(ad::broadcast_shapes({2, 1, 4, 8}, {2, 1, 4, 1}, "mul"), (Shape{2, 1, 4, 8}));
  EXPECT_EQ(ad::broadcast_shapes({}, {2, 3}, "add"), (Shape{2, 3}));
  EXPECT_EQ(ad::broadcast_shapes({2, 3}, {}, "add"), (Shape{2, 3}));
  EXPECT_EQ(ad::broadcast_shapes({}, {}, "add"), (Shape{}));
  EXPECT_EQ(ad::broadcast_shapes({5, 1, 3}, {4, 1}, "add"), (Shape{5, 4, 3}));
  EXPECT_EQ(ad::broadcast_shapes({1}, {7}, "add"), (Shape{7}));
  EXPECT_EQ(ad::broadcast_shapes({0, 1}, {1, 5}, "add"), (Shape{0, 5}));  // empty dims broadcast too
  EXPECT_EQ(ad::broadcast_shapes({1, 1}, {1}, "add"), (Shape{1, 1}));
}

TEST(Shape, BroadcastShapesInvalidNamesOpAndBothShapes) {
  const std::string m = error_of([] { ad::broadcast_shapes({3, 4}, {3}, "sub"); });
  EXPECT_NE(m.find("sub"), std::string::npos) << m;
  EXPECT_NE(m.find("[3, 4]"), std::string::npos) << m;
  EXPECT_NE(m.find("[3]"), std::string::npos) << m;

  const std::string m2 = error_of([] { ad::broadcast_shapes({2, 5, 7}, {6, 7}, "maximum"); });
  EXPECT_NE(m2.find("maximum"), std::string::npos) << m2;
  EXPECT_NE(m2.find("[2, 5, 7]"), std::string::npos) << m2;
  EXPECT_NE(m2.find("[6, 7]"), std::string::npos) << m2;

  EXPECT_THROW(ad::broadcast_shapes({0}, {2}, "add"), ad::Error);  // 0 only broadcasts with 1
  EXPECT_THROW(ad::broadcast_shapes({2, 3}, {3, 2}, "add"), ad::Error);
}

TEST(Shape, DimMaskRefusesRepeatsAndOutOfRange) {
  EXPECT_EQ(ad::dim_mask({0, -1}, 3, "sum"), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(ad::dim_mask({}, 2, "sum"), (std::vector<bool>{false, false}));
  EXPECT_TRUE(ad::dim_mask({-1}, 0, "sum").empty());
  EXPECT_NE(error_of([] {
              ad::dim_mask({1, -2}, 3, "amax");
            }).find("amax: dim 1 appears more than once"),
            std::string::npos);
  EXPECT_NE(error_of([] { ad::dim_mask({3}, 3, "mean"); }).find("mean: dim 3 is out of range"), std::string::npos);
}

TEST(Shape, CheckedNumelRefusesNegativeSizesAndOverflow) {
  EXPECT_EQ(ad::checked_numel({2, 3, 4}, "zeros"), 24);
  EXPECT_EQ(ad::checked_numel({}, "zeros"), 1);
  EXPECT_EQ(ad::checked_numel({0, std::int64_t{1} << 40}, "zeros"), 0);
  // every sub-shape must fit too: a reduction over the 0 would leave 2^80 elements
  EXPECT_THROW(ad::checked_numel({0, std::int64_t{1} << 40, std::int64_t{1} << 40}, "zeros"), ad::Error);
  EXPECT_THROW(ad::checked_numel({std::int64_t{1} << 32, std::int64_t{1} << 32}, "zeros"), ad::Error);
  EXPECT_THROW(ad::checked_numel({std::int64_t{1} << 61}, "zeros"), ad::Error);  // 2^61 elements: 2^64 bytes
  EXPECT_NE(error_of([] {
              ad::checked_numel({2, -3}, "ones");
            }).find("ones: negative size -3 in dim 1"),
            std::string::npos);
}

TEST(Shape, WrapDim) {
  EXPECT_EQ(ad::wrap_dim(0, 3, "sum"), 0);
  EXPECT_EQ(ad::wrap_dim(2, 3, "sum"), 2);
  EXPECT_EQ(ad::wrap_dim(-1, 3, "sum"), 2);
  EXPECT_EQ(ad::wrap_dim(-3, 3, "sum"), 0);
  EXPECT_THROW(ad::wrap_dim(0, 0, "size"), ad::Error);  // a 0-d tensor has no dims
  EXPECT_EQ(ad::wrap_dim_scalar(0, 0, "sum"), 0);       // ... but reductions accept 0 and -1 like PyTorch
  EXPECT_EQ(ad::wrap_dim_scalar(-1, 0, "sum"), 0);
  EXPECT_THROW(ad::wrap_dim_scalar(1, 0, "sum"), ad::Error);
  EXPECT_EQ(ad::wrap_dim_scalar(-2, 3, "sum"), 1);
  EXPECT_THROW(ad::wrap_dim(3, 3, "sum"), ad::Error);
  EXPECT_THROW(ad::wrap_dim(-4, 3, "sum"), ad::Error);
  EXPECT_THROW(ad::wrap_dim(1, 0, "sum"), ad::Error);
  const std::string m = error_of([] { ad::wrap_dim(5, 2, "softmax"); });
  EXPECT_NE(m.find("softmax"), std::string::npos) << m;
  EXPECT_NE(m.find("5"), std::string::npos) << m;
}

TEST(Shape, ContiguousStrides) {
  EXPECT_EQ(ad::contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
  EXPECT_EQ(ad::contiguous_strides({5}), (Shape{1}));
  EXPECT_EQ(ad::contiguous_strides({}), (Shape{}));
  EXPECT_EQ(ad::contiguous_strides({3, 1, 2}), (Shape{2, 2, 1}));
  EXPECT_EQ(ad::numel_of({2, 3, 4}), 24);
  EXPECT_EQ(ad::numel_of({}), 1);
  EXPECT_EQ(ad::numel_of({3, 0}), 0);
}

TEST(Shape, ShapeStr) {
  EXPECT_EQ(ad::shape_str({}), "[]");
  EXPECT_EQ(ad::shape_str({7}), "[7]");
  EXPECT_EQ(ad::shape_str({2, 3}), "[2, 3]");
  EXPECT_EQ(ad::shape_str({1, 0, 12}), "[1, 0, 12]");
}

TEST(Shape, BroadcastableTo) {
  EXPECT_TRUE(ad::broadcastable_to({1, 4}, {3, 4}));
  EXPECT_TRUE(ad::broadcastable_to({4}, {3, 4}));
  EXPECT_TRUE(ad::broadcastable_to({}, {3, 4}));
  EXPECT_TRUE(ad::broadcastable_to({3, 4}, {3, 4}));
  EXPECT_TRUE(ad::broadcastable_to({3, 1}, {2, 3, 5}));
  EXPECT_FALSE(ad::broadcastable_to({3, 4}, {4}));     // cannot drop dims
  EXPECT_FALSE(ad::broadcastable_to({3, 4}, {1, 4}));  // broadcasting is one-way
  EXPECT_FALSE(ad::broadcastable_to({2}, {3}));
  EXPECT_FALSE(ad::broadcastable_to({2, 1}, {3, 4}));
}

TEST(Shape, BroadcastStrides) {
  EXPECT_EQ(ad::broadcast_strides({1, 4}, {3, 4}), (Shape{0, 1}));
  EXPECT_EQ(ad::broadcast_strides({4}, {3, 4}), (Shape{0, 1}));
  EXPECT_EQ(ad::broadcast_strides({3, 1}, {3, 5}), (Shape{1, 0}));
  EXPECT_EQ(ad::broadcast_strides({2, 3}, {2, 3}), (Shape{3, 1}));
}

}  // namespace
