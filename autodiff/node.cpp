#include "adgraph/autodiff/node.h"

#include <array>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/ops.h"

namespace ad {
namespace {

std::atomic<std::int64_t> g_live_nodes{0};
thread_local std::uint64_t t_next_seq = 0;
thread_local std::vector<std::shared_ptr<Node>> t_dying;
thread_local bool t_draining = false;

}  // namespace

Node::Node(const char* op_name) : name(op_name), seq(t_next_seq++) {
  g_live_nodes.fetch_add(1, std::memory_order_relaxed);
}

Node::~Node() {
  for (auto& n : next) release_node(std::move(n));
  g_live_nodes.fetch_sub(1, std::memory_order_relaxed);
}

std::int64_t live_nodes() { return g_live_nodes.load(); }

void release_node(std::shared_ptr<Node>&& n) {
  if (!n) return;
  if (n.use_count() > 1) {
    n.reset();
    return;
  }
  t_dying.push_back(std::move(n));
  if (t_draining) return;  // an outer call is already emptying the work list
  t_draining = true;
  while (!t_dying.empty()) {
    std::shared_ptr<Node> cur = std::move(t_dying.back());
    t_dying.pop_back();
    cur.reset();  // ~Node pushes its inputs' nodes instead of destroying them here
  }
  t_draining = false;
}

TensorImpl::~TensorImpl() { release_node(std::move(grad_fn)); }

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> l) : Node("AccumulateGrad"), leaf(std::move(l)) {
  out_shape = leaf->shape;
  out_dtype = leaf->storage->dtype;
}

void accumulate_grad(TensorImpl& t, const Tensor& g_in) {
  if (!g_in.defined()) return;
  // .grad is always contiguous (optimizers and users read it row-major); a rule may return a
  // view (sum's gradient is an expand, transpose's a permuted view).
  const Tensor g = g_in.is_contiguous() ? g_in : g_in.contiguous();
  if (t.grad && t.grad->grad_fn == nullptr && !GradMode::is_enabled()) {
    Tensor(t.grad).add_(g);  // the common case: accumulate in place
  } else if (t.grad) {
    t.grad = (Tensor(t.grad) + g).impl_ptr();  // create_graph: keep the sum differentiable
  } else if (GradMode::is_enabled() && g.grad_fn()) {
    t.grad = g.impl_ptr();  // has history, so it is never modified in place later
  } else if (GradMode::is_enabled()) {
    t.grad = g.clone().impl_ptr();  // a constant (e.g. the seed): a later in-place add must not change it
  } else {
    // Steal the buffer only when nobody else can see it; otherwise copy so a later in-place
    // accumulation cannot change another tensor.
    const bool exclusive = g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1;
    t.grad = exclusive ? g.detach().impl_ptr() : g.detach().clone().impl_ptr();
  }
}

Tensor run_grad_hooks(const HookList<GradHook>& hooks, Tensor g, const char* where) {
  for (const auto& [id, hook] : hooks) {
    Tensor r = hook(g);
    if (!r.defined()) continue;
    if (r.shape() != g.shape() || r.dtype() != g.dtype())
      throw Error(std::string("a gradient hook on ") + where + " returned " + shape_str(r.shape()) + " " +
                  dtype_name(r.dtype()) + " for a gradient of " + shape_str(g.shape()) + " " + dtype_name(g.dtype()) +
                  "; a hook returns a gradient of the same shape and dtype, or an undefined Tensor to keep it");
    g = std::move(r);
  }
  return g;
}

// d leaf: the hooks on the gradient, the accumulation, then the post-accumulate hooks
GradList AccumulateGrad::apply(const Tensor& g, const Tensor&) {
  if (!leaf->extras) {
    accumulate_grad(*leaf, g);
    return {};
  }
  accumulate_grad(*leaf, run_grad_hooks(leaf->extras->grad_hooks, g, "a leaf"));
  for (const auto& [id, hook] : leaf->extras->post_accumulate) hook(Tensor(leaf));
  return {};
}

namespace {
// A saved view keeps its values and history but not its link to the base: the base's history
// may later pass through this very node (h.add_(row * row) with row a view of h), and the link
// would make a reference cycle. A saved tensor is only read, so it needs no rebuilt history.
Tensor saved_alias(const Tensor& t) {
  if (!t.defined() || !t.impl()->view) return t;
  const std::shared_ptr<Node> fn = t.grad_fn();  // brought up to date first
  auto a = std::make_shared<TensorImpl>(t.impl()->storage, t.shape(), t.strides(), t.storage_offset());
  a->grad_fn = fn;
  a->requires_grad = t.requires_grad();
  return Tensor(std::move(a));
}
}  // namespace

SavedTensor::SavedTensor(const Tensor& t) : t_(saved_alias(t)), version_(t.defined() ? t.version() : 0) {}

const Tensor& SavedTensor::get() const {
  if (t_.defined() && t_.version() != version_) throw VersionError(shape_str(t_.shape()), version_, t_.version());
  return t_;
}

VersionError::VersionError(std::string sh, std::uint64_t saved, std::uint64_t now)
    : Error("a tensor saved for backward was modified in place"),
      shape(std::move(sh)),
      saved_version(saved),
      current_version(now) {}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  // Threads recording ops on the same parameters must get the same node, or two nodes would
  // add into one .grad under different locks. A few striped mutexes keep TensorImpl small.
  static std::array<std::mutex, 16> stripes;
  TensorImpl* impl = leaf.impl();
  std::lock_guard<std::mutex> lk(stripes[std::hash<const void*>{}(impl) % stripes.size()]);
  if (auto acc = impl->grad_accumulator.lock()) return acc;
  auto acc = std::make_shared<AccumulateGrad>(leaf.impl_ptr());
  impl->grad_accumulator = acc;
  return acc;
}

namespace detail {

bool any_requires_grad(const Tensor* inputs, std::size_t n) {
  if (!GradMode::is_enabled()) return false;
  for (std::size_t i = 0; i < n; ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) return true;
  return false;
}

Tensor attach(std::shared_ptr<Node> node, Tensor out, const Tensor* inputs, std::size_t n, bool keep_output) {
  node->next.reserve(n);
  node->inputs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Tensor& t = inputs[i];
    if (t.defined() && t.requires_grad())
      node->next.push_back(t.grad_fn() ? t.grad_fn() : grad_accumulator(t));
    else
      node->next.push_back(nullptr);
    if (t.defined())
      node->inputs.push_back({t.shape(), t.dtype()});
    else
      node->inputs.push_back({{}, kFloat32});
  }
  node->out_shape = out.shape();
  node->out_dtype = out.dtype();
  if (DrawMode::is_enabled()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto d = std::make_unique<DrawInfo>();
    d->out_value = out.numel() == 1 ? out.item() : nan;
    for (std::size_t i = 0; i < n; ++i) {
      const Tensor& t = inputs[i];
      d->input_value.push_back(t.defined() && t.numel() == 1 ? t.item() : nan);
      d->input_label.push_back(t.defined() ? t.impl()->label_text() : std::string());
    }
    node->drawing = std::move(d);
  }
  if (keep_output) {  // the engine rebuilds the output from its storage: it must own all of it
    if (!out.is_contiguous() || out.storage_offset() != 0 || out.impl()->storage->numel != out.numel())
      throw Error(std::string("record: op '") + node->name +
                  "' asked to keep its output, which is a view; keep_output needs a freshly computed output");
    node->saved_out = out.impl()->storage;
    node->saved_out_version = out.version();
  }
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
  return out;
}

}  // namespace detail

}  // namespace ad
