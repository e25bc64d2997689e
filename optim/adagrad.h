#pragma once
#include "adgraph/optim/optimizer.h"

namespace ad::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;                   // >= 0
  double weight_decay = 0.0;               // >= 0 (L2, added to the gradient)
  double initial_accumulator_value = 0.0;  // >= 0
  double eps = 1e-10;                      // >= 0
};

// AdaGrad (Duchi et al. 2011), PyTorch's torch.optim.Adagrad. At the parameter's step t:
//   g = grad + wd * p;  clr = lr / (1 + (t - 1) * lr_decay);  sum += g^2;  p -= clr * g / (sqrt(sum) + eps)
// State per parameter: "sum" (starts at initial_accumulator_value).
class Adagrad : public OptimizerWithOptions<AdagradOptions> {
 public:
  Adagrad(std::vector<ad::Tensor> params, AdagradOptions opt = {});
  // Parameter groups, each with its own options or `defaults` (PyTorch's param_groups).
  Adagrad(std::vector<Group> groups, AdagradOptions defaults);

 protected:
  void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, const AdagradOptions& o,
              double lr) override;
  std::vector<std::string> buffer_names(const AdagradOptions&) const override { return {"sum"}; }
  std::vector<std::pair<std::string, double>> option_values(const AdagradOptions& o) const override;

 private:
  static void check(const Optimizer& self, const AdagradOptions& o, const std::string& where);
};

}  // namespace ad::optim
