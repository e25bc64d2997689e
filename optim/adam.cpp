#include "adgraph/optim/adam.h"

#include <cmath>

#include "adgraph/autodiff/fused_step.h"

namespace ad::optim {

Adam::Adam(std::vector<ad::Tensor> params, AdamOptions opt)
    : OptimizerWithOptions("Adam", std::move(params), opt, &Adam::check), decoupled_(false) {}

Adam::Adam(std::vector<Group> groups, AdamOptions defaults) : Adam("Adam", std::move(groups), defaults, false) {}

Adam::Adam(std::string name, std::vector<Group> groups, AdamOptions defaults, bool decoupled_weight_decay)
    : OptimizerWithOptions(std::move(name), std::move(groups), defaults, &Adam::check),
      decoupled_(decoupled_weight_decay) {}

void Adam::check(const Optimizer& self, const AdamOptions& o, const std::string& where) {
  self.check_option(o.betas.first >= 0.0 && o.betas.first < 1.0, "betas.first", "in [0, 1)", o.betas.first, where);
  self.check_option(o.betas.second >= 0.0 && o.betas.second < 1.0, "betas.second", "in [0, 1)", o.betas.second, where);
  self.check_option(std::isfinite(o.eps) && o.eps >= 0.0, "eps", "finite and >= 0", o.eps, where);
  self.check_option(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
                    o.weight_decay, where);
}

AdamOptions AdamW::as_adam(const AdamWOptions& o) {
  return AdamOptions{.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad};
}

namespace {

std::vector<Adam::Group> adam_groups(std::vector<AdamW::WGroup> groups) {
  std::vector<Adam::Group> out;
  for (auto& g : groups) {
    std::optional<AdamOptions> o;
    if (g.options) o = AdamW::as_adam(*g.options);
    out.push_back(Adam::Group{.params = std::move(g.params), .options = o});
  }
  return out;
}

}  // namespace

AdamW::AdamW(std::vector<ad::Tensor> params, AdamWOptions opt)
    : AdamW(std::vector<WGroup>{WGroup{.params = std::move(params), .options = std::nullopt}}, opt) {}

AdamW::AdamW(std::vector<WGroup> groups, AdamWOptions defaults)
    : Adam("AdamW", adam_groups(std::move(groups)), as_adam(defaults), true) {}

void AdamW::add_param_group(WGroup group) {
  std::optional<AdamOptions> o;
  if (group.options) o = as_adam(*group.options);
  Adam::add_param_group(Group{.params = std::move(group.params), .options = o});
}

std::vector<std::string> Adam::buffer_names(const AdamOptions& o) const {
  std::vector<std::string> names{"exp_avg", "exp_avg_sq"};
  if (o.amsgrad) names.emplace_back("max_exp_avg_sq");
  return names;
}

std::vector<std::pair<std::string, double>> Adam::option_values(const AdamOptions& o) const {
  return {{"beta1", o.betas.first},
          {"beta2", o.betas.second},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"amsgrad", o.amsgrad ? 1.0 : 0.0},
          {"decoupled_weight_decay", decoupled_ ? 1.0 : 0.0}};
}

void Adam::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state, const AdamOptions& o, double lr) {
  const auto [b1, b2] = o.betas;
  const double wd = o.weight_decay;
  {  // one fused pass (the same arithmetic as the ops below) when the layouts allow it
    ad::Tensor& m = buffer(state, "exp_avg", p);
    ad::Tensor& v = buffer(state, "exp_avg_sq", p);
    ad::Tensor* v_max = o.amsgrad ? &buffer(state, "max_exp_avg_sq", p) : nullptr;
    if (ad::fused_step_supported({&p, &grad, &m, &v}) && (!v_max || ad::fused_step_supported({&p, v_max}))) {
      ad::adam_step_(p, grad, m, v, v_max,
                     {.lr = lr,
                      .beta1 = b1,
                      .beta2 = b2,
                      .eps = o.eps,
                      .weight_decay = wd,
                      .decoupled_weight_decay = decoupled_,
                      .step = state.step});
      return;
    }
  }
  ad::Tensor g = grad;
  if (wd != 0.0) {
    if (decoupled_)
      p.mul_(1.0 - lr * wd);  // AdamW: p *= 1 - lr * wd
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
  if (o.amsgrad) {
    ad::Tensor& v_max = buffer(state, "max_exp_avg_sq", p);
    v_max.copy_(ad::maximum(v_max, v));  // v_max = max(v_max, v)
    second = &v_max;
  }
  ad::Tensor denom = ad::sqrt(*second);
  denom.mul_(1.0 / bias_correction2_sqrt).add_(o.eps);  // sqrt(v) / sqrt(1 - b2^t) + eps
  p.addcdiv_(m, denom, -lr / bias_correction1);         // p -= lr / (1 - b1^t) * m / denom
}

}  // namespace ad::optim
