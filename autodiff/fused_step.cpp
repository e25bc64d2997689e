#include "adgraph/autodiff/fused_step.h"

#include <cmath>
#include <string>
#include <vector>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/kernels/step.h"

namespace ad {
namespace {

bool same_layout(const Tensor& p, const Tensor& t) {
  return t.defined() && t.shape() == p.shape() && t.dtype() == p.dtype() && t.is_contiguous();
}

// The checks every fused update makes: the tensors in `written` (the parameter first) and the
// gradient share the parameter's shape, floating dtype and a contiguous layout, no two share
// storage, and none is written while recording.
void check_step(const char* op, const std::vector<const Tensor*>& written, const Tensor& grad) {
  const Tensor& p = *written.front();
  if (!p.defined()) throw Error(std::string(op) + ": the parameter is an undefined tensor");
  if (!is_floating(p.dtype()))
    throw Error(std::string(op) + ": the parameter is " + dtype_name(p.dtype()) +
                "; the fused updates take Float32 or Float64 parameters");
  std::vector<const TensorImpl*> storages;
  auto check = [&](const Tensor& t, const char* what) {
    if (!same_layout(p, t))
      throw Error(std::string(op) + ": the " + what + " must be a contiguous " + dtype_name(p.dtype()) +
                  " tensor of the parameter's shape " + shape_str(p.shape()) + ", got " +
                  (t.defined() ? shape_str(t.shape()) + " " + dtype_name(t.dtype()) +
                                     (t.is_contiguous() ? "" : " (not contiguous)")
                               : std::string("an undefined tensor")) +
                  "; call .contiguous() or create the buffer with zeros_like(p)");
    for (const TensorImpl* s : storages)
      if (t.impl()->storage.get() == s->storage.get())
        throw Error(std::string(op) + ": the " + what +
                    " shares memory with another tensor of the update; give each buffer its own storage");
    storages.push_back(t.impl());
    if (GradMode::is_enabled() && t.requires_grad())
      throw Error(std::string(op) + ": the " + what +
                  " requires grad and would be written while recording; wrap the update in ad::NoGradGuard (as "
                  "optimizers do)");
  };
  check(p, "parameter");
  check(grad, "gradient");
  static const char* const kNames[] = {"first state buffer", "second state buffer", "third state buffer"};
  for (std::size_t i = 1; i < written.size(); ++i) check(*written[i], kNames[std::min<std::size_t>(i - 1, 2)]);
}

void bump(const std::vector<const Tensor*>& written) {
  for (const Tensor* t : written) ++t->impl()->storage->version;
}

template <class T>
T* data(Tensor* t) {
  return t ? t->data_ptr<T>() : nullptr;
}

}  // namespace

bool fused_step_supported(std::initializer_list<const Tensor*> tensors) {
  const Tensor* p = *tensors.begin();
  if (!p->defined() || !is_floating(p->dtype())) return false;
  for (const Tensor* t : tensors)
    if (!same_layout(*p, *t)) return false;
  return true;
}

void adam_step_(Tensor& p, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, Tensor* max_exp_avg_sq,
                const AdamStep& s) {
  std::vector<const Tensor*> written{&p, &exp_avg, &exp_avg_sq};
  if (max_exp_avg_sq) written.push_back(max_exp_avg_sq);
  check_step("adam_step_", written, grad);
  if (s.step < 1) throw Error("adam_step_: the step count must be >= 1, got " + std::to_string(s.step));
  const auto t = static_cast<double>(s.step);
  const double bias_correction1 = 1.0 - std::pow(s.beta1, t);
  const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(s.beta2, t));
  const bool l2 = s.weight_decay != 0.0 && !s.decoupled_weight_decay;
  const bool decoupled = s.weight_decay != 0.0 && s.decoupled_weight_decay;
  dispatch_float(p.dtype(), "adam_step_", [&]<class T>() {
    kernels::adam(kernels::AdamArgs<T>{.p = p.data_ptr<T>(),
                                       .m = exp_avg.data_ptr<T>(),
                                       .v = exp_avg_sq.data_ptr<T>(),
                                       .vmax = data<T>(max_exp_avg_sq),
                                       .g = grad.data_ptr<T>(),
                                       .n = p.numel(),
                                       .l2 = l2,
                                       .decoupled = decoupled,
                                       .wd = s.weight_decay,
                                       .decay = 1.0 - s.lr * s.weight_decay,
                                       .w1 = 1.0 - s.beta1,
                                       .b2 = s.beta2,
                                       .c2 = 1.0 - s.beta2,
                                       .inv_bc2s = 1.0 / bias_correction2_sqrt,
                                       .eps = s.eps,
                                       .step_size = -s.lr / bias_correction1});
  });
  bump(written);
}

void sgd_step_(Tensor& p, const Tensor& grad, Tensor* momentum_buffer, bool first_step, const SgdStep& s) {
  std::vector<const Tensor*> written{&p};
  if (momentum_buffer) written.push_back(momentum_buffer);
  check_step("sgd_step_", written, grad);
  dispatch_float(p.dtype(), "sgd_step_", [&]<class T>() {
    kernels::sgd(kernels::SgdArgs<T>{.p = p.data_ptr<T>(),
                                     .b = data<T>(momentum_buffer),
                                     .g = grad.data_ptr<T>(),
                                     .n = p.numel(),
                                     .l2 = s.weight_decay != 0.0,
                                     .first = first_step,
                                     .nesterov = s.nesterov,
                                     .wd = s.weight_decay,
                                     .momentum = s.momentum,
                                     .damp1 = 1.0 - s.dampening,
                                     .lr = s.lr});
  });
  bump(written);
}

void rmsprop_step_(Tensor& p, const Tensor& grad, Tensor& square_avg, Tensor* grad_avg, Tensor* momentum_buffer,
                   const RmspropStep& s) {
  std::vector<const Tensor*> written{&p, &square_avg};
  if (grad_avg) written.push_back(grad_avg);
  if (momentum_buffer) written.push_back(momentum_buffer);
  check_step("rmsprop_step_", written, grad);
  dispatch_float(p.dtype(), "rmsprop_step_", [&]<class T>() {
    kernels::rmsprop(kernels::RmspropArgs<T>{.p = p.data_ptr<T>(),
                                             .v = square_avg.data_ptr<T>(),
                                             .m = data<T>(grad_avg),
                                             .b = data<T>(momentum_buffer),
                                             .g = grad.data_ptr<T>(),
                                             .n = p.numel(),
                                             .l2 = s.weight_decay != 0.0,
                                             .wd = s.weight_decay,
                                             .alpha = s.alpha,
                                             .c = 1.0 - s.alpha,
                                             .eps = s.eps,
                                             .momentum = s.momentum,
                                             .lr = s.lr});
  });
  bump(written);
}

}  // namespace ad
