// Selection by index tensors: index_select / index_add, gather / scatter_add; cat, stack.
// (slice, select, narrow are views: shape_ops.cpp.)
// Each backward is the adjoint op, itself differentiable, so second derivatives work.
#include <algorithm>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

// A tensor seen as [outer, n, inner] around `dim`.
struct DimSplit {
  std::int64_t outer = 1, n = 1, inner = 1;
};
DimSplit split_at(const Shape& s, std::int64_t dim) {
  DimSplit r;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(s.size()); ++i) {
    const std::int64_t d = s[static_cast<std::size_t>(i)];
    if (i < dim)
      r.outer *= d;
    else if (i == dim)
      r.n = d;
    else
      r.inner *= d;
  }
  return r;
}

std::int64_t checked_index(std::int64_t i, std::int64_t n, const char* op, std::int64_t dim, const Shape& s) {
  if (i < -n || i >= n)
    throw Error(std::string(op) + ": index " + std::to_string(i) + " is out of range for dim " + std::to_string(dim) +
                " of shape " + shape_str(s) + " (valid: " + std::to_string(-n) + " .. " + std::to_string(n - 1) + ")");
  return i < 0 ? i + n : i;
}

void check_index_tensor(const Tensor& index, const char* op) {
  if (index.dtype() != kInt64)
    throw Error(std::string(op) + ": the index must be an Int64 tensor, got " + dtype_name(index.dtype()) +
                "; build it with ad::index_tensor or .to(ad::kInt64)");
}

}  // namespace

// d index_select(a, idx) = index_add(zeros(a.shape), idx, g)
Tensor index_select(const Tensor& a, std::int64_t dim, const Tensor& index) {
  check_index_tensor(index, "index_select");
  if (index.dim() > 1) throw Error("index_select: the index must be 1-D, got shape " + shape_str(index.shape()));
  const std::int64_t d = wrap_dim(dim, a.dim(), "index_select");
  const DimSplit sp = split_at(a.shape(), d);
  const std::int64_t m = index.numel();
  Shape out_shape = a.shape();
  if (!out_shape.empty()) out_shape[static_cast<std::size_t>(d)] = m;
  Tensor out = empty(out_shape, dtype(a.dtype()));
  const Tensor ic = index.contiguous(), ac = a.contiguous();
  const std::int64_t* idx = ic.data_ptr<std::int64_t>();
  dispatch_all(a.dtype(), [&]<class T>() {
    const T* src = ac.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t r = checked_index(idx[i], sp.n, "index_select", d, a.shape());
      for (std::int64_t o = 0; o < sp.outer; ++o)
        std::copy_n(src + (o * sp.n + r) * sp.inner, sp.inner, dst + (o * m + i) * sp.inner);
    }
  });
  const Shape in = a.shape();
  return record("index_select", out, {a},
                [in, d, index](const Tensor& g, const Tensor&) { return GradList{index_add(in, d, index, g)}; });
}

// d index_add(src) = index_select(gg, idx)
Tensor index_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "index_add");
  if (index.dim() > 1) throw Error("index_add: the index must be 1-D, got shape " + shape_str(index.shape()));
  const std::int64_t d = wrap_dim(dim, static_cast<std::int64_t>(shape.size()), "index_add");
  const DimSplit sp = split_at(shape, d);
  const std::int64_t m = index.numel();
  Shape want = shape;
  want[static_cast<std::size_t>(d)] = m;
  if (src.shape() != want)
    throw Error("index_add: src has shape " + shape_str(src.shape()) + " but " + std::to_string(m) +
                " indices into dim " + std::to_string(d) + " of " + shape_str(shape) + " need src of shape " +
                shape_str(want));
  Tensor out = detail::empty_for(shape, src.dtype(), "index_add");
  out.zero_();
  const Tensor ic = index.contiguous(), sc = src.contiguous();
  const std::int64_t* idx = ic.data_ptr<std::int64_t>();
  dispatch_float(src.dtype(), "index_add", [&]<class T>() {
    const T* s = sc.data_ptr<T>();
    T* o = out.data_ptr<T>();
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t r = checked_index(idx[i], sp.n, "index_add", d, shape);
      for (std::int64_t k = 0; k < sp.outer; ++k)
        for (std::int64_t j = 0; j < sp.inner; ++j) o[(k * sp.n + r) * sp.inner + j] += s[(k * m + i) * sp.inner + j];
    }
  });
  return record("index_add", out, {src},
                [d, index](const Tensor& g, const Tensor&) { return GradList{index_select(g, d, index)}; });
}

namespace {
// Visits every element of `index`: f(index_linear_offset, offset into a tensor of shape `target`).
template <class F>
void for_each_gather(const Tensor& index, const Shape& target, std::int64_t d, const char* op, F f) {
  if (index.dim() != static_cast<std::int64_t>(target.size()))
    throw Error(std::string(op) + ": the index has shape " + shape_str(index.shape()) + " but needs as many dims as " +
                shape_str(target));
  for (std::size_t i = 0; i < target.size(); ++i)
    if (static_cast<std::int64_t>(i) != d && index.shape()[i] > target[i])
      throw Error(std::string(op) + ": index shape " + shape_str(index.shape()) + " is larger than " +
                  shape_str(target) + " in dim " + std::to_string(i));
  Shape st = contiguous_strides(target);
  const std::int64_t dim_stride = st[static_cast<std::size_t>(d)];
  st[static_cast<std::size_t>(d)] = 0;
  const std::int64_t n = target[static_cast<std::size_t>(d)];
  const Tensor ic = index.contiguous();
  const std::int64_t* idx = ic.data_ptr<std::int64_t>();
  kernels::broadcast_rows<1>(
      index.shape(), {st}, [&](std::int64_t lin, const auto& b, std::int64_t len, const auto& s) {
        for (std::int64_t j = 0; j < len; ++j)
          f(lin + j, b[0] + j * s[0] + checked_index(idx[lin + j], n, op, d, target) * dim_stride);
      });
}
}  // namespace

// d gather(a, idx) = scatter_add(zeros(a.shape), idx, g)
Tensor gather(const Tensor& a, std::int64_t dim, const Tensor& index) {
  check_index_tensor(index, "gather");
  const std::int64_t d = wrap_dim(dim, a.dim(), "gather");
  Tensor out = empty(index.shape(), dtype(a.dtype()));
  const Tensor ac = a.contiguous();
  dispatch_all(a.dtype(), [&]<class T>() {
    const T* src = ac.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    for_each_gather(index, a.shape(), d, "gather", [&](std::int64_t i, std::int64_t off) { dst[i] = src[off]; });
  });
  const Shape in = a.shape();
  return record("gather", out, {a},
                [in, d, index](const Tensor& g, const Tensor&) { return GradList{scatter_add(in, d, index, g)}; });
}

// d scatter_add(src) = gather(gg, idx)
Tensor scatter_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "scatter_add");
  if (src.shape() != index.shape())
    throw Error("scatter_add: src shape " + shape_str(src.shape()) + " must equal the index shape " +
                shape_str(index.shape()));
  const std::int64_t d = wrap_dim(dim, static_cast<std::int64_t>(shape.size()), "scatter_add");
  Tensor out = detail::empty_for(shape, src.dtype(), "scatter_add");
  out.zero_();
  const Tensor sc = src.contiguous();
  dispatch_float(src.dtype(), "scatter_add", [&]<class T>() {
    const T* s = sc.data_ptr<T>();
    T* o = out.data_ptr<T>();
    for_each_gather(index, shape, d, "scatter_add", [&](std::int64_t i, std::int64_t off) { o[off] += s[i]; });
  });
  return record("scatter_add", out, {src},
                [d, index](const Tensor& g, const Tensor&) { return GradList{gather(g, d, index)}; });
}

// d cat(a_1..a_n) = the slices of g along dim
Tensor cat(const std::vector<Tensor>& ts, std::int64_t dim) {
  if (ts.empty()) throw Error("cat: needs at least one tensor");
  Dtype dt = ts.front().dtype();
  for (const Tensor& t : ts) dt = promote_types(dt, t.dtype());
  for (const Tensor& t : ts)
    if (t.dtype() != dt) {  // promote with recorded conversions
      std::vector<Tensor> same;
      for (const Tensor& u : ts) same.push_back(u.to(dt));
      return cat(same, dim);
    }
  const Tensor& first = ts.front();
  const std::int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  std::int64_t total = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    Shape a = t.shape(), b = first.shape();
    if (a.size() == b.size()) a[static_cast<std::size_t>(d)] = b[static_cast<std::size_t>(d)] = 0;
    if (a != b)
      throw Error("cat: tensor " + std::to_string(i) + " has shape " + shape_str(t.shape()) + " but tensor 0 has " +
                  shape_str(first.shape()) + "; all dims except dim " + std::to_string(d) + " must match");
    total += t.shape()[static_cast<std::size_t>(d)];
  }
  out_shape[static_cast<std::size_t>(d)] = total;
  Tensor out = empty(out_shape, dtype(first.dtype()));
  const DimSplit sp = split_at(out_shape, d);
  std::vector<std::int64_t> sizes;
  dispatch_all(first.dtype(), [&]<class T>() {
    T* dst = out.data_ptr<T>();
    std::int64_t off = 0;
    for (const Tensor& t : ts) {
      const std::int64_t n = t.shape()[static_cast<std::size_t>(d)];
      const Tensor tc = t.contiguous();
      const T* src = tc.data_ptr<T>();
      for (std::int64_t o = 0; o < sp.outer; ++o)
        std::copy_n(src + o * n * sp.inner, n * sp.inner, dst + (o * total + off) * sp.inner);
      off += n;
      sizes.push_back(n);
    }
  });
  return record("cat", out, ts, [d, sizes](const Tensor& g, const Tensor&) {
    GradList grads;
    std::int64_t off = 0;
    for (std::int64_t n : sizes) {
      grads.push_back(slice(g, d, off, off + n));
      off += n;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& ts, std::int64_t dim) {
  if (ts.empty()) throw Error("stack: needs at least one tensor");
  const std::int64_t d = wrap_dim(dim, ts.front().dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(ts.size());
  for (const Tensor& t : ts) {
    if (t.shape() != ts.front().shape())
      throw Error("stack: shapes " + shape_str(ts.front().shape()) + " and " + shape_str(t.shape()) +
                  " differ; all must be equal");
    parts.push_back(unsqueeze(t, d));
  }
  return cat(parts, d);
}

Tensor Tensor::index_select(std::int64_t d, const Tensor& i) const { return ad::index_select(*this, d, i); }
Tensor Tensor::gather(std::int64_t d, const Tensor& i) const { return ad::gather(*this, d, i); }

}  // namespace ad
