#pragma once
// Normalization layers (PyTorch's BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm) over the
// engine's batch_norm, layer_norm and group_norm.
#include <optional>

#include "adgraph/nn/module.h"

namespace ad::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;  // nullopt: running statistics are the cumulative average
  bool affine = true;                    // learnable weight (ones) and bias (zeros)
  bool track_running_stats = true;       // false: batch statistics in eval mode too, no buffers
};

// Batch normalization over the channels (dim 1). Training: the batch's statistics, and the
// buffers running_mean (zeros), running_var (ones) and num_batches_tracked (Int64) updated;
// eval(): the running statistics. BatchNorm1d takes [N, C] or [N, C, L], BatchNorm2d [N, C, H, W].
class BatchNorm : public Module {
 public:
  ad::Tensor forward(const ad::Tensor& x) override;
  ad::Tensor weight() const { return opt_.affine ? param("weight") : ad::Tensor(); }
  ad::Tensor bias() const { return opt_.affine ? param("bias") : ad::Tensor(); }
  std::string extra_repr() const override;

 protected:
  BatchNorm(std::int64_t num_features, const BatchNormOptions& opt, ad::Dtype dtype, const char* layer,
            std::int64_t min_dim, std::int64_t max_dim);
  // The normalization forward calls once the input's rank is checked: ad::batch_norm with these
  // running statistics (undefined without track_running_stats), weight() and bias(). A layer
  // that takes its statistics elsewhere (dist::SyncBatchNorm: over every rank) overrides it.
  virtual ad::Tensor normalize(const ad::Tensor& x, const ad::Tensor& running_mean, const ad::Tensor& running_var,
                               bool training, double momentum, double eps);

 private:
  BatchNormOptions opt_;
  const char* layer_;
  std::int64_t min_dim_, max_dim_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(std::int64_t num_features, const BatchNormOptions& opt = {}, ad::Dtype dtype = ad::kFloat32)
      : BatchNorm(num_features, opt, dtype, "BatchNorm1d", 2, 3) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(std::int64_t num_features, const BatchNormOptions& opt = {}, ad::Dtype dtype = ad::kFloat32)
      : BatchNorm(num_features, opt, dtype, "BatchNorm2d", 4, 4) {}
};

// Normalizes over the last dims (normalized_shape); weight ones and bias zeros of that shape.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(ad::Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     ad::Dtype dtype = ad::kFloat32);
  ad::Tensor forward(const ad::Tensor& x) const override;
  std::string extra_repr() const override;

 private:
  ad::Shape shape_;
  double eps_;
  bool affine_;
};

// Normalizes each of num_groups channel groups per sample; weight ones and bias zeros of [C].
class GroupNorm : public Module {
 public:
  GroupNorm(std::int64_t num_groups, std::int64_t num_channels, double eps = 1e-5, bool affine = true,
            ad::Dtype dtype = ad::kFloat32);
  ad::Tensor forward(const ad::Tensor& x) const override;
  std::string extra_repr() const override;

 private:
  std::int64_t groups_;
  double eps_;
  bool affine_;
};

}  // namespace ad::nn
