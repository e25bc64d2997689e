#include "adgraph/nn/normalization.h"

#include <cstdio>

namespace ad::nn {
namespace {
void check_dtype(ad::Dtype dtype, const char* layer) {
  if (!ad::is_floating(dtype))
    throw ad::Error(std::string(layer) + ": parameters need a floating dtype, got " + ad::dtype_name(dtype) +
                    "; use ad::kFloat32 or ad::kFloat64");
}
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

BatchNorm::BatchNorm(std::int64_t num_features, const BatchNormOptions& opt, ad::Dtype dtype, const char* layer,
                     std::int64_t min_dim, std::int64_t max_dim)
    : opt_(opt), layer_(layer), min_dim_(min_dim), max_dim_(max_dim) {
  if (num_features <= 0)
    throw ad::Error(std::string(layer) + ": num_features must be positive, got " + std::to_string(num_features));
  check_dtype(dtype, layer);
  if (opt.momentum && (*opt.momentum < 0.0 || *opt.momentum > 1.0))
    throw ad::Error(std::string(layer) + ": momentum must be in [0, 1], got " + num(*opt.momentum));
  if (opt.affine) {
    register_parameter("weight", ad::ones({num_features}, ad::dtype(dtype)));
    register_parameter("bias", ad::zeros({num_features}, ad::dtype(dtype)));
  }
  if (opt.track_running_stats) {
    register_buffer("running_mean", ad::zeros({num_features}, ad::dtype(dtype)));
    register_buffer("running_var", ad::ones({num_features}, ad::dtype(dtype)));
    register_buffer("num_batches_tracked", ad::zeros({}, ad::dtype(ad::kInt64)));
  }
}

ad::Tensor BatchNorm::forward(const ad::Tensor& x) {
  if (!x.defined()) throw ad::Error(std::string(layer_) + ": the input is an undefined tensor");
  if (x.dim() < min_dim_ || x.dim() > max_dim_)
    throw ad::Error(std::string(layer_) + ": the input must be " +
                    (min_dim_ == 4   ? "[N, C, H, W]"
                     : max_dim_ == 3 ? "[N, C] or [N, C, L]"
                                     : "[N, C, ...]") +
                    ", got shape " + ad::shape_str(x.shape()));
  if (!opt_.track_running_stats) return normalize(x, {}, {}, true, 0.0, opt_.eps);
  const ad::Tensor &mean = buffer("running_mean"), &var = buffer("running_var");
  if (!is_training()) return normalize(x, mean, var, false, 0.0, opt_.eps);
  ad::Tensor count = buffer("num_batches_tracked");
  // nullopt: the cumulative average, factor 1 / batches seen (this one included)
  const double factor = opt_.momentum ? *opt_.momentum : 1.0 / static_cast<double>(count.item<std::int64_t>() + 1);
  ad::Tensor y = normalize(x, mean, var, true, factor, opt_.eps);  // throws before updating
  ad::NoGradGuard ng;
  count.add_(1.0);
  return y;
}

ad::Tensor BatchNorm::normalize(const ad::Tensor& x, const ad::Tensor& running_mean, const ad::Tensor& running_var,
                                bool training, double momentum, double eps) {
  return ad::batch_norm(x, running_mean, running_var, weight(), bias(), training, momentum, eps);
}

std::string BatchNorm::extra_repr() const {
  const std::int64_t n = opt_.affine ? weight().size(0) : buffer("running_mean").size(0);
  return std::to_string(n) + ", eps=" + num(opt_.eps) + ", momentum=" + (opt_.momentum ? num(*opt_.momentum) : "None") +
         ", affine=" + (opt_.affine ? "true" : "false") +
         ", track_running_stats=" + (opt_.track_running_stats ? "true" : "false");
}

LayerNorm::LayerNorm(ad::Shape normalized_shape, double eps, bool elementwise_affine, ad::Dtype dtype)
    : shape_(std::move(normalized_shape)), eps_(eps), affine_(elementwise_affine) {
  if (shape_.empty()) throw ad::Error("LayerNorm: normalized_shape must name at least one dim");
  for (std::int64_t s : shape_)
    if (s <= 0) throw ad::Error("LayerNorm: normalized_shape " + ad::shape_str(shape_) + " must be positive");
  check_dtype(dtype, "LayerNorm");
  if (affine_) {
    register_parameter("weight", ad::ones(shape_, ad::dtype(dtype)));
    register_parameter("bias", ad::zeros(shape_, ad::dtype(dtype)));
  }
}

ad::Tensor LayerNorm::forward(const ad::Tensor& x) const {
  return affine_ ? ad::layer_norm(x, shape_, param("weight"), param("bias"), eps_)
                 : ad::layer_norm(x, shape_, {}, {}, eps_);
}

std::string LayerNorm::extra_repr() const {
  return ad::shape_str(shape_) + ", eps=" + num(eps_) + ", elementwise_affine=" + (affine_ ? "true" : "false");
}

GroupNorm::GroupNorm(std::int64_t num_groups, std::int64_t num_channels, double eps, bool affine, ad::Dtype dtype)
    : groups_(num_groups), eps_(eps), affine_(affine) {
  if (num_groups <= 0 || num_channels <= 0 || num_channels % num_groups != 0)
    throw ad::Error("GroupNorm: num_groups = " + std::to_string(num_groups) + " must be positive and divide " +
                    "num_channels = " + std::to_string(num_channels));
  check_dtype(dtype, "GroupNorm");
  if (affine_) {
    register_parameter("weight", ad::ones({num_channels}, ad::dtype(dtype)));
    register_parameter("bias", ad::zeros({num_channels}, ad::dtype(dtype)));
  }
}

ad::Tensor GroupNorm::forward(const ad::Tensor& x) const {
  return affine_ ? ad::group_norm(x, groups_, param("weight"), param("bias"), eps_)
                 : ad::group_norm(x, groups_, {}, {}, eps_);
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(groups_) + ", eps=" + num(eps_) + ", affine=" + (affine_ ? "true" : "false");
}

}  // namespace ad::nn
