// Activations: tanh, sigmoid, relu, leaky_relu, step.
#include <algorithm>
#include <cmath>

#include "adgraph/autodiff/ops/common.h"
#include "adgraph/autodiff/scalar_rules.h"

namespace ad {
using detail::map_unary;
using detail::scalar_like;

namespace {
// The backward of an activation in one fused pass (kernels::activation_grad: the composite rule's
// operations, in its order, so the same bits), when the backward is not itself recorded
// (create_graph) and the layouts allow it; else undefined, and the caller runs the composite.
Tensor fused_grad(kernels::Act act, const Tensor& g, const Tensor& x, const Tensor& o, const char* op) {
  if (GradMode::is_enabled() || g.dtype() != o.dtype() || x.dtype() != o.dtype() || !is_floating(o.dtype()) ||
      x.shape() != o.shape() || !x.is_contiguous() || !o.is_contiguous() || g.shape() != o.shape())
    return {};
  const Shape& st = g.strides();
  const bool g_scalar = std::all_of(st.begin(), st.end(), [](std::int64_t s) { return s == 0; });
  if (!g_scalar && !g.is_contiguous()) return {};
  Tensor out = detail::empty_for(o.shape(), o.dtype(), op);
  dispatch_float(o.dtype(), op, [&]<class T>() {
    kernels::activation_grad(act, g.strided_data_ptr<T>(), g_scalar, x.data_ptr<T>(), o.data_ptr<T>(),
                             out.data_ptr<T>(), o.numel());
  });
  return out;
}
}  // namespace

// d tanh(a) = g * (1 - tanh(a)^2)   (one fused pass unless the backward is recorded)
Tensor tanh(const Tensor& a) {
  Tensor out = map_unary(a, "tanh", kernels::Unary::tanh);
  return record(
      "tanh", out, {a},
      [](const Tensor& g, const Tensor& o) {
        if (Tensor f = fused_grad(kernels::Act::tanh, g, o, o, "tanh backward"); f.defined()) return GradList{f};
        return GradList{mul_grad(g, 1.0 - o * o)};
      },
      true);
}

// d sigmoid(a) = g * s * sigmoid(-a)   (= s(1 - s), without losing 1 - s where s rounds to 1;
// one fused pass unless the backward is recorded)
Tensor sigmoid(const Tensor& a) {
  Tensor out = map_unary(a, "sigmoid", kernels::Unary::sigmoid);
  return record(
      "sigmoid", out, {a},
      [sa = SavedTensor(a)](const Tensor& g, const Tensor& s) {
        const Tensor& x = sa.get();
        if (Tensor f = fused_grad(kernels::Act::sigmoid, g, x, s, "sigmoid backward"); f.defined()) return GradList{f};
        return GradList{mul_grad(g, s * sigmoid(-x))};
      },
      true);
}

// d relu(a) = g * [a > 0]   (one fused pass unless the backward is recorded)
Tensor relu(const Tensor& a) {
  Tensor out = map_unary(a, "relu", kernels::Unary::relu);
  return record("relu", out, {a}, [sa = SavedTensor(a)](const Tensor& g, const Tensor&) {
    const Tensor& x = sa.get();
    if (Tensor f = fused_grad(kernels::Act::relu, g, x, x, "relu backward"); f.defined()) return GradList{f};
    return GradList{mul_grad(g, (x > 0.0).to(g.dtype()))};
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
