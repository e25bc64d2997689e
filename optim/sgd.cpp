#include "adgraph/optim/sgd.h"

#include <cmath>

#include "adgraph/autodiff/fused_step.h"

namespace ad::optim {

SGD::SGD(std::vector<ad::Tensor> params, SGDOptions opt)
    : OptimizerWithOptions("SGD", std::move(params), opt, &SGD::check) {}

SGD::SGD(std::vector<Group> groups, SGDOptions defaults)
    : OptimizerWithOptions("SGD", std::move(groups), defaults, &SGD::check) {}

void SGD::check(const Optimizer& self, const SGDOptions& o, const std::string& where) {
  self.check_option(std::isfinite(o.momentum) && o.momentum >= 0.0, "momentum", "finite and >= 0", o.momentum, where);
  self.check_option(o.dampening >= 0.0 && o.dampening <= 1.0, "dampening", "in [0, 1]", o.dampening, where);
  self.check_option(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
                    o.weight_decay, where);
  if (o.nesterov && (o.momentum == 0.0 || o.dampening != 0.0))
    throw ad::Error("SGD: " + where + "nesterov needs momentum > 0 and dampening = 0 (got momentum " +
                    format_number(o.momentum) + ", dampening " + format_number(o.dampening) + ")");
}

std::vector<std::string> SGD::buffer_names(const SGDOptions& o) const {
  if (o.momentum == 0.0) return {};
  return {"momentum_buffer"};
}

std::vector<std::pair<std::string, double>> SGD::option_values(const SGDOptions& o) const {
  return {{"momentum", o.momentum},
          {"dampening", o.dampening},
          {"nesterov", o.nesterov ? 1.0 : 0.0},
          {"weight_decay", o.weight_decay}};
}

void SGD::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state, const SGDOptions& o, double lr) {
  if (ad::fused_step_supported({&p, &grad})) {  // one fused pass, the same arithmetic as the ops below
    ad::Tensor* b = nullptr;
    bool first = false;
    if (o.momentum != 0.0) {
      b = &state.buffers["momentum_buffer"];
      first = !b->defined();
      if (first) *b = ad::empty(p.shape(), ad::dtype(p.dtype()));  // filled with g by the step
    }
    if (!b || ad::fused_step_supported({&p, b})) {
      ad::sgd_step_(p, grad, b, first,
                    {.lr = lr,
                     .momentum = o.momentum,
                     .dampening = o.dampening,
                     .weight_decay = o.weight_decay,
                     .nesterov = o.nesterov});
      return;
    }
  }
  ad::Tensor g = o.weight_decay != 0.0 ? grad + p * o.weight_decay : grad;  // g = grad + wd * p
  if (o.momentum != 0.0) {
    ad::Tensor& b = state.buffers["momentum_buffer"];
    if (!b.defined())
      b = g.detach().clone();  // b = g
    else
      b.mul_(o.momentum).add_(g, 1.0 - o.dampening);  // b = momentum * b + (1 - dampening) * g
    g = o.nesterov ? g + b * o.momentum : b;          // nesterov: g + momentum * b
  }
  p.sub_(g, lr);  // p -= lr * g
}

}  // namespace ad::optim
