#pragma once
#include "adgraph/optim/optimizer.h"

namespace ad::optim {

struct AdadeltaOptions {
  double lr = 1.0;            // PyTorch's default: the update is scaled by lr (Zeiler's method has none)
  double rho = 0.9;           // in [0, 1]
  double eps = 1e-6;          // >= 0
  double weight_decay = 0.0;  // >= 0 (L2, added to the gradient)
};

// AdaDelta (Zeiler 2012), PyTorch's torch.optim.Adadelta:
//   g = grad + wd * p;  v = rho * v + (1 - rho) * g^2;  d = sqrt(u + eps) / sqrt(v + eps) * g
//   u = rho * u + (1 - rho) * d^2;  p -= lr * d
// State per parameter: "square_avg" (v) and "acc_delta" (u).
class Adadelta : public OptimizerWithOptions<AdadeltaOptions> {
 public:
  Adadelta(std::vector<ad::Tensor> params, AdadeltaOptions opt = {});
  // Parameter groups, each with its own options or `defaults` (PyTorch's param_groups).
  Adadelta(std::vector<Group> groups, AdadeltaOptions defaults);

 protected:
  void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, const AdadeltaOptions& o,
              double lr) override;
  std::vector<std::string> buffer_names(const AdadeltaOptions&) const override { return {"square_avg", "acc_delta"}; }
  std::vector<std::pair<std::string, double>> option_values(const AdadeltaOptions& o) const override;

 private:
  static void check(const Optimizer& self, const AdadeltaOptions& o, const std::string& where);
};

}  // namespace ad::optim
