// Indexing: Tensor::index and index_put_ (integers, slices, None, Ellipsis: views; one Int64
// index tensor: index_select), masked_fill and masked_select. Every result is built from ops
// that are already differentiable (select, slice, unsqueeze, index_select, where), so their
// gradients need no rule here.
#include <variant>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

using indexing::EllipsisT;
using indexing::NoneT;
using indexing::Slice;

std::int64_t dims_indexed(const std::vector<TensorIndex>& indices) {
  std::int64_t n = 0;
  for (const TensorIndex& i : indices) {
    const auto* t = std::get_if<Tensor>(&i.get());
    if (t && t->defined() && t->dtype() == kBool)
      n += t->dim();  // a mask indexes as many dims as it has
    else if (!std::holds_alternative<NoneT>(i.get()) && !std::holds_alternative<EllipsisT>(i.get()))
      ++n;
  }
  return n;
}

// The basic indices applied as views; a tensor index is left for the caller: `tensor_dim` is
// the dim of the result it applies to (-1 when none). A Bool mask over k dims becomes the
// Int64 positions of its true elements, row-major over those k dims (`mask_shape`).
struct Applied {
  Tensor view;
  Tensor index;
  std::int64_t tensor_dim = -1;
  Shape mask_shape;  // empty unless the tensor index was a mask
};

// The row-major positions of the true elements of a Bool mask.
Tensor true_positions(const Tensor& mask) {
  const Tensor m = mask.contiguous();
  const bool* p = m.data_ptr<bool>();
  std::vector<std::int64_t> positions;
  for (std::int64_t i = 0; i < m.numel(); ++i)
    if (p[i]) positions.push_back(i);
  return index_tensor(positions);
}

Applied apply_indices(const Tensor& a, const std::vector<TensorIndex>& indices, const char* op) {
  const std::int64_t used = dims_indexed(indices);
  std::int64_t ellipses = 0;
  for (const TensorIndex& i : indices) ellipses += std::holds_alternative<EllipsisT>(i.get());
  if (ellipses > 1) throw Error(std::string(op) + ": at most one Ellipsis, got " + std::to_string(ellipses));
  if (used > a.dim())
    throw Error(std::string(op) + ": " + std::to_string(used) + " indices for a tensor of shape " +
                shape_str(a.shape()) + " (" + std::to_string(a.dim()) + " dims)");
  Applied r{a, {}, -1, {}};
  std::int64_t d = 0;    // the dim of r.view the next index applies to
  std::int64_t src = 0;  // the dim of `a` it came from (for messages)
  for (const TensorIndex& idx : indices) {
    const auto& v = idx.get();
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
      const std::int64_t n = r.view.size(d);
      if (*i < -n || *i >= n)
        throw Error(std::string(op) + ": index " + std::to_string(*i) + " is out of range for dim " +
                    std::to_string(src) + " of shape " + shape_str(a.shape()) + " (size " + std::to_string(n) +
                    "; valid: " + std::to_string(-n) + " .. " + std::to_string(n - 1) + ")");
      r.view = select(r.view, d, *i);
      ++src;
    } else if (const auto* s = std::get_if<Slice>(&v)) {
      if (s->step <= 0)
        throw Error(std::string(op) + ": slice step must be positive, got " + std::to_string(s->step) +
                    " (negative steps are not supported; flip with index_select)");
      const std::int64_t n = r.view.size(d);
      r.view = slice(r.view, d, s->start.value_or(0), s->stop.value_or(n), s->step);
      ++d;
      ++src;
    } else if (std::holds_alternative<NoneT>(v)) {
      r.view = unsqueeze(r.view, d);
      ++d;
    } else if (std::holds_alternative<EllipsisT>(v)) {
      const std::int64_t skip = a.dim() - used;
      d += skip;
      src += skip;
    } else {
      const Tensor& t = std::get<Tensor>(v);
      if (r.index.defined())
        throw Error(std::string(op) + ": only one tensor index is supported; index the other dim in a second call");
      if (t.dtype() == kBool) {  // a mask over the next t.dim() dims
        const std::int64_t k = t.dim();
        const Shape& vs = r.view.shape();
        if (k == 0 || !std::equal(t.shape().begin(), t.shape().end(), vs.begin() + d))
          throw Error(std::string(op) + ": a Bool mask of shape " + shape_str(t.shape()) +
                      " must match the sizes of the dims it indexes (dims " + std::to_string(src) + ".. of shape " +
                      shape_str(a.shape()) + "); use ad::masked_select for a broadcast mask");
        r.index = true_positions(t);
        r.mask_shape = t.shape();
        r.tensor_dim = d;
        ++d;
        src += k;
        continue;
      }
      if (t.dtype() != kInt64)
        throw Error(std::string(op) + ": a tensor index must hold Int64 positions or be a Bool mask, got " +
                    dtype_name(t.dtype()) + "; convert it with .to(ad::kInt64) or compare to get a mask");
      if (t.dim() > 1) throw Error(std::string(op) + ": a tensor index must be 1-D, got shape " + shape_str(t.shape()));
      r.index = t;
      r.tensor_dim = d;
      ++d;
      ++src;
    }
  }
  return r;
}

// Throws naming `op` unless every position of the Int64 index fits a dim of size n.
void check_positions(const Tensor& ic, std::int64_t n, const Shape& shape, const char* op) {
  const std::int64_t* p = ic.data_ptr<std::int64_t>();
  for (std::int64_t k = 0; k < ic.numel(); ++k)
    if (p[k] < -n || p[k] >= n)
      throw Error(std::string(op) + ": tensor index " + std::to_string(p[k]) + " (element " + std::to_string(k) +
                  ") is out of range for a dim of size " + std::to_string(n) + " in shape " + shape_str(shape));
}

}  // namespace

Tensor index(const Tensor& a, const std::vector<TensorIndex>& indices) {
  const Applied r = apply_indices(a, indices, "index");
  if (!r.index.defined()) return r.view;
  if (!r.mask_shape.empty()) {  // the masked dims flattened into one, then the true positions picked
    const Shape& vs = r.view.shape();
    const auto first = vs.begin() + r.tensor_dim, last = first + static_cast<std::ptrdiff_t>(r.mask_shape.size());
    Shape merged(vs.begin(), first);
    merged.push_back(numel_of(r.mask_shape));
    merged.insert(merged.end(), last, vs.end());
    return index_select(reshape(r.view, merged), r.tensor_dim, r.index);
  }
  const std::int64_t n = r.view.size(r.tensor_dim);
  check_positions(r.index.contiguous(), n, a.shape(), "index");
  return index_select(r.view, r.tensor_dim, r.index);
}

Tensor Tensor::index(std::initializer_list<TensorIndex> indices) const {
  return ad::index(*this, std::vector<TensorIndex>(indices));
}

Tensor& Tensor::index_put_(std::initializer_list<TensorIndex> indices, const Tensor& value) {
  detail::check_inplace_leaf(*this, "index_put_");
  const Applied r = apply_indices(*this, std::vector<TensorIndex>(indices), "index_put_");
  if (!r.index.defined()) {
    Tensor view = r.view;
    view.copy_(value);  // writes through the view; copy_ checks shapes, dtype and autograd
    return *this;
  }
  // One tensor index: each listed position of that dim gets its slice of `value` (a mask's
  // positions run over its k dims, selected one dim at a time so writes stay in views).
  const Tensor ic = r.index.contiguous();
  // the dims the positions run over: a mask's, or the one indexed dim
  const Shape dims = r.mask_shape.empty() ? Shape{r.view.size(r.tensor_dim)} : r.mask_shape;
  const auto k_dims = static_cast<std::int64_t>(dims.size());
  const Shape& vs = r.view.shape();
  Shape want(vs.begin(), vs.begin() + r.tensor_dim);
  want.push_back(ic.numel());
  want.insert(want.end(), vs.begin() + r.tensor_dim + k_dims, vs.end());
  if (!broadcastable_to(value.shape(), want))
    throw Error("index_put_: the value of shape " + shape_str(value.shape()) + " cannot be broadcast to " +
                shape_str(want) + ", the shape of the indexed elements");
  if (r.mask_shape.empty()) check_positions(ic, dims[0], shape(), "index_put_");  // before writing
  const Tensor v = ad::expand(value, want);
  for (std::int64_t k = 0; k < ic.numel(); ++k) {
    std::int64_t i = ic.data_ptr<std::int64_t>()[k];
    Tensor dst = r.view;
    for (std::int64_t j = k_dims - 1; j >= 0; --j) {  // unravel i over those dims, last dim fastest
      const std::int64_t n = dims[static_cast<std::size_t>(j)];
      dst = ad::select(dst, r.tensor_dim + j, i % n);  // a negative position stays negative: select wraps it
      i /= n;
    }
    dst.copy_(ad::select(v, r.tensor_dim, k));
  }
  return *this;
}

Tensor& Tensor::index_put_(std::initializer_list<TensorIndex> indices, double value) {
  return index_put_(indices, scalar_tensor(value, ad::dtype(dtype())));
}

// d masked_fill(a) = g where mask == 0, else 0   (where's rule)
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  detail::check_bool_mask(mask, "masked_fill", "mask");
  if (!broadcastable_to(mask.shape(), a.shape()))
    throw Error("masked_fill: the mask of shape " + shape_str(mask.shape()) + " cannot be broadcast to the tensor's " +
                shape_str(a.shape()));
  detail::check_floating(a, "masked_fill");
  return where(mask, detail::scalar_like(a, value), a);
}

// d masked_select(a) = g scattered back to the selected positions (index_select's rule)
Tensor masked_select(const Tensor& a, const Tensor& mask) {
  detail::check_bool_mask(mask, "masked_select", "mask");
  if (!broadcastable_to(mask.shape(), a.shape()))
    throw Error("masked_select: the mask of shape " + shape_str(mask.shape()) +
                " cannot be broadcast to the tensor's " + shape_str(a.shape()));
  return index_select(reshape(a, {a.numel()}), 0, true_positions(expand(mask, a.shape())));
}

}  // namespace ad
