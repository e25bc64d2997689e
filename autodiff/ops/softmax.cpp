// logsumexp, softmax, log_softmax: computed around the max, so extreme logits stay finite. Over
// the last dim of a contiguous tensor the forward runs row by row (kernels/softmax.h), with the
// same bits as the composite ops it replaces.
#include "adgraph/autodiff/kernels/softmax.h"

#include <cmath>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

// m = max over dims (keepdim), with infinite maxima replaced by 0 so x - m never gives inf - inf;
// 0 when there are no elements (the sum of no exponentials is 0, whose log is -inf).
Tensor safe_max(const Tensor& a, const Shape& dims, const Shape& keep) {
  if (a.numel() == 0) return zeros(keep, dtype(a.dtype()));
  Tensor m = amax(a, dims, true);
  dispatch_float(m.dtype(), "logsumexp", [&]<class T>() {
    T* p = m.data_ptr<T>();
    for (std::int64_t i = 0, n = m.numel(); i < n; ++i)
      if (!std::isfinite(p[i])) p[i] = T(0);
  });
  return m;
}

Shape keep_shape(const Tensor& a, const Shape& dims) {
  Shape k = a.shape();
  const std::vector<bool> mask = dim_mask(dims, a.dim(), "logsumexp");
  for (std::size_t i = 0; i < k.size(); ++i)
    if (dims.empty() || mask[i]) k[i] = 1;
  return k;
}

// The rows kernel applies when a is contiguous, not empty, and the reduction keeps every dim but
// the last (reducing a dim of size 1 changes nothing): a is then [rows, n] in memory.
bool by_rows(const Tensor& a, const Shape& keep) {
  if (a.dim() == 0 || a.numel() == 0 || !a.is_contiguous()) return false;
  for (std::int64_t i = 0; i + 1 < a.dim(); ++i)
    if (keep[static_cast<std::size_t>(i)] != a.size(i)) return false;
  return keep.back() == 1;
}

// softmax and log_softmax along d take the rows kernels when d is the last dim of a contiguous,
// non-empty tensor (by_rows for a reduction over the last dim alone).
bool last_dim_rows(const Tensor& a, std::int64_t d) { return d == a.dim() - 1 && a.numel() > 0 && a.is_contiguous(); }

// A fresh tensor of `shape` from the rows of x along its last dim: the forward kernel, or with g
// the backward one (x is then the op's output).
Tensor rows_kernel(kernels::RowOp op, const Tensor& x, const Shape& shape, const Tensor* g = nullptr) {
  Tensor out = empty(shape, dtype(x.dtype()));
  const std::int64_t n = x.size(-1), rows = x.numel() / n;
  dispatch_float(x.dtype(), "softmax", [&]<class T>() {
    if (g)
      kernels::softmax_rows_backward(op, g->data_ptr<T>(), x.data_ptr<T>(), out.data_ptr<T>(), rows, n);
    else
      kernels::softmax_rows(op, x.data_ptr<T>(), out.data_ptr<T>(), rows, n);
  });
  return out;
}

// The fused backward runs when it is not itself recorded (no create_graph) and g is laid out as the
// output o: contiguous rows along the last dim.
bool rows_backward_applies(const Tensor& g, const Tensor& o, std::int64_t d) {
  return !GradMode::is_enabled() && last_dim_rows(o, d) && g.shape() == o.shape() && g.dtype() == o.dtype() &&
         g.is_contiguous();
}

// The shape of a reduction over `dims` without keepdim: the reduced dims dropped.
Shape dropped_shape(const Tensor& a, const Shape& dims) {
  const std::vector<bool> mask = dim_mask(dims, a.dim(), "logsumexp");
  Shape s;
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (!(dims.empty() || mask[i])) s.push_back(a.shape()[i]);
  return s;
}

}  // namespace

// d logsumexp(a) = g * exp(a - logsumexp(a))
Tensor logsumexp(const Tensor& a, const Dims& dims, bool keepdim) {
  detail::check_floating(a, "logsumexp");
  const Shape keep = keep_shape(a, dims), in = a.shape();                       // checks the dims first
  if (a.dim() == 0) return reshape(logsumexp(reshape(a, {1}), {}, false), {});  // a scalar is one-element 1-D
  Tensor out;
  if (by_rows(a, keep)) {
    out = rows_kernel(kernels::RowOp::logsumexp, a, keepdim ? keep : dropped_shape(a, dims));
  } else {
    NoGradGuard ng;
    const Tensor m = safe_max(a, dims, keep);
    out = log(sum(exp(a - m), dims, true)) + m;
    if (!keepdim) out = sum(out, dims, false);  // drops the kept dims (each has size 1)
    out = out.detach();
  }
  return record(
      "logsumexp", out, {a},
      [sa = SavedTensor(a), keep, in](const Tensor& g, const Tensor& o) {
        return GradList{mul_grad(expand(reshape(g, keep), in), exp(sa.get() - reshape(o, keep)))};
      },
      true);
}

// d log_softmax(a) = g - exp(out) * sum(g, dim)
Tensor log_softmax(const Tensor& a, std::int64_t dim) {
  detail::check_floating(a, "log_softmax");
  const std::int64_t d = wrap_dim_scalar(dim, a.dim(), "log_softmax");
  if (a.dim() == 0) return reshape(log_softmax(reshape(a, {1}), 0), {});
  Tensor out;
  if (last_dim_rows(a, d)) {
    out = rows_kernel(kernels::RowOp::log_softmax, a, a.shape());
  } else {
    NoGradGuard ng;
    out = (a - logsumexp(a, {d}, true)).detach();
  }
  return record(
      "log_softmax", out, {a},
      [d](const Tensor& g, const Tensor& o) {
        if (rows_backward_applies(g, o, d)) return GradList{rows_kernel(kernels::RowOp::log_softmax, o, o.shape(), &g)};
        return GradList{g - exp(o) * sum(g, {d}, true)};
      },
      true);
}

// d softmax(a) = out * (g - sum(g * out, dim))
Tensor softmax(const Tensor& a, std::int64_t dim) {
  detail::check_floating(a, "softmax");
  const std::int64_t d = wrap_dim_scalar(dim, a.dim(), "softmax");
  if (a.dim() == 0) return reshape(softmax(reshape(a, {1}), 0), {});
  Tensor out;
  if (last_dim_rows(a, d)) {
    out = rows_kernel(kernels::RowOp::softmax, a, a.shape());
  } else {
    NoGradGuard ng;
    out = exp(a - logsumexp(a, {d}, true)).detach();
  }
  return record(
      "softmax", out, {a},
      [d](const Tensor& g, const Tensor& o) {
        if (rows_backward_applies(g, o, d)) return GradList{rows_kernel(kernels::RowOp::softmax, o, o.shape(), &g)};
        return GradList{o * (g - sum(g * o, {d}, true))};
      },
      true);
}

Tensor Tensor::softmax(std::int64_t dim) const { return ad::softmax(*this, dim); }
Tensor Tensor::log_softmax(std::int64_t dim) const { return ad::log_softmax(*this, dim); }
Tensor Tensor::logsumexp(const Dims& dims, bool keepdim) const { return ad::logsumexp(*this, dims, keepdim); }

}  // namespace ad
