// Embedding: PyTorch's initialisation N(0, 1), lookups of any index shape, the dense gradient
// (repeated indices add up), padding_idx (zero row, no gradient, negative counted from the end),
// from_pretrained with and without freeze, gradcheck in float64, and errors that name the layer.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/nn/nn.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;

std::vector<double> row(const Tensor& t, std::int64_t i) { return t.select(0, i).to_vector(); }

TEST(Embedding, InitialisationIsStandardNormal) {
  ad::Generator gen(1);
  ad::nn::Embedding emb(1000, 8, {}, ad::kFloat64, &gen);
  EXPECT_EQ(emb.weight().shape(), (Shape{1000, 8}));
  EXPECT_EQ(emb.weight().dtype(), ad::kFloat64);
  EXPECT_TRUE(emb.weight().requires_grad());
  EXPECT_EQ(emb.num_embeddings(), 1000);
  EXPECT_EQ(emb.embedding_dim(), 8);
  EXPECT_FALSE(emb.padding_idx().has_value());
  const Tensor w = emb.weight().detach();
  EXPECT_NEAR(w.mean().item(), 0.0, 0.03);  // 8000 draws: the standard error is 0.011
  EXPECT_NEAR(w.std().item(), 1.0, 0.03);
  EXPECT_GT(ad::amax(ad::abs(w)).item(), 3.0);  // a normal's tails, not a uniform's bounded range
  ASSERT_EQ(emb.named_parameters().size(), 1u);
  EXPECT_EQ(emb.named_parameters()[0].first, "weight");
  EXPECT_EQ(ad::nn::Embedding(10, 3).weight().dtype(), ad::kFloat32);
  EXPECT_EQ(emb.extra_repr(), "1000, 8");
}

// Any index shape: [..] -> [.., dim], each entry the weight's row.
TEST(Embedding, LooksUpRowsForAnyIndexShape) {
  ad::Generator gen(2);
  ad::nn::Embedding emb(6, 3, {}, ad::kFloat64, &gen);
  const Tensor idx = ad::index_tensor({4, 0, 4, 5, 1, 2}, {2, 3});
  const Tensor y = emb(idx);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 3}));
  const std::vector<std::int64_t> flat = {4, 0, 4, 5, 1, 2};
  for (std::size_t i = 0; i < flat.size(); ++i)
    EXPECT_EQ(row(y.reshape({6, 3}), static_cast<std::int64_t>(i)), row(emb.weight(), flat[i])) << i;
  EXPECT_EQ(emb(ad::index_tensor({3}, {})).shape(), (Shape{3}));  // a 0-d index: one row
  EXPECT_EQ(emb(ad::index_tensor({}, {0})).shape(), (Shape{0, 3}));
}

// The gradient of sum(c * y) w.r.t. the weight: each row gets c times the number of times it
// was picked; rows never picked get zeros.
TEST(Embedding, RepeatedIndicesAccumulateTheirGradients) {
  ad::nn::Embedding emb(5, 2, {}, ad::kFloat64);
  const Tensor y = emb(ad::index_tensor({1, 3, 1, 1}));
  (y * 2.0).sum().backward();
  const Tensor g = emb.weight().grad();
  EXPECT_EQ(row(g, 0), (std::vector<double>{0, 0}));
  EXPECT_EQ(row(g, 1), (std::vector<double>{6, 6}));
  EXPECT_EQ(row(g, 2), (std::vector<double>{0, 0}));
  EXPECT_EQ(row(g, 3), (std::vector<double>{2, 2}));
}

TEST(Embedding, PaddingRowStartsAtZeroAndGetsNoGradient) {
  ad::Generator gen(3);
  ad::nn::Embedding emb(5, 3, {.padding_idx = 2}, ad::kFloat64, &gen);
  EXPECT_EQ(emb.padding_idx(), 2);
  EXPECT_EQ(row(emb.weight(), 2), (std::vector<double>{0, 0, 0}));
  EXPECT_NE(row(emb.weight(), 1), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(emb.extra_repr(), "5, 3, padding_idx=2");
  // A sequence padded with 2 at its end: the padding positions read the zero row...
  const Tensor y = emb(ad::index_tensor({0, 1, 2, 2}));
  EXPECT_EQ(row(y, 3), (std::vector<double>{0, 0, 0}));
  (y * y + y).sum().backward();
  const Tensor g = emb.weight().grad();
  // ...and its row takes no gradient, while the others take 2w + 1.
  EXPECT_EQ(row(g, 2), (std::vector<double>{0, 0, 0}));
  const std::vector<double> w0 = row(emb.weight(), 0), g0 = row(g, 0);
  for (std::size_t j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(g0[j], 2 * w0[j] + 1);
  EXPECT_EQ(row(g, 4), (std::vector<double>{0, 0, 0}));

  // Negative: counted from the end, as in PyTorch.
  ad::nn::Embedding last(5, 2, {.padding_idx = -1});
  EXPECT_EQ(last.padding_idx(), 4);
  EXPECT_EQ(row(last.weight(), 4), (std::vector<double>{0, 0}));
  last(ad::index_tensor({4, 0})).sum().backward();
  EXPECT_EQ(row(last.weight().grad(), 4), (std::vector<double>{0, 0}));
  EXPECT_EQ(row(last.weight().grad(), 0), (std::vector<double>{1, 1}));
  ad::nn::Embedding first(5, 2, {.padding_idx = -5});
  EXPECT_EQ(first.padding_idx(), 0);

  for (std::int64_t bad : {5, -6}) {
    const std::string m = error_of([&] { ad::nn::Embedding(5, 2, {.padding_idx = bad}); });
    EXPECT_TRUE(contains(m, "Embedding: padding_idx " + std::to_string(bad) + " is out of range for 5")) << m;
  }
}

TEST(Embedding, FromPretrainedFrozenAndTrainable) {
  const Tensor vectors = ad::tensor({1, 2, 3, 4, 5, 6}, {3, 2}, ad::dtype(ad::kFloat64));
  const auto frozen = ad::nn::Embedding::from_pretrained(vectors);
  EXPECT_EQ(frozen->num_embeddings(), 3);
  EXPECT_EQ(frozen->embedding_dim(), 2);
  EXPECT_EQ(frozen->weight().to_vector(), vectors.to_vector());
  EXPECT_FALSE(frozen->weight().requires_grad());  // freeze = true by default, as in PyTorch
  EXPECT_EQ(frozen->parameters().size(), 1u);      // still a parameter (saved and loaded)
  const Tensor y = (*frozen)(ad::index_tensor({2, 0}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{5, 6, 1, 2}));
  EXPECT_FALSE(y.requires_grad());

  const auto trainable = ad::nn::Embedding::from_pretrained(vectors, false, {.padding_idx = 1});
  EXPECT_TRUE(trainable->weight().requires_grad());
  EXPECT_EQ(row(trainable->weight(), 1), (std::vector<double>{3, 4}));  // the padding row keeps its values
  (*trainable)(ad::index_tensor({0, 1, 1})).sum().backward();
  EXPECT_EQ(trainable->weight().grad().to_vector(), (std::vector<double>{1, 1, 0, 0, 0, 0}));
  // The weight shares the given tensor's storage (PyTorch's Parameter(weight)): a step shows in both.
  {
    ad::NoGradGuard ng;
    Tensor w = trainable->weight();
    w.sub_(w.grad(), 0.5);
  }
  EXPECT_EQ(vectors.to_vector(), (std::vector<double>{0.5, 1.5, 3, 4, 5, 6}));
  // Unfreezing: the handle is the parameter.
  frozen->weight().requires_grad_(true);
  (*frozen)(ad::index_tensor({2})).sum().backward();
  EXPECT_EQ(frozen->weight().grad().to_vector(), (std::vector<double>{0, 0, 0, 0, 1, 1}));

  EXPECT_TRUE(contains(error_of([] { ad::nn::Embedding::from_pretrained(ad::zeros({4})); }),
                       "Embedding::from_pretrained: the weight must be a floating [num_embeddings, embedding_dim]"));
  EXPECT_TRUE(contains(error_of([] {
                         ad::nn::Embedding::from_pretrained(ad::index_tensor({1, 2}, {1, 2}));
                       }),
                       "[1, 2] Int64"));
  EXPECT_TRUE(contains(error_of([&] { ad::nn::Embedding::from_pretrained(vectors, true, {.padding_idx = 3}); }),
                       "padding_idx 3 is out of range for 3 embeddings"));
}

// The layer's Jacobian w.r.t. the weight by central differences, through a nonlinearity. (Not
// with padding_idx among the indices: the padding row does change the output, and its gradient
// is zero by definition, in PyTorch too.)
TEST(Embedding, GradcheckInFloat64) {
  ad::Generator gen(4);
  ad::nn::Embedding emb(4, 3, {}, ad::kFloat64, &gen);
  const Tensor idx = ad::index_tensor({3, 1, 0, 3, 2}, {5});
  const auto r = ad::gradcheck(
      [&](const std::vector<Tensor>& v) {
        return ad::tanh(emb.functional_call({{"weight", v[0]}}, idx));
      },
      {emb.weight()});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(Embedding, ErrorsNameTheLayer) {
  ad::nn::Embedding emb(4, 2);
  auto expect_error = [](auto&& f, const char* part) {
    const std::string m = error_of(f);
    EXPECT_TRUE(contains(m, "Embedding")) << m;
    EXPECT_TRUE(contains(m, part)) << m;
  };
  expect_error([&] { emb(ad::zeros({3})); }, "the input must be Int64 indices, got Float32 [3]; convert it with .to(");
  expect_error([&] { emb(ad::index_tensor({1, 4})); }, "index 4 is out of range for a weight of 4 rows");
  expect_error([&] { emb(ad::index_tensor({-1})); }, "index -1 is out of range");
  expect_error([] { ad::nn::Embedding(0, 2); }, "sizes must be positive");
  expect_error([] { ad::nn::Embedding(3, 2, {}, ad::kInt64); }, "floating dtype");
}

}  // namespace
