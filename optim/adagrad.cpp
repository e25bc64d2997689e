#include "adgraph/optim/adagrad.h"

#include <cmath>

namespace ad::optim {

Adagrad::Adagrad(std::vector<ad::Tensor> params, AdagradOptions opt)
    : Optimizer("Adagrad", std::move(params), opt.lr), opt_(opt) {
  auto non_negative = [this](const char* name, double v) {
    check_option(std::isfinite(v) && v >= 0.0, name, "finite and >= 0", v);
  };
  non_negative("lr_decay", opt.lr_decay);
  non_negative("weight_decay", opt.weight_decay);
  non_negative("initial_accumulator_value", opt.initial_accumulator_value);
  non_negative("eps", opt.eps);
}

std::vector<std::pair<std::string, double>> Adagrad::option_values() const {
  return {{"lr_decay", opt_.lr_decay},
          {"weight_decay", opt_.weight_decay},
          {"initial_accumulator_value", opt_.initial_accumulator_value},
          {"eps", opt_.eps}};
}

void Adagrad::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state) {
  const ad::Tensor g = opt_.weight_decay != 0.0 ? grad + p * opt_.weight_decay : grad;    // g = grad + wd * p
  const double clr = lr() / (1.0 + static_cast<double>(state.step - 1) * opt_.lr_decay);  // lr / (1 + (t-1) decay)
  ad::Tensor& sum = buffer(state, "sum", p, opt_.initial_accumulator_value);
  sum.add_(g * g);  // sum += g^2
  ad::Tensor denom = ad::sqrt(sum);
  denom.add_(opt_.eps);    // sqrt(sum) + eps
  p.sub_(g / denom, clr);  // p -= clr * g / (sqrt(sum) + eps)
}

}  // namespace ad::optim
