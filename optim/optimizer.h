#pragma once
#include <vector>

#include "autodiff/autodiff.h"

namespace optim {

// Base of the optimizers: holds the parameters; step() updates them in place under NoGradGuard
// from the .grad the engine accumulated.
class Optimizer {
 public:
  explicit Optimizer(std::vector<ad::Tensor> params);
  virtual ~Optimizer() = default;
  void zero_grad();
  void step();
  double lr() const { return lr_; }
  void set_lr(double lr);

 protected:
  virtual void update(std::size_t i, ad::Tensor& param, const ad::Tensor& grad) = 0;
  std::vector<ad::Tensor> params_;
  double lr_ = 0.01;
};

}  // namespace optim
