#pragma once
// Pooling and flattening layers (PyTorch's MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten):
// no parameters, each over its ad:: op.
#include "adgraph/nn/module.h"

namespace ad::nn {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(ad::Size2 kernel, const ad::Pool2dOptions& opt = {}) : kernel_(kernel), opt_(opt) {}
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::max_pool2d(x, kernel_, opt_); }
  std::string extra_repr() const override;

 private:
  ad::Size2 kernel_;
  ad::Pool2dOptions opt_;
};

class AvgPool2d : public Module {  // padding zeros count in the average (PyTorch's default)
 public:
  explicit AvgPool2d(ad::Size2 kernel, const ad::Pool2dOptions& opt = {}) : kernel_(kernel), opt_(opt) {}
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::avg_pool2d(x, kernel_, opt_); }
  std::string extra_repr() const override;

 private:
  ad::Size2 kernel_;
  ad::Pool2dOptions opt_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(ad::Size2 output_size) : size_(output_size) {}
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::adaptive_avg_pool2d(x, size_); }
  std::string extra_repr() const override;

 private:
  ad::Size2 size_;
};

// Merges dims start_dim..end_dim into one (PyTorch's defaults: all but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  ad::Tensor forward(const ad::Tensor& x) const override;
  std::string extra_repr() const override;

 private:
  std::int64_t start_, end_;
};

}  // namespace ad::nn
