#pragma once
// Convolution layers (PyTorch's Conv1d, Conv2d and ConvTranspose2d) over ad::conv1d / ad::conv2d /
// ad::conv_transpose2d.
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

// y = conv_transpose2d(x, weight, bias), the adjoint of a Conv2d with the same options (its gradient
// w.r.t. its input; "deconvolution", the upsampling layer of decoders and GAN generators). weight
// is [in, out / groups, kH, kW] as in PyTorch (note: in first, the transpose of Conv2d's layout),
// bias [out]; both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with PyTorch's fan_in for this layout,
// weight.size(1) * kH * kW = out / groups * kH * kW. x is [N, in, H, W] or [in, H, W]; the output is
//   H_out = (H - 1) stride[0] - 2 padding[0] + dilation[0] (kH - 1) + output_padding[0] + 1
// (and likewise W_out). output_padding (< stride) picks one of the `stride` input sizes a strided
// Conv2d maps to the same output size; forward(x, output_size) picks it from the size wanted.
class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(std::int64_t in, std::int64_t out, ad::Size2 kernel, const ad::ConvTranspose2dOptions& opt = {},
                  bool bias = true, ad::Dtype dtype = ad::kFloat32, ad::Generator* gen = nullptr);
  using Module::forward;
  ad::Tensor forward(const ad::Tensor& x) const override;
  // PyTorch's forward(input, output_size): the output_padding that gives this [H_out, W_out]
  // (the layer's own output_padding is ignored); sizes outside the reachable range throw.
  ad::Tensor forward(const ad::Tensor& x, ad::Size2 output_size) const;
  // [H_out, W_out] for an input of [H, W] (the formula above with the layer's output_padding).
  ad::Size2 output_size(ad::Size2 input_size) const;
  const ad::Tensor& weight() const { return param("weight"); }
  ad::Tensor bias() const { return has_bias_ ? param("bias") : ad::Tensor(); }
  const ad::ConvTranspose2dOptions& options() const { return opt_; }
  std::int64_t in_channels() const { return weight().size(0); }
  std::int64_t out_channels() const { return weight().size(1) * opt_.groups; }
  std::string extra_repr() const override;

 private:
  void check_input(const ad::Tensor& x) const;
  ad::ConvTranspose2dOptions opt_;
  bool has_bias_;
};

}  // namespace ad::nn
