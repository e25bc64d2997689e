#pragma once
// Weight penalties as graph terms: add lambda * penalty to the loss and the engine differentiates
// it with the rest, e.g.
//   loss = ad::nn::mse_loss(model(x), y) + 1e-4 * ad::nn::l2_penalty(ad::nn::weights(model));
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/nn/module.h"

namespace ad::nn {

// sum over the tensors of sum |w|: a 0-d tensor; gradient sign(w) (0 at w = 0).
ad::Tensor l1_penalty(const std::vector<ad::Tensor>& params);
// sum over the tensors of sum w^2, with NO factor 1/2: gradient 2 w. (So lambda * l2_penalty
// matches an optimizer's weight_decay = 2 lambda.)
ad::Tensor l2_penalty(const std::vector<ad::Tensor>& params);

// The parameters of `m` named "weight" at any depth ("0.weight", "fc1.weight", ...), i.e. all
// but the biases: what weight penalties usually apply to.
std::vector<ad::Tensor> weights(const Module& m);

}  // namespace ad::nn
