#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "adgraph/nn/module.h"

namespace ad::nn {

// Modules wrapping the engine's activation ops (no parameters), for use in Sequential.
class Step : public Module {  // 1 where x > 0 else 0; gradient 0 everywhere (a perceptron's unit)
 public:
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::step(x); }
};

class Sigmoid : public Module {
 public:
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::sigmoid(x); }
};

class Tanh : public Module {
 public:
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::tanh(x); }
};

class ReLU : public Module {  // gradient 0 at x = 0
 public:
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::relu(x); }
};

class LeakyReLU : public Module {  // x for x > 0, slope * x otherwise
 public:
  explicit LeakyReLU(double slope = 0.01) : slope_(slope) {}
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::leaky_relu(x, slope_); }
  double slope() const { return slope_; }
  std::string extra_repr() const override;

 private:
  double slope_;
};

class Softmax : public Module {  // along `dim` (the last by default), stable at extreme inputs
 public:
  explicit Softmax(std::int64_t dim = -1) : dim_(dim) {}
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::softmax(x, dim_); }
  std::int64_t dim() const { return dim_; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim_); }

 private:
  std::int64_t dim_;
};

class LogSoftmax : public Module {  // pairs with nll_loss
 public:
  explicit LogSoftmax(std::int64_t dim = -1) : dim_(dim) {}
  ad::Tensor forward(const ad::Tensor& x) const override { return ad::log_softmax(x, dim_); }
  std::int64_t dim() const { return dim_; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim_); }

 private:
  std::int64_t dim_;
};

// Activation choice for builders such as MLP. None means no activation module at all.
enum class Activation { None, Step, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax };

// The module for `a` (LeakyReLU uses `slope`, Softmax the last dim); nullptr for None.
std::shared_ptr<Module> make_activation(Activation a, double slope = 0.01);
// "none", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax".
std::string to_string(Activation a);
// Parses the names above (case-insensitive, also "leakyrelu", "identity", "linear" for None);
// throws an ad::Error listing the accepted names.
Activation activation_from_string(const std::string& s);

}  // namespace ad::nn
