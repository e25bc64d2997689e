#pragma once
#include <optional>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad {

// Back-propagates from `outputs` into the .grad of every leaf that requires grad.
// A one-element output may omit its gradient (1 is used); any other needs one of its shape.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              BackwardOptions opt = {});

struct GradOptions {
  std::optional<bool> retain_graph;  // default: the value of create_graph
  bool create_graph = false;         // make the returned gradients differentiable
  bool allow_unused = false;         // an input the outputs do not depend on gets an undefined Tensor
};

// The gradients of `outputs` w.r.t. `inputs`, returned instead of accumulated: no .grad changes.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, GradOptions opt = {});

}  // namespace ad
