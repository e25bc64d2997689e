#pragma once
#include "adgraph/optim/optimizer.h"

namespace ad::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;   // >= 0
  double dampening = 0.0;  // in [0, 1]
  bool nesterov = false;   // needs momentum > 0 and dampening = 0
  double weight_decay = 0.0;
};

// Stochastic gradient descent, PyTorch's torch.optim.SGD:
//   g = grad + wd * p
//   b = g (first step), else b = momentum * b + (1 - dampening) * g        (when momentum > 0)
//   p -= lr * (nesterov ? g + momentum * b : b)                           (b = g without momentum)
// State per parameter: "momentum_buffer" (only with momentum).
class SGD : public OptimizerWithOptions<SGDOptions> {
 public:
  SGD(std::vector<ad::Tensor> params, SGDOptions opt);
  // Parameter groups, each with its own options or `defaults` (PyTorch's param_groups).
  SGD(std::vector<Group> groups, SGDOptions defaults);

 protected:
  void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, const SGDOptions& o, double lr) override;
  std::vector<std::string> buffer_names(const SGDOptions& o) const override;
  std::vector<std::pair<std::string, double>> option_values(const SGDOptions& o) const override;

 private:
  static void check(const Optimizer& self, const SGDOptions& o, const std::string& where);
};

}  // namespace ad::optim
