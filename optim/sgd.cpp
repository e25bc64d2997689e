#include "optim/sgd.h"

namespace optim {

SGD::SGD(std::vector<ad::Tensor> params, SGDOptions opt) : Optimizer(std::move(params)), opt_(opt) {
  if (opt.momentum < 0.0 || opt.weight_decay < 0.0) throw ad::Error("SGD: momentum and weight_decay must be >= 0");
  if (opt.nesterov && opt.momentum == 0.0) throw ad::Error("SGD: nesterov needs momentum > 0");
  set_lr(opt.lr);
  velocity_.resize(params_.size());
}

void SGD::update(std::size_t i, ad::Tensor& p, const ad::Tensor& grad) {
  ad::Tensor g = opt_.weight_decay != 0.0 ? grad + p * opt_.weight_decay : grad;
  if (opt_.momentum != 0.0) {
    ad::Tensor& v = velocity_[i];
    if (!v.defined())
      v = g.clone();
    else
      v.mul_(opt_.momentum).add_(g);
    g = opt_.nesterov ? g + v * opt_.momentum : v;
  }
  p.sub_(g, lr_);
}

}  // namespace optim
