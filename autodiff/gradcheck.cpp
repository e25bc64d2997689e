// gradcheck / gradgradcheck: the analytic Jacobian, one backward per output element, against
// central differences, two forwards per input element.
#include "adgraph/autodiff/gradcheck.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

#include "adgraph/autodiff/engine.h"
#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/ops.h"
#include "adgraph/autodiff/random.h"

namespace ad {
namespace {

std::string index_str(std::int64_t flat, const Shape& shape) {
  if (shape.empty()) return "[]";
  Shape idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_str(idx);
}

void set_element(Tensor& t, std::int64_t i, double v) {
  dispatch_float(t.dtype(), "gradcheck", [&]<class T>() { t.data_ptr<T>()[i] = static_cast<T>(v); });
  ++t.impl()->storage->version;
}

// Grad mode stays on: gradgradcheck's function itself runs a backward.
std::vector<double> evaluate(const TensorFunction& f, const std::vector<Tensor>& xs) {
  AutoGradMode on(true);
  return f(xs).to_vector();
}

std::string fmt(double x) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

}  // namespace

GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  std::vector<Tensor> xs;
  std::vector<std::size_t> diff;  // indices of the inputs that require grad
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i].detach().clone();
    if (inputs[i].requires_grad()) {
      x.requires_grad_(true);
      diff.push_back(i);
      if (inputs[i].dtype() == kFloat32)
        spdlog::warn(
            "gradcheck: input {} is Float32; central differences need Float64 to be meaningful — "
            "convert with .to(ad::kFloat64)",
            i);
    }
    xs.push_back(x);
  }
  if (diff.empty()) return {false, "gradcheck: no input requires grad; call requires_grad_() on the inputs to check"};

  Tensor out = f(xs);
  const Shape out_shape = out.shape();
  const std::int64_t n_out = out.numel();

  // Analytic Jacobian rows: one vector-Jacobian product per output element.
  std::vector<std::vector<double>> analytic(diff.size());  // [input][out * n_in + j]
  std::vector<Tensor> diff_xs;
  for (auto i : diff) {
    diff_xs.push_back(xs[i]);
    analytic[diff_xs.size() - 1].assign(static_cast<std::size_t>(n_out * xs[i].numel()), 0.0);
  }
  if (out.requires_grad()) {
    for (std::int64_t k = 0; k < n_out; ++k) {
      Tensor go = zeros(out_shape, dtype(out.dtype()));
      set_element(go, k, 1.0);
      const auto grads =
          grad({out}, diff_xs, {go}, GradOptions{.retain_graph = true, .create_graph = false, .allow_unused = true});
      for (std::size_t m = 0; m < diff.size(); ++m) {
        if (!grads[m].defined()) continue;
        const auto row = grads[m].to_vector();
        std::copy(row.begin(), row.end(), analytic[m].begin() + static_cast<std::ptrdiff_t>(k * xs[diff[m]].numel()));
      }
    }
  }

  // Numeric Jacobian columns, compared as they are computed.
  for (std::size_t m = 0; m < diff.size(); ++m) {
    Tensor& x = xs[diff[m]];
    const std::int64_t n_in = x.numel();
    const std::vector<double> x0 = x.to_vector();
    for (std::int64_t j = 0; j < n_in; ++j) {
      const double orig = x0[static_cast<std::size_t>(j)];
      set_element(x, j, orig + opt.eps);
      const auto fp = evaluate(f, xs);
      set_element(x, j, orig - opt.eps);
      const auto fm = evaluate(f, xs);
      set_element(x, j, orig);
      for (std::int64_t k = 0; k < n_out; ++k) {
        const double num = (fp[static_cast<std::size_t>(k)] - fm[static_cast<std::size_t>(k)]) / (2 * opt.eps);
        const double ana = analytic[m][static_cast<std::size_t>(k * n_in + j)];
        const double tol = opt.atol + opt.rtol * std::abs(num);
        if (std::abs(ana - num) <= tol) continue;  // NaN fails here too
        return {false, "gradcheck failed: d output" + index_str(k, out_shape) + " / d input " +
                           std::to_string(diff[m]) + index_str(j, x.shape()) + " (input shape " + shape_str(x.shape()) +
                           "): numeric " + fmt(num) + ", analytic " + fmt(ana) + ", |difference| " +
                           fmt(std::abs(ana - num)) + " > tolerance " + fmt(tol)};
      }
    }
  }
  return {true, "gradcheck passed"};
}

GradcheckResult gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  // A fixed random output gradient v; the checked function is x -> v^T J_f(x), flattened.
  Tensor v;
  {
    NoGradGuard ng;
    std::vector<Tensor> xs;
    for (const auto& x : inputs) xs.push_back(x.detach());
    const Tensor out = f(xs);
    Generator gen(opt.seed);
    v = randn(out.shape(), dtype(out.dtype()), &gen);
  }
  auto vjp = [&f, v](const std::vector<Tensor>& xs) {
    std::vector<Tensor> diff;
    for (const auto& x : xs)
      if (x.requires_grad()) diff.push_back(x);
    const Tensor out = f(xs);
    std::vector<Tensor> parts;
    if (!out.requires_grad()) {
      for (const auto& x : diff) parts.push_back(flatten(zeros_like(x)));
      return cat(parts);
    }
    const auto grads =
        grad({out}, diff, {v}, GradOptions{.retain_graph = true, .create_graph = true, .allow_unused = true});
    for (std::size_t i = 0; i < diff.size(); ++i)
      parts.push_back(flatten(grads[i].defined() ? grads[i] : zeros_like(diff[i])));
    return cat(parts);
  };
  GradcheckResult r = gradcheck(vjp, inputs, opt);
  r.report = r.ok ? "gradgradcheck passed" : "gradgradcheck (second derivatives): " + r.report;
  return r;
}

}  // namespace ad
