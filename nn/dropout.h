#pragma once
#include "adgraph/nn/module.h"

namespace ad::nn {

// Inverted dropout. In training mode each element is kept with probability 1 - p and scaled by
// 1 / (1 - p), so the expected output equals the input: y = x * mask / (1 - p) with
// mask = (u < 1 - p), u ~ U[0, 1) drawn from `gen` (the thread's default generator when null).
// The mask is a constant, so the gradient is mask / (1 - p): nothing flows through dropped
// elements. In eval mode it is the identity. p must be in [0, 1).
// `gen` is not owned and must outlive the module; the same seed gives the same masks.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, ad::Generator* gen = nullptr);
  ad::Tensor forward(const ad::Tensor& x) const override;
  double p() const { return p_; }
  std::string extra_repr() const override;

 private:
  double p_;
  ad::Generator* gen_;
};

}  // namespace ad::nn
