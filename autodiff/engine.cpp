// The backward pass: find the nodes reachable from the outputs, count how many gradients each
// will receive, then run each node once all its gradients have arrived (Kahn's algorithm on an
// explicit work list: no recursion, so graph depth is limited only by memory). All state of a
// pass lives in its GraphTask, none in the nodes: passes on several threads may share nodes.
#include "adgraph/autodiff/engine.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops.h"

namespace ad {
namespace {

struct Root {
  std::shared_ptr<Node> node;
  Tensor grad;
};

std::string describe(const Node& n) {
  return "'" + std::string(n.name) + "' (op #" + std::to_string(n.seq) + ", output shape " + shape_str(n.out_shape) +
         ")";
}

Tensor seed_gradient(const Tensor& out, const Tensor& given, std::size_t i) {
  if (given.defined()) {
    if (given.shape() != out.shape() || given.dtype() != out.dtype())
      throw Error("backward: the gradient for output " + std::to_string(i) + " has shape " + shape_str(given.shape()) +
                  " " + dtype_name(given.dtype()) + " but the output is " + shape_str(out.shape()) + " " +
                  dtype_name(out.dtype()));
    return given;
  }
  if (out.numel() != 1)
    throw Error("backward: grad can be implicitly created only for one-element outputs, but output " +
                std::to_string(i) + " has shape " + shape_str(out.shape()) +
                "; pass a gradient of that shape, e.g. y.backward(ad::ones_like(y)), "
                "or reduce first with y.sum()");
  return ones_like(out);
}

std::shared_ptr<Node> node_of(const Tensor& t, const char* what, std::size_t i) {
  if (!t.defined()) throw Error(std::string(what) + " " + std::to_string(i) + " is an undefined Tensor");
  if (t.grad_fn()) return t.grad_fn();
  if (t.requires_grad()) return grad_accumulator(t);
  throw Error(std::string(what) + " " + std::to_string(i) + " (shape " + shape_str(t.shape()) +
              ") does not require grad and has no grad_fn: call requires_grad_() on the inputs you differentiate "
              "with respect to, and do not compute it under NoGradGuard");
}

void accumulate_into(Tensor& buffer, Tensor g) { buffer = buffer.defined() ? buffer + g : std::move(g); }

void check_finite(const Node& n, const GradList& grads) {
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    NoGradGuard no_grad;
    const Tensor gi = grads[i].contiguous();
    const char* bad = dispatch_float(gi.dtype(), "anomaly check", [&]<class T>() -> const char* {
      const T* p = gi.data_ptr<T>();
      for (std::int64_t k = 0, m = grads[i].numel(); k < m; ++k) {
        if (std::isnan(p[k])) return "NaN";
        if (std::isinf(p[k])) return "Inf";
      }
      return nullptr;
    });
    if (bad)
      throw Error(std::string("anomaly detected: the backward of ") + describe(n) + " produced " + bad +
                  " in the gradient of its input " + std::to_string(i) + " (shape " + shape_str(grads[i].shape()) +
                  "); look at the forward op '" + n.name + "' and its inputs");
  }
}

GradList call_backward(Node& n, Tensor g, const std::shared_ptr<Node>& self) {
  if (n.released)
    throw Error("Trying to backward through the graph a second time: the saved tensors of " + describe(n) +
                " were freed by the previous backward. Pass BackwardOptions{.retain_graph = true} to the first "
                "backward if you need to run it again");
  Tensor out;
  if (n.saved_out) {
    if (n.saved_out->version != n.saved_out_version)
      throw Error("backward of " + describe(n) +
                  ": its output was modified in place after the forward (saved at version " +
                  std::to_string(n.saved_out_version) + ", now version " + std::to_string(n.saved_out->version) +
                  "); use an out-of-place op or clone() the output before modifying it");
    auto impl = std::make_shared<TensorImpl>(n.saved_out, n.out_shape);
    impl->requires_grad = true;
    impl->grad_fn = self;
    out = Tensor(std::move(impl));
  }
  try {
    return n.apply(g, out);
  } catch (const VersionError& e) {
    throw Error("backward of " + describe(n) + ": a tensor of shape " + e.shape +
                " saved for its gradient was modified in place (saved at version " + std::to_string(e.saved_version) +
                ", now version " + std::to_string(e.current_version) +
                "); use an out-of-place op (x = x + y instead of x.add_(y)) or clone() it before modifying");
  }
}

// The state of one backward pass (PyTorch's GraphTask).
//
// Each node reached gets a slot. The pass finds a node's slot through the node itself: it claims
// the node (Node::pass_owner, a compare-and-swap from 0 to the pass's id) and writes the slot's
// index into Node::pass_slot, which only the claiming pass reads. A node already claimed by a
// pass on another thread is looked up in this pass's own hash map instead. A claim is given back
// once the node has run (no lookup follows), the rest when the pass ends (also when it throws),
// while the roots still keep every node alive.
struct GraphTask {
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  struct Slot {
    const std::shared_ptr<Node>* node = nullptr;  // the edge (or root) it was found through
    std::int64_t pending = 0;                     // gradients still to arrive
    std::size_t first_edge = 0;                   // its children's slots: edges[first_edge ...]
    Tensor buffer;                                // the sum of the gradients that have arrived
    std::int64_t capture = -1;                    // ad::grad: index of the result it provides
    bool wanted = true;                           // on a path to a captured node (backward(): all)
    bool runs = true;                             // its rule is called (false where no input is wanted)
    bool claimed = false;                         // found through the node's claim, not `shared`
  };
  std::vector<Slot> slots;
  std::vector<std::size_t> edges;                       // per node, one slot index per input (kNone: no gradient)
  std::unordered_map<const Node*, std::size_t> shared;  // nodes another pass had claimed first
  const std::uint64_t id = next_id();

  GraphTask() = default;
  GraphTask(const GraphTask&) = delete;
  GraphTask& operator=(const GraphTask&) = delete;
  ~GraphTask() {
    for (Slot& s : slots) give_back(s);
  }
  void give_back(Slot& s) {
    if (!s.claimed) return;
    (*s.node)->pass_owner.store(0, std::memory_order_release);
    s.claimed = false;
  }

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;  // never 0, which means "unclaimed"
  }

  // The slot of a node this pass has reached, or kNone.
  std::size_t find(const Node* n) const {
    if (n->pass_owner.load(std::memory_order_relaxed) == id) return n->pass_slot;
    const auto it = shared.find(n);
    return it == shared.end() ? kNone : it->second;
  }
  Slot& slot(const std::shared_ptr<Node>& n) { return slots[find(n.get())]; }

  // Every node reachable from the roots, the number of edges into each, and the edges as slot
  // indices, so running the pass needs no lookup. Explicit stack, no recursion.
  void discover(const std::vector<Root>& roots) {
    std::vector<std::size_t> stack;
    auto visit = [&](const std::shared_ptr<Node>& n) -> std::size_t {
      Node* p = n.get();
      // Found before, through a claim or (when another pass held the node then) the map: the
      // other pass may have given its claim back since, so the map is asked before claiming.
      if (const std::size_t known = find(p); known != kNone) return known;
      const std::size_t fresh = slots.size();
      std::uint64_t unclaimed = 0;
      // (a pass beyond 2^32 nodes keeps the rest in its map: pass_slot has 32 bits)
      if (fresh <= UINT32_MAX && p->pass_owner.compare_exchange_strong(unclaimed, id, std::memory_order_acquire))
        p->pass_slot = static_cast<std::uint32_t>(fresh);
      else
        shared.emplace(p, fresh);
      slots.emplace_back();
      slots.back().node = &n;
      slots.back().claimed = p->pass_owner.load(std::memory_order_relaxed) == id;
      stack.push_back(fresh);
      return fresh;
    };
    for (const Root& r : roots) visit(r.node);
    while (!stack.empty()) {
      const std::size_t s = stack.back();
      stack.pop_back();
      slots[s].first_edge = edges.size();
      for (const auto& child : (*slots[s].node)->next) {
        std::size_t c = kNone;
        if (child) {
          c = visit(child);
          ++slots[c].pending;
        }
        edges.push_back(c);
      }
    }
  }

  std::size_t edge(const Slot& s, std::size_t i) const { return edges[s.first_edge + i]; }
  std::size_t edge_count(const Slot& s) const { return (*s.node)->next.size(); }

  // ad::grad: only nodes on a path to a captured node run, and no leaf is touched. Marks
  // `wanted` children before parents, in the reverse of a topological order (Kahn's, dry run).
  void prune(const std::vector<Root>& roots, const std::vector<Node*>& captures) {
    for (std::size_t k = 0; k < captures.size(); ++k)
      if (const std::size_t c = find(captures[k]); c != kNone) slots[c].capture = static_cast<std::int64_t>(k);
    std::vector<std::int64_t> remaining(slots.size());
    std::vector<std::size_t> order, ready;
    for (std::size_t i = 0; i < slots.size(); ++i) remaining[i] = slots[i].pending;
    for (const Root& r : roots)
      if (const std::size_t i = find(r.node.get()); remaining[i] == 0) {
        remaining[i] = -1;
        ready.push_back(i);
      }
    while (!ready.empty()) {
      const std::size_t s = ready.back();
      ready.pop_back();
      order.push_back(s);
      for (std::size_t i = 0; i < edge_count(slots[s]); ++i)
        if (const std::size_t c = edge(slots[s], i); c != kNone && --remaining[c] == 0) ready.push_back(c);
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Slot& s = slots[*it];
      s.runs = false;
      for (std::size_t i = 0; i < edge_count(s); ++i)
        if (const std::size_t c = edge(s, i); c != kNone && slots[c].wanted) s.runs = true;
      s.wanted = s.runs || s.capture >= 0;
    }
  }
};

// Runs the backward pass. With `captures`, the gradient arriving at each captured node is stored
// in `captured` and no .grad is touched; otherwise gradients accumulate into leaves.
void run_backward(const std::vector<Root>& roots, bool keep_graph, bool create_graph,
                  const std::vector<Node*>* captures, std::vector<Tensor>* captured) {
  AutoGradMode mode(create_graph);
  GraphTask task;
  task.discover(roots);
  if (captures) task.prune(roots, *captures);

  for (const Root& r : roots) accumulate_into(task.slot(r.node).buffer, r.grad);
  std::vector<std::size_t> ready;
  for (const Root& r : roots) {
    const std::size_t i = task.find(r.node.get());
    GraphTask::Slot& s = task.slots[i];
    if (s.pending == 0 && s.wanted) {
      s.pending = -1;  // queued (a node given twice as a root is queued once)
      ready.push_back(i);
    }
  }
  const bool anomaly = AnomalyMode::is_enabled();
  while (!ready.empty()) {
    GraphTask::Slot& slot = task.slots[ready.back()];
    ready.pop_back();
    const std::shared_ptr<Node>& n = *slot.node;
    Tensor g = std::move(slot.buffer);
    slot.buffer = Tensor();
    if (n->hooks && g.defined()) g = run_grad_hooks(*n->hooks, std::move(g), n->name);  // register_hook
    if (slot.capture >= 0) (*captured)[static_cast<std::size_t>(slot.capture)] = g;

    GradList grads;
    {
      std::lock_guard<NodeLock> lock(n->lock);  // another pass may be running this node
      if (!captures)
        if (auto r = n->retained.lock()) accumulate_grad(*r, g);  // retain_grad() on a non-leaf
      if (g.defined() && slot.runs) {
        grads = call_backward(*n, std::move(g), n);
        if (grads.size() != n->next.size())
          throw Error("backward of " + describe(*n) + " returned " + std::to_string(grads.size()) +
                      " gradients for its " + std::to_string(n->next.size()) +
                      " inputs; a backward rule returns one per input, in order (Tensor() for an input that gets "
                      "none)");
        if (!keep_graph && !n->is_accumulator()) n->release();
      }
    }
    task.give_back(slot);  // nothing looks this node up any more, and it is in cache now
    if (anomaly) check_finite(*n, grads);
    for (std::size_t i = 0; i < n->next.size(); ++i) {
      const std::size_t t = task.edge(slot, i);
      if (t == GraphTask::kNone || !task.slots[t].wanted) continue;
      GraphTask::Slot* target = &task.slots[t];
      if (i < grads.size() && grads[i].defined()) {
        Tensor gi = std::move(grads[i]);
        const InputMeta& meta = n->inputs[i];
        if (gi.shape() != meta.shape) {  // undo broadcasting, for every op at once
          if (!broadcastable_to(meta.shape, gi.shape()))
            throw Error("backward of " + describe(*n) + " returned a gradient of shape " + shape_str(gi.shape()) +
                        " for its input " + std::to_string(i) + " of shape " + shape_str(meta.shape) +
                        "; a gradient has its input's shape, or one that broadcasting reduces to it");
          gi = sum_to(gi, meta.shape);
        }
        if (gi.dtype() != meta.dtype) gi = gi.to(meta.dtype);
        accumulate_into(target->buffer, std::move(gi));
      }
      if (--target->pending == 0) ready.push_back(t);
    }
  }
}

void check_count(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw Error("backward: " + std::to_string(outputs.size()) + " outputs but " + std::to_string(grad_outputs.size()) +
                " gradients; give one per output (or none for one-element outputs)");
}

std::vector<Root> make_roots(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
  check_count(outputs, grad_outputs);
  std::vector<Root> roots;
  for (std::size_t i = 0; i < outputs.size(); ++i)
    roots.push_back({node_of(outputs[i], "output", i),
                     seed_gradient(outputs[i], grad_outputs.empty() ? Tensor() : grad_outputs[i], i)});
  return roots;
}

}  // namespace

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, BackwardOptions opt) {
  if (opt.create_graph) {
    static thread_local bool warned = false;
    if (!warned)
      spdlog::warn(
          "backward(create_graph=true) stores differentiable gradients in .grad, which keeps the graph "
          "alive through the leaves; prefer ad::grad() for higher-order derivatives, or call zero_grad() after use");
    warned = true;
  }
  run_backward(make_roots(outputs, grad_outputs), opt.retain_graph || opt.create_graph, opt.create_graph, nullptr,
               nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, GradOptions opt) {
  // One capture per distinct node (an input may be given twice).
  std::vector<Node*> captures;
  std::vector<std::size_t> capture_of(inputs.size());
  std::vector<std::shared_ptr<Node>> keep_alive;
  std::unordered_map<Node*, std::size_t> index;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::shared_ptr<Node> n = node_of(inputs[i], "grad: input", i);
    auto [it, fresh] = index.try_emplace(n.get(), captures.size());
    if (fresh) {
      captures.push_back(n.get());
      keep_alive.push_back(std::move(n));
    }
    capture_of[i] = it->second;
  }
  std::vector<Tensor> captured(captures.size());
  // With allow_unused, an output that does not depend on anything differentiable (a constant,
  // such as the first derivative of a linear function) contributes zero: it is skipped.
  check_count(outputs, grad_outputs);
  std::vector<Tensor> outs, gouts;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (opt.allow_unused && outputs[i].defined() && !outputs[i].requires_grad()) continue;
    outs.push_back(outputs[i]);
    if (!grad_outputs.empty()) gouts.push_back(grad_outputs[i]);
  }
  if (!outs.empty())
    run_backward(make_roots(outs, gouts), opt.retain_graph.value_or(opt.create_graph), opt.create_graph, &captures,
                 &captured);
  std::vector<Tensor> result(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    result[i] = captured[capture_of[i]];
    if (result[i].defined() || opt.allow_unused) continue;
    throw Error("grad: input " + std::to_string(i) + " (shape " + shape_str(inputs[i].shape()) +
                ") was not used to compute the outputs; pass GradOptions{.allow_unused = true} to get an undefined "
                "gradient for it instead");
  }
  return result;
}

}  // namespace ad
