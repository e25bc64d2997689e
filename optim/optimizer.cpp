#include "optim/optimizer.h"

#include <cmath>

namespace optim {

Optimizer::Optimizer(std::vector<ad::Tensor> params) : params_(std::move(params)) {
  for (std::size_t i = 0; i < params_.size(); ++i)
    if (!params_[i].defined() || !params_[i].requires_grad())
      throw ad::Error("Optimizer: parameter " + std::to_string(i) + " does not require grad; pass module.parameters()");
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

void Optimizer::step() {
  ad::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const ad::Tensor g = params_[i].grad();
    if (g.defined()) update(i, params_[i], g);
  }
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr)) throw ad::Error("Optimizer::set_lr: lr must be a finite number >= 0");
  lr_ = lr;
}

}  // namespace optim
