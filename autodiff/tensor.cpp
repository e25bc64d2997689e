#include "adgraph/autodiff/tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <utility>

#include "adgraph/autodiff/engine.h"
#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/kernels/broadcast.h"
#include "adgraph/autodiff/memory.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops.h"
#include "adgraph/autodiff/ops/common.h"

namespace ad {

namespace {
constexpr std::size_t kCachedBytes = 16384;  // from here on, buffers go through memory.h's cache
}  // namespace

Storage::Storage(Dtype d, std::int64_t n) : numel(n), dtype(d) {
  const std::size_t bytes = static_cast<std::size_t>(n) * dtype_size(d);
  // Up to 16 bytes inline; large buffers 64-byte aligned for vector loads; the ones between with
  // plain malloc, since memalign'd small chunks fragment glibc's heap (malloc_consolidate
  // dominated 0-d graphs); from 16 KiB on through the buffer cache (memory.h).
  if (bytes <= sizeof(small))
    data = small;
  else if (bytes >= kCachedBytes)
    data = detail::allocate_buffer(bytes);
  else if (bytes >= 4096)
    data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  else
    data = std::malloc(bytes);
  if (!data) throw std::bad_alloc();
}

Storage::~Storage() {
  const std::size_t bytes = static_cast<std::size_t>(numel) * dtype_size(dtype);
  if (data == small) return;
  if (bytes >= kCachedBytes)
    detail::free_buffer(data, bytes);
  else
    std::free(data);
}

TensorImpl::TensorImpl(std::shared_ptr<Storage> s, Shape sh)
    : storage(std::move(s)), shape(std::move(sh)), strides(contiguous_strides(shape)) {}
TensorImpl::TensorImpl(std::shared_ptr<Storage> s, Shape sh, Shape st, std::int64_t off)
    : storage(std::move(s)), shape(std::move(sh)), strides(std::move(st)), offset(off) {}

const TensorImpl& Tensor::checked() const {
  if (!impl_)
    throw Error("use of an undefined Tensor (default-constructed, or a .grad() that no backward has filled yet)");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }
std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
std::int64_t Tensor::numel() const { return numel_of(shape()); }
const Shape& Tensor::strides() const { return checked().strides; }
std::int64_t Tensor::stride(std::int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }
std::int64_t Tensor::storage_offset() const { return checked().offset; }
bool Tensor::is_contiguous() const { return is_contiguous_layout(shape(), impl_->strides); }
Dtype Tensor::dtype() const { return checked().storage->dtype; }
std::uint64_t Tensor::version() const { return checked().storage->version; }
const std::string& TensorImpl::label_text() const {
  static const std::string none;
  return extras ? extras->label : none;
}

TensorExtras& TensorImpl::extra() {
  if (!extras) extras = std::make_unique<TensorExtras>();
  return *extras;
}

std::string Tensor::label() const { return checked().label_text(); }
Tensor& Tensor::set_label(std::string name) {
  checked();
  if (!name.empty() || impl_->extras) impl_->extra().label = std::move(name);
  return *this;
}

namespace {
std::uint64_t next_hook_id() {
  static std::atomic<std::uint64_t> n{0};
  return ++n;
}
}  // namespace

std::uint64_t Tensor::register_hook(std::function<Tensor(const Tensor& grad)> hook) const {
  checked();
  if (!hook) throw Error("register_hook: the hook is empty");
  if (!requires_grad())
    throw Error("register_hook: a tensor of shape " + shape_str(shape()) +
                " that does not require grad has no gradient to hook; call requires_grad_() first");
  const std::uint64_t id = next_hook_id();
  if (const std::shared_ptr<Node>& fn = grad_fn()) {
    if (!fn->hooks) fn->hooks = std::make_unique<HookList<GradHook>>();
    fn->hooks->emplace_back(id, std::move(hook));
  } else {
    impl_->extra().grad_hooks.emplace_back(id, std::move(hook));
  }
  return id;
}

std::uint64_t Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor& leaf)> hook) const {
  checked();
  if (!hook) throw Error("register_post_accumulate_grad_hook: the hook is empty");
  if (!requires_grad() || grad_fn())
    throw Error(
        "register_post_accumulate_grad_hook: only a leaf that requires grad accumulates a .grad; this "
        "tensor of shape " +
        shape_str(shape()) + (grad_fn() ? " is the output of an op" : " does not require grad"));
  const std::uint64_t id = next_hook_id();
  impl_->extra().post_accumulate.emplace_back(id, std::move(hook));
  return id;
}

void Tensor::remove_hook(std::uint64_t id) const {
  checked();
  const std::shared_ptr<Node>& fn = grad_fn();
  if (fn && fn->hooks && remove_hook_from(*fn->hooks, id)) return;
  if (impl_->extras &&
      (remove_hook_from(impl_->extras->grad_hooks, id) || remove_hook_from(impl_->extras->post_accumulate, id)))
    return;
  throw Error("remove_hook: this tensor has no hook with id " + std::to_string(id));
}

namespace {
template <class T>
constexpr Dtype dtype_of() {
  return std::is_same_v<T, float>    ? kFloat32
         : std::is_same_v<T, double> ? kFloat64
         : std::is_same_v<T, bool>   ? kBool
                                     : kInt64;
}
}  // namespace

template <class T>
const T* Tensor::strided_data_ptr() const {
  constexpr Dtype want = dtype_of<T>();
  if (dtype() != want)
    throw Error(std::string("data_ptr: the tensor holds ") + dtype_name(dtype()) + " but " + dtype_name(want) +
                " was requested; call .to(ad::k" + dtype_name(want) + ") first");
  return static_cast<const T*>(impl_->storage->data) + impl_->offset;
}

template <class T>
T* Tensor::strided_data_ptr() {
  return const_cast<T*>(std::as_const(*this).strided_data_ptr<T>());
}

template <class T>
const T* Tensor::data_ptr() const {
  const T* p = strided_data_ptr<T>();
  if (!is_contiguous())
    throw Error("data_ptr: the tensor of shape " + shape_str(shape()) + " is a non-contiguous view (strides " +
                shape_str(strides()) +
                "), so its elements are not in row-major order; call .contiguous() first "
                "(or strided_data_ptr() and follow strides())");
  return p;
}

template <class T>
T* Tensor::data_ptr() {
  return const_cast<T*>(std::as_const(*this).data_ptr<T>());
}

template float* Tensor::data_ptr<float>();
template double* Tensor::data_ptr<double>();
template std::int64_t* Tensor::data_ptr<std::int64_t>();
template const float* Tensor::data_ptr<float>() const;
template const double* Tensor::data_ptr<double>() const;
template const std::int64_t* Tensor::data_ptr<std::int64_t>() const;
template float* Tensor::strided_data_ptr<float>();
template double* Tensor::strided_data_ptr<double>();
template std::int64_t* Tensor::strided_data_ptr<std::int64_t>();
template const float* Tensor::strided_data_ptr<float>() const;
template const double* Tensor::strided_data_ptr<double>() const;
template const std::int64_t* Tensor::strided_data_ptr<std::int64_t>() const;
template bool* Tensor::data_ptr<bool>();
template const bool* Tensor::data_ptr<bool>() const;
template bool* Tensor::strided_data_ptr<bool>();
template const bool* Tensor::strided_data_ptr<bool>() const;

double Tensor::item() const {
  if (numel() != 1)
    throw Error("item: the tensor has shape " + shape_str(shape()) + " (" + std::to_string(numel()) +
                " elements); item() needs exactly one element — reduce it first (e.g. .sum()) or index it");
  return dispatch_all(dtype(), [&]<class T>() { return static_cast<double>(strided_data_ptr<T>()[0]); });
}

template <class T>
T Tensor::item() const {
  const double v = item();
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (dtype() == kInt64) {  // exact, not through double
      const std::int64_t i = strided_data_ptr<std::int64_t>()[0];
      if (i < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
        throw Error("item: the value " + std::to_string(i) + " does not fit in the requested integer type");
      return static_cast<T>(i);
    }
    if (!(v >= static_cast<double>(std::numeric_limits<T>::min()) &&
          v < -static_cast<double>(std::numeric_limits<T>::min())))
      throw Error("item: the value " + std::to_string(v) + " has no value in the requested integer type");
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template std::int64_t Tensor::item<std::int64_t>() const;
template int Tensor::item<int>() const;
template bool Tensor::item<bool>() const;

std::vector<double> Tensor::to_vector() const {
  std::vector<double> v(static_cast<std::size_t>(numel()));
  dispatch_all(dtype(), [&]<class T>() {
    const T* p = strided_data_ptr<T>();
    kernels::broadcast_rows<1>(shape(), {strides()},
                               [&](std::int64_t o, const auto& b, std::int64_t n, const auto& st) {
                                 for (std::int64_t j = 0; j < n; ++j)
                                   v[static_cast<std::size_t>(o + j)] = static_cast<double>(p[b[0] + j * st[0]]);
                               });
  });
  return v;
}

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  if (static_cast<std::int64_t>(index.size()) != dim())
    throw Error("at: " + std::to_string(index.size()) + " indices given for a tensor of shape " + shape_str(shape()));
  const Shape& st = strides();
  std::int64_t off = 0, d = 0;
  for (std::int64_t i : index) {
    const std::int64_t n = shape()[d];
    if (i < -n || i >= n)
      throw Error("at: index " + std::to_string(i) + " is out of range for dim " + std::to_string(d) + " of shape " +
                  shape_str(shape()));
    off += (i < 0 ? i + n : i) * st[d++];
  }
  return dispatch_all(dtype(), [&]<class T>() { return static_cast<double>(strided_data_ptr<T>()[off]); });
}

// ---- autograd
namespace {
// A view whose base got a new history from an in-place op (through the base or another view)
// takes a view of the base's current history, as PyTorch rebuilds a view's grad_fn lazily. It
// is recorded whatever the grad mode: the view's history must follow its base's.
void refresh_view(const std::shared_ptr<TensorImpl>& t) {
  ViewInfo& vi = *t->view;
  if (vi.base_rebases == vi.base->rebases) return;
  vi.base_rebases = vi.base->rebases;
  AutoGradMode on(true);
  const Tensor fresh = detail::view_of_base(Tensor(vi.base), Tensor(t));
  if (t->retains_grad) {  // .grad follows the view's new history
    if (t->grad_fn && t->grad_fn->retained.lock() == t) t->grad_fn->retained.reset();
    fresh.impl()->grad_fn->retained = t;
  }
  t->grad_fn = fresh.impl()->grad_fn;
  t->requires_grad = fresh.impl()->requires_grad;
}
const TensorImpl& current(const TensorImpl& i, const std::shared_ptr<TensorImpl>& p) {
  if (i.view && i.view->base_rebases != i.view->base->rebases) refresh_view(p);
  return i;
}
}  // namespace

bool Tensor::requires_grad() const { return current(checked(), impl_).requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  checked();
  if (!is_leaf() && !on)
    throw Error("requires_grad_(false): only leaf tensors can change requires_grad; use detach() on a result of an op");
  if (on && !is_floating(dtype()))
    throw Error(std::string("requires_grad_: only floating-point tensors can require gradients (this one is ") +
                dtype_name(dtype()) + ")");
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return current(checked(), impl_).grad_fn == nullptr; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return current(checked(), impl_).grad_fn; }
Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::zero_grad() {
  checked();
  if (!impl_->grad) return;
  if (impl_->grad->grad_fn) {  // a create_graph gradient: drop its history, which also breaks the leaf<->grad cycle
    impl_->grad = zeros(shape(), ad::dtype(dtype())).impl_ptr();
    return;
  }
  NoGradGuard ng;
  Tensor(impl_->grad).zero_();
}

void Tensor::set_grad(const Tensor& g) {
  checked();
  if (g.defined() && (g.shape() != shape() || g.dtype() != dtype()))
    throw Error("set_grad: gradient of shape " + shape_str(g.shape()) + " " + dtype_name(g.dtype()) +
                " does not match the tensor's " + shape_str(shape()) + " " + dtype_name(dtype()));
  impl_->grad = g.impl_ptr();
}

void Tensor::retain_grad() {
  checked();
  if (is_leaf()) return;  // leaves keep .grad anyway
  impl_->retains_grad = true;
  impl_->grad_fn->retained = impl_;
}

void Tensor::backward(const Tensor& gradient, BackwardOptions opt) const { ad::backward({*this}, {gradient}, opt); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>(checked().storage, impl_->shape, impl_->strides, impl_->offset);
  return Tensor(std::move(impl));
}

// to(dtype): d(cast x) = cast back of g
Tensor Tensor::to(Dtype d) const {
  if (d == dtype()) return *this;
  Tensor out = empty(shape(), ad::dtype(d));
  const std::int64_t n = numel();
  const Tensor src = contiguous();
  dispatch_all(dtype(), [&]<class S>() {
    dispatch_all(d, [&]<class D>() {
      const S* s = src.data_ptr<S>();
      D* o = out.data_ptr<D>();
      if constexpr (std::is_floating_point_v<S> && std::is_same_v<D, std::int64_t>) {
        for (std::int64_t i = 0; i < n; ++i) {  // NaN, Inf and values past int64 have no integer
          if (!(s[i] >= -0x1p63 && s[i] < 0x1p63))
            throw Error("to(Int64): element " + std::to_string(i) + " is " + std::to_string(s[i]) +
                        ", which has no Int64 value; clamp or replace it (ad::where) before converting");
          o[i] = static_cast<D>(s[i]);
        }
      } else {
        for (std::int64_t i = 0; i < n; ++i) o[i] = static_cast<D>(s[i]);
      }
    });
  });
  if (!is_floating(d) || !is_floating(dtype())) return out;
  const Dtype from = dtype();
  return record("to", out, {*this}, [from](const Tensor& g, const Tensor&) { return GradList{g.to(from)}; });
}

// clone: d(copy x) = g   (the copy is contiguous whatever the layout of x)
Tensor Tensor::clone() const {
  Tensor out = empty(shape(), ad::dtype(dtype()));
  if (is_contiguous()) {
    std::memcpy(out.impl()->storage->data,
                static_cast<const char*>(checked().storage->data) + impl_->offset * dtype_size(dtype()),
                static_cast<std::size_t>(numel()) * dtype_size(dtype()));
  } else {
    dispatch_all(dtype(), [&]<class T>() {
      const T* s = strided_data_ptr<T>();
      T* o = out.data_ptr<T>();
      kernels::broadcast_rows<1>(shape(), {strides()},
                                 [&](std::int64_t i, const auto& b, std::int64_t n, const auto& st) {
                                   for (std::int64_t j = 0; j < n; ++j) o[i + j] = s[b[0] + j * st[0]];
                                 });
    });
  }
  return record("clone", out, {*this}, [](const Tensor& g, const Tensor&) { return GradList{g}; });
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

// ---- in-place
namespace {

// A double argument in the tensor's own type, so float loops stay in float (and vectorize).
template <class T>
T as(double v) {
  return static_cast<T>(v);
}

// While recording, a leaf that requires grad (or a view of one) must not change in place: its
// gradient is defined for the value the user created, as in PyTorch.
void check_inplace(const Tensor& t, const char* op) {
  if (!GradMode::is_enabled()) return;
  if (t.requires_grad() && t.is_leaf())
    throw Error(std::string(op) + ": a leaf tensor of shape " + shape_str(t.shape()) +
                " that requires grad cannot be modified in place while recording; wrap the update in "
                "ad::NoGradGuard (as optimizers do) or use the out-of-place op");
  if (const ViewInfo* v = t.impl()->view.get()) {
    const Tensor base(v->base);
    if (base.requires_grad() && base.is_leaf())
      throw Error(std::string(op) + ": the tensor of shape " + shape_str(t.shape()) +
                  " is a view of a leaf tensor of shape " + shape_str(base.shape()) +
                  " that requires grad; it cannot be modified in place while recording — clone() the leaf "
                  "first, or wrap the update in ad::NoGradGuard");
  }
}

// True unless the layout is known to give each element its own memory: sorted by stride, each
// stride must step over everything the smaller ones reach. Expanded (stride 0) and overlapping
// unfold views fail; transposes, slices, selects and diagonals pass.
bool may_overlap(const Shape& shape, const Shape& strides) {
  std::vector<std::pair<std::int64_t, std::int64_t>> dims;  // stride, size
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (shape[i] > 1) dims.emplace_back(strides[i] < 0 ? -strides[i] : strides[i], shape[i]);
  std::sort(dims.begin(), dims.end());
  std::int64_t reach = 0;  // the farthest element the smaller strides reach
  for (const auto& [stride, size] : dims) {
    if (stride <= reach) return true;
    reach += stride * (size - 1);
  }
  return false;
}

void check_writable(const Tensor& t, const char* op) {
  if (!t.is_contiguous() && may_overlap(t.shape(), t.strides()))
    throw Error(std::string(op) + ": the tensor of shape " + shape_str(t.shape()) + " (strides " +
                shape_str(t.strides()) +
                ") is a view in which several elements share memory (expand, or unfold with overlapping windows); "
                "an in-place write would be ambiguous — clone() it first");
}

// An argument that shares memory with the tensor written to is read from a copy: reading
// elements already overwritten (x.add_(x.t())) would give a silently wrong result.
Tensor unaliased(const Tensor& self, const Tensor& other) {
  const bool same_layout = other.strides() == self.strides() && other.storage_offset() == self.storage_offset() &&
                           other.shape() == self.shape();
  if (other.impl()->storage != self.impl()->storage || same_layout) return other;
  NoGradGuard ng;
  return other.detach().clone();
}

// An argument of an in-place op: castable to the tensor's dtype (as PyTorch: a float argument
// cannot go into an Int64 tensor), and broadcastable to its shape.
}  // namespace

void detail::check_inplace_leaf(const Tensor& self, const char* op) { check_inplace(self, op); }

namespace {

void check_inplace_arg(const Tensor& self, const Tensor& other, const char* op) {
  if (self.dtype() == kBool && other.dtype() != kBool)
    throw Error(std::string(op) + ": a " + dtype_name(other.dtype()) +
                " argument cannot be written into a Bool tensor; make a mask with a comparison (x != 0.0) or "
                "convert the argument with .to(ad::kBool)");
  if (!is_floating(self.dtype()) && is_floating(other.dtype()))
    throw Error(std::string(op) + ": a " + dtype_name(other.dtype()) + " argument cannot be written into an " +
                dtype_name(self.dtype()) +
                " tensor; convert the tensor with .to(ad::kFloat32) (or the argument to Int64)");
  if (!broadcastable_to(other.shape(), self.shape()))
    throw Error(std::string(op) + ": the argument of shape " + shape_str(other.shape()) +
                " cannot be broadcast to the tensor's shape " + shape_str(self.shape()));
}

// The in-place ops write through self's strides (a view writes into its base) and read their
// arguments through theirs, broadcast to self's shape.
// kArith: the op computes (Bool tensors refuse it); else it only moves values (copy_, fill_).
template <bool kArith, class... Args>
decltype(auto) dispatch_inplace(Dtype d, const char* op, Args&&... f) {
  if constexpr (kArith)
    return dispatch_numeric(d, op, std::forward<Args>(f)...);
  else
    return dispatch_all(d, std::forward<Args>(f)...);
}

// With a kernel k, floating rows along a contiguous dim of self go through the vectorized
// kernel (the same bits as f).
template <bool kArith = true, class F>
Tensor& inplace_binary(Tensor& self, const Tensor& other_in, const char* op, F f,
                       std::optional<kernels::Binary> k = std::nullopt) {
  check_inplace(self, op);
  check_inplace_arg(self, other_in, op);
  check_writable(self, op);
  const Tensor other = detail::as_dtype(unaliased(self, other_in), self.dtype());
  dispatch_inplace<kArith>(self.dtype(), op, [&]<class T>() {
    T* d = self.strided_data_ptr<T>();
    const T* x = other.strided_data_ptr<T>();
    kernels::broadcast_rows<2>(self.shape(),
                               {self.strides(), broadcast_strides(other.shape(), other.strides(), self.shape())},
                               [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
                                 T* dr = d + base[0];
                                 const T* xr = x + base[1];
                                 if constexpr (std::is_floating_point_v<T>) {
                                   if (k && st[0] == 1) return kernels::binary(*k, dr, 1, xr, st[1], dr, len);
                                 }
                                 if (st[0] == 1 && st[1] == 1) {  // contiguous rows: a loop that vectorizes
                                   for (std::int64_t j = 0; j < len; ++j) dr[j] = static_cast<T>(f(dr[j], xr[j]));
                                 } else {
                                   for (std::int64_t j = 0; j < len; ++j)
                                     dr[j * st[0]] = static_cast<T>(f(dr[j * st[0]], xr[j * st[1]]));
                                 }
                               });
  });
  ++self.impl()->storage->version;
  return self;
}

// self = f(self, a, b) elementwise, a and b broadcast to self's shape (the fused optimizer updates).
template <class F>
Tensor& inplace_ternary(Tensor& self, const Tensor& a_in, const Tensor& b_in, const char* op, F f) {
  check_inplace(self, op);
  check_inplace_arg(self, a_in, op);
  check_inplace_arg(self, b_in, op);
  check_writable(self, op);
  const Tensor a = detail::as_dtype(unaliased(self, a_in), self.dtype()),
               b = detail::as_dtype(unaliased(self, b_in), self.dtype());
  dispatch_float(self.dtype(), op, [&]<class T>() {
    T* d = self.strided_data_ptr<T>();
    const T *x = a.strided_data_ptr<T>(), *y = b.strided_data_ptr<T>();
    if (a.shape() == self.shape() && b.shape() == self.shape() && self.is_contiguous() && a.is_contiguous() &&
        b.is_contiguous()) {
      for (std::int64_t i = 0, n = self.numel(); i < n; ++i) d[i] = static_cast<T>(f(d[i], x[i], y[i]));
      return;
    }
    kernels::broadcast_rows<3>(self.shape(),
                               {self.strides(), broadcast_strides(a.shape(), a.strides(), self.shape()),
                                broadcast_strides(b.shape(), b.strides(), self.shape())},
                               [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
                                 for (std::int64_t j = 0; j < len; ++j) {
                                   T& r = d[base[0] + j * st[0]];
                                   r = static_cast<T>(f(r, x[base[1] + j * st[1]], y[base[2] + j * st[2]]));
                                 }
                               });
  });
  ++self.impl()->storage->version;
  return self;
}

template <bool kArith = true, class F>
Tensor& inplace_unary(Tensor& self, const char* op, F f) {
  check_inplace(self, op);
  check_writable(self, op);
  dispatch_inplace<kArith>(self.dtype(), op, [&]<class T>() {
    T* d = self.strided_data_ptr<T>();
    kernels::broadcast_rows<1>(self.shape(), {self.strides()},
                               [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
                                 T* dr = d + base[0];
                                 if (st[0] == 1) {
                                   for (std::int64_t j = 0; j < len; ++j) dr[j] = static_cast<T>(f(dr[j]));
                                 } else {
                                   for (std::int64_t j = 0; j < len; ++j)
                                     dr[j * st[0]] = static_cast<T>(f(dr[j * st[0]]));
                                 }
                               });
  });
  ++self.impl()->storage->version;
  return self;
}

}  // namespace

namespace {

// value broadcast to old's shape, with old's history kept (its gradient is 0): the result of
// fill_ and copy_ as an out-of-place formula.
Tensor overwrite(const Tensor& old, const Tensor& value) {
  return where(ones(old.shape(), ad::dtype(kBool)), value, old);
}

// An in-place op that must be recorded (while recording, self or an argument requires grad):
// `formula(old, args)` computes the new values out of place from a recorded copy of the old
// ones (so saved tensors never see the write), they are written into self, and self takes the
// formula's history. Written through a view, the view's base takes a copy_slices node instead
// (the old base outside the view, the formula inside it), and every view of the base follows
// on its next use. An argument that shares self's storage is read from a recorded copy too.
// Returns false when nothing needs recording (the caller runs the plain kernel).
template <class Formula>
bool record_inplace(Tensor& self, const char* op, std::initializer_list<const Tensor*> args, Formula formula) {
  if (!GradMode::is_enabled()) return false;
  bool any = self.requires_grad();
  for (const Tensor* a : args) any = any || a->requires_grad();
  const ViewInfo* view = self.impl()->view.get();
  if (view && view->made_without_grad && (any || Tensor(view->base).requires_grad()))
    throw Error(std::string(op) + ": the tensor of shape " + shape_str(self.shape()) +
                " is a view made under NoGradGuard of a tensor that " +
                (Tensor(view->base).requires_grad() ? "requires grad" : "is being recorded") +
                "; writing it in place while recording would bypass autograd — make the view outside the "
                "guard, or do the write under NoGradGuard too");
  if (!any) return false;
  check_inplace(self, op);
  for (const Tensor* a : args) check_inplace_arg(self, *a, op);
  check_writable(self, op);
  const std::shared_ptr<TensorImpl> base = view ? view->base : nullptr;
  const TensorImpl& owner_impl = base ? *base : *self.impl();
  if (!is_contiguous_layout(owner_impl.shape, owner_impl.strides))  // views of it are rebuilt over a contiguous base
    throw Error(std::string(op) + ": the tensor of shape " + shape_str(self.shape()) +
                (base ? " is a view of a non-contiguous tensor of shape " + shape_str(base->shape)
                      : std::string(" is not contiguous (a detach()ed view)")) +
                "; an in-place op on it cannot be recorded — apply it to a clone()");
  std::vector<Tensor> in;
  for (const Tensor* a : args) in.push_back(a->impl()->storage == self.impl()->storage ? a->clone() : *a);
  const Tensor r = formula(self.clone(), in).to(self.dtype());
  std::shared_ptr<Node> fn = base ? detail::copy_slices(Tensor(base), self, r) : r.grad_fn();
  {
    NoGradGuard ng;
    inplace_binary<false>(self, r, op, [](auto, auto y) { return y; });
  }
  const std::shared_ptr<TensorImpl>& owner = base ? base : self.impl_ptr();
  if (owner->retains_grad) {  // .grad now belongs to the new value
    if (owner->grad_fn) owner->grad_fn->retained.reset();
    fn->retained = owner;
  }
  release_node(std::move(owner->grad_fn));
  owner->grad_fn = std::move(fn);
  owner->requires_grad = true;
  ++owner->rebases;
  return true;
}

}  // namespace

Tensor& Tensor::zero_() { return fill_(0.0); }
Tensor& Tensor::fill_(double v) {
  if (record_inplace(*this, "fill_", {},
                     [v](const Tensor& old, const std::vector<Tensor>&) { return overwrite(old, full_like(old, v)); }))
    return *this;
  return inplace_unary<false>(*this, "fill_", [v](auto) { return v; });
}
Tensor& Tensor::copy_(const Tensor& src) {
  if (record_inplace(*this, "copy_", {&src},
                     [](const Tensor& old, const std::vector<Tensor>& a) { return overwrite(old, a[0]); }))
    return *this;
  return inplace_binary<false>(*this, src, "copy_", [](auto, auto y) { return y; });
}
Tensor& Tensor::add_(const Tensor& o, double alpha) {
  if (record_inplace(*this, "add_", {&o},
                     [alpha](const Tensor& old, const std::vector<Tensor>& a) { return old + a[0] * alpha; }))
    return *this;
  return inplace_binary(
      *this, o, "add_", [alpha](auto x, auto y) { return x + as<decltype(x)>(alpha) * y; },
      alpha == 1.0 ? std::optional(kernels::Binary::add) : std::nullopt);
}
Tensor& Tensor::sub_(const Tensor& o, double alpha) {
  if (record_inplace(*this, "sub_", {&o},
                     [alpha](const Tensor& old, const std::vector<Tensor>& a) { return old - a[0] * alpha; }))
    return *this;
  return inplace_binary(
      *this, o, "sub_", [alpha](auto x, auto y) { return x - as<decltype(x)>(alpha) * y; },
      alpha == 1.0 ? std::optional(kernels::Binary::sub) : std::nullopt);
}
Tensor& Tensor::mul_(const Tensor& o) {
  if (record_inplace(*this, "mul_", {&o}, [](const Tensor& old, const std::vector<Tensor>& a) { return old * a[0]; }))
    return *this;
  return inplace_binary(
      *this, o, "mul_", [](auto x, auto y) { return x * y; }, kernels::Binary::mul);
}
Tensor& Tensor::div_(const Tensor& o) {
  if (record_inplace(*this, "div_", {&o}, [](const Tensor& old, const std::vector<Tensor>& a) { return old / a[0]; }))
    return *this;
  return inplace_binary(
      *this, o, "div_", [](auto x, auto y) { return x / y; }, kernels::Binary::div);
}
Tensor& Tensor::mul_(double s) {
  if (record_inplace(*this, "mul_", {}, [s](const Tensor& old, const std::vector<Tensor>&) { return old * s; }))
    return *this;
  return inplace_unary(*this, "mul_", [s](auto x) { return x * as<decltype(x)>(s); });
}
Tensor& Tensor::addcmul_(const Tensor& a, const Tensor& b, double value) {
  if (record_inplace(*this, "addcmul_", {&a, &b},
                     [value](const Tensor& old, const std::vector<Tensor>& x) { return old + x[0] * x[1] * value; }))
    return *this;
  return inplace_ternary(*this, a, b, "addcmul_",
                         [value](auto s, auto x, auto y) { return s + as<decltype(s)>(value) * x * y; });
}
Tensor& Tensor::addcdiv_(const Tensor& a, const Tensor& b, double value) {
  if (record_inplace(*this, "addcdiv_", {&a, &b},
                     [value](const Tensor& old, const std::vector<Tensor>& x) { return old + x[0] / x[1] * value; }))
    return *this;
  return inplace_ternary(*this, a, b, "addcdiv_",
                         [value](auto s, auto x, auto y) { return s + as<decltype(s)>(value) * x / y; });
}
Tensor& Tensor::lerp_(const Tensor& end, double weight) {
  if (record_inplace(*this, "lerp_", {&end},
                     [weight](const Tensor& old, const std::vector<Tensor>& a) { return old + (a[0] - old) * weight; }))
    return *this;
  return inplace_binary(*this, end, "lerp_",
                        [weight](auto s, auto e) { return s + as<decltype(s)>(weight) * (e - s); });
}
Tensor& Tensor::add_(double s) {
  if (record_inplace(*this, "add_", {}, [s](const Tensor& old, const std::vector<Tensor>&) { return old + s; }))
    return *this;
  return inplace_unary(*this, "add_", [s](auto x) { return x + as<decltype(x)>(s); });
}

}  // namespace ad
