#include "adgraph/optim/sgd.h"

#include <cmath>

#include "adgraph/autodiff/fused_step.h"

namespace ad::optim {

SGD::SGD(std::vector<ad::Tensor> params, SGDOptions opt) : Optimizer("SGD", std::move(params), opt.lr), opt_(opt) {
  check_option(std::isfinite(opt.momentum) && opt.momentum >= 0.0, "momentum", "finite and >= 0", opt.momentum);
  check_option(opt.dampening >= 0.0 && opt.dampening <= 1.0, "dampening", "in [0, 1]", opt.dampening);
  check_option(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
               opt.weight_decay);
  if (opt.nesterov && (opt.momentum == 0.0 || opt.dampening != 0.0))
    throw ad::Error("SGD: nesterov needs momentum > 0 and dampening = 0 (got momentum " + format_number(opt.momentum) +
                    ", dampening " + format_number(opt.dampening) + ")");
}

std::vector<std::string> SGD::buffer_names() const {
  if (opt_.momentum == 0.0) return {};
  return {"momentum_buffer"};
}

std::vector<std::pair<std::string, double>> SGD::option_values() const {
  return {{"momentum", opt_.momentum},
          {"dampening", opt_.dampening},
          {"nesterov", opt_.nesterov ? 1.0 : 0.0},
          {"weight_decay", opt_.weight_decay}};
}

void SGD::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state) {
  if (ad::fused_step_supported({&p, &grad})) {  // one fused pass, the same arithmetic as the ops below
    ad::Tensor* b = nullptr;
    bool first = false;
    if (opt_.momentum != 0.0) {
      b = &state.buffers["momentum_buffer"];
      first = !b->defined();
      if (first) *b = ad::empty(p.shape(), ad::dtype(p.dtype()));  // filled with g by the step
    }
    if (!b || ad::fused_step_supported({&p, b})) {
      ad::sgd_step_(p, grad, b, first,
                    {.lr = lr(),
                     .momentum = opt_.momentum,
                     .dampening = opt_.dampening,
                     .weight_decay = opt_.weight_decay,
                     .nesterov = opt_.nesterov});
      return;
    }
  }
  ad::Tensor g = opt_.weight_decay != 0.0 ? grad + p * opt_.weight_decay : grad;  // g = grad + wd * p
  if (opt_.momentum != 0.0) {
    ad::Tensor& b = state.buffers["momentum_buffer"];
    if (!b.defined())
      b = g.detach().clone();  // b = g
    else
      b.mul_(opt_.momentum).add_(g, 1.0 - opt_.dampening);  // b = momentum * b + (1 - dampening) * g
    g = opt_.nesterov ? g + b * opt_.momentum : b;          // nesterov: g + momentum * b
  }
  p.sub_(g, lr());  // p -= lr * g
}

}  // namespace ad::optim
