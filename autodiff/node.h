#pragma once
#include <atomic>
#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad {

// One gradient per op input; an undefined Tensor means "no gradient for this input".
using GradList = boost::container::small_vector<Tensor, 2>;  // most ops have one or two inputs: no heap allocation

// What a node remembers of each input: what the engine needs to reduce its gradient.
struct InputMeta {
  Shape shape;
  Dtype dtype;
};

using GradHook = std::function<Tensor(const Tensor& grad)>;          // see Tensor::register_hook
using PostAccumulateHook = std::function<void(const Tensor& leaf)>;  // see register_post_accumulate_grad_hook
template <class H>
using HookList = std::vector<std::pair<std::uint64_t, H>>;  // (id, hook), in registration order
// Removes the hook with this id; false when the list has none.
template <class H>
bool remove_hook_from(HookList<H>& list, std::uint64_t id) {
  for (auto it = list.begin(); it != list.end(); ++it)
    if (it->first == id) {
      list.erase(it);
      return true;
    }
  return false;
}

// What a tensor rarely has: a DOT label, and (leaves) gradient hooks.
struct TensorExtras {
  std::string label;
  HookList<GradHook> grad_hooks;                 // run on the gradient before it is accumulated
  HookList<PostAccumulateHook> post_accumulate;  // run after each accumulation into .grad
};

// Runs hooks on g in order; a hook's defined result replaces g (same shape and dtype, checked).
Tensor run_grad_hooks(const HookList<GradHook>& hooks, Tensor g, const char* where);

// What to_dot shows beyond ops and shapes: values of one-element tensors and labels of the
// inputs that do not require grad. Recorded only under ad::DrawGuard (see grad_mode.h).
struct DrawInfo {
  double out_value;                 // value of a one-element output, else NaN
  std::vector<double> input_value;  // per input: its value when it has one element, else NaN
  std::vector<std::string> input_label;
};

// A lock of one byte, held while a backward pass runs a node (its rule, the release of its saved
// tensors, the accumulation into a leaf's .grad): passes that share the node take turns on it.
class NodeLock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) locked_.wait(true, std::memory_order_relaxed);
  }
  void unlock() noexcept {
    locked_.store(false, std::memory_order_release);
    locked_.notify_one();
  }

 private:
  std::atomic<bool> locked_{false};
};

// A recorded op in the graph. Each node has one output; `next[i]` leads to the node that
// receives the gradient of input i (null when input i does not require grad). A node holds no
// state of a backward pass (that lives in the pass), so several passes may share it.
struct Node {
  explicit Node(const char* op_name);
  virtual ~Node();  // releases `next` without recursing down a long chain
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Gradients w.r.t. the inputs, given the gradient w.r.t. the output. `out` is the op's
  // output (with this node as grad_fn) when the op asked to keep it, else undefined.
  virtual GradList apply(const Tensor& grad_out, const Tensor& out) = 0;
  // Drops saved tensors after a backward without retain_graph.
  virtual void release() {}
  virtual bool is_accumulator() const { return false; }

  const char* name;
  std::uint64_t seq;  // creation order, unique per thread
  // Most ops have one or two inputs: kept inline (Boost.Container), no heap allocation.
  boost::container::small_vector<std::shared_ptr<Node>, 2> next;
  boost::container::small_vector<InputMeta, 2> inputs;
  Shape out_shape;
  Dtype out_dtype = kFloat32;
  bool released = false;
  NodeLock lock;
  std::uint32_t pass_slot = 0;         // see pass_owner
  std::shared_ptr<Storage> saved_out;  // output data, when the backward needs it
  std::uint64_t saved_out_version = 0;
  std::weak_ptr<TensorImpl> retained;         // set by retain_grad() on the output
  std::unique_ptr<DrawInfo> drawing;          // only under DrawGuard
  std::unique_ptr<HookList<GradHook>> hooks;  // register_hook on the output (a non-leaf tensor)
  // The backward pass that has this node in its slot table (0: none); pass_slot is the slot's
  // index there, which only that pass reads or writes (engine.cpp).
  std::atomic<std::uint64_t> pass_owner{0};
};

// The backward of a leaf: adds the incoming gradient into leaf.grad.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> l);
  GradList apply(const Tensor& grad_out, const Tensor& out) override;
  bool is_accumulator() const override { return true; }
  std::shared_ptr<TensorImpl> leaf;
};

// Adds g into t.grad (leaves, and tensors with retain_grad()): in place when nothing records,
// as a differentiable sum under create_graph, and never sharing storage with another tensor.
void accumulate_grad(TensorImpl& t, const Tensor& g);

// A tensor saved for backward, with the version it had when saved.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t);  // NOLINT: implicit so ops can write `save(a)` or just `a`
  const Tensor& get() const;     // throws VersionError if modified in place since
 private:
  Tensor t_;
  std::uint64_t version_ = 0;
};

struct VersionError : Error {
  VersionError(std::string shape, std::uint64_t saved, std::uint64_t now);
  std::string shape;
  std::uint64_t saved_version, current_version;
};

// The signature of a backward rule: gradients of the inputs from the output gradient `g`
// (and the output `out`, when recorded with keep_output). Any callable of this signature works.
using BackwardFn = std::function<GradList(const Tensor& g, const Tensor& out)>;

namespace detail {

// An op's node: the backward rule's closure (with the tensors it saved) is stored inline, so
// recording an op makes one allocation.
template <class F>
struct FunctionNode final : Node {
  FunctionNode(const char* n, F&& f) : Node(n), fn(std::move(f)) {}
  GradList apply(const Tensor& g, const Tensor& out) override { return (*fn)(g, out); }
  void release() override {
    fn.reset();
    saved_out.reset();
    released = true;
  }
  std::optional<F> fn;
};

bool any_requires_grad(const Tensor* inputs, std::size_t n);
// Connects `node` to the inputs, fills in its metadata and makes it out's grad_fn.
Tensor attach(std::shared_ptr<Node> node, Tensor out, const Tensor* inputs, std::size_t n, bool keep_output);

}  // namespace detail

// Records `out` as the result of op `name` on `inputs`, if grad mode is on and any input
// requires grad; otherwise returns `out` unchanged and drops `fn` (a BackwardFn-like callable).
template <class F>
Tensor record(const char* name, Tensor out, std::initializer_list<Tensor> inputs, F&& fn, bool keep_output = false) {
  if (!detail::any_requires_grad(inputs.begin(), inputs.size())) return out;
  auto node = std::make_shared<detail::FunctionNode<std::decay_t<F>>>(name, std::decay_t<F>(std::forward<F>(fn)));
  return detail::attach(std::move(node), std::move(out), inputs.begin(), inputs.size(), keep_output);
}
template <class F>
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, F&& fn, bool keep_output = false) {
  if (!detail::any_requires_grad(inputs.data(), inputs.size())) return out;
  auto node = std::make_shared<detail::FunctionNode<std::decay_t<F>>>(name, std::decay_t<F>(std::forward<F>(fn)));
  return detail::attach(std::move(node), std::move(out), inputs.data(), inputs.size(), keep_output);
}

// True when an op on these inputs would be recorded.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

// Node for a leaf requiring grad (created once, cached weakly in the leaf; safe to call from
// several threads for the same leaf).
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);

// Drops one reference to a node; when it was the last one, the node and everything only it
// kept alive are destroyed with an explicit work list instead of recursive destructors.
void release_node(std::shared_ptr<Node>&& n);

// Live node count in this process (for leak tests).
std::int64_t live_nodes();

}  // namespace ad
