// Activations: tanh, sigmoid, relu, leaky_relu, step.
#include <cmath>

#include "adgraph/autodiff/ops/common.h"
#include "adgraph/autodiff/scalar_rules.h"

namespace ad {
using detail::map_unary;
using detail::scalar_like;

// d tanh(a) = g * (1 - tanh(a)^2)
Tensor tanh(const Tensor& a) {
  Tensor out = map_unary(a, "tanh", [](auto x) { return std::tanh(x); });
  return record(
      "tanh", out, {a}, [](const Tensor& g, const Tensor& o) { return GradList{mul_grad(g, 1.0 - o * o)}; }, true);
}

// d sigmoid(a) = g * s * sigmoid(-a)   (= s(1 - s), without losing 1 - s where s rounds to 1)
Tensor sigmoid(const Tensor& a) {
  Tensor out = map_unary(a, "sigmoid", [](auto x) { return rules::sigmoid(x); });
  return record(
      "sigmoid", out, {a},
      [sa = SavedTensor(a)](const Tensor& g, const Tensor& s) { return GradList{mul_grad(g, s * sigmoid(-sa.get()))}; },
      true);
}

// d relu(a) = g * [a > 0]
Tensor relu(const Tensor& a) {
  Tensor out = map_unary(a, "relu", [](auto x) { return x > 0 ? x : decltype(x)(0); });
  return record("relu", out, {a}, [sa = SavedTensor(a)](const Tensor& g, const Tensor&) {
    return GradList{mul_grad(g, (sa.get() > 0.0).to(g.dtype()))};
  });
}

// d leaky_relu(a) = g * (a > 0 ? 1 : slope)
Tensor leaky_relu(const Tensor& a, double slope) {
  Tensor out = map_unary(a, "leaky_relu", [slope](auto x) { return x > 0 ? x : x * slope; });
  return record("leaky_relu", out, {a}, [sa = SavedTensor(a), slope](const Tensor& g, const Tensor&) {
    return GradList{mul_grad(g, where(sa.get() > 0.0, scalar_like(g, 1.0), scalar_like(g, slope)))};
  });
}

// d step(a) = 0   (the step function is flat almost everywhere; its jump has no derivative)
Tensor step(const Tensor& a) {
  Tensor out = map_unary(a, "step", [](auto x) { return x > 0 ? decltype(x)(1) : decltype(x)(0); });
  return record("step", out, {a}, [](const Tensor& g, const Tensor&) { return GradList{zeros_like(g)}; });
}

Tensor Tensor::tanh() const { return ad::tanh(*this); }
Tensor Tensor::sigmoid() const { return ad::sigmoid(*this); }
Tensor Tensor::relu() const { return ad::relu(*this); }

}  // namespace ad
