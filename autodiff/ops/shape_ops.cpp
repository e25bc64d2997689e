// Views: reshape/view, squeeze/unsqueeze/flatten, permute/transpose/t, expand/broadcast_to,
// slice/narrow/select, diagonal, unfold. Each returns a tensor over the same storage with other
// sizes, strides and offset: nothing is copied, writes through the view reach its base, and the
// version counter is shared (it lives in the storage). reshape copies only when the strides
// cannot express the new shape, as in PyTorch.
#include <numeric>
#include <optional>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

// Where a tensor's elements are: sizes, strides and offset, in elements of its storage.
struct Layout {
  Shape sizes, strides;
  std::int64_t offset = 0;
};
Layout layout_of(const Tensor& a) { return {a.shape(), a.strides(), a.storage_offset()}; }
Layout contiguous_layout(const Shape& s) { return {s, contiguous_strides(s), 0}; }

// A view with layout `l` over a's storage (no autograd); it remembers a's base.
Tensor over_storage(const Tensor& a, Layout l) {
  auto impl = std::make_shared<TensorImpl>(a.impl()->storage, std::move(l.sizes), std::move(l.strides), l.offset);
  const std::shared_ptr<TensorImpl>& base = a.impl()->view ? a.impl()->view->base : a.impl_ptr();
  impl->view = std::make_unique<ViewInfo>(ViewInfo{base, base->rebases, !GradMode::is_enabled()});
  return Tensor(std::move(impl));
}

Tensor pick_view(const Tensor& a, const Layout& rel, const char* name);

// The gradient of a view that picks elements of its input (slice, select, diagonal, unfold):
// zeros of the input's shape with g added where the view's elements are (`rel`: the view's
// layout over a contiguous input). Elements picked twice (overlapping unfold windows) add up.
// d view_scatter(g) = the same view of gg
Tensor view_scatter(const Tensor& g, const Shape& in_shape, const Layout& rel, const char* name) {
  Tensor out = detail::empty_for(in_shape, g.dtype(), name);
  out.zero_();
  dispatch_float(g.dtype(), name, [&]<class T>() {
    T* o = out.data_ptr<T>() + rel.offset;
    const T* src = g.strided_data_ptr<T>();
    kernels::broadcast_rows<2>(rel.sizes, {rel.strides, g.strides()},
                               [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
                                 for (std::int64_t j = 0; j < len; ++j)
                                   o[base[0] + j * st[0]] += src[base[1] + j * st[1]];
                               });
  });
  return record(name, out, {g}, [rel, name](const Tensor& gg, const Tensor&) {
    return GradList{pick_view(gg.contiguous(), rel, name)};
  });
}

// The view of a contiguous `a` with layout `rel` relative to a's first element.
// d pick_view(a) = view_scatter(g)
Tensor pick_view(const Tensor& a, const Layout& rel, const char* name) {
  Layout l = rel;
  l.offset += a.storage_offset();
  const Shape in = a.shape();
  return record(name, over_storage(a, std::move(l)), {a},
                [in, rel, name](const Tensor& g, const Tensor&) { return GradList{view_scatter(g, in, rel, name)}; });
}

// g with the elements at `rel` (a layout relative to g's first element) set to 0.
// d zero_region(g) = zero_region(gg)   (a projection)
Tensor zero_region(const Tensor& g_in, const Layout& rel) {
  Tensor out = g_in.contiguous().detach().clone();
  dispatch_float(out.dtype(), "copy_slices", [&]<class T>() {
    T* o = out.data_ptr<T>() + rel.offset;
    kernels::broadcast_rows<1>(rel.sizes, {rel.strides},
                               [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
                                 for (std::int64_t j = 0; j < len; ++j) o[base[0] + j * st[0]] = T(0);
                               });
  });
  return record("copy_slices", out, {g_in},
                [rel](const Tensor& gg, const Tensor&) { return GradList{zero_region(gg, rel)}; });
}

// A view op that picks elements: `geometry` maps the input's layout to the view's. Applied to
// a's real layout it gives the view; applied to a contiguous layout of a's shape, the positions
// its gradient goes back to.
template <class Geometry>
Tensor picking_view(const Tensor& a, const char* name, Geometry geometry) {
  const Layout rel = geometry(contiguous_layout(a.shape()));
  const Shape in = a.shape();
  return record(name, over_storage(a, geometry(layout_of(a))), {a},
                [in, rel, name](const Tensor& g, const Tensor&) { return GradList{view_scatter(g, in, rel, name)}; });
}

// The strides that show a tensor (sizes, strides) with the sizes `to` without copying, if any:
// each run of dims that is contiguous within itself may be split or merged.
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& to) {
  Shape out(to.size(), 0);
  if (numel_of(sizes) == 0 || sizes.empty()) return contiguous_strides(to);
  auto v = static_cast<std::int64_t>(to.size()) - 1;  // next dim of `to` to give a stride
  std::int64_t run_stride = strides.back(), run_numel = 1, view_numel = 1;
  for (auto d = static_cast<std::int64_t>(sizes.size()) - 1; d >= 0; --d) {
    const auto i = static_cast<std::size_t>(d);
    run_numel *= sizes[i];
    const bool run_ends = d == 0 || (sizes[i - 1] != 1 && strides[i - 1] != run_numel * run_stride);
    if (!run_ends) continue;
    while (v >= 0 && (view_numel < run_numel || to[static_cast<std::size_t>(v)] == 1)) {
      out[static_cast<std::size_t>(v)] = view_numel * run_stride;
      view_numel *= to[static_cast<std::size_t>(v)];
      --v;
    }
    if (view_numel != run_numel) return std::nullopt;
    if (d > 0) {
      run_stride = strides[i - 1];
      run_numel = view_numel = 1;
    }
  }
  if (v != -1) return std::nullopt;
  return out;
}

// The sizes of reshape(a, shape) with the -1 inferred; throws naming `op`.
Shape infer_shape(const Tensor& a, const Shape& shape, const char* op) {
  Shape s = shape, known_sizes = shape;
  std::int64_t infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == -1) {
      if (infer >= 0) throw Error(std::string(op) + ": only one dim may be -1, got " + shape_str(shape));
      infer = static_cast<std::int64_t>(i);
      known_sizes[i] = 1;
    }
  const std::int64_t known = checked_numel(known_sizes, op);  // negative sizes, overflow
  if (infer >= 0 && known != 0 && a.numel() % known == 0) s[static_cast<std::size_t>(infer)] = a.numel() / known;
  if ((infer >= 0 && known == 0) || numel_of(s) != a.numel())
    throw Error(std::string(op) + ": cannot view shape " + shape_str(a.shape()) + " (" + std::to_string(a.numel()) +
                " elements) as " + shape_str(shape) + "; the element counts must agree");
  return s;
}

// d (view of a as sizes s) = reshape(g, a.shape)
Tensor reshaped_view(const Tensor& a, const Shape& s, const Shape& strides, const char* name) {
  const Shape in = a.shape();
  return record(name, over_storage(a, {s, strides, a.storage_offset()}), {a},
                [in](const Tensor& g, const Tensor&) { return GradList{reshape(g, in)}; });
}

}  // namespace

Tensor detail::view_of_base(const Tensor& base, const Tensor& v) {
  return pick_view(base, {v.shape(), v.strides(), v.storage_offset() - base.storage_offset()}, "view");
}

// The base's history after an in-place write of `r` into its view `v`: a node whose backward
// sends the gradient outside the view to the old base and the part inside it to r. The values
// are already in place, so the node is attached to an alias of the base and handed over.
// d copy_slices(base, r) = zero_region(g), view of g
std::shared_ptr<Node> detail::copy_slices(const Tensor& base, const Tensor& v, const Tensor& r) {
  const Layout rel{v.shape(), v.strides(), v.storage_offset() - base.storage_offset()};
  Tensor alias(std::make_shared<TensorImpl>(base.impl()->storage, base.shape(), base.strides(), base.storage_offset()));
  alias = record("copy_slices", alias, {base, r}, [rel](const Tensor& g, const Tensor&) {
    const Tensor gc = g.contiguous();
    return GradList{zero_region(gc, rel), pick_view(gc, rel, "copy_slices")};
  });
  return alias.grad_fn();
}

Tensor reshape(const Tensor& a, const Shape& shape) {
  const Shape s = infer_shape(a, shape, "reshape");
  if (s == a.shape()) return a;
  if (auto st = view_strides(a.shape(), a.strides(), s)) return reshaped_view(a, s, *st, "reshape");
  return reshaped_view(a.contiguous(), s, contiguous_strides(s), "reshape");  // copies once
}

Tensor view(const Tensor& a, const Shape& shape) {
  const Shape s = infer_shape(a, shape, "view");
  if (s == a.shape()) return a;
  auto st = view_strides(a.shape(), a.strides(), s);
  if (!st)
    throw Error("view: a tensor of shape " + shape_str(a.shape()) + " and strides " + shape_str(a.strides()) +
                " cannot be viewed as " + shape_str(shape) +
                " without a copy (the dims to merge are not contiguous); use reshape, or contiguous().view()");
  return reshaped_view(a, s, *st, "view");
}

Tensor squeeze(const Tensor& a) {
  Shape s, st;
  for (std::int64_t i = 0; i < a.dim(); ++i)
    if (a.size(i) != 1) {
      s.push_back(a.size(i));
      st.push_back(a.stride(i));
    }
  return s == a.shape() ? a : reshaped_view(a, s, st, "squeeze");
}

Tensor squeeze(const Tensor& a, std::int64_t dim) {
  const std::int64_t d = wrap_dim_scalar(dim, a.dim(), "squeeze");
  if (a.dim() == 0 || a.size(d) != 1) return a;
  Shape s = a.shape(), st = a.strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return reshaped_view(a, s, st, "squeeze");
}

Tensor unsqueeze(const Tensor& a, std::int64_t dim) {
  const std::int64_t d = wrap_dim(dim, a.dim() + 1, "unsqueeze");
  Shape s = a.shape(), st = a.strides();
  const std::int64_t stride = d < a.dim() ? a.stride(d) * a.size(d) : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return reshaped_view(a, s, st, "unsqueeze");
}

Tensor flatten(const Tensor& a) { return a.dim() == 1 ? a : reshape(a, {a.numel()}); }

// d permute(a, p) = permute(g, inverse(p))
Tensor permute(const Tensor& a, const Shape& dims) {
  const std::int64_t r = a.dim();
  if (static_cast<std::int64_t>(dims.size()) != r)
    throw Error("permute: " + std::to_string(dims.size()) + " dims given for a tensor of shape " +
                shape_str(a.shape()));
  Shape inv(dims.size()), sizes(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const auto d = static_cast<std::size_t>(wrap_dim(dims[i], r, "permute"));
    if (seen[d])
      throw Error("permute: dims " + shape_str(dims) + " repeat dim " + std::to_string(d) + "; give a permutation");
    seen[d] = true;
    inv[d] = static_cast<std::int64_t>(i);
    sizes[i] = a.shape()[d];
    strides[i] = a.strides()[d];
  }
  return record("permute", over_storage(a, {sizes, strides, a.storage_offset()}), {a},
                [inv](const Tensor& g, const Tensor&) { return GradList{permute(g, inv)}; });
}

Tensor transpose(const Tensor& a, std::int64_t d0, std::int64_t d1) {
  const std::int64_t r = a.dim();
  Shape p(static_cast<std::size_t>(r));
  std::iota(p.begin(), p.end(), 0);
  const auto w0 = static_cast<std::size_t>(wrap_dim_scalar(d0, r, "transpose"));
  const auto w1 = static_cast<std::size_t>(wrap_dim_scalar(d1, r, "transpose"));
  if (r == 0 || w0 == w1) return a;
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
  checked_numel(s, op);
  if (s == a.shape()) return a;
  return record(op, over_storage(a, {s, broadcast_strides(a.shape(), a.strides(), s), a.storage_offset()}), {a},
                [](const Tensor& g, const Tensor&) { return GradList{g}; });
}

}  // namespace

Tensor expand(const Tensor& a, const Shape& shape) { return expand_as_op(a, shape, "expand"); }
Tensor broadcast_to(const Tensor& a, const Shape& shape) { return expand_as_op(a, shape, "broadcast_to"); }

// d slice(a) = zeros of a's shape with g added at the slice
Tensor slice(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) {
  const std::int64_t d = wrap_dim(dim, a.dim(), "slice");
  if (step <= 0) throw Error("slice: step must be positive, got " + std::to_string(step));
  const std::int64_t n = a.size(d);
  auto clip = [n](std::int64_t i) { return std::clamp(i < 0 ? i + n : i, std::int64_t{0}, n); };
  const std::int64_t s = clip(start), e = std::max(clip(end), s);
  const std::int64_t len = (e - s + step - 1) / step;
  const auto i = static_cast<std::size_t>(d);
  return picking_view(a, "slice", [=](Layout l) {
    l.offset += s * l.strides[i];
    l.sizes[i] = len;
    l.strides[i] *= step;
    return l;
  });
}

Tensor narrow(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t length) {
  const std::int64_t d = wrap_dim(dim, a.dim(), "narrow");
  const std::int64_t n = a.size(d);
  const std::int64_t s = start < 0 ? start + n : start;
  if (s < 0 || s > n || length < 0 || s + length > n)
    throw Error("narrow: start " + std::to_string(start) + " and length " + std::to_string(length) +
                " do not fit in dim " + std::to_string(d) + " of shape " + shape_str(a.shape()) + " (size " +
                std::to_string(n) + ")");
  return slice(a, d, s, s + length);
}

// d select(a, i) = zeros of a's shape with g added at index i of dim
Tensor select(const Tensor& a, std::int64_t dim, std::int64_t index) {
  const std::int64_t d = wrap_dim(dim, a.dim(), "select");
  const std::int64_t n = a.size(d);
  if (index < -n || index >= n)
    throw Error("select: index " + std::to_string(index) + " is out of range for dim " + std::to_string(d) +
                " of shape " + shape_str(a.shape()) + " (valid: " + std::to_string(-n) + " .. " +
                std::to_string(n - 1) + ")");
  const std::int64_t k = index < 0 ? index + n : index;
  const auto i = static_cast<std::size_t>(d);
  return picking_view(a, "select", [=](Layout l) {
    l.offset += k * l.strides[i];
    l.sizes.erase(l.sizes.begin() + d);
    l.strides.erase(l.strides.begin() + d);
    return l;
  });
}

// d diagonal(a) = zeros of a's shape with g added on the diagonal
Tensor diagonal(const Tensor& a, std::int64_t offset, std::int64_t dim0, std::int64_t dim1) {
  const std::int64_t d0 = wrap_dim(dim0, a.dim(), "diagonal"), d1 = wrap_dim(dim1, a.dim(), "diagonal");
  if (d0 == d1)
    throw Error("diagonal: dim0 and dim1 are both dim " + std::to_string(d0) + " of shape " + shape_str(a.shape()) +
                "; give two different dims");
  const std::int64_t n0 = a.size(d0), n1 = a.size(d1);
  const std::int64_t len =
      std::max<std::int64_t>(0, offset >= 0 ? std::min(n0, n1 - offset) : std::min(n0 + offset, n1));
  return picking_view(a, "diagonal", [=](Layout l) {
    const std::int64_t s0 = l.strides[static_cast<std::size_t>(d0)], s1 = l.strides[static_cast<std::size_t>(d1)];
    if (len > 0) l.offset += offset >= 0 ? offset * s1 : -offset * s0;
    for (std::int64_t d : {std::max(d0, d1), std::min(d0, d1)}) {  // the later one first
      l.sizes.erase(l.sizes.begin() + d);
      l.strides.erase(l.strides.begin() + d);
    }
    l.sizes.push_back(len);
    l.strides.push_back(s0 + s1);
    return l;
  });
}

// d unfold(a) = zeros of a's shape with every window of g added back (overlaps add up)
Tensor unfold(const Tensor& a, std::int64_t dim, std::int64_t size, std::int64_t step) {
  const std::int64_t d = wrap_dim(dim, a.dim(), "unfold");
  const std::int64_t n = a.size(d);
  if (size < 0 || size > n)
    throw Error("unfold: window size " + std::to_string(size) + " does not fit in dim " + std::to_string(d) +
                " of shape " + shape_str(a.shape()) + " (size " + std::to_string(n) + ")");
  if (step <= 0) throw Error("unfold: step must be positive, got " + std::to_string(step));
  const std::int64_t windows = (n - size) / step + 1;
  const auto i = static_cast<std::size_t>(d);
  return picking_view(a, "unfold", [=](Layout l) {
    const std::int64_t st = l.strides[i];
    l.sizes[i] = windows;
    l.strides[i] = st * step;
    l.sizes.push_back(size);
    l.strides.push_back(st);
    return l;
  });
}

Tensor Tensor::t() const {
  if (dim() > 2)
    throw Error("t: expects a tensor with <= 2 dims, got shape " + shape_str(shape()) + "; use transpose(d0, d1)");
  return dim() < 2 ? *this : ad::transpose(*this, 0, 1);
}
Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const { return ad::transpose(*this, d0, d1); }
Tensor Tensor::permute(const Shape& dims) const { return ad::permute(*this, dims); }
Tensor Tensor::reshape(const Shape& s) const { return ad::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return ad::view(*this, s); }
Tensor Tensor::flatten() const { return ad::flatten(*this); }
Tensor Tensor::squeeze() const { return ad::squeeze(*this); }
Tensor Tensor::squeeze(std::int64_t d) const { return ad::squeeze(*this, d); }
Tensor Tensor::unsqueeze(std::int64_t d) const { return ad::unsqueeze(*this, d); }
Tensor Tensor::expand(const Shape& s) const { return ad::expand(*this, s); }
Tensor Tensor::slice(std::int64_t d, std::int64_t s, std::int64_t e, std::int64_t st) const {
  return ad::slice(*this, d, s, e, st);
}
Tensor Tensor::narrow(std::int64_t d, std::int64_t s, std::int64_t n) const { return ad::narrow(*this, d, s, n); }
Tensor Tensor::select(std::int64_t d, std::int64_t i) const { return ad::select(*this, d, i); }
Tensor Tensor::diagonal(std::int64_t o, std::int64_t d0, std::int64_t d1) const {
  return ad::diagonal(*this, o, d0, d1);
}
Tensor Tensor::unfold(std::int64_t d, std::int64_t size, std::int64_t step) const {
  return ad::unfold(*this, d, size, step);
}

}  // namespace ad
