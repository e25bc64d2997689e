#pragma once
// Batch normalization with the statistics of the global batch (PyTorch's SyncBatchNorm): in
// training, each channel's mean and variance are taken over every rank's samples, so W ranks
// with 1/W of a batch each normalize exactly as one process with the whole batch would, and the
// running statistics are updated identically on every rank.
//
//   auto bn = std::make_shared<ad::dist::SyncBatchNorm>(16, pg);  // instead of nn::BatchNorm2d(16)
//
// It has BatchNorm's parameters and buffers (weight, bias, running_mean, running_var,
// num_batches_tracked), so a state saved from either loads into the other. It takes [N, C, ...]
// with any number of trailing dims; the ranks may hold different batch sizes (the last batch of
// an epoch), but not 0 samples. eval() normalizes with the running statistics and communicates
// nothing.
//
// How (all in engine ops, so second derivatives follow): the per-channel sum of x is summed over
// the ranks by all_reduce_sum, a differentiable allreduce whose backward is again an allreduce of
// the gradient; mean = that sum / n, with n every rank's count; then the sum of (x - mean)^2 the
// same way, for the biased variance that normalizes (two passes, for precision). So each
// forward in training costs 2 allreduces of C values plus one of the count, and backward 2 more,
// every one a collective: every rank must run forward and backward through the same layers.
//
// The gradient is that of the sum of the ranks' losses. DistributedDataParallel averages the
// parameter gradients over the ranks, so a model trained with both follows the mean of the ranks'
// losses, as one process on the whole batch would with a mean loss.
#include <cstdint>
#include <optional>
#include <string>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/nn/module.h"
#include "adgraph/nn/normalization.h"

namespace ad::dist {

// y = sum over the ranks of x, on every rank (collective); differentiable: the gradient with
// respect to this rank's x is the sum over the ranks of the gradients with respect to y.
ad::Tensor all_reduce_sum(const ad::Tensor& x, ProcessGroup& pg);

// ad::batch_norm with the global batch's statistics in training (collective then): the same
// arguments, running_mean and running_var updated in place with the global mean and unbiased
// variance. Not training: ad::batch_norm with the running statistics, nothing communicated.
ad::Tensor sync_batch_norm(const ad::Tensor& x, const ad::Tensor& running_mean, const ad::Tensor& running_var,
                           const ad::Tensor& weight, const ad::Tensor& bias, bool training, double momentum, double eps,
                           ProcessGroup& pg);

// An nn::BatchNorm (its options, checks, parameters, buffers and forward) whose normalization
// takes the statistics over every rank.
class SyncBatchNorm : public ad::nn::BatchNorm {
 public:
  SyncBatchNorm(std::int64_t num_features, ProcessGroup& pg, const ad::nn::BatchNormOptions& opt = {},
                ad::Dtype dtype = ad::kFloat32);
  std::string extra_repr() const override;

 protected:
  ad::Tensor normalize(const ad::Tensor& x, const ad::Tensor& running_mean, const ad::Tensor& running_var,
                       bool training, double momentum, double eps) override;

 private:
  ProcessGroup& pg_;
};

}  // namespace ad::dist
