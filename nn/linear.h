#pragma once
#include "adgraph/nn/module.h"

namespace ad::nn {

// y = x W^T + b, with W of shape [out, in] (PyTorch's layout) initialised U(-1/sqrt(in), 1/sqrt(in)),
// b likewise. x is [..., in] (1-D, 2-D or batched); y is [..., out].
class Linear : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, bool bias = true, ad::Dtype dtype = ad::kFloat32,
         ad::Generator* gen = nullptr);
  ad::Tensor forward(const ad::Tensor& x) const override;
  const ad::Tensor& weight() const { return param("weight"); }
  ad::Tensor bias() const { return has_bias_ ? param("bias") : ad::Tensor(); }
  std::int64_t in_features() const { return weight().size(1); }
  std::int64_t out_features() const { return weight().size(0); }
  std::string extra_repr() const override;

 private:
  bool has_bias_;
};

}  // namespace ad::nn
