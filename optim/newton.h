#pragma once
#include <cstdint>
#include <functional>

#include "adgraph/optim/optimizer.h"

namespace ad::optim {

// A scalar function of a 1-D parameter vector, built from differentiable ops; it must return a
// one-element tensor.
using Objective = std::function<ad::Tensor(const ad::Tensor& x)>;

struct GradientAndHessian {
  double value = 0.0;   // f(x)
  ad::Tensor gradient;  // [n]
  ad::Tensor hessian;   // [n, n]; row i = d g_i / dx
};

// f(x), its gradient and its Hessian, all from the engine: g = ad::grad(f(x), x) with
// create_graph, then one ad::grad of g against the unit vector e_i per Hessian row (n backward
// passes over the graph of g). x is a 1-D floating leaf; it need not require grad (a detached
// alias that does is used) and is not modified. Costs n + 1 backward passes: for small problems.
GradientAndHessian gradient_and_hessian(const Objective& f, const ad::Tensor& x);

// Solves a d = b for a square [n, n] matrix and b of shape [n] with LAPACK's dgesv (LU with
// partial pivoting, OpenBLAS), in double; the result has b's dtype. Throws ad::Error naming the
// pivot when `a` is singular, or numerically singular (a pivot below n * 2^-52 * max |a_ij|).
ad::Tensor solve(const ad::Tensor& a, const ad::Tensor& b);

struct NewtonOptions {
  double damping = 1.0;  // step fraction, in (0, 1]: x -= damping * d
  double ridge = 0.0;    // >= 0: solve (H + ridge * I) d = g (Levenberg-style regularisation)
};

struct NewtonStep {
  double value = 0.0;    // f(x) before the step
  ad::Tensor gradient;   // at x before the step
  ad::Tensor hessian;    // at x before the step
  ad::Tensor direction;  // d with (H + ridge I) d = g; the step was x -= damping * d
};

// One Newton step on x in place (under NoGradGuard): x -= damping * (H + ridge I)^{-1} g.
// Throws ad::Error, leaving x unchanged, when the Hessian is singular or not finite.
NewtonStep newton_step(const Objective& f, ad::Tensor& x, NewtonOptions opt = {});

// Newton's method as a stateful optimizer over one 1-D parameter vector (x is updated in place).
class Newton {
 public:
  explicit Newton(ad::Tensor x, NewtonOptions opt = {});
  NewtonStep step(const Objective& f);
  const ad::Tensor& param() const { return x_; }
  const NewtonOptions& options() const { return opt_; }
  std::int64_t step_count() const { return steps_; }

 private:
  ad::Tensor x_;
  NewtonOptions opt_;
  std::int64_t steps_ = 0;
};

}  // namespace ad::optim
