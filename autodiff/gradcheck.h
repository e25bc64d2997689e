#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad {

// PyTorch's defaults: central differences with step eps; an element passes when
// |analytic - numeric| <= atol + rtol * |numeric|.
struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::uint64_t seed = 0;  // gradgradcheck: seed of the random output gradient
};

struct GradcheckResult {
  bool ok = true;
  std::string report;  // on failure: input, element, output element, numeric and analytic values
  explicit operator bool() const { return ok; }
};

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// Compares the engine's Jacobian of f at `inputs` (those that require grad) with central
// differences. Inputs are copied, never modified. Float32 inputs get a warning: use Float64.
GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

// gradcheck of the map inputs -> vector-Jacobian product of f with a fixed random vector:
// checks the second derivatives (the backward of every backward).
GradcheckResult gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

}  // namespace ad
