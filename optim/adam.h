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
class Adam : public OptimizerWithOptions<AdamOptions> {
 public:
  Adam(std::vector<ad::Tensor> params, AdamOptions opt = {});
  // Parameter groups, each with its own options or `defaults` (PyTorch's param_groups).
  Adam(std::vector<Group> groups, AdamOptions defaults);

 protected:
  Adam(std::string name, std::vector<Group> groups, AdamOptions defaults, bool decoupled_weight_decay);
  void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, const AdamOptions& o, double lr) override;
  std::vector<std::string> buffer_names(const AdamOptions& o) const override;
  std::vector<std::pair<std::string, double>> option_values(const AdamOptions& o) const override;

 private:
  static void check(const Optimizer& self, const AdamOptions& o, const std::string& where);
  bool decoupled_;
};

// AdamW (Loshchilov & Hutter 2019), PyTorch's torch.optim.AdamW: Adam whose weight decay is
// decoupled from the gradient, applied before the Adam step:
//   p *= 1 - lr * wd;  then Adam's update with g = grad (the decay never enters m or v).
class AdamW : public Adam {
 public:
  using WGroup = ParamGroup<AdamWOptions>;
  AdamW(std::vector<ad::Tensor> params, AdamWOptions opt = {});
  AdamW(std::vector<WGroup> groups, AdamWOptions defaults);
  // A group with AdamW's options (weight decay 1e-2 unless given); hides Adam's.
  void add_param_group(WGroup group);

  static AdamOptions as_adam(const AdamWOptions& o);
};

}  // namespace ad::optim
