#pragma once
// Fused optimizer updates: the kernels behind ad::optim's Adam/AdamW, SGD (momentum, Nesterov)
// and RMSprop, as PyTorch's fused=True. One pass per parameter reads the parameter, its gradient
// and its state buffers and writes them back: no temporaries, vectorized, threaded for large
// parameters. Each computes, element by element and in the same order, the composite formula in
// its comment (the in-place ops of the optimizer's readable form), so the results are the same
// bits; tests/autodiff/test_fused_step.cpp checks that.
//
// Every tensor has the parameter's shape and floating dtype and is contiguous
// (fused_step_supported tells); they are written in place, and each write bumps its version
// counter. While recording, a parameter that requires grad is refused: optimizers step under
// NoGradGuard.
#include <initializer_list>

#include "adgraph/autodiff/tensor.h"

namespace ad {

// True when the tensors (the parameter first) qualify for the fused updates below.
bool fused_step_supported(std::initializer_list<const Tensor*> tensors);

struct AdamStep {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
  std::int64_t step = 1;                // the step count t, from 1 (bias corrections 1 - beta^t)
};
// g = grad + wd * p (Adam) or p *= 1 - lr * wd (AdamW); m = m + (1 - b1) * (g - m);
// v = b2 * v + (1 - b2) * g * g; vmax = max(vmax, v) (amsgrad: max_exp_avg_sq given);
// p += (-lr / (1 - b1^t)) * m / (sqrt(v or vmax) * (1 / sqrt(1 - b2^t)) + eps)
void adam_step_(Tensor& p, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, Tensor* max_exp_avg_sq,
                const AdamStep& s);

struct SgdStep {
  double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
// g = grad + wd * p; with a momentum buffer b: b = g on the first step (first_step), else
// b = momentum * b + (1 - dampening) * g, and g = nesterov ? g + momentum * b : b; p -= lr * g
void sgd_step_(Tensor& p, const Tensor& grad, Tensor* momentum_buffer, bool first_step, const SgdStep& s);

struct RmspropStep {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
};
// g = grad + wd * p; v = alpha * v + (1 - alpha) * (g * g);
// centered (grad_avg given): m = alpha * m + (1 - alpha) * g, d = sqrt(v - m * m) + eps, else
// d = sqrt(v) + eps; with momentum_buffer b: b = momentum * b + g / d, p -= lr * b; else
// p -= lr * (g / d)
void rmsprop_step_(Tensor& p, const Tensor& grad, Tensor& square_avg, Tensor* grad_avg, Tensor* momentum_buffer,
                   const RmspropStep& s);

}  // namespace ad
