#include "adgraph/optim/adadelta.h"

#include <cmath>

namespace ad::optim {

Adadelta::Adadelta(std::vector<ad::Tensor> params, AdadeltaOptions opt)
    : Optimizer("Adadelta", std::move(params), opt.lr), opt_(opt) {
  check_option(opt.rho >= 0.0 && opt.rho <= 1.0, "rho", "in [0, 1]", opt.rho);
  check_option(std::isfinite(opt.eps) && opt.eps >= 0.0, "eps", "finite and >= 0", opt.eps);
  check_option(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0, "weight_decay", "finite and >= 0",
               opt.weight_decay);
}

std::vector<std::pair<std::string, double>> Adadelta::option_values() const {
  return {{"rho", opt_.rho}, {"eps", opt_.eps}, {"weight_decay", opt_.weight_decay}};
}

void Adadelta::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state) {
  const ad::Tensor g = opt_.weight_decay != 0.0 ? grad + p * opt_.weight_decay : grad;  // g = grad + wd * p
  ad::Tensor& v = buffer(state, "square_avg", p);
  ad::Tensor& u = buffer(state, "acc_delta", p);
  v.mul_(opt_.rho).add_(g * g, 1.0 - opt_.rho);                              // v = rho * v + (1 - rho) * g^2
  const ad::Tensor d = ad::sqrt(u + opt_.eps) / ad::sqrt(v + opt_.eps) * g;  // d = sqrt(u + eps) / sqrt(v + eps) * g
  u.mul_(opt_.rho).add_(d * d, 1.0 - opt_.rho);                              // u = rho * u + (1 - rho) * d^2
  p.sub_(d, lr());                                                           // p -= lr * d
}

}  // namespace ad::optim
