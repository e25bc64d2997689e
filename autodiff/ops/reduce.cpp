// Reductions: sum, mean, prod, amax/amin, argmax/argmin, max/min(dim) with indices, var/std, norm, and sum_to (the
// adjoint of broadcasting).
#include <algorithm>
#include <cmath>
#include <limits>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

// The reduced dims as a sorted unique list (empty = all) and the keepdim shape.
struct Reduction {
  Shape dims;
  Shape keep_shape;  // input shape with reduced dims set to 1
  Shape out_shape;   // keep_shape, or with reduced dims removed
  std::int64_t count = 1;
};

Reduction plan(const Shape& in, const Shape& dims, bool keepdim, const char* op) {
  Reduction r;
  std::vector<bool> red = dim_mask(dims, static_cast<std::int64_t>(in.size()), op);
  if (dims.empty()) red.assign(in.size(), true);
  for (std::size_t i = 0; i < in.size(); ++i) {
    r.keep_shape.push_back(red[i] ? 1 : in[i]);
    if (red[i]) {
      r.dims.push_back(static_cast<std::int64_t>(i));
      r.count *= in[i];
      if (keepdim) r.out_shape.push_back(1);
    } else {
      r.out_shape.push_back(in[i]);
    }
  }
  return r;
}

// The sum of Int64 (or Bool, counted as 0/1) elements over the plan's dims, as Int64; an
// overflow is an error, not a wrapped result.
Tensor integer_sum(const Tensor& a_in, const Reduction& r) {
  const Tensor a = detail::as_dtype(a_in, kInt64);
  Tensor out = zeros(r.out_shape, dtype(kInt64));
  bool ok = true;  // written by acc, so this reduction stays on one thread (reduce_into)
  kernels::reduce_into(a.strided_data_ptr<std::int64_t>(), a.shape(), a.strides(), out.data_ptr<std::int64_t>(),
                       r.keep_shape, [&ok](std::int64_t x, std::int64_t y) { return detail::int_add(x, y, ok); });
  if (!ok) throw Error("sum: the Int64 sum overflows; convert with .to(ad::kFloat64) first");
  return out;
}

// sum over the plan's dims, times `scale`.
Tensor sum_kernel(const Tensor& a, const Reduction& r, double scale, const char* op) {
  Tensor out = zeros(r.out_shape, dtype(a.dtype()));
  dispatch_float(a.dtype(), op, [&]<class T>() {
    const T* src = a.strided_data_ptr<T>();
    T* dst = out.data_ptr<T>();
    if (out.numel() == 1) {  // full reduction: vectorized, in double, in an order fixed by the size
      const Tensor ac = a.contiguous();
      dst[0] = static_cast<T>(kernels::sum(ac.data_ptr<T>(), ac.numel()) * scale);
      return;
    }
    // rows along a contiguous reduced innermost dim go through the same summation kernel
    kernels::reduce_into_threaded(
        src, a.shape(), a.strides(), dst, r.keep_shape, [](T x, T y) { return x + y; },
        [](const T* x, std::int64_t len) { return kernels::sum(x, len); });
    if (scale != 1.0)
      for (std::int64_t i = 0, n = out.numel(); i < n; ++i) dst[i] = static_cast<T>(dst[i] * scale);
  });
  return out;
}

Tensor sum_like(const Tensor& a, const Shape& dims, bool keepdim, bool is_mean) {
  const char* name = is_mean ? "mean" : "sum";
  const Reduction r = plan(a.shape(), dims, keepdim, name);
  if (!is_mean && !is_floating(a.dtype())) return integer_sum(a, r);  // counts: Int64, as PyTorch
  // The mean of no elements is 0/0 = NaN, as in PyTorch.
  const double scale = !is_mean       ? 1.0
                       : r.count == 0 ? std::numeric_limits<double>::quiet_NaN()
                                      : 1.0 / static_cast<double>(r.count);
  Tensor out = sum_kernel(a, r, scale, name);
  const Shape in = a.shape(), keep = r.keep_shape;
  // d sum(a) = expand(g, a.shape);  d mean(a) = expand(g, a.shape) / n
  return record(name, out, {a}, [in, keep, scale](const Tensor& g, const Tensor&) {
    Tensor e = expand(reshape(g, keep), in);
    return GradList{scale == 1.0 ? e : e * scale};
  });
}

Tensor extremum(const Tensor& a, const Shape& dims, bool keepdim, bool is_max) {
  const char* name = is_max ? "amax" : "amin";
  if (a.numel() == 0)
    throw Error(std::string(name) + ": cannot reduce an empty tensor of shape " + shape_str(a.shape()));
  const Reduction r = plan(a.shape(), dims, keepdim, name);
  const double init = is_max ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  Tensor out = full(r.out_shape, init, dtype(a.dtype()));
  dispatch_float(a.dtype(), name, [&]<class T>() {
    // the larger (smaller) one, NaN wins; two lambdas rather than one function pointer, so the
    // loops inline the comparison
    const T* src = a.strided_data_ptr<T>();
    T* dst = out.data_ptr<T>();
    if (is_max)
      kernels::reduce_into_threaded(src, a.shape(), a.strides(), dst, r.keep_shape,
                                    [](T x, T y) { return y > x || y != y ? y : x; });
    else
      kernels::reduce_into_threaded(src, a.shape(), a.strides(), dst, r.keep_shape,
                                    [](T x, T y) { return y < x || y != y ? y : x; });
  });
  const Shape in = a.shape(), keep = r.keep_shape;
  // d amax(a) = g * [a = amax] / count(a = amax)   (ties share the gradient)
  return record(
      name, out, {a},
      [sa = SavedTensor(a), in, keep, dims_ = r.dims](const Tensor& g, const Tensor& o) {
        const Tensor mask = eq(sa.get(), reshape(o, keep)).to(o.dtype());
        const Tensor share = mask / sum(mask, dims_, true);
        return GradList{mul_grad(expand(reshape(g, keep), in), share)};
      },
      true);
}

Tensor arg_extremum(const Tensor& a, std::int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  const std::int64_t d = wrap_dim_scalar(dim, a.dim(), name);
  const Reduction r = plan(a.shape(), {d}, keepdim, name);
  if (a.numel() == 0) throw Error(std::string(name) + ": cannot reduce an empty tensor");
  Tensor out = empty(r.out_shape, dtype(kInt64));
  std::int64_t outer = 1, n = a.dim() == 0 ? 1 : a.size(d), inner = 1;
  for (std::int64_t i = 0; i < a.dim(); ++i) {
    if (i < d) outer *= a.size(i);
    if (i > d) inner *= a.size(i);
  }
  std::int64_t* dst = out.data_ptr<std::int64_t>();
  const Tensor ac = a.contiguous();
  dispatch_float(a.dtype(), name, [&]<class T>() {
    const T* src = ac.data_ptr<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t j = 0; j < inner; ++j) {
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < n; ++k) {
          const T v = src[(o * n + k) * inner + j], b = src[(o * n + best) * inner + j];
          if (is_max ? v > b : v < b) best = k;
        }
        dst[o * inner + j] = best;
      }
  });
  return out;
}

}  // namespace

Tensor sum(const Tensor& a) { return sum_like(a, {}, false, false); }
Tensor sum(const Tensor& a, const Dims& dims, bool keepdim) { return sum_like(a, dims, keepdim, false); }
Tensor mean(const Tensor& a) { return sum_like(a, {}, false, true); }
Tensor mean(const Tensor& a, const Dims& dims, bool keepdim) { return sum_like(a, dims, keepdim, true); }
Tensor amax(const Tensor& a, const Dims& dims, bool keepdim) { return extremum(a, dims, keepdim, true); }
Tensor amin(const Tensor& a, const Dims& dims, bool keepdim) { return extremum(a, dims, keepdim, false); }
Tensor argmax(const Tensor& a, std::int64_t dim, bool keepdim) { return arg_extremum(a, dim, keepdim, true); }
Tensor argmin(const Tensor& a, std::int64_t dim, bool keepdim) { return arg_extremum(a, dim, keepdim, false); }

namespace {
// values = gather(a, dim, index): d values = scatter of g into the chosen elements (gather's rule)
ValuesIndices extremum_with_index(const Tensor& a, std::int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  detail::check_floating(a, name);
  const std::int64_t d = wrap_dim_scalar(dim, a.dim(), name);
  if (a.numel() == 0)
    throw Error(std::string(name) + ": cannot reduce an empty tensor of shape " + shape_str(a.shape()));
  if (a.dim() == 0) return {a, zeros({}, dtype(kInt64))};
  const Tensor index = arg_extremum(a, d, true, is_max);
  Tensor values = gather(a, d, index);
  if (!keepdim) return {squeeze(values, d), squeeze(index, d)};
  return {values, index};
}
}  // namespace

// d prod(a) = g * prod(a) / a at a != 0; at a zero: g * (product of the slice's nonzeros) when
// it is the slice's only zero, else 0. Each branch is written so that its derivative is right
// as well (second order): prod(a) / a is 0 in a slice with a zero but depends on that zero,
// and with two zeros the 0 at one of them is (nonzeros) * (the other zero).
Tensor prod(const Tensor& a, const Dims& dims, bool keepdim) {
  const Reduction r = plan(a.shape(), dims, keepdim, "prod");
  Tensor out = full(r.out_shape, 1.0, dtype(a.dtype()));
  dispatch_float(a.dtype(), "prod", [&]<class T>() {
    kernels::reduce_into_threaded(a.strided_data_ptr<T>(), a.shape(), a.strides(), out.data_ptr<T>(), r.keep_shape,
                                  [](T x, T y) { return x * y; });
  });
  const Shape in = a.shape(), keep = r.keep_shape;
  return record(
      "prod", out, {a},
      [sa = SavedTensor(a), in, keep, dims_ = r.dims](const Tensor& g, const Tensor& o) {
        const Tensor& x = sa.get();
        const Tensor ge = expand(reshape(g, keep), in), oe = expand(reshape(o, keep), in);
        const Tensor zero = x == 0.0;
        if (!sum(zero).item<bool>()) return GradList{mul_grad(ge, oe / x)};
        const Tensor zero_v = detail::scalar_like(x, 0.0);
        const Tensor x1 = where(zero, detail::scalar_like(x, 1.0), x);  // the zeros set to 1
        const Tensor nonzeros = expand(prod(x1, dims_, true), in);      // the product of the slice's nonzeros
        const Tensor zeros_in_slice = expand(sum(zero, dims_, true), in);
        const Tensor other_zero = expand(sum(where(zero, x, zero_v), dims_, true), in) - x;  // 0, with a derivative
        const Tensor at_zero =
            where(zeros_in_slice == 1.0, nonzeros, where(zeros_in_slice == 2.0, nonzeros * other_zero, zero_v));
        return GradList{mul_grad(ge, where(zero, at_zero, oe / x1))};
      },
      true);
}

// var(a) = sum((a - mean(a))^2) / (n - correction): composed of differentiable ops
Tensor var(const Tensor& a, const Dims& dims, std::int64_t correction, bool keepdim) {
  detail::check_floating(a, "var");
  if (correction < 0) throw Error("var: correction must be >= 0, got " + std::to_string(correction));
  const std::int64_t n = plan(a.shape(), dims, false, "var").count;  // checks the dims
  const Tensor d = a - mean(a, dims, true);
  const Tensor ss = sum(d * d, dims, keepdim);
  // no degrees of freedom left: NaN, as PyTorch
  const double scale =
      n > correction ? 1.0 / static_cast<double>(n - correction) : std::numeric_limits<double>::quiet_NaN();
  return ss * scale;
}

// std(a) = sqrt(var(a))
Tensor std(const Tensor& a, const Dims& dims, std::int64_t correction, bool keepdim) {
  detail::check_floating(a, "std");
  plan(a.shape(), dims, false, "std");  // checks the dims
  return sqrt(var(a, dims, correction, keepdim));
}

// norm(a, 2) = sqrt(sum(a^2)), with gradient 0 (not NaN) where the norm is 0;
// norm(a, 1) = sum(|a|); norm(a, inf) = amax(|a|); other p: sum(|a|^p)^(1/p)
Tensor norm(const Tensor& a, double p, const Dims& dims, bool keepdim) {
  detail::check_floating(a, "norm");
  plan(a.shape(), dims, false, "norm");  // checks the dims
  if (!(p > 0)) throw Error("norm: p must be > 0 (or infinity), got " + std::to_string(p));
  if (p == 1.0) return sum(abs(a), dims, keepdim);
  if (std::isinf(p)) return amax(abs(a), dims, keepdim);
  if (p == 2.0) {
    const Tensor ss = sum(a * a, dims, keepdim);
    const Tensor zero = eq(ss, detail::scalar_like(ss, 0.0));
    // sqrt only sees positive sums; where() sends no gradient to the branch it did not take
    return where(zero, detail::scalar_like(ss, 0.0), sqrt(where(zero, detail::scalar_like(ss, 1.0), ss)));
  }
  return pow(sum(pow(abs(a), p), dims, keepdim), 1.0 / p);
}

ValuesIndices max(const Tensor& a, std::int64_t dim, bool keepdim) {
  return extremum_with_index(a, dim, keepdim, true);
}
ValuesIndices min(const Tensor& a, std::int64_t dim, bool keepdim) {
  return extremum_with_index(a, dim, keepdim, false);
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  if (!broadcastable_to(shape, g.shape()))
    throw Error("sum_to: shape " + shape_str(shape) + " does not broadcast to the gradient's shape " +
                shape_str(g.shape()));
  const std::size_t lead = g.shape().size() - shape.size();
  Shape dims;
  for (std::size_t i = 0; i < g.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(static_cast<std::int64_t>(i));
  return reshape(dims.empty() ? g : sum(g, dims, true), shape);
}

Tensor Tensor::sum() const { return ad::sum(*this); }
Tensor Tensor::sum(const Dims& dims, bool keepdim) const { return ad::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return ad::mean(*this); }
Tensor Tensor::mean(const Dims& dims, bool keepdim) const { return ad::mean(*this, dims, keepdim); }
Tensor Tensor::max() const { return amax(*this); }
Tensor Tensor::prod(const Dims& dims, bool keepdim) const { return ad::prod(*this, dims, keepdim); }
Tensor Tensor::var(const Dims& dims, std::int64_t correction, bool keepdim) const {
  return ad::var(*this, dims, correction, keepdim);
}
Tensor Tensor::std(const Dims& dims, std::int64_t correction, bool keepdim) const {
  return ad::std(*this, dims, correction, keepdim);
}
Tensor Tensor::norm(double p, const Dims& dims, bool keepdim) const { return ad::norm(*this, p, dims, keepdim); }
ValuesIndices Tensor::max(std::int64_t dim, bool keepdim) const { return ad::max(*this, dim, keepdim); }
Tensor Tensor::min() const { return amin(*this); }
ValuesIndices Tensor::min(std::int64_t dim, bool keepdim) const { return ad::min(*this, dim, keepdim); }
Tensor Tensor::argmax(std::int64_t dim, bool keepdim) const { return ad::argmax(*this, dim, keepdim); }

}  // namespace ad
