#pragma once
// Gradient clipping (PyTorch's torch.nn.utils.clip_grad_norm_ and clip_grad_value_): applied to
// the .grad of each tensor, in place, between backward() and step(). Tensors without a .grad
// are skipped.
#include <vector>

#include "adgraph/autodiff/autodiff.h"

namespace ad::optim {

struct ClipGradNormOptions {
  double norm_type = 2.0;           // p of the p-norm over all gradients together; INFINITY: max |g|
  bool error_if_nonfinite = false;  // throw (changing nothing) when the total norm is NaN or infinite
};

// Scales every gradient by max_norm / (total + 1e-6) when that is below 1, where total is the
// norm of all gradients as one vector (computed in Float64). Returns total, before clipping.
double clip_grad_norm_(const std::vector<ad::Tensor>& params, double max_norm, const ClipGradNormOptions& opt = {});

// Clamps every gradient element to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<ad::Tensor>& params, double clip_value);

}  // namespace ad::optim
