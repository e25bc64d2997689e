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
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<ad::Tensor> params, AdagradOptions opt = {});
  const AdagradOptions& options() const { return opt_; }

 protected:
  void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state) override;
  std::vector<std::string> buffer_names() const override { return {"sum"}; }
  std::vector<std::pair<std::string, double>> option_values() const override;

 private:
  AdagradOptions opt_;
};

}  // namespace ad::optim
