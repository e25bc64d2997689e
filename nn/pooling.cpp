#include "adgraph/nn/pooling.h"

namespace ad::nn {
namespace {
std::string pair(ad::Size2 p) {  // built by appending: GCC 12 warns (-Wrestrict) on "(" + std::string
  std::string s = "(";
  s.append(std::to_string(p[0])).append(", ").append(std::to_string(p[1])).append(")");
  return s;
}
std::string pool_repr(ad::Size2 kernel, const ad::Pool2dOptions& opt) {
  const ad::Size2 stride = {opt.stride[0] ? opt.stride[0] : kernel[0], opt.stride[1] ? opt.stride[1] : kernel[1]};
  return "kernel_size=" + pair(kernel) + ", stride=" + pair(stride) + ", padding=" + pair(opt.padding);
}
}  // namespace

std::string MaxPool2d::extra_repr() const { return pool_repr(kernel_, opt_); }
std::string AvgPool2d::extra_repr() const { return pool_repr(kernel_, opt_); }
std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + pair(size_); }

ad::Tensor Flatten::forward(const ad::Tensor& x) const {
  if (!x.defined()) throw ad::Error("Flatten: the input is an undefined tensor");
  const std::int64_t n = x.dim() == 0 ? 1 : x.dim();
  const std::int64_t s = start_ < 0 ? start_ + n : start_, e = end_ < 0 ? end_ + n : end_;
  if (s < 0 || e >= n || s > e)
    throw ad::Error("Flatten: dims " + std::to_string(start_) + ".." + std::to_string(end_) +
                    " do not fit an input of shape " + ad::shape_str(x.shape()));
  if (x.dim() == 0) return x.reshape({1});
  ad::Shape shape(x.shape().begin(), x.shape().begin() + s);
  std::int64_t merged = 1;
  for (std::int64_t d = s; d <= e; ++d) merged *= x.size(d);
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return x.reshape(shape);
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_) + ", end_dim=" + std::to_string(end_);
}

}  // namespace ad::nn
