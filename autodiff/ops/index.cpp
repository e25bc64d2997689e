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
  for (const TensorIndex& i : indices)
    if (!std::holds_alternative<NoneT>(i.get()) && !std::holds_alternative<EllipsisT>(i.get())) ++n;
  return n;
}

// The basic indices applied as views; a tensor index is left for the caller: `tensor_dim` is
// the dim of the result it applies to (-1 when none).
struct Applied {
  Tensor view;
  Tensor index;
  std::int64_t tensor_dim = -1;
};

Applied apply_indices(const Tensor& a, const std::vector<TensorIndex>& indices, const char* op) {
  const std::int64_t used = dims_indexed(indices);
  std::int64_t ellipses = 0;
  for (const TensorIndex& i : indices) ellipses += std::holds_alternative<EllipsisT>(i.get());
  if (ellipses > 1) throw Error(std::string(op) + ": at most one Ellipsis, got " + std::to_string(ellipses));
  if (used > a.dim())
    throw Error(std::string(op) + ": " + std::to_string(used) + " indices for a tensor of shape " +
                shape_str(a.shape()) + " (" + std::to_string(a.dim()) + " dims)");
  Applied r{a, {}, -1};
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
      if (t.dtype() != kInt64)
        throw Error(std::string(op) + ": a tensor index must hold Int64 positions, got " + dtype_name(t.dtype()) +
                    "; for a mask use ad::masked_select / ad::masked_fill");
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
  const std::int64_t n = r.view.size(r.tensor_dim);
  check_positions(r.index.contiguous(), n, a.shape(), "index");
  return index_select(r.view, r.tensor_dim, r.index);
}

Tensor Tensor::index(std::initializer_list<TensorIndex> indices) const {
  return ad::index(*this, std::vector<TensorIndex>(indices));
}

Tensor& Tensor::index_put_(std::initializer_list<TensorIndex> indices, const Tensor& value) {
  const Applied r = apply_indices(*this, std::vector<TensorIndex>(indices), "index_put_");
  if (!r.index.defined()) {
    Tensor view = r.view;
    view.copy_(value);  // writes through the view; copy_ checks shapes, dtype and autograd
    return *this;
  }
  // One tensor index: each listed position of that dim gets its slice of `value`.
  const Tensor ic = r.index.contiguous();
  Shape want = r.view.shape();
  want[static_cast<std::size_t>(r.tensor_dim)] = ic.numel();
  if (!broadcastable_to(value.shape(), want))
    throw Error("index_put_: the value of shape " + shape_str(value.shape()) + " cannot be broadcast to " +
                shape_str(want) + ", the shape of the indexed elements");
  check_positions(ic, r.view.size(r.tensor_dim), shape(), "index_put_");  // before any write
  const Tensor v = ad::expand(value, want);
  for (std::int64_t k = 0; k < ic.numel(); ++k) {
    const std::int64_t i = ic.data_ptr<std::int64_t>()[k];
    Tensor dst = ad::select(r.view, r.tensor_dim, i);
    dst.copy_(ad::select(v, r.tensor_dim, k));
  }
  return *this;
}

Tensor& Tensor::index_put_(std::initializer_list<TensorIndex> indices, double value) {
  return index_put_(indices, scalar_tensor(value, ad::dtype(dtype())));
}

// d masked_fill(a) = g where mask == 0, else 0   (where's rule)
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  if (!broadcastable_to(mask.shape(), a.shape()))
    throw Error("masked_fill: the mask of shape " + shape_str(mask.shape()) + " cannot be broadcast to the tensor's " +
                shape_str(a.shape()));
  detail::check_floating(a, "masked_fill");
  return where(mask, detail::scalar_like(a, value), a);
}

// d masked_select(a) = g scattered back to the selected positions (index_select's rule)
Tensor masked_select(const Tensor& a, const Tensor& mask) {
  if (!broadcastable_to(mask.shape(), a.shape()))
    throw Error("masked_select: the mask of shape " + shape_str(mask.shape()) +
                " cannot be broadcast to the tensor's " + shape_str(a.shape()));
  std::vector<std::int64_t> positions;
  {
    NoGradGuard ng;
    const std::vector<double> m = expand(mask, a.shape()).to_vector();
    for (std::size_t i = 0; i < m.size(); ++i)
      if (m[i] != 0) positions.push_back(static_cast<std::int64_t>(i));
  }
  return index_select(reshape(a, {a.numel()}), 0, index_tensor(positions));
}

}  // namespace ad
