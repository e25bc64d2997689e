#pragma once
#include "adgraph/optim/optimizer.h"

namespace ad::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;        // smoothing constant, in [0, 1]
  double eps = 1e-8;          // >= 0
  double weight_decay = 0.0;  // >= 0 (L2, added to the gradient)
  double momentum = 0.0;      // >= 0
  bool centered = false;      // divide by the estimated variance sqrt(E[g^2] - E[g]^2) instead
};

// RMSProp (Hinton's lecture 6e), PyTorch's torch.optim.RMSprop:
//   g = grad + wd * p;  v = alpha * v + (1 - alpha) * g^2
//   centered: m = alpha * m + (1 - alpha) * g;  d = sqrt(v - m^2) + eps;  otherwise d = sqrt(v) + eps
//   momentum > 0: b = momentum * b + g / d;  p -= lr * b;  otherwise p -= lr * g / d
// State per parameter: "square_avg", plus "momentum_buffer" (momentum > 0) and "grad_avg" (centered).
class RMSprop : public OptimizerWithOptions<RMSpropOptions> {
 public:
  RMSprop(std::vector<ad::Tensor> params, RMSpropOptions opt = {});
  // Parameter groups, each with its own options or `defaults` (PyTorch's param_groups).
  RMSprop(std::vector<Group> groups, RMSpropOptions defaults);

 protected:
  void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, const RMSpropOptions& o,
              double lr) override;
  std::vector<std::string> buffer_names(const RMSpropOptions& o) const override;
  std::vector<std::pair<std::string, double>> option_values(const RMSpropOptions& o) const override;

 private:
  static void check(const Optimizer& self, const RMSpropOptions& o, const std::string& where);
};

}  // namespace ad::optim
