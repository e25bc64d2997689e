#include "adgraph/nn/embedding.h"

#include <string>

namespace ad::nn {
namespace {

// PyTorch's rule: padding_idx in [-num_embeddings, num_embeddings), a negative one counted from the end.
std::optional<std::int64_t> wrap_padding_idx(std::optional<std::int64_t> idx, std::int64_t rows, const char* where) {
  if (!idx) return std::nullopt;
  if (*idx < -rows || *idx >= rows)
    throw ad::Error(std::string(where) + ": padding_idx " + std::to_string(*idx) + " is out of range for " +
                    std::to_string(rows) + " embeddings (it must be in [" + std::to_string(-rows) + ", " +
                    std::to_string(rows) + "))");
  return *idx < 0 ? *idx + rows : *idx;
}

}  // namespace

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, const EmbeddingOptions& opt,
                     ad::Dtype dtype, ad::Generator* gen) {
  if (num_embeddings <= 0 || embedding_dim <= 0)
    throw ad::Error("Embedding: sizes must be positive, got num_embeddings=" + std::to_string(num_embeddings) +
                    " embedding_dim=" + std::to_string(embedding_dim));
  if (!ad::is_floating(dtype))
    throw ad::Error(std::string("Embedding: the weight needs a floating dtype, got ") + ad::dtype_name(dtype) +
                    "; use ad::kFloat32 or ad::kFloat64 (the indices are Int64)");
  padding_idx_ = wrap_padding_idx(opt.padding_idx, num_embeddings, "Embedding");
  ad::Tensor w = ad::normal({num_embeddings, embedding_dim}, 0.0, 1.0, ad::dtype(dtype), gen);
  if (padding_idx_) w.select(0, *padding_idx_).fill_(0.0);
  register_parameter("weight", std::move(w));
}

Embedding::Embedding(Pretrained, const ad::Tensor& weight, bool freeze, const EmbeddingOptions& opt) {
  const char* where = "Embedding::from_pretrained";
  if (!weight.defined()) throw ad::Error(std::string(where) + ": the weight is an undefined tensor");
  if (weight.dim() != 2 || !ad::is_floating(weight.dtype()))
    throw ad::Error(std::string(where) +
                    ": the weight must be a floating [num_embeddings, embedding_dim] tensor, got " +
                    ad::shape_str(weight.shape()) + " " + ad::dtype_name(weight.dtype()));
  if (weight.size(0) == 0 || weight.size(1) == 0)
    throw ad::Error(std::string(where) + ": the weight " + ad::shape_str(weight.shape()) + " is empty");
  padding_idx_ = wrap_padding_idx(opt.padding_idx, weight.size(0), where);
  ad::Tensor w = register_parameter("weight", weight);  // shares the storage, as PyTorch's Parameter(weight)
  if (freeze) w.requires_grad_(false);                  // the handle shares the registered tensor
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const ad::Tensor& weight, bool freeze,
                                                      const EmbeddingOptions& opt) {
  return std::shared_ptr<Embedding>(new Embedding(Pretrained{}, weight, freeze, opt));
}

ad::Tensor Embedding::forward(const ad::Tensor& index) const {
  if (!index.defined()) throw ad::Error("Embedding: the input is an undefined tensor");
  if (index.dtype() != ad::kInt64)
    throw ad::Error(std::string("Embedding: the input must be Int64 indices, got ") + ad::dtype_name(index.dtype()) +
                    " " + ad::shape_str(index.shape()) + "; convert it with .to(ad::kInt64)");
  return ad::embedding(index, weight(), padding_idx_ ? *padding_idx_ : -1);
}

std::string Embedding::extra_repr() const {
  return std::to_string(num_embeddings()) + ", " + std::to_string(embedding_dim()) +
         (padding_idx_ ? ", padding_idx=" + std::to_string(*padding_idx_) : "");
}

}  // namespace ad::nn
