#include "adgraph/optim/rmsprop.h"

#include <cmath>

#include "adgraph/autodiff/fused_step.h"

namespace ad::optim {

RMSprop::RMSprop(std::vector<ad::Tensor> params, RMSpropOptions opt)
    : OptimizerWithOptions("RMSprop", std::move(params), opt, &RMSprop::check) {}

RMSprop::RMSprop(std::vector<Group> groups, RMSpropOptions defaults)
    : OptimizerWithOptions("RMSprop", std::move(groups), defaults, &RMSprop::check) {}

void RMSprop::check(const Optimizer& self, const RMSpropOptions& o, const std::string& where) {
  self.check_option(o.alpha >= 0.0 && o.alpha <= 1.0, "alpha", "in [0, 1]", o.alpha, where);
  self.check_option(std::isfinite(o.eps) && o.eps >= 0.0, "eps", "finite and >= 0", o.eps, where);
  self.check_option(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
                    o.weight_decay, where);
  self.check_option(std::isfinite(o.momentum) && o.momentum >= 0.0, "momentum", "finite and >= 0", o.momentum, where);
}

std::vector<std::string> RMSprop::buffer_names(const RMSpropOptions& o) const {
  std::vector<std::string> names{"square_avg"};
  if (o.momentum > 0.0) names.emplace_back("momentum_buffer");
  if (o.centered) names.emplace_back("grad_avg");
  return names;
}

std::vector<std::pair<std::string, double>> RMSprop::option_values(const RMSpropOptions& o) const {
  return {{"alpha", o.alpha},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"momentum", o.momentum},
          {"centered", o.centered ? 1.0 : 0.0}};
}

void RMSprop::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state, const RMSpropOptions& o, double lr) {
  {  // one fused pass (the same arithmetic as the ops below) when the layouts allow it
    ad::Tensor& v = buffer(state, "square_avg", p);
    ad::Tensor* m = o.centered ? &buffer(state, "grad_avg", p) : nullptr;
    ad::Tensor* b = o.momentum > 0.0 ? &buffer(state, "momentum_buffer", p) : nullptr;
    if (ad::fused_step_supported({&p, &grad, &v}) && (!m || ad::fused_step_supported({&p, m})) &&
        (!b || ad::fused_step_supported({&p, b}))) {
      ad::rmsprop_step_(
          p, grad, v, m, b,
          {.lr = lr, .alpha = o.alpha, .eps = o.eps, .weight_decay = o.weight_decay, .momentum = o.momentum});
      return;
    }
  }
  const ad::Tensor g = o.weight_decay != 0.0 ? grad + p * o.weight_decay : grad;  // g = grad + wd * p
  ad::Tensor& v = buffer(state, "square_avg", p);
  v.mul_(o.alpha).add_(g * g, 1.0 - o.alpha);  // v = alpha * v + (1 - alpha) * g^2
  ad::Tensor d;
  if (o.centered) {
    ad::Tensor& m = buffer(state, "grad_avg", p);
    m.mul_(o.alpha).add_(g, 1.0 - o.alpha);  // m = alpha * m + (1 - alpha) * g
    d = ad::sqrt(v - m * m);                 // sqrt(v - m^2)
  } else {
    d = ad::sqrt(v);
  }
  d.add_(o.eps);  // d = sqrt(...) + eps
  if (o.momentum > 0.0) {
    ad::Tensor& b = buffer(state, "momentum_buffer", p);
    b.mul_(o.momentum).add_(g / d);  // b = momentum * b + g / d
    p.sub_(b, lr);                   // p -= lr * b
  } else {
    p.sub_(g / d, lr);  // p -= lr * g / d
  }
}

}  // namespace ad::optim
