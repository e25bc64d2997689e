#include "adgraph/optim/rmsprop.h"

#include <cmath>

#include "adgraph/autodiff/fused_step.h"

namespace ad::optim {

RMSprop::RMSprop(std::vector<ad::Tensor> params, RMSpropOptions opt)
    : Optimizer("RMSprop", std::move(params), opt.lr), opt_(opt) {
  check_option(opt.alpha >= 0.0 && opt.alpha <= 1.0, "alpha", "in [0, 1]", opt.alpha);
  check_option(std::isfinite(opt.eps) && opt.eps >= 0.0, "eps", "finite and >= 0", opt.eps);
  check_option(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
               opt.weight_decay);
  check_option(std::isfinite(opt.momentum) && opt.momentum >= 0.0, "momentum", "finite and >= 0", opt.momentum);
}

std::vector<std::string> RMSprop::buffer_names() const {
  std::vector<std::string> names{"square_avg"};
  if (opt_.momentum > 0.0) names.emplace_back("momentum_buffer");
  if (opt_.centered) names.emplace_back("grad_avg");
  return names;
}

std::vector<std::pair<std::string, double>> RMSprop::option_values() const {
  return {{"alpha", opt_.alpha},
          {"eps", opt_.eps},
          {"weight_decay", opt_.weight_decay},
          {"momentum", opt_.momentum},
          {"centered", opt_.centered ? 1.0 : 0.0}};
}

void RMSprop::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state) {
  {  // one fused pass (the same arithmetic as the ops below) when the layouts allow it
    ad::Tensor& v = buffer(state, "square_avg", p);
    ad::Tensor* m = opt_.centered ? &buffer(state, "grad_avg", p) : nullptr;
    ad::Tensor* b = opt_.momentum > 0.0 ? &buffer(state, "momentum_buffer", p) : nullptr;
    if (ad::fused_step_supported({&p, &grad, &v}) && (!m || ad::fused_step_supported({&p, m})) &&
        (!b || ad::fused_step_supported({&p, b}))) {
      ad::rmsprop_step_(p, grad, v, m, b,
                        {.lr = lr(),
                         .alpha = opt_.alpha,
                         .eps = opt_.eps,
                         .weight_decay = opt_.weight_decay,
                         .momentum = opt_.momentum});
      return;
    }
  }
  const ad::Tensor g = opt_.weight_decay != 0.0 ? grad + p * opt_.weight_decay : grad;  // g = grad + wd * p
  ad::Tensor& v = buffer(state, "square_avg", p);
  v.mul_(opt_.alpha).add_(g * g, 1.0 - opt_.alpha);  // v = alpha * v + (1 - alpha) * g^2
  ad::Tensor d;
  if (opt_.centered) {
    ad::Tensor& m = buffer(state, "grad_avg", p);
    m.mul_(opt_.alpha).add_(g, 1.0 - opt_.alpha);  // m = alpha * m + (1 - alpha) * g
    d = ad::sqrt(v - m * m);                       // sqrt(v - m^2)
  } else {
    d = ad::sqrt(v);
  }
  d.add_(opt_.eps);  // d = sqrt(...) + eps
  if (opt_.momentum > 0.0) {
    ad::Tensor& b = buffer(state, "momentum_buffer", p);
    b.mul_(opt_.momentum).add_(g / d);  // b = momentum * b + g / d
    p.sub_(b, lr());                    // p -= lr * b
  } else {
    p.sub_(g / d, lr());  // p -= lr * g / d
  }
}

}  // namespace ad::optim
