// Shape ops: reshape (a view), squeeze/unsqueeze/flatten, permute/transpose (copies), expand.
#include <numeric>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

// A new tensor over the same storage with another shape of equal numel.
Tensor view_as(const Tensor& a, const Shape& shape, const char* name) {
  auto impl = std::make_shared<TensorImpl>(a.impl()->storage, shape);
  Tensor out(std::move(impl));
  const Shape in = a.shape();
  return record(name, out, {a}, [in](const Tensor& g, const Tensor&) { return GradList{reshape(g, in)}; });
}

}  // namespace

// d reshape(a) = reshape(g, a.shape)
Tensor reshape(const Tensor& a, const Shape& shape) {
  Shape s = shape, known_sizes = shape;
  std::int64_t infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == -1) {
      if (infer >= 0) throw Error("reshape: only one dim may be -1, got " + shape_str(shape));
      infer = static_cast<std::int64_t>(i);
      known_sizes[i] = 1;
    }
  const std::int64_t known = checked_numel(known_sizes, "reshape");  // negative sizes, overflow
  if (infer >= 0 && known != 0 && a.numel() % known == 0) s[static_cast<std::size_t>(infer)] = a.numel() / known;
  if ((infer >= 0 && known == 0) || numel_of(s) != a.numel())
    throw Error("reshape: cannot view shape " + shape_str(a.shape()) + " (" + std::to_string(a.numel()) +
                " elements) as " + shape_str(shape) + "; the element counts must agree");
  if (s == a.shape()) return a;
  return view_as(a, s, "reshape");
}

Tensor squeeze(const Tensor& a) {
  Shape s;
  for (auto d : a.shape())
    if (d != 1) s.push_back(d);
  return s == a.shape() ? a : view_as(a, s, "squeeze");
}

Tensor squeeze(const Tensor& a, std::int64_t dim) {
  const std::int64_t d = wrap_dim_scalar(dim, a.dim(), "squeeze");
  if (a.dim() == 0) return a;
  if (a.shape()[static_cast<std::size_t>(d)] != 1) return a;
  Shape s = a.shape();
  s.erase(s.begin() + d);
  return view_as(a, s, "squeeze");
}

Tensor unsqueeze(const Tensor& a, std::int64_t dim) {
  const std::int64_t d = wrap_dim(dim, a.dim() + 1, "unsqueeze");
  Shape s = a.shape();
  s.insert(s.begin() + d, 1);
  return view_as(a, s, "unsqueeze");
}

Tensor flatten(const Tensor& a) { return a.dim() == 1 ? a : view_as(a, {a.numel()}, "flatten"); }

// d permute(a, p) = permute(g, inverse(p))
Tensor permute(const Tensor& a, const Shape& dims) {
  const std::int64_t r = a.dim();
  if (static_cast<std::int64_t>(dims.size()) != r)
    throw Error("permute: " + std::to_string(dims.size()) + " dims given for a tensor of shape " +
                shape_str(a.shape()));
  Shape p(dims.size()), inv(dims.size()), out_shape(dims.size()), in_st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  const Shape st = contiguous_strides(a.shape());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const auto d = static_cast<std::size_t>(wrap_dim(dims[i], r, "permute"));
    if (seen[d])
      throw Error("permute: dims " + shape_str(dims) + " repeat dim " + std::to_string(d) + "; give a permutation");
    seen[d] = true;
    p[i] = static_cast<std::int64_t>(d);
    inv[d] = static_cast<std::int64_t>(i);
    out_shape[i] = a.shape()[d];
    in_st[i] = st[d];
  }
  Tensor out = empty(out_shape, dtype(a.dtype()));
  dispatch_all(a.dtype(), [&]<class T>() {
    const T* src = a.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    kernels::broadcast_rows<1>(out_shape, {in_st},
                               [&](std::int64_t o, const auto& base, std::int64_t len, const auto& s) {
                                 for (std::int64_t j = 0; j < len; ++j) dst[o + j] = src[base[0] + j * s[0]];
                               });
  });
  return record("permute", out, {a}, [inv](const Tensor& g, const Tensor&) { return GradList{permute(g, inv)}; });
}

Tensor transpose(const Tensor& a, std::int64_t d0, std::int64_t d1) {
  const std::int64_t r = a.dim();
  Shape p(static_cast<std::size_t>(r));
  std::iota(p.begin(), p.end(), 0);
  const auto w0 = static_cast<std::size_t>(wrap_dim_scalar(d0, r, "transpose"));
  const auto w1 = static_cast<std::size_t>(wrap_dim_scalar(d1, r, "transpose"));
  if (r == 0) return a;
  std::swap(p[w0], p[w1]);
  return permute(a, p);
}

namespace {

// d expand(a) = g   (the engine sums g back to a's shape)
Tensor expand_as_op(const Tensor& a, const Shape& shape, const char* op) {
  Shape s = shape;
  const std::size_t off = s.size() >= a.shape().size() ? s.size() - a.shape().size() : 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == -1 && i >= off) s[i] = a.shape()[i - off];
  if (!broadcastable_to(a.shape(), s))
    throw Error(std::string(op) + ": shape " + shape_str(a.shape()) + " cannot be expanded to " + shape_str(shape) +
                "; only dims of size 1 can grow, and new dims go in front");
  if (s == a.shape()) return a;
  Tensor out = detail::empty_for(s, a.dtype(), op);
  dispatch_all(a.dtype(), [&]<class T>() {
    const T* src = a.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    kernels::broadcast_rows<1>(s, {broadcast_strides(a.shape(), s)},
                               [&](std::int64_t o, const auto& base, std::int64_t len, const auto& st) {
                                 for (std::int64_t j = 0; j < len; ++j) dst[o + j] = src[base[0] + j * st[0]];
                               });
  });
  return record(op, out, {a}, [](const Tensor& g, const Tensor&) { return GradList{g}; });
}

}  // namespace

Tensor expand(const Tensor& a, const Shape& shape) { return expand_as_op(a, shape, "expand"); }
Tensor broadcast_to(const Tensor& a, const Shape& shape) { return expand_as_op(a, shape, "broadcast_to"); }

Tensor Tensor::t() const {
  if (dim() > 2)
    throw Error("t: expects a tensor with <= 2 dims, got shape " + shape_str(shape()) + "; use transpose(d0, d1)");
  return dim() < 2 ? *this : ad::transpose(*this, 0, 1);
}
Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const { return ad::transpose(*this, d0, d1); }
Tensor Tensor::permute(const Shape& dims) const { return ad::permute(*this, dims); }
Tensor Tensor::reshape(const Shape& s) const { return ad::reshape(*this, s); }
Tensor Tensor::flatten() const { return ad::flatten(*this); }
Tensor Tensor::squeeze() const { return ad::squeeze(*this); }
Tensor Tensor::squeeze(std::int64_t d) const { return ad::squeeze(*this, d); }
Tensor Tensor::unsqueeze(std::int64_t d) const { return ad::unsqueeze(*this, d); }
Tensor Tensor::expand(const Shape& s) const { return ad::expand(*this, s); }

}  // namespace ad
