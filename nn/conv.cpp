#include "adgraph/nn/conv.h"

#include <cmath>

namespace ad::nn {
namespace {

struct ConvParams {
  ad::Tensor weight, bias;
};
// Checks the sizes and dtype; weight (of `shape`) and bias drawn U(-b, b), b = 1/sqrt(fan_in).
ConvParams conv_params(const char* layer, std::int64_t in, std::int64_t out, std::int64_t groups,
                       const ad::Shape& shape, bool bias, ad::Dtype dtype, ad::Generator* gen) {
  for (std::int64_t s : shape)
    if (s <= 0)
      throw ad::Error(std::string(layer) + ": sizes must be positive, got in=" + std::to_string(in) +
                      " out=" + std::to_string(out) + " and weight shape " + ad::shape_str(shape));
  if (groups < 1 || in % groups != 0 || out % groups != 0)
    throw ad::Error(std::string(layer) + ": groups = " + std::to_string(groups) +
                    " must divide in=" + std::to_string(in) + " and out=" + std::to_string(out));
  if (!ad::is_floating(dtype))
    throw ad::Error(std::string(layer) + ": parameters need a floating dtype, got " + ad::dtype_name(dtype) +
                    "; use ad::kFloat32 or ad::kFloat64");
  std::int64_t fan_in = 1;
  for (std::size_t d = 1; d < shape.size(); ++d) fan_in *= shape[d];
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  ConvParams p{ad::uniform(shape, -bound, bound, ad::dtype(dtype), gen), {}};
  if (bias) p.bias = ad::uniform({out}, -bound, bound, ad::dtype(dtype), gen);
  return p;
}

std::string common_repr(const ad::Tensor& w, std::int64_t groups) {
  return "in_channels=" + std::to_string(w.size(1) * groups) + ", out_channels=" + std::to_string(w.size(0)) +
         ", kernel_size=" + ad::shape_str(ad::Shape(w.shape().begin() + 2, w.shape().end()));
}

std::string pair(ad::Size2 p) {  // built by appending: GCC 12 warns (-Wrestrict) on "(" + std::string
  std::string s = "(";
  s.append(std::to_string(p[0])).append(", ").append(std::to_string(p[1])).append(")");
  return s;
}

// The option checks of the op, made when the layer is built so that they name it.
void check_at_least(const char* layer, const char* what, ad::Size2 v, std::int64_t least) {
  if (v[0] < least || v[1] < least)
    throw ad::Error(std::string(layer) + ": " + what + " " + pair(v) + " must be >= " + std::to_string(least));
}

}  // namespace

Conv2d::Conv2d(std::int64_t in, std::int64_t out, ad::Size2 kernel, const ad::Conv2dOptions& opt, bool bias,
               ad::Dtype dtype, ad::Generator* gen)
    : opt_(opt), has_bias_(bias) {
  const std::int64_t groups = opt.groups > 0 ? opt.groups : 1;
  ConvParams p = conv_params("Conv2d", in, out, opt.groups, {out, in / groups, kernel[0], kernel[1]}, bias, dtype, gen);
  register_parameter("weight", std::move(p.weight));
  if (bias) register_parameter("bias", std::move(p.bias));
}

ad::Tensor Conv2d::forward(const ad::Tensor& x) const { return ad::conv2d(x, weight(), bias(), opt_); }

std::string Conv2d::extra_repr() const {
  return common_repr(weight(), opt_.groups) + ", stride=" + pair(opt_.stride) +
         (opt_.same ? ", padding=same" : ", padding=" + pair(opt_.padding)) + ", dilation=" + pair(opt_.dilation) +
         ", groups=" + std::to_string(opt_.groups) + ", bias=" + (has_bias_ ? "true" : "false");
}

Conv1d::Conv1d(std::int64_t in, std::int64_t out, std::int64_t kernel, const ad::Conv1dOptions& opt, bool bias,
               ad::Dtype dtype, ad::Generator* gen)
    : opt_(opt), has_bias_(bias) {
  const std::int64_t groups = opt.groups > 0 ? opt.groups : 1;
  ConvParams p = conv_params("Conv1d", in, out, opt.groups, {out, in / groups, kernel}, bias, dtype, gen);
  register_parameter("weight", std::move(p.weight));
  if (bias) register_parameter("bias", std::move(p.bias));
}

ad::Tensor Conv1d::forward(const ad::Tensor& x) const { return ad::conv1d(x, weight(), bias(), opt_); }

std::string Conv1d::extra_repr() const {
  return common_repr(weight(), opt_.groups) + ", stride=" + std::to_string(opt_.stride) +
         (opt_.same ? ", padding=same" : ", padding=" + std::to_string(opt_.padding)) +
         ", dilation=" + std::to_string(opt_.dilation) + ", groups=" + std::to_string(opt_.groups) +
         ", bias=" + (has_bias_ ? "true" : "false");
}

ConvTranspose2d::ConvTranspose2d(std::int64_t in, std::int64_t out, ad::Size2 kernel,
                                 const ad::ConvTranspose2dOptions& opt, bool bias, ad::Dtype dtype, ad::Generator* gen)
    : opt_(opt), has_bias_(bias) {
  const char* layer = "ConvTranspose2d";
  check_at_least(layer, "stride", opt.stride, 1);
  check_at_least(layer, "dilation", opt.dilation, 1);
  check_at_least(layer, "padding", opt.padding, 0);
  check_at_least(layer, "output_padding", opt.output_padding, 0);
  if (opt.output_padding[0] >= opt.stride[0] || opt.output_padding[1] >= opt.stride[1])
    throw ad::Error(std::string(layer) + ": output_padding " + pair(opt.output_padding) +
                    " must be smaller than the stride " + pair(opt.stride) +
                    " (it picks one of the stride's input sizes a Conv2d maps to the same output)");
  const std::int64_t groups = opt.groups > 0 ? opt.groups : 1;
  // PyTorch's layout [in, out / groups, kH, kW]: fan_in = out / groups * kH * kW, as PyTorch's
  // _calculate_fan_in_and_fan_out reads dim 1 whatever the layer.
  ConvParams p = conv_params(layer, in, out, opt.groups, {in, out / groups, kernel[0], kernel[1]}, bias, dtype, gen);
  register_parameter("weight", std::move(p.weight));
  if (bias) register_parameter("bias", std::move(p.bias));
}

void ConvTranspose2d::check_input(const ad::Tensor& x) const {
  if (!x.defined()) throw ad::Error("ConvTranspose2d: the input is an undefined tensor");
  if (x.dim() != 3 && x.dim() != 4)
    throw ad::Error("ConvTranspose2d: the input must be [N, C, H, W] or [C, H, W], got shape " +
                    ad::shape_str(x.shape()));
  if (x.size(-3) != in_channels())
    throw ad::Error("ConvTranspose2d: the input " + ad::shape_str(x.shape()) + " has " + std::to_string(x.size(-3)) +
                    " channels, the layer's in_channels is " + std::to_string(in_channels()));
  if (x.dtype() != weight().dtype())
    throw ad::Error(std::string("ConvTranspose2d: the input is ") + ad::dtype_name(x.dtype()) + " but the layer is " +
                    ad::dtype_name(weight().dtype()) + "; convert the input with .to(ad::k" +
                    ad::dtype_name(weight().dtype()) + ") or the layer with to()");
}

ad::Size2 ConvTranspose2d::output_size(ad::Size2 input_size) const {
  const ad::Tensor& w = weight();
  ad::Size2 out{};
  for (int d = 0; d < 2; ++d)
    out[d] = (input_size[d] - 1) * opt_.stride[d] - 2 * opt_.padding[d] + opt_.dilation[d] * (w.size(2 + d) - 1) +
             opt_.output_padding[d] + 1;
  return out;
}

ad::Tensor ConvTranspose2d::forward(const ad::Tensor& x) const {
  check_input(x);
  return ad::conv_transpose2d(x, weight(), bias(), opt_);
}

ad::Tensor ConvTranspose2d::forward(const ad::Tensor& x, ad::Size2 output_size) const {
  check_input(x);
  ad::ConvTranspose2dOptions o = opt_;
  o.output_padding = {0, 0};
  const ad::Tensor& w = weight();
  for (int d = 0; d < 2; ++d) {
    const std::int64_t in = x.size(x.dim() - 2 + d);
    const std::int64_t least =
        (in - 1) * opt_.stride[d] - 2 * opt_.padding[d] + opt_.dilation[d] * (w.size(2 + d) - 1) + 1;
    const std::int64_t most = least + opt_.stride[d] - 1;
    if (output_size[d] < least || output_size[d] > most)
      throw ad::Error("ConvTranspose2d: output_size " + pair(output_size) + " cannot be reached from the input " +
                      ad::shape_str(x.shape()) + ": dim " + std::to_string(d) + " must be in [" +
                      std::to_string(least) + ", " + std::to_string(most) + "]");
    o.output_padding[d] = output_size[d] - least;
  }
  return ad::conv_transpose2d(x, w, bias(), o);
}

std::string ConvTranspose2d::extra_repr() const {
  const ad::Tensor& w = weight();
  return "in_channels=" + std::to_string(in_channels()) + ", out_channels=" + std::to_string(out_channels()) +
         ", kernel_size=" + ad::shape_str(ad::Shape(w.shape().begin() + 2, w.shape().end())) +
         ", stride=" + pair(opt_.stride) + ", padding=" + pair(opt_.padding) +
         ", output_padding=" + pair(opt_.output_padding) + ", dilation=" + pair(opt_.dilation) +
         ", groups=" + std::to_string(opt_.groups) + ", bias=" + (has_bias_ ? "true" : "false");
}

}  // namespace ad::nn
