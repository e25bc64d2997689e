#pragma once
// Functional autograd (PyTorch's torch.autograd.functional): derivatives of a function of one
// tensor, computed by the engine's backward passes. f is called on a detached copy of x that
// requires grad, so x and its history are untouched; outputs f does not depend on give zeros.
// With create_graph, f is called on x itself when x requires grad, and the results are
// differentiable w.r.t. x (derivatives of derivatives, e.g. a gradient penalty).
#include <functional>
#include <utility>
#include <vector>

#include "adgraph/autodiff/engine.h"
#include "adgraph/autodiff/tensor.h"

namespace ad {

using Function1 = std::function<Tensor(const Tensor& x)>;

struct FunctionalOptions {
  bool create_graph = false;
};

// f(x) and v^T J, J = d f / d x (v: f(x)'s shape; the result has x's shape). One backward pass.
std::pair<Tensor, Tensor> vjp(const Function1& f, const Tensor& x, const Tensor& v, FunctionalOptions opt = {});
// f(x) and J v (v: x's shape; the result has f(x)'s shape), by the double-backward trick: two
// backward passes, no forward mode needed.
std::pair<Tensor, Tensor> jvp(const Function1& f, const Tensor& x, const Tensor& v, FunctionalOptions opt = {});

enum class JacobianMode {
  automatic,  // rows when f has no more outputs than inputs, else columns
  rows,       // one backward pass per output element (vjp with each unit seed)
  columns,    // one jvp per input element (two backward passes each)
};
struct JacobianOptions {
  bool create_graph = false;
  JacobianMode mode = JacobianMode::automatic;
};
// d f / d x with shape f(x).shape + x.shape.
Tensor jacobian(const Function1& f, const Tensor& x, JacobianOptions opt = {});
// The Hessian of a one-element f: shape x.shape + x.shape (the Jacobian of its gradient).
Tensor hessian(const Function1& f, const Tensor& x, FunctionalOptions opt = {});
// f(x) and H v for a one-element f (v: x's shape): two backward passes, H never formed.
std::pair<Tensor, Tensor> hvp(const Function1& f, const Tensor& x, const Tensor& v, FunctionalOptions opt = {});

// Gradient checkpointing (PyTorch's reentrant torch.utils.checkpoint): fn(inputs) runs without
// recording, so none of its intermediate tensors are kept; the backward runs fn again with grad
// on, on detached copies of the inputs, and back-propagates the incoming gradient through that
// graph: the inputs get their gradients, and tensors fn reads besides them (a layer's
// parameters) get theirs accumulated into .grad as in a plain backward(). fn must compute the
// same thing both times (a dropout inside needs a generator it reseeds). Not through ad::grad
// with create_graph: higher-order gradients through a checkpoint are refused.
Tensor checkpoint(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs);

}  // namespace ad
