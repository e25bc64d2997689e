#pragma once
// Loss functions (PyTorch's names and conventions), built from the engine's differentiable ops:
// their gradients come from the engine. Each validates shapes and dtypes and throws an
// ad::Error naming the loss, the shapes and the fix.
#include "adgraph/autodiff/autodiff.h"

namespace ad::nn {

// Mean: average over every element (over the batch for the class losses); Sum: total;
// None: the per-element (per-sample for the class losses) losses, unreduced.
enum class Reduction { Mean, Sum, None };

// (input - target)^2. input and target must have the same shape (no silent broadcasting).
ad::Tensor mse_loss(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction = Reduction::Mean);
// |input - target| (mean absolute error); gradient 0 where they are equal.
ad::Tensor l1_loss(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction = Reduction::Mean);
// With r = input - target: r^2 / 2 where |r| <= delta, delta (|r| - delta / 2) elsewhere. delta > 0.
ad::Tensor huber_loss(const ad::Tensor& input, const ad::Tensor& target, double delta = 1.0,
                      Reduction reduction = Reduction::Mean);

// -(y log p + (1 - y) log(1 - p)) for probabilities p in [0, 1] (checked: pass logits to
// binary_cross_entropy_with_logits instead), as PyTorch: each log is clamped at -100, and the
// gradient is (p - y) / max(p (1 - p), 1e-12), so p = 0 against y = 1 gives loss 100 and a
// gradient of -1e12 (ad::binary_cross_entropy_terms).
ad::Tensor binary_cross_entropy(const ad::Tensor& input, const ad::Tensor& target,
                                Reduction reduction = Reduction::Mean);
// BCE of sigmoid(x) computed from the logits x without forming sigmoid(x):
// relu(x) - x y + log1p(exp(-|x|)), written per sign of x so the gradient is exactly
// sigmoid(x) - y everywhere (also at x = 0, where relu and |x| have kinks) and finite at any x.
ad::Tensor binary_cross_entropy_with_logits(const ad::Tensor& input, const ad::Tensor& target,
                                            Reduction reduction = Reduction::Mean);

// PyTorch's options of BCE with logits: a per-element weight (broadcast to the input) and
// pos_weight, the weight of the positive term (broadcast; [C] weighs each class):
// -(pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) * weight.
struct BceWithLogitsOptions {
  ad::Tensor weight = {};
  ad::Tensor pos_weight = {};
  Reduction reduction = Reduction::Mean;
};
ad::Tensor binary_cross_entropy_with_logits(const ad::Tensor& input, const ad::Tensor& target,
                                            const BceWithLogitsOptions& opt);

// PyTorch's options of the class losses (nll_loss, cross_entropy with class indices):
//  - weight [C]: sample n counts weight[target[n]] times, and Mean divides by the sum of those
//    weights (of the samples not ignored);
//  - ignore_index: a class-index target equal to it contributes 0 and is left out of the mean;
//  - label_smoothing s in [0, 1] (cross_entropy only): the target becomes (1 - s) one-hot + s / C.
struct ClassLossOptions {
  ad::Tensor weight = {};
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::Mean;
};
ad::Tensor cross_entropy(const ad::Tensor& input, const ad::Tensor& target, const ClassLossOptions& opt);
ad::Tensor nll_loss(const ad::Tensor& input, const ad::Tensor& target, const ClassLossOptions& opt);

// Cross entropy of logits (unnormalised scores) [N, C], or [C] for one sample, via log_softmax.
// The target is either
//  - class indices: Int64 of shape [N] (or [] or [1] for one sample), values in [0, C): nll_loss of
//    log_softmax(input); or
//  - class probabilities (one-hot or soft labels): the input's shape and dtype, each row
//    summing to 1: -sum_c y_c log_softmax(input)_c per sample.
// Mean averages over the N samples.
ad::Tensor cross_entropy(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction = Reduction::Mean);
// Negative log likelihood: -input[n, target[n]] for log-probabilities [N, C] (or [C]) and
// Int64 class indices [N] (or [] or [1]). The result of one sample is 0-d.
ad::Tensor nll_loss(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace ad::nn
