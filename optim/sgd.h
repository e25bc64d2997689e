#pragma once
#include "optim/optimizer.h"

namespace optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
};

// v = momentum * v + (g + wd * p);  p -= lr * (nesterov ? g + momentum * v : v)   (PyTorch's form)
class SGD : public Optimizer {
 public:
  SGD(std::vector<ad::Tensor> params, SGDOptions opt);

 protected:
  void update(std::size_t i, ad::Tensor& param, const ad::Tensor& grad) override;

 private:
  SGDOptions opt_;
  std::vector<ad::Tensor> velocity_;
};

}  // namespace optim
