#include "adgraph/optim/newton.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

// LAPACK (exported by OpenBLAS): solves A X = B by LU with partial pivoting; A column-major.
extern "C" void dgesv_(const int* n, const int* nrhs, double* a, const int* lda, int* ipiv, double* b, const int* ldb,
                       int* info);

namespace ad::optim {
namespace {

void check_vector(const ad::Tensor& x, const char* fn) {
  if (!x.defined()) throw ad::Error(std::string(fn) + ": x is an undefined tensor");
  if (x.dim() != 1 || !ad::is_floating(x.dtype()))
    throw ad::Error(std::string(fn) + ": x must be a 1-D floating tensor, got " + ad::dtype_name(x.dtype()) +
                    " of shape " + ad::shape_str(x.shape()) + " (flatten the parameters into one vector)");
  if (!x.is_leaf())
    throw ad::Error(std::string(fn) + ": x is the output of '" + x.grad_fn()->name +
                    "'; pass a leaf (x.detach()) so it can be updated in place");
}

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double e) { return std::isfinite(e); });
}

void check_newton_options(const NewtonOptions& opt) {
  if (!(opt.damping > 0.0 && opt.damping <= 1.0))
    throw ad::Error("Newton: damping must be in (0, 1], got " + format_number(opt.damping));
  if (!(std::isfinite(opt.ridge) && opt.ridge >= 0.0))
    throw ad::Error("Newton: ridge must be finite and >= 0, got " + format_number(opt.ridge));
}

}  // namespace

GradientAndHessian gradient_and_hessian(const Objective& f, const ad::Tensor& x) {
  check_vector(x, "gradient_and_hessian");
  ad::AutoGradMode grad_on(true);
  const ad::Tensor xl = x.detach().requires_grad_();
  const ad::Tensor y = f(xl);
  if (!y.defined() || y.numel() != 1 || !ad::is_floating(y.dtype()))
    throw ad::Error("gradient_and_hessian: f must return a one-element floating tensor, got " +
                    (y.defined() ? std::string(ad::dtype_name(y.dtype())) + " of shape " + ad::shape_str(y.shape())
                                 : std::string("an undefined tensor")));
  GradientAndHessian out;
  out.value = y.item();
  const ad::Tensor g =
      y.requires_grad() ? ad::grad({y}, {xl}, {}, {.retain_graph = false, .allow_unused = true})[0] : ad::Tensor();
  out.gradient = g.defined() ? g.detach() : ad::zeros_like(x);
  out.hessian = ad::hessian(f, x);  // the Jacobian of the gradient, row by row (autodiff/functional.h)
  return out;
}

ad::Tensor solve(const ad::Tensor& a, const ad::Tensor& b) {
  if (!a.defined() || !b.defined() || a.dim() != 2 || a.size(0) != a.size(1) || b.dim() != 1 ||
      b.size(0) != a.size(0) || !ad::is_floating(a.dtype()) || !ad::is_floating(b.dtype()))
    throw ad::Error("solve: needs a floating square matrix [n, n] and a vector [n], got " +
                    (a.defined() ? ad::shape_str(a.shape()) : std::string("undefined")) + " and " +
                    (b.defined() ? ad::shape_str(b.shape()) : std::string("undefined")));
  const int n = static_cast<int>(a.size(0));
  const std::vector<double> rows = a.to_vector();
  std::vector<double> lu(rows.size());
  double scale = 0.0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const double v = rows[static_cast<std::size_t>(i * n + j)];
      lu[static_cast<std::size_t>(j * n + i)] = v;  // row-major -> column-major
      scale = std::max(scale, std::abs(v));
    }
  std::vector<double> x = b.to_vector();
  if (!all_finite(lu) || !all_finite(x)) throw ad::Error("solve: the matrix or the right-hand side holds NaN or Inf");
  if (n == 0) return ad::zeros({0}, ad::dtype(b.dtype()));
  std::vector<int> ipiv(static_cast<std::size_t>(n));
  const int nrhs = 1;
  int info = 0;
  dgesv_(&n, &nrhs, lu.data(), &n, ipiv.data(), x.data(), &n, &info);
  if (info < 0) throw ad::Error("solve: dgesv rejected argument " + std::to_string(-info));
  if (info > 0)
    throw ad::Error("solve: the " + std::to_string(n) + "x" + std::to_string(n) + " matrix is singular (pivot " +
                    std::to_string(info) + " of the LU factorisation is exactly 0)");
  const double tiny = n * DBL_EPSILON * scale;
  for (int k = 0; k < n; ++k) {
    const double pivot = lu[static_cast<std::size_t>(k * n + k)];
    if (std::abs(pivot) <= tiny)
      throw ad::Error("solve: the " + std::to_string(n) + "x" + std::to_string(n) +
                      " matrix is numerically singular (pivot " + std::to_string(k + 1) +
                      " of the LU factorisation is " + format_number(pivot) + ", max |a_ij| is " +
                      format_number(scale) + ")");
  }
  return ad::tensor(x, {n}, ad::dtype(b.dtype()));
}

NewtonStep newton_step(const Objective& f, ad::Tensor& x, NewtonOptions opt) {
  check_newton_options(opt);
  check_vector(x, "newton_step");
  GradientAndHessian gh = gradient_and_hessian(f, x);
  if (!all_finite(gh.gradient.to_vector()) || !all_finite(gh.hessian.to_vector()))
    throw ad::Error("newton_step: the gradient or Hessian at x holds NaN or Inf (f = " + format_number(gh.value) + ")");
  ad::NoGradGuard no_grad;
  ad::Tensor h = gh.hessian;
  if (opt.ridge != 0.0) h = h + ad::eye(x.numel(), ad::dtype(x.dtype())) * opt.ridge;  // H + ridge I
  ad::Tensor d;
  try {
    d = solve(h, gh.gradient);  // (H + ridge I) d = g
  } catch (const ad::Error& e) {
    throw ad::Error(std::string("newton_step: the Hessian is singular, so the Newton step is undefined (") + e.what() +
                    "); set NewtonOptions::ridge > 0 or use a first-order optimizer");
  }
  x.sub_(d, opt.damping);  // x -= damping * d
  return {gh.value, gh.gradient, gh.hessian, d};
}

Newton::Newton(ad::Tensor x, NewtonOptions opt) : x_(std::move(x)), opt_(opt) {
  check_newton_options(opt_);
  check_vector(x_, "Newton");
}

NewtonStep Newton::step(const Objective& f) {
  NewtonStep s = newton_step(f, x_, opt_);
  ++steps_;
  return s;
}

}  // namespace ad::optim
