#pragma once
// A lookup table of learned vectors (PyTorch's nn.Embedding) over ad::embedding.
#include <cstdint>
#include <memory>
#include <optional>

#include "adgraph/nn/module.h"

namespace ad::nn {

struct EmbeddingOptions {
  // A row that is looked up but never trained (the <pad> token of padded sequences): initialised
  // to zeros and given no gradient. Negative values count from the end, as in PyTorch
  // (-1: the last row); padding_idx() reports the row.
  std::optional<std::int64_t> padding_idx = std::nullopt;
};

// y = weight[index]: an Int64 index of any shape gives [..., embedding_dim]. The weight is
// [num_embeddings, embedding_dim], drawn N(0, 1) as in PyTorch. The gradient is dense: each row
// picked adds its output's gradient into its row of weight.grad (the padding row gets zeros).
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, const EmbeddingOptions& opt = {},
            ad::Dtype dtype = ad::kFloat32, ad::Generator* gen = nullptr);
  // A layer over given vectors (PyTorch's Embedding.from_pretrained): its weight shares the
  // storage of `weight` (a floating [num_embeddings, embedding_dim] tensor; training changes it),
  // and its padding row keeps its given values. freeze (the default, as in PyTorch): the weight
  // does not require grad, so no gradient reaches it. It is still a parameter (saved, loaded,
  // converted by to()); an optimizer over model.parameters() skips it, as in PyTorch, until it is
  // unfrozen with `emb->weight().requires_grad_(true)`.
  static std::shared_ptr<Embedding> from_pretrained(const ad::Tensor& weight, bool freeze = true,
                                                    const EmbeddingOptions& opt = {});

  ad::Tensor forward(const ad::Tensor& index) const override;
  ad::Tensor weight() const { return param("weight"); }
  std::int64_t num_embeddings() const { return weight().size(0); }
  std::int64_t embedding_dim() const { return weight().size(1); }
  std::optional<std::int64_t> padding_idx() const { return padding_idx_; }  // in [0, num_embeddings)
  std::string extra_repr() const override;

 private:
  struct Pretrained {};
  Embedding(Pretrained, const ad::Tensor& weight, bool freeze, const EmbeddingOptions& opt);
  std::optional<std::int64_t> padding_idx_;
};

}  // namespace ad::nn
