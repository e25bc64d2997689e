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

}  // namespace ad::nn
