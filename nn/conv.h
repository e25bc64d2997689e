#pragma once
// Convolution layers (PyTorch's Conv1d and Conv2d) over ad::conv1d / ad::conv2d.
#include "adgraph/nn/module.h"

namespace ad::nn {

// y = conv2d(x, weight, bias) with weight [out, in / groups, kH, kW] and bias [out], both
// initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in / groups * kH * kW (PyTorch's
// default). x is [N, in, H, W] or [in, H, W].
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in, std::int64_t out, ad::Size2 kernel, const ad::Conv2dOptions& opt = {}, bool bias = true,
         ad::Dtype dtype = ad::kFloat32, ad::Generator* gen = nullptr);
  ad::Tensor forward(const ad::Tensor& x) const override;
  const ad::Tensor& weight() const { return param("weight"); }
  ad::Tensor bias() const { return has_bias_ ? param("bias") : ad::Tensor(); }
  const ad::Conv2dOptions& options() const { return opt_; }
  std::string extra_repr() const override;

 private:
  ad::Conv2dOptions opt_;
  bool has_bias_;
};

// y = conv1d(x, weight, bias), weight [out, in / groups, k]; x is [N, in, L] or [in, L].
class Conv1d : public Module {
 public:
  Conv1d(std::int64_t in, std::int64_t out, std::int64_t kernel, const ad::Conv1dOptions& opt = {}, bool bias = true,
         ad::Dtype dtype = ad::kFloat32, ad::Generator* gen = nullptr);
  ad::Tensor forward(const ad::Tensor& x) const override;
  const ad::Tensor& weight() const { return param("weight"); }
  ad::Tensor bias() const { return has_bias_ ? param("bias") : ad::Tensor(); }
  std::string extra_repr() const override;

 private:
  ad::Conv1dOptions opt_;
  bool has_bias_;
};

}  // namespace ad::nn
