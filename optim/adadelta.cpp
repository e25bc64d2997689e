#include "adgraph/optim/adadelta.h"

#include <cmath>

namespace ad::optim {

Adadelta::Adadelta(std::vector<ad::Tensor> params, AdadeltaOptions opt)
    : OptimizerWithOptions("Adadelta", std::move(params), opt, &Adadelta::check) {}

Adadelta::Adadelta(std::vector<Group> groups, AdadeltaOptions defaults)
    : OptimizerWithOptions("Adadelta", std::move(groups), defaults, &Adadelta::check) {}

void Adadelta::check(const Optimizer& self, const AdadeltaOptions& o, const std::string& where) {
  self.check_option(o.rho >= 0.0 && o.rho <= 1.0, "rho", "in [0, 1]", o.rho, where);
  self.check_option(std::isfinite(o.eps) && o.eps >= 0.0, "eps", "finite and >= 0", o.eps, where);
  self.check_option(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
                    o.weight_decay, where);
}

std::vector<std::pair<std::string, double>> Adadelta::option_values(const AdadeltaOptions& o) const {
  return {{"rho", o.rho}, {"eps", o.eps}, {"weight_decay", o.weight_decay}};
}

void Adadelta::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state, const AdadeltaOptions& o, double lr) {
  const ad::Tensor g = o.weight_decay != 0.0 ? grad + p * o.weight_decay : grad;  // g = grad + wd * p
  ad::Tensor& v = buffer(state, "square_avg", p);
  ad::Tensor& u = buffer(state, "acc_delta", p);
  v.mul_(o.rho).add_(g * g, 1.0 - o.rho);                              // v = rho * v + (1 - rho) * g^2
  const ad::Tensor d = ad::sqrt(u + o.eps) / ad::sqrt(v + o.eps) * g;  // d = sqrt(u + eps) / sqrt(v + eps) * g
  u.mul_(o.rho).add_(d * d, 1.0 - o.rho);                              // u = rho * u + (1 - rho) * d^2
  p.sub_(d, lr);                                                       // p -= lr * d
}

}  // namespace ad::optim
