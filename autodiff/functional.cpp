#include "adgraph/autodiff/functional.h"

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops.h"

namespace ad {
namespace {

void check_floating_input(const Tensor& x, const char* fn) {
  if (!x.defined()) throw Error(std::string(fn) + ": x is an undefined Tensor");
  if (!is_floating(x.dtype()))
    throw Error(std::string(fn) + ": x must be Float32 or Float64, got " + dtype_name(x.dtype()) + " " +
                shape_str(x.shape()));
}

void check_seed(const Tensor& v, const Shape& want, Dtype dt, const char* fn, const char* of) {
  if (!v.defined() || v.shape() != want || v.dtype() != dt)
    throw Error(std::string(fn) + ": v must have " + of + "'s shape and dtype " + shape_str(want) + " " +
                dtype_name(dt) + ", got " +
                (v.defined() ? shape_str(v.shape()) + " " + dtype_name(v.dtype()) : "undefined"));
}

// The tensor to differentiate at, and f at it: a fresh leaf with x's values, or with
// create_graph and an x that requires grad, x itself, so the results' graph reaches x's.
std::pair<Tensor, Tensor> at_leaf(const Function1& f, const Tensor& x, const char* fn, bool create_graph) {
  check_floating_input(x, fn);
  AutoGradMode on(true);
  Tensor xl = create_graph && x.requires_grad() ? x : x.detach().requires_grad_();
  Tensor y = f(xl);
  if (!y.defined() || !is_floating(y.dtype()))
    throw Error(std::string(fn) + ": f must return a floating tensor, got " +
                (y.defined() ? std::string(dtype_name(y.dtype())) : std::string("an undefined Tensor")));
  return {std::move(xl), std::move(y)};
}

// d outputs / d input with seed `v` (zeros where f does not depend on the input).
Tensor grad_or_zeros(const Tensor& y, const Tensor& x, const Tensor& v, bool create_graph) {
  if (!y.requires_grad()) return zeros_like(x);
  Tensor g = ad::grad({y}, {x}, {v}, {.retain_graph = true, .create_graph = create_graph, .allow_unused = true})[0];
  return g.defined() ? g : zeros_like(x);
}

Tensor result(const Tensor& t, bool create_graph) { return create_graph ? t : t.detach(); }

// d y / d x as [y.numel(), x.numel()]: row i is the vjp with the unit seed e_i.
Tensor rows_of(const Tensor& y, const Tensor& x, bool create_graph) {
  const std::int64_t m = y.numel(), n = x.numel();
  if (m == 0 || n == 0) return zeros({m, n}, dtype(x.dtype()));
  std::vector<Tensor> rows;
  for (std::int64_t i = 0; i < m; ++i) {
    Tensor e = zeros({m}, dtype(y.dtype()));
    e.index_put_({i}, 1.0);
    rows.push_back(grad_or_zeros(y, x, e.reshape(y.shape()), create_graph).reshape({n}));
  }
  return stack(rows, 0);
}

// The gradient of a one-element y w.r.t. x, differentiable (undefined when y does not depend on x).
Tensor gradient_graph(const Tensor& y, const Tensor& x, const char* fn) {
  if (y.numel() != 1)
    throw Error(std::string(fn) + ": f must return one element, got shape " + shape_str(y.shape()) +
                "; use jacobian for vector-valued functions");
  if (!y.requires_grad()) return Tensor();
  Tensor g = ad::grad({y}, {x}, {}, {.retain_graph = true, .create_graph = true, .allow_unused = true})[0];
  return g.defined() && g.requires_grad() ? g : Tensor();
}

}  // namespace

std::pair<Tensor, Tensor> vjp(const Function1& f, const Tensor& x, const Tensor& v, FunctionalOptions opt) {
  auto [xl, y] = at_leaf(f, x, "vjp", opt.create_graph);
  check_seed(v, y.shape(), y.dtype(), "vjp", "f(x)");
  AutoGradMode on(true);
  return {result(y, opt.create_graph), result(grad_or_zeros(y, xl, v, opt.create_graph), opt.create_graph)};
}

// J v = d/du (u^T J) v: g(u) = J^T u is linear in u, so its vjp with seed v is J v.
std::pair<Tensor, Tensor> jvp(const Function1& f, const Tensor& x, const Tensor& v, FunctionalOptions opt) {
  auto [xl, y] = at_leaf(f, x, "jvp", opt.create_graph);
  check_seed(v, x.shape(), x.dtype(), "jvp", "x");
  AutoGradMode on(true);
  if (!y.requires_grad()) return {result(y, opt.create_graph), zeros_like(y)};
  const Tensor u = zeros_like(y).requires_grad_();
  const Tensor g = ad::grad({y}, {xl}, {u}, {.retain_graph = true, .create_graph = true, .allow_unused = true})[0];
  if (!g.defined() || !g.requires_grad()) return {result(y, opt.create_graph), zeros_like(y)};
  return {result(y, opt.create_graph), result(grad_or_zeros(g, u, v, opt.create_graph), opt.create_graph)};
}

Tensor jacobian(const Function1& f, const Tensor& x, JacobianOptions opt) {
  auto [xl, y] = at_leaf(f, x, "jacobian", opt.create_graph);
  const std::int64_t m = y.numel(), n = x.numel();
  const bool by_rows = opt.mode == JacobianMode::rows || (opt.mode == JacobianMode::automatic && m <= n);
  Shape shape = y.shape();
  shape.insert(shape.end(), x.shape().begin(), x.shape().end());
  AutoGradMode on(true);
  if (by_rows || m == 0 || n == 0) return result(rows_of(y, xl, opt.create_graph).reshape(shape), opt.create_graph);
  // columns: g(u) = J^T u is built once, then column k is its vjp with the unit seed e_k (J e_k)
  std::vector<Tensor> cols;
  const Tensor u = zeros_like(y).requires_grad_();
  const Tensor g = y.requires_grad()
                       ? ad::grad({y}, {xl}, {u}, {.retain_graph = true, .create_graph = true, .allow_unused = true})[0]
                       : Tensor();
  for (std::int64_t k = 0; k < n; ++k) {
    Tensor e = zeros({n}, dtype(x.dtype()));
    e.index_put_({k}, 1.0);
    cols.push_back(g.defined() && g.requires_grad()
                       ? grad_or_zeros(g, u, e.reshape(x.shape()), opt.create_graph).reshape({m})
                       : zeros({m}, dtype(y.dtype())));
  }
  return result(stack(cols, 1).reshape(shape), opt.create_graph);
}

// H = the Jacobian of the gradient g(x) = d f / d x (kept differentiable for the second pass)
Tensor hessian(const Function1& f, const Tensor& x, FunctionalOptions opt) {
  auto [xl, y] = at_leaf(f, x, "hessian", opt.create_graph);
  AutoGradMode on(true);
  Shape shape = x.shape();
  shape.insert(shape.end(), x.shape().begin(), x.shape().end());
  const Tensor g = gradient_graph(y, xl, "hessian");
  if (!g.defined()) return zeros(shape, dtype(x.dtype()));
  return result(rows_of(g, xl, opt.create_graph).reshape(shape), opt.create_graph);
}

// H v = d/dx (g(x) . v)
std::pair<Tensor, Tensor> hvp(const Function1& f, const Tensor& x, const Tensor& v, FunctionalOptions opt) {
  auto [xl, y] = at_leaf(f, x, "hvp", opt.create_graph);
  check_seed(v, x.shape(), x.dtype(), "hvp", "x");
  AutoGradMode on(true);
  const Tensor g = gradient_graph(y, xl, "hvp");
  if (!g.defined()) return {result(y, opt.create_graph), zeros_like(x)};
  return {result(y, opt.create_graph), result(grad_or_zeros(g, xl, v, opt.create_graph), opt.create_graph)};
}

// d checkpoint(fn, xs) = the gradients of a second run of fn(xs), recorded this time
Tensor checkpoint(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs) {
  if (!fn) throw Error("checkpoint: the function is empty");
  Tensor out;
  {
    NoGradGuard ng;
    out = fn(inputs);
  }
  if (!out.defined()) throw Error("checkpoint: the function returned an undefined Tensor");
  if (!GradMode::is_enabled()) return out;
  std::vector<SavedTensor> saved(inputs.begin(), inputs.end());  // version-checked at backward
  auto rule = [fn, saved = std::move(saved), shape = out.shape(), dt = out.dtype()](const Tensor& g, const Tensor&) {
    if (GradMode::is_enabled())
      throw Error(
          "checkpoint: a backward with create_graph cannot pass through a checkpoint (its gradients "
          "would not be differentiable); compute higher-order derivatives without checkpoint");
    std::vector<Tensor> given, xs;  // the inputs as saved, and the copies the second run differentiates
    for (const SavedTensor& sv : saved) given.push_back(sv.get());
    for (const Tensor& in : given) xs.push_back(in.defined() && in.requires_grad() ? in.detach().requires_grad_() : in);
    Tensor y;
    {
      AutoGradMode on(true);
      y = fn(xs);
    }
    if (!y.defined() || y.shape() != shape || y.dtype() != dt)
      throw Error("checkpoint: the function's second run returned " +
                  (y.defined() ? shape_str(y.shape()) + " " + dtype_name(y.dtype()) : std::string("undefined")) +
                  " instead of " + shape_str(shape) + " " + dtype_name(dt) +
                  "; fn must compute the same thing on every call");
    if (y.requires_grad()) ad::backward({y}, {g});  // accumulates into xs and fn's other leaves
    GradList grads;
    for (std::size_t i = 0; i < given.size(); ++i)
      grads.push_back(given[i].defined() && given[i].requires_grad() ? xs[i].grad() : Tensor());
    return grads;
  };
  // Recorded even when no input requires grad (the first block of a model takes plain data):
  // the tensors fn reads besides its inputs (parameters) still need the second run's gradients.
  auto node = std::make_shared<detail::FunctionNode<decltype(rule)>>("checkpoint", std::move(rule));
  return detail::attach(std::move(node), std::move(out), inputs.data(), inputs.size(), false);
}

}  // namespace ad
