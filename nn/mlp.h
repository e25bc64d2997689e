#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "adgraph/nn/activation.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/sequential.h"

namespace ad::nn {

// A multilayer perceptron: a Sequential of Linear(sizes[i], sizes[i+1]) layers, each followed by
// the `hidden` activation, except the last which gets `output` (None adds no module). Children
// are numbered in order, so MLP({2, 4, 3, 1}, ReLU, None) has parameters 0.weight [4, 2], 0.bias,
// 2.weight [3, 4], 2.bias, 4.weight [1, 3], 4.bias. Linear layers draw their initial weights
// from `gen` (the thread's default generator when null). `slope` is LeakyReLU's.
class MLP : public Sequential {
 public:
  explicit MLP(std::vector<std::int64_t> sizes, Activation hidden = Activation::ReLU,
               Activation output = Activation::None, ad::Dtype dtype = ad::kFloat32, ad::Generator* gen = nullptr,
               double slope = 0.01);
  const std::vector<std::int64_t>& sizes() const { return sizes_; }
  // The i-th Linear layer (0 <= i < sizes().size() - 1).
  std::shared_ptr<Linear> linear(std::size_t i) const;

 private:
  std::vector<std::int64_t> sizes_;
  std::vector<std::shared_ptr<Linear>> linears_;
};

}  // namespace ad::nn
