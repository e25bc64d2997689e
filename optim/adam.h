#pragma once
#include <utility>

#include "adgraph/optim/optimizer.h"

namespace ad::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};  // each in [0, 1)
  double eps = 1e-8;                               // >= 0
  double weight_decay = 0.0;                       // >= 0: L2, added to the gradient (AdamW: decoupled)
  bool amsgrad = false;                            // divide by the running maximum of v (Reddi et al. 2018)
};

// AdamW's options: the same, but weight decay 1e-2 by default (PyTorch's torch.optim.AdamW).
struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

// Adam (Kingma & Ba 2015), PyTorch's torch.optim.Adam. At the parameter's step t:
//   g = grad + wd * p;  m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g^2
//   amsgrad: v_max = max(v_max, v), used for v below
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// State per parameter: "exp_avg" (m), "exp_avg_sq" (v), and "max_exp_avg_sq" with amsgrad.
class Adam : public Optimizer {
 public:
  Adam(std::vector<ad::Tensor> params, AdamOptions opt = {});
  const AdamOptions& options() const { return opt_; }

 protected:
  Adam(std::string name, std::vector<ad::Tensor> params, AdamOptions opt, bool decoupled_weight_decay);
  void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state) override;
  std::vector<std::string> buffer_names() const override;
  std::vector<std::pair<std::string, double>> option_values() const override;

 private:
  AdamOptions opt_;
  bool decoupled_;
};

// AdamW (Loshchilov & Hutter 2019), PyTorch's torch.optim.AdamW: Adam whose weight decay is
// decoupled from the gradient, applied before the Adam step:
//   p *= 1 - lr * wd;  then Adam's update with g = grad (the decay never enters m or v).
class AdamW : public Adam {
 public:
  AdamW(std::vector<ad::Tensor> params, AdamWOptions opt = {});
};

}  // namespace ad::optim
