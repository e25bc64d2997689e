#include "adgraph/optim/adagrad.h"

#include <cmath>

namespace ad::optim {

Adagrad::Adagrad(std::vector<ad::Tensor> params, AdagradOptions opt)
    : OptimizerWithOptions("Adagrad", std::move(params), opt, &Adagrad::check) {}

Adagrad::Adagrad(std::vector<Group> groups, AdagradOptions defaults)
    : OptimizerWithOptions("Adagrad", std::move(groups), defaults, &Adagrad::check) {}

void Adagrad::check(const Optimizer& self, const AdagradOptions& o, const std::string& where) {
  auto non_negative = [&](const char* name, double v) {
    self.check_option(std::isfinite(v) && v >= 0.0, name, "finite and >= 0", v, where);
  };
  non_negative("lr_decay", o.lr_decay);
  non_negative("weight_decay", o.weight_decay);
  non_negative("initial_accumulator_value", o.initial_accumulator_value);
  non_negative("eps", o.eps);
}

std::vector<std::pair<std::string, double>> Adagrad::option_values(const AdagradOptions& o) const {
  return {{"lr_decay", o.lr_decay},
          {"weight_decay", o.weight_decay},
          {"initial_accumulator_value", o.initial_accumulator_value},
          {"eps", o.eps}};
}

void Adagrad::update(ad::Tensor& p, const ad::Tensor& grad, ParamState& state, const AdagradOptions& o, double lr) {
  const ad::Tensor g = o.weight_decay != 0.0 ? grad + p * o.weight_decay : grad;     // g = grad + wd * p
  const double clr = lr / (1.0 + static_cast<double>(state.step - 1) * o.lr_decay);  // lr / (1 + (t-1) decay)
  ad::Tensor& sum = buffer(state, "sum", p, o.initial_accumulator_value);
  sum.add_(g * g);  // sum += g^2
  ad::Tensor denom = ad::sqrt(sum);
  denom.add_(o.eps);       // sqrt(sum) + eps
  p.sub_(g / denom, clr);  // p -= clr * g / (sqrt(sum) + eps)
}

}  // namespace ad::optim
