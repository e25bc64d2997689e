// Normalization: batch_norm, layer_norm, group_norm. Compositions of recorded ops (mean, var,
// sub, div, sqrt, mul, add): no rule of their own, so gradgradcheck holds by construction.
// Statistics are taken in the input's dtype; the variance used to normalize is the biased one
// (divided by n), as in PyTorch.
#include <cmath>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

void check_input(const Tensor& x, const char* op, std::int64_t min_dim, const char* layout) {
  if (!x.defined()) throw Error(std::string(op) + ": the input is an undefined Tensor");
  if (!is_floating(x.dtype()))
    throw Error(std::string(op) + ": the input must be Float32 or Float64, got " + dtype_name(x.dtype()));
  if (x.dim() < min_dim)
    throw Error(std::string(op) + ": the input must be " + layout + ", got shape " + shape_str(x.shape()));
}

// An optional per-channel (or per-element) parameter: undefined, or of `shape` and x's dtype.
void check_param(const Tensor& p, const Shape& shape, const Tensor& x, const char* op, const char* what) {
  if (!p.defined()) return;
  if (p.shape() != shape || p.dtype() != x.dtype())
    throw Error(std::string(op) + ": " + what + " must be " + shape_str(shape) + " " + dtype_name(x.dtype()) +
                " for an input of shape " + shape_str(x.shape()) + ", got " + shape_str(p.shape()) + " " +
                dtype_name(p.dtype()));
}

// y * weight + bias, with weight and bias reshaped to `view` (either may be undefined).
Tensor affine(Tensor y, const Tensor& weight, const Tensor& bias, const Shape& view) {
  if (weight.defined()) y = y * weight.reshape(view);
  if (bias.defined()) y = y + bias.reshape(view);
  return y;
}

// x - mean and the biased variance mean((x - mean)^2) over dims (kept): the centered values
// are computed once, for the variance and for the normalized output.
struct Moments {
  Tensor mean, centered, var;
};
Moments moments(const Tensor& x, const Dims& dims) {
  Tensor mean = ad::mean(x, dims, true);
  Tensor d = x - mean;
  Tensor var = ad::mean(d * d, dims, true);
  return {std::move(mean), std::move(d), std::move(var)};
}

}  // namespace

// y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per channel over (N, ...)
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_input(x, "batch_norm", 2, "[N, C] or [N, C, ...]");
  const std::int64_t c = x.size(1);
  check_param(running_mean, {c}, x, "batch_norm", "running_mean");
  check_param(running_var, {c}, x, "batch_norm", "running_var");
  check_param(weight, {c}, x, "batch_norm", "weight");
  check_param(bias, {c}, x, "batch_norm", "bias");
  if (running_mean.defined() != running_var.defined())
    throw Error("batch_norm: give both running_mean and running_var, or neither");
  Shape view(static_cast<std::size_t>(x.dim()), 1);  // [1, C, 1, ...]
  view[1] = c;
  Dims dims = {0};
  for (std::int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  if (training) {
    const std::int64_t n = x.numel() / std::max<std::int64_t>(c, 1);
    if (n <= 1)
      throw Error("batch_norm: training needs more than one value per channel, got input shape " +
                  shape_str(x.shape()) + "; use a larger batch, or eval() mode");
    const Moments m = moments(x, dims);
    if (running_mean.defined()) {
      NoGradGuard ng;
      const double unbias = static_cast<double>(n) / static_cast<double>(n - 1);
      Tensor rm = running_mean, rv = running_var;  // handles: the updates are in place
      rm.mul_(1.0 - momentum).add_(m.mean.detach().reshape({c}), momentum);
      rv.mul_(1.0 - momentum).add_(m.var.detach().reshape({c}) * unbias, momentum);
    }
    return affine(m.centered / sqrt(m.var + eps), weight, bias, view);
  }
  if (!running_mean.defined())
    throw Error(
        "batch_norm: eval mode normalizes with running_mean and running_var, which are undefined; "
        "pass them, or training = true to use the batch's statistics");
  return affine((x - running_mean.reshape(view)) / sqrt(running_var.reshape(view) + eps), weight, bias, view);
}

// y = (x - mean) / sqrt(var + eps) * weight + bias over the last normalized_shape.size() dims
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_input(x, "layer_norm", 0, "a tensor");
  const auto k = static_cast<std::int64_t>(normalized_shape.size());
  const bool fits = k >= 1 && k <= x.dim() && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape;
  if (!fits)
    throw Error("layer_norm: normalized_shape " + shape_str(normalized_shape) +
                " must be the last dims of the input, whose shape is " + shape_str(x.shape()));
  check_param(weight, normalized_shape, x, "layer_norm", "weight");
  check_param(bias, normalized_shape, x, "layer_norm", "bias");
  Dims dims;
  for (std::int64_t d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  const Moments m = moments(x, dims);
  return affine(m.centered / sqrt(m.var + eps), weight, bias, normalized_shape);
}

// y = (x - mean_g) / sqrt(var_g + eps) * weight + bias, statistics per sample and channel group
Tensor group_norm(const Tensor& x, std::int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  check_input(x, "group_norm", 2, "[N, C] or [N, C, ...]");
  const std::int64_t n = x.size(0), c = x.size(1);
  if (num_groups < 1 || c % num_groups != 0)
    throw Error("group_norm: num_groups = " + std::to_string(num_groups) + " must divide the " + std::to_string(c) +
                " channels of the input " + shape_str(x.shape()));
  check_param(weight, {c}, x, "group_norm", "weight");
  check_param(bias, {c}, x, "group_norm", "bias");
  const Tensor g = x.reshape({n, num_groups, -1});
  const Moments m = moments(g, {2});
  Shape view(static_cast<std::size_t>(x.dim()), 1);
  view[1] = c;
  return affine((m.centered / sqrt(m.var + eps)).reshape(x.shape()), weight, bias, view);
}

}  // namespace ad
