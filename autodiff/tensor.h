#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/shape.h"

namespace ad {

struct Node;
class Tensor;
class TensorIndex;  // indexing.h
struct ValuesIndices;

// A flat buffer (64-byte aligned from 4 KiB up) shared by a tensor and its views (reshape, detach).
// `version` counts in-place writes; saved tensors compare it at backward time.
struct Storage {
  Storage(Dtype dtype, std::int64_t numel);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  std::int64_t numel = 0;
  Dtype dtype;
  std::uint64_t version = 0;
  // Up to 16 bytes (a 0-d or two-element tensor) live here, saving an allocation per small tensor.
  alignas(16) unsigned char small[16];
};

struct TensorImpl;
struct TensorExtras;  // node.h

// What a view (the result of a view op) knows of its base, the tensor that owns the storage
// (never itself a view): an in-place op through any of them may give the base a new history,
// and the view then follows it (its history is rebuilt the next time it is used).
struct ViewInfo {
  std::shared_ptr<TensorImpl> base;
  std::uint32_t base_rebases = 0;  // base->rebases when this view's grad_fn was made
  bool made_without_grad = false;  // made under NoGradGuard (or in a backward): no history of its base
};

// A tensor is a window on a storage: element i_0..i_{n-1} lives at
// data[offset + i_0 * strides[0] + ... + i_{n-1} * strides[n-1]] (in elements). Views share the
// storage (and so its version counter) with different sizes, strides and offset.
struct TensorImpl {
  TensorImpl(std::shared_ptr<Storage> s, Shape sh);  // contiguous, offset 0
  TensorImpl(std::shared_ptr<Storage> s, Shape sh, Shape st, std::int64_t off);
  ~TensorImpl();  // releases grad_fn without recursing down a long chain
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;            // in elements, one per dim
  std::int64_t offset = 0;  // of element 0 in the storage, in elements
  bool requires_grad = false;
  bool retains_grad = false;
  std::uint32_t rebases = 0;              // how often an in-place op gave this tensor a new grad_fn
  std::unique_ptr<ViewInfo> view;         // set on views
  std::shared_ptr<Node> grad_fn;          // null for leaves and constants
  std::weak_ptr<Node> grad_accumulator;   // leaves: the node that accumulates into `grad`
  std::shared_ptr<TensorImpl> grad;       // accumulated gradient (leaves, or retain_grad())
  std::unique_ptr<TensorExtras> extras;   // label and leaf hooks, made on first use (most tensors have none)
  const std::string& label_text() const;  // the DOT label, or an empty string
  TensorExtras& extra();                  // extras, made if missing
};

// Options for Tensor::backward and ad::grad.
struct BackwardOptions {
  bool retain_graph = false;  // keep saved tensors so backward can run again
  bool create_graph = false;  // record the backward pass itself (higher-order derivatives)
};

// An n-d array with reverse-mode autograd (PyTorch naming): sizes, strides and a storage offset
// over a shared storage, so transpose, slice, expand and the other view ops copy nothing.
// Copying a Tensor copies a handle: both refer to the same data.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t size(std::int64_t d) const;
  const Shape& strides() const;  // in elements
  std::int64_t stride(std::int64_t d) const;
  std::int64_t storage_offset() const;  // in elements
  // Row-major with no gaps (size-1 dims may have any stride): what data_ptr() requires.
  bool is_contiguous() const;
  std::int64_t numel() const;
  Dtype dtype() const;
  std::uint64_t version() const;
  std::string label() const;
  Tensor& set_label(std::string name);

  // ---- data access (the dtype must match T)
  // The first element of a contiguous tensor, read row-major. A non-contiguous view throws
  // (iterating it row-major would read the wrong elements): call .contiguous() first.
  template <class T>
  T* data_ptr();
  template <class T>
  const T* data_ptr() const;
  // The first element of any tensor, for code that follows strides() itself.
  template <class T>
  T* strided_data_ptr();
  template <class T>
  const T* strided_data_ptr() const;
  double item() const;  // value of a one-element tensor
  // The same converted to T (float, double, std::int64_t, int, bool); an integer T refuses
  // NaN, Inf and values outside its range rather than wrap.
  template <class T>
  T item() const;
  std::vector<double> to_vector() const;  // all values, as double, row-major
  double at(std::initializer_list<std::int64_t> index) const;

  // ---- autograd
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  Tensor grad() const;  // undefined until a backward reaches this tensor
  void zero_grad();     // fills .grad with zeros (if any)
  void set_grad(const Tensor& g);
  void retain_grad();  // non-leaf: keep .grad after backward
  // Gradient hooks (PyTorch's register_hook): hook(g) sees the gradient w.r.t. this tensor when a
  // backward pass computes it and may return a replacement of the same shape and dtype
  // (an undefined Tensor keeps g). On a leaf it runs before .grad is accumulated; on a non-leaf
  // before its grad_fn's rule (and before retain_grad's copy). Hooks run in registration order;
  // register them before a backward that reaches the tensor starts, not while it runs.
  std::uint64_t register_hook(std::function<Tensor(const Tensor& grad)> hook) const;
  // A leaf's hook after each accumulation into its .grad, with the leaf (PyTorch's
  // register_post_accumulate_grad_hook: e.g. start communicating a gradient as soon as it is ready).
  std::uint64_t register_post_accumulate_grad_hook(std::function<void(const Tensor& leaf)> hook) const;
  void remove_hook(std::uint64_t id) const;  // either kind; unknown ids throw
  void backward(const Tensor& gradient = {}, BackwardOptions opt = {}) const;
  Tensor detach() const;  // same data, no history

  // ---- conversion and copies
  Tensor to(Dtype d) const;   // differentiable between float dtypes
  Tensor clone() const;       // differentiable copy
  Tensor contiguous() const;  // this tensor when contiguous, else a contiguous (differentiable) copy

  // ---- in-place (bump the version; a leaf that requires grad only under NoGradGuard)
  Tensor& zero_();
  Tensor& fill_(double v);
  Tensor& copy_(const Tensor& src);
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& sub_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double s);
  Tensor& div_(const Tensor& other);
  Tensor& add_(double s);
  Tensor& addcmul_(const Tensor& a, const Tensor& b, double value = 1.0);  // self += value * a * b
  Tensor& addcdiv_(const Tensor& a, const Tensor& b, double value = 1.0);  // self += value * a / b
  Tensor& lerp_(const Tensor& end, double weight);                         // self += weight * (end - self)

  // ---- op methods (see the free functions for docs)
  Tensor operator-() const;
  Tensor pow(double p) const;
  Tensor pow(const Tensor& p) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor clamp(double lo, double hi) const;
  Tensor matmul(const Tensor& other) const;
  Tensor mm(const Tensor& other) const { return matmul(other); }
  Tensor t() const;
  Tensor transpose(std::int64_t d0, std::int64_t d1) const;
  Tensor permute(const Shape& dims) const;
  Tensor reshape(const Shape& shape) const;  // a view when the strides allow, else a copy
  Tensor view(const Shape& shape) const;     // always a view; throws when the strides do not allow one
  Tensor flatten() const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t d) const;
  Tensor unsqueeze(std::int64_t d) const;
  Tensor expand(const Shape& shape) const;
  Tensor sum() const;
  Tensor sum(const Dims& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Dims& dims, bool keepdim = false) const;
  Tensor max() const;
  ValuesIndices max(std::int64_t dim, bool keepdim = false) const;
  Tensor min() const;
  ValuesIndices min(std::int64_t dim, bool keepdim = false) const;
  Tensor argmax(std::int64_t dim, bool keepdim = false) const;
  Tensor softmax(std::int64_t dim) const;
  Tensor log_softmax(std::int64_t dim) const;
  Tensor logsumexp(const Dims& dims, bool keepdim = false) const;
  Tensor prod(const Dims& dims = {}, bool keepdim = false) const;
  Tensor var(const Dims& dims = {}, std::int64_t correction = 1, bool keepdim = false) const;
  Tensor std(const Dims& dims = {}, std::int64_t correction = 1, bool keepdim = false) const;
  Tensor norm(double p = 2.0, const Dims& dims = {}, bool keepdim = false) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor diagonal(std::int64_t offset = 0, std::int64_t d0 = 0, std::int64_t d1 = 1) const;
  Tensor unfold(std::int64_t dim, std::int64_t size, std::int64_t step) const;
  Tensor index_select(std::int64_t dim, const Tensor& index) const;
  // x[0, 1:3, None, ...]-style indexing and assignment (indexing.h).
  Tensor index(std::initializer_list<TensorIndex> indices) const;
  Tensor& index_put_(std::initializer_list<TensorIndex> indices, const Tensor& value);
  Tensor& index_put_(std::initializer_list<TensorIndex> indices, double value);
  Tensor gather(std::int64_t dim, const Tensor& index) const;

  std::string str() const;  // PyTorch-like printing with a shape/dtype footer

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// What max(dim) and min(dim) return, as PyTorch: the extreme values and their Int64 indices.
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};

// ---- creation (PyTorch names)
// The dtype every factory uses when none is given: Float32 unless set_default_dtype changed it.
// It is process-wide (as PyTorch's): set it once at start-up, before threads create tensors.
Dtype get_default_dtype();
void set_default_dtype(Dtype d);  // Float32 or Float64
// Sets the default dtype for a scope and restores the previous one (tests, numeric checks).
class DefaultDtypeGuard {
 public:
  explicit DefaultDtypeGuard(Dtype d) : prev_(get_default_dtype()) { set_default_dtype(d); }
  ~DefaultDtypeGuard() { set_default_dtype(prev_); }
  DefaultDtypeGuard(const DefaultDtypeGuard&) = delete;
  DefaultDtypeGuard& operator=(const DefaultDtypeGuard&) = delete;

 private:
  Dtype prev_;
};

struct TensorOptions {
  std::optional<Dtype> dtype;  // unset: get_default_dtype() (Int64 for index_tensor/randint)
  bool requires_grad = false;
  Dtype dtype_or_default() const { return dtype ? *dtype : get_default_dtype(); }
  TensorOptions& set_dtype(Dtype d) {
    dtype = d;
    return *this;
  }
  TensorOptions& set_requires_grad(bool r = true) {
    requires_grad = r;
    return *this;
  }
};
inline TensorOptions dtype(Dtype d) { return TensorOptions{}.set_dtype(d); }

Tensor empty(const Shape& shape, TensorOptions opt = {});  // uninitialised
Tensor zeros(const Shape& shape, TensorOptions opt = {});
Tensor ones(const Shape& shape, TensorOptions opt = {});
Tensor full(const Shape& shape, double value, TensorOptions opt = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
// Values in row-major order; `shape` defaults to 1-D. Throws when sizes disagree.
Tensor tensor(const std::vector<double>& values, const Shape& shape, TensorOptions opt);
Tensor tensor(const std::vector<double>& values, TensorOptions opt = {});
Tensor tensor(std::initializer_list<double> values, TensorOptions opt = {});
Tensor scalar_tensor(double v, TensorOptions opt = {});  // 0-d
// Int64 index tensors: 1-D from the values, or with an explicit shape ({} is 0-d).
Tensor index_tensor(const std::vector<std::int64_t>& values);
Tensor index_tensor(const std::vector<std::int64_t>& values, const Shape& shape);
Tensor arange(double start, double end, double step = 1.0, TensorOptions opt = {});
Tensor arange(double end, TensorOptions opt = {});
Tensor linspace(double start, double end, std::int64_t steps, TensorOptions opt = {});
Tensor eye(std::int64_t n, TensorOptions opt = {});

}  // namespace ad
