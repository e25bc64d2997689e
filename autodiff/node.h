#pragma once
#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad {

// One gradient per op input; an undefined Tensor means "no gradient for this input".
using GradList = std::vector<Tensor>;

// What a node remembers of each input: enough to reduce its gradient and to draw it.
struct InputMeta {
  Shape shape;
  Dtype dtype;
  double value;       // the value of a one-element input, else NaN (for DOT)
  std::string label;  // the input's label, if it had one (for DOT)
};

// A recorded op in the graph. Each node has one output; `next[i]` leads to the node that
// receives the gradient of input i (null when input i does not require grad).
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
  double out_value;                    // value of a one-element output (for DOT), else NaN
  std::shared_ptr<Storage> saved_out;  // output data, when the backward needs it
  std::uint64_t saved_out_version = 0;
  std::weak_ptr<TensorImpl> retained;  // set by retain_grad() on the output
  bool released = false;

  // Engine scratch, valid during one backward pass.
  std::uint64_t visit_epoch = 0;
  std::int64_t pending = 0;
  Tensor buffer;
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

// The backward rule of an op: gradients of the inputs from the output gradient `g`
// (and the output `out`, when recorded with keep_output).
using BackwardFn = std::function<GradList(const Tensor& g, const Tensor& out)>;

// Records `out` as the result of op `name` on `inputs`, if grad mode is on and any input
// requires grad; otherwise returns `out` unchanged and drops `fn`.
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn, bool keep_output = false);

// True when an op on these inputs would be recorded.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

// Node for a leaf requiring grad (created once, cached weakly in the leaf).
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);

// Drops one reference to a node; when it was the last one, the node and everything only it
// kept alive are destroyed with an explicit work list instead of recursive destructors.
void release_node(std::shared_ptr<Node>&& n);

// Live node count in this process (for leak tests).
std::int64_t live_nodes();

}  // namespace ad
