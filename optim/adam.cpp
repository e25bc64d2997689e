#include "adgraph/optim/adam.h"

#include <cmath>

#include "adgraph/autodiff/fused_step.h"

namespace ad::optim {

Adam::Adam(std::vector<ad::Tensor> params, AdamOptions opt) : Adam("Adam", std::move(params), opt, false) {}

Adam::Adam(std::string name, std::vector<ad::Tensor> params, AdamOptions opt, bool decoupled_weight_decay)
    : Optimizer(std::move(name), std::move(params), opt.lr), opt_(opt), decoupled_(decoupled_weight_decay) {
  check_option(opt.betas.first >= 0.0 && opt.betas.first < 1.0, "betas.first", "in [0, 1)", opt.betas.first);
  check_option(opt.betas.second >= 0.0 && opt.betas.second < 1.0, "betas.second", "in [0, 1)", opt.betas.second);
  check_option(std::isfinite(opt.eps) && opt.eps >= 0.0, "eps", "finite and >= 0", opt.eps);
  check_option(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
               opt.weight_decay);
}

AdamW::AdamW(std::vector<ad::Tensor> params, AdamWOptions opt)
    : Adam("AdamW", std::move(params),
           AdamOptions{.lr = opt.lr,
                       .betas = opt.betas,
                       .eps = opt.eps,
                       .weight_decay = opt.weight_decay,
                       .amsgrad = opt.amsgrad},
           true) {}

std::vector<std::string> Adam::buffer_names() const {
  std::vector<std::string> names{"exp_avg", "exp_avg_sq"};
  if (opt_.amsgrad) names.emplace_back("max_exp_avg_sq");
  return names;
}

std::vector<std::pair<std::string, double>> Adam::option_values() const {
  return {{"beta1", opt_.betas.first},
          {"beta2", opt_.betas.second},
          {"eps", opt_.eps},
          {"weight_decay", opt_.weight_decay},
          {"amsgrad", opt_.amsgrad ? 1.0 : 0.0},
          {"decoupled_weight_decay", decoupled_ ? 1.0 : 0.0}};
}

void Adam::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state) {
  const auto [b1, b2] = opt_.betas;
  const double wd = opt_.weight_decay;
  {  // one fused pass (the same arithmetic as the ops below) when the layouts allow it
    ad::Tensor& m = buffer(state, "exp_avg", p);
    ad::Tensor& v = buffer(state, "exp_avg_sq", p);
    ad::Tensor* v_max = opt_.amsgrad ? &buffer(state, "max_exp_avg_sq", p) : nullptr;
    if (ad::fused_step_supported({&p, &grad, &m, &v}) && (!v_max || ad::fused_step_supported({&p, v_max}))) {
      ad::adam_step_(p, grad, m, v, v_max,
                     {.lr = lr(),
                      .beta1 = b1,
                      .beta2 = b2,
                      .eps = opt_.eps,
                      .weight_decay = wd,
                      .decoupled_weight_decay = decoupled_,
                      .step = state.step});
      return;
    }
  }
  ad::Tensor g = grad;
  if (wd != 0.0) {
    if (decoupled_)
      p.mul_(1.0 - lr() * wd);  // AdamW: p *= 1 - lr * wd
    else
      g = grad + p * wd;  // Adam: g = grad + wd * p
  }
  ad::Tensor& m = buffer(state, "exp_avg", p);
  ad::Tensor& v = buffer(state, "exp_avg_sq", p);
  m.lerp_(g, 1.0 - b1);                 // m = b1 * m + (1 - b1) * g
  v.mul_(b2).addcmul_(g, g, 1.0 - b2);  // v = b2 * v + (1 - b2) * g^2
  const auto t = static_cast<double>(state.step);
  const double bias_correction1 = 1.0 - std::pow(b1, t);
  const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(b2, t));
  const ad::Tensor* second = &v;
  if (opt_.amsgrad) {
    ad::Tensor& v_max = buffer(state, "max_exp_avg_sq", p);
    v_max.copy_(ad::maximum(v_max, v));  // v_max = max(v_max, v)
    second = &v_max;
  }
  ad::Tensor denom = ad::sqrt(*second);
  denom.mul_(1.0 / bias_correction2_sqrt).add_(opt_.eps);  // sqrt(v) / sqrt(1 - b2^t) + eps
  p.addcdiv_(m, denom, -lr() / bias_correction1);          // p -= lr / (1 - b1^t) * m / denom
}

}  // namespace ad::optim
