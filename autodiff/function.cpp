// Custom functions (function.h): the node that calls a user's backward, the context's bookkeeping
// of saved tensors, and the recording of a call's outputs. Built only from what every op uses:
// a Node subclass, detail::attach, record and SavedTensor.
#include "adgraph/autodiff/function.h"

#include <cxxabi.h>

#include <cstdlib>
#include <mutex>
#include <unordered_set>

#include "adgraph/autodiff/ops.h"

namespace ad {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && d ? d : mangled;
  std::free(d);  // NOLINT(cppcoreguidelines-no-malloc): __cxa_demangle allocates with malloc
  return s;
}

std::string plural(std::size_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

// The position of the tensor `t` (the same TensorImpl) in `list`, or -1.
std::ptrdiff_t index_of(const variable_list& list, const Tensor& t) {
  if (!t.defined()) return -1;
  for (std::size_t i = 0; i < list.size(); ++i)
    if (list[i].impl() == t.impl()) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

// A new handle on t's elements, as a view of t's base made without grad: returned instead of a
// tensor the caller already has (an input, or a tensor with history), whose history must not
// change. An in-place op on it while recording is then refused, as on any such view.
Tensor alias_of(const Tensor& t) {
  const TensorImpl& i = *t.impl();
  auto a = std::make_shared<TensorImpl>(i.storage, i.shape, i.strides, i.offset);
  const std::shared_ptr<TensorImpl>& base = i.view ? i.view->base : t.impl_ptr();
  a->view = std::make_unique<ViewInfo>(ViewInfo{base, base->rebases, true});
  return Tensor(std::move(a));
}

// A stand-in for the packed output of a function with several differentiable outputs: its shape
// and dtype (one element of storage, stride 0) and `fn` as its history.
Tensor packed_stand_in(std::shared_ptr<Node> fn, std::int64_t numel, Dtype dt) {
  const Tensor one = zeros({1}, dtype(dt));
  auto impl = std::make_shared<TensorImpl>(one.impl()->storage, Shape{numel}, Shape{0}, 0);
  if (fn) {
    impl->requires_grad = true;
    impl->grad_fn = std::move(fn);
  }
  return Tensor(std::move(impl));
}

}  // namespace

// ---- IValue

void IValue::throw_type_error(const std::type_info& wanted) const {
  throw Error("saved_data: the value is " + (isNone() ? std::string("empty") : "a " + demangle(value_.type().name())) +
              ", not a " + demangle(wanted.name()));
}

double IValue::toDouble() const {
  if (const auto* d = std::any_cast<double>(&value_)) return *d;
  if (const auto* i = std::any_cast<std::int64_t>(&value_)) return static_cast<double>(*i);
  throw_type_error(typeid(double));
}
std::int64_t IValue::toInt() const { return to<std::int64_t>(); }
bool IValue::toBool() const { return to<bool>(); }
const std::string& IValue::toStringRef() const { return to<std::string>(); }
const std::vector<std::int64_t>& IValue::toIntVector() const { return to<std::vector<std::int64_t>>(); }
const std::vector<double>& IValue::toDoubleVector() const { return to<std::vector<double>>(); }

// ---- names

const char* detail::intern_function_name(std::string_view name) {
  // Node names are plain pointers: each distinct name is kept once, for the life of the process
  // (never destroyed, so nodes alive at exit may still use theirs).
  static std::mutex mutex;
  static auto* names = new std::unordered_set<std::string>();
  const std::lock_guard<std::mutex> lock(mutex);
  return names->emplace(name).first->c_str();
}

const char* detail::function_type_name(const std::type_info& type) {
  std::string s = demangle(type.name());
  const std::string anonymous = "(anonymous namespace)::";
  for (auto p = s.find(anonymous); p != std::string::npos; p = s.find(anonymous)) s.erase(p, anonymous.size());
  return intern_function_name(s);
}

namespace detail {

// What the node knows of each output of the call.
struct CustomOutputInfo {
  Shape shape = {};
  Dtype dtype = kFloat32;
  bool defined = false;
  bool differentiable = false;
  std::int64_t offset = 0;          // packed: where its gradient starts in the packed gradient
  const char* node_name = nullptr;  // packed: the name of its own node, "<name>[k]"
};

// Packed outputs: the rule of output k's node puts its gradient at its place in zeros of the
// packed gradient (differentiable, for create_graph).
struct CustomPlaceGradient {
  std::int64_t offset = 0, numel = 0, total = 0;
  Dtype dt = kFloat32;
  GradList operator()(const Tensor& g, const Tensor&) const {
    const Tensor flat = g.reshape({numel}).to(dt);
    std::vector<Tensor> parts;
    if (offset > 0) parts.push_back(zeros({offset}, dtype(dt)));
    parts.push_back(flat);
    if (const std::int64_t rest = total - offset - numel; rest > 0) parts.push_back(zeros({rest}, dtype(dt)));
    return GradList{parts.size() == 1 ? flat : cat(parts, 0)};
  }
};

// The node of a recorded call: it owns the call's context and calls the user's backward.
struct CustomFunctionNode final : Node {
  CustomFunctionNode(const char* n, CustomBackwardFn b) : Node(n), backward_fn(b) {}
  GradList apply(const Tensor& g, const Tensor& out) override;
  void release() override;

  AutogradContext ctx;
  CustomBackwardFn backward_fn = nullptr;
  std::weak_ptr<Node> self;  // to give saved outputs this node as their history
  std::vector<CustomOutputInfo> outputs;
  bool packed = false;  // two or more differentiable outputs: the gradient is theirs, flattened
  std::int64_t packed_numel = 0;
  Dtype packed_dtype = kFloat32;

  CustomPlaceGradient place(const CustomOutputInfo& o) const {
    return {o.offset, numel_of(o.shape), packed_numel, packed_dtype};
  }
};

struct FunctionAccess {
  static CustomFunctionNode& node(const AutogradContext& ctx) { return static_cast<CustomFunctionNode&>(*ctx.node_); }
  static std::string fn_name(const AutogradContext& ctx) { return ctx.name_; }

  static void init(AutogradContext& ctx, const char* name, FunctionInputs in, Node* node) {
    ctx.name_ = name;
    ctx.node_ = node;
    ctx.needs_input_grad_.reserve(in.tensors.size());
    for (const Tensor& t : in.tensors) ctx.needs_input_grad_.push_back(node && t.defined() && t.requires_grad());
    ctx.inputs_ = std::move(in.tensors);
    ctx.is_tensor_arg_ = std::move(in.is_tensor_arg);
  }

  static void check_forward(const AutogradContext& ctx, const char* what) {
    if (ctx.phase_ != AutogradContext::Phase::kForward)
      throw Error(fn_name(ctx) + ": " + what + " is called in forward, which has returned");
  }

  // After forward: checks the marks, records the outputs and keeps what forward saved.
  static variable_list end(AutogradContext& ctx, variable_list outs) {
    check_forward(ctx, "function_end");
    ctx.phase_ = AutogradContext::Phase::kBackward;
    const std::string fn = fn_name(ctx);
    std::vector<bool> dirty(outs.size(), false);
    for (const Tensor& d : ctx.dirty_) {
      if (!d.defined()) continue;
      const std::ptrdiff_t i = index_of(ctx.inputs_, d);
      if (i < 0)
        throw Error(fn + ": mark_dirty was given a tensor of shape " + shape_str(d.shape()) +
                    " that is not a tensor argument of forward; mark only the inputs forward modified in place");
      const std::ptrdiff_t k = index_of(outs, d);
      if (k < 0)
        throw Error(fn + ": input " + std::to_string(i) +
                    " was marked dirty (modified in place) but forward did not return it; return every input that "
                    "forward modifies in place");
      dirty[static_cast<std::size_t>(k)] = true;
      if (ctx.node_ && d.impl()->view)
        throw Error(fn + ": mark_dirty: input " + std::to_string(i) + " (shape " + shape_str(d.shape()) +
                    ") is a view; a custom function cannot modify a view in place while recording — modify and "
                    "return its base, or return a modified copy without mark_dirty");
      if (ctx.node_ && d.is_leaf() && d.requires_grad())
        throw Error(fn + ": mark_dirty: input " + std::to_string(i) + " is a leaf tensor of shape " +
                    shape_str(d.shape()) +
                    " that requires grad; it cannot be modified in place while recording — pass a clone() of it, "
                    "or call the function under ad::NoGradGuard");
    }
    for (const Tensor& t : ctx.non_differentiable_)
      if (t.defined() && index_of(outs, t) < 0)
        throw Error(fn + ": mark_non_differentiable was given a tensor of shape " + shape_str(t.shape()) +
                    " that forward did not return; mark only outputs");
    if (!ctx.node_) {
      clear_forward_state(ctx);
      return outs;
    }

    CustomFunctionNode& n = node(ctx);
    std::shared_ptr<Node> self = n.self.lock();  // alive: the caller's handle on ctx shares it
    n.outputs.resize(outs.size());
    std::size_t n_diff = 0, the_diff = 0;
    for (std::size_t k = 0; k < outs.size(); ++k) {
      const Tensor& o = outs[k];
      CustomOutputInfo& info = n.outputs[k];
      info.defined = o.defined();
      if (!o.defined()) continue;
      info.shape = o.shape();
      info.dtype = o.dtype();
      info.differentiable = is_floating(o.dtype()) && index_of(ctx.non_differentiable_, o) < 0;
      if (info.differentiable) {
        ++n_diff;
        the_diff = k;
      }
    }
    // An output must not change the history of a tensor the caller has: an input returned as it
    // is, a tensor with history from outside forward, an output returned twice.
    for (std::size_t k = 0; k < outs.size(); ++k) {
      Tensor& o = outs[k];
      if (!o.defined()) continue;
      const bool repeated = index_of(outs, o) < static_cast<std::ptrdiff_t>(k);
      if (repeated || (!dirty[k] && (index_of(ctx.inputs_, o) >= 0 || o.requires_grad()))) o = alias_of(o);
    }
    std::vector<std::shared_ptr<Node>> old_history(outs.size());
    for (std::size_t k = 0; k < outs.size(); ++k)
      if (dirty[k]) old_history[k] = outs[k].impl()->grad_fn;

    if (n_diff == 0) {  // nothing to differentiate: the node goes away with the context
      clear_forward_state(ctx);
      return outs;
    }
    if (n_diff == 1) {
      attach(self, outs[the_diff], ctx.inputs_.data(), ctx.inputs_.size(), false);
    } else {
      n.packed = true;
      bool first = true;
      for (std::size_t k = 0; k < outs.size(); ++k) {
        CustomOutputInfo& info = n.outputs[k];
        if (!info.differentiable) continue;
        n.packed_dtype = first ? info.dtype : promote_types(n.packed_dtype, info.dtype);
        first = false;
        info.offset = n.packed_numel;
        n.packed_numel += numel_of(info.shape);
        info.node_name = intern_function_name(fn + "[" + std::to_string(k) + "]");
      }
      const Tensor pack = packed_stand_in(nullptr, n.packed_numel, n.packed_dtype);
      attach(self, pack, ctx.inputs_.data(), ctx.inputs_.size(), false);
      for (std::size_t k = 0; k < outs.size(); ++k)
        if (n.outputs[k].differentiable)
          outs[k] = record(n.outputs[k].node_name, outs[k], {pack}, n.place(n.outputs[k]));
    }
    // A dirty input took this call as its history, as the target of an in-place op does.
    for (std::size_t k = 0; k < outs.size(); ++k) {
      if (!dirty[k] || !n.outputs[k].differentiable) continue;
      const std::shared_ptr<TensorImpl>& impl = outs[k].impl_ptr();
      if (impl->retains_grad) {  // .grad now belongs to the new value
        if (old_history[k]) old_history[k]->retained.reset();
        impl->grad_fn->retained = impl;
      }
      ++impl->rebases;  // its views follow on their next use
    }
    // Saved outputs are kept without their history (it leads here: a reference cycle).
    ctx.saved_.reserve(ctx.to_save_.size());
    for (const Tensor& t : ctx.to_save_) {
      SavedVariable s;
      const std::ptrdiff_t k = index_of(outs, t);
      if (k >= 0 && n.outputs[static_cast<std::size_t>(k)].differentiable) {
        const TensorImpl& i = *t.impl();
        s.output = k;
        s.storage = i.storage;
        s.shape = i.shape;
        s.strides = i.strides;
        s.offset = i.offset;
        s.version = i.storage->version;
      } else {
        s.tensor = SavedTensor(t);
      }
      ctx.saved_.push_back(std::move(s));
    }
    clear_forward_state(ctx);
    return outs;
  }

  static void clear_forward_state(AutogradContext& ctx) {
    ctx.inputs_ = {};
    ctx.to_save_ = {};
    ctx.dirty_ = {};
    ctx.non_differentiable_ = {};
  }

  // A saved output, version-checked, with its history back.
  static Tensor unpack_output(const AutogradContext& ctx, const SavedVariable& s) {
    if (s.storage->version != s.version) throw VersionError(shape_str(s.shape), s.version, s.storage->version);
    Tensor t(std::make_shared<TensorImpl>(s.storage, s.shape, s.strides, s.offset));
    const CustomFunctionNode& n = node(ctx);
    std::shared_ptr<Node> self = n.self.lock();  // running, so alive
    if (!self) return t;
    if (!n.packed) {
      t.impl()->requires_grad = true;
      t.impl()->grad_fn = std::move(self);
      return t;
    }
    // packed: a node of its own, as the output had, leading to this one (only needed when recording)
    const CustomOutputInfo& o = n.outputs[static_cast<std::size_t>(s.output)];
    return record(o.node_name, t, {packed_stand_in(std::move(self), n.packed_numel, n.packed_dtype)}, n.place(o));
  }

  static GradList backward(CustomFunctionNode& n, const Tensor& g) {
    GradList grad_outputs;
    for (const CustomOutputInfo& o : n.outputs) {
      if (!o.defined)
        grad_outputs.emplace_back();
      else if (!o.differentiable)
        grad_outputs.push_back(zeros(o.shape, dtype(o.dtype)));
      else if (!n.packed)
        grad_outputs.push_back(g);
      else
        grad_outputs.push_back(g.narrow(0, o.offset, numel_of(o.shape)).reshape(o.shape).to(o.dtype));
    }
    return checked(n, n.backward_fn(n.ctx, grad_outputs));
  }

  // One gradient per tensor input (or, as libtorch, per forward argument), floating, of a shape
  // that broadcasting reduces to the input's.
  static GradList checked(const CustomFunctionNode& n, GradList r) {
    const AutogradContext& ctx = n.ctx;
    const std::string fn = fn_name(ctx);
    const std::size_t n_inputs = n.inputs.size(), n_args = ctx.is_tensor_arg_.size();
    std::size_t limit = r.size();  // trailing undefined gradients beyond the arguments are ignored
    while (limit > n_args && !r[limit - 1].defined()) --limit;
    if (r.size() != n_inputs && limit == n_args && n_args != n_inputs) {
      GradList kept;
      for (std::size_t i = 0; i < n_args; ++i) {
        if (ctx.is_tensor_arg_[i]) {
          kept.push_back(std::move(r[i]));
        } else if (r[i].defined()) {
          throw Error(fn + ": backward returned a gradient at position " + std::to_string(i) + ", for argument " +
                      std::to_string(i) + " of forward, which is not a tensor; return Tensor() there");
        }
      }
      r = std::move(kept);
    } else if (r.size() != n_inputs && limit == n_inputs) {
      r.resize(n_inputs);
    }
    if (r.size() != n_inputs)
      throw Error(
          fn + ": backward returned " + plural(r.size(), "gradient") + " for " + plural(n_inputs, "tensor input") +
          "; return one per tensor argument of forward, in order (Tensor() for an input that gets none)" +
          (n_args != n_inputs ? ", or, as libtorch, one per argument of forward (" + std::to_string(n_args) + ")"
                              : std::string()));
    for (std::size_t i = 0; i < n_inputs; ++i) {
      if (!r[i].defined() || !n.next[i]) continue;  // a gradient no one receives is not checked
      const InputMeta& m = n.inputs[i];
      if (!is_floating(r[i].dtype()))
        throw Error(fn + ": backward returned a gradient of dtype " + dtype_name(r[i].dtype()) + " for input " +
                    std::to_string(i) + " (" + dtype_name(m.dtype) + "); gradients are Float32 or Float64");
      if (r[i].shape() != m.shape && !broadcastable_to(m.shape, r[i].shape()))
        throw Error(fn + ": backward returned a gradient of shape " + shape_str(r[i].shape()) + " for input " +
                    std::to_string(i) + " of shape " + shape_str(m.shape) +
                    "; a gradient has its input's shape, or one that broadcasting reduces to it");
    }
    return r;
  }

  static void release(AutogradContext& ctx) {
    ctx.saved_.clear();
    ctx.phase_ = AutogradContext::Phase::kReleased;
  }

  static variable_list saved(const AutogradContext& ctx) {
    if (ctx.phase_ == AutogradContext::Phase::kForward)
      throw Error(fn_name(ctx) + ": get_saved_variables() is for backward; forward has the tensors at hand");
    if (ctx.phase_ == AutogradContext::Phase::kReleased)
      throw Error(fn_name(ctx) +
                  ": the saved tensors were freed by a backward without retain_graph; pass "
                  "BackwardOptions{.retain_graph = true} to the first backward to run it again");
    variable_list r;
    r.reserve(ctx.saved_.size());
    for (const SavedVariable& s : ctx.saved_) r.push_back(s.output < 0 ? s.tensor.get() : unpack_output(ctx, s));
    return r;
  }
};

GradList CustomFunctionNode::apply(const Tensor& g, const Tensor&) { return FunctionAccess::backward(*this, g); }

void CustomFunctionNode::release() {
  FunctionAccess::release(ctx);
  released = true;
}

std::shared_ptr<AutogradContext> function_begin(const char* name, FunctionInputs inputs, CustomBackwardFn backward) {
  if (!any_requires_grad(inputs.tensors.data(), inputs.tensors.size())) {
    auto ctx = std::make_shared<AutogradContext>();
    FunctionAccess::init(*ctx, name, std::move(inputs), nullptr);
    return ctx;
  }
  auto node = std::make_shared<CustomFunctionNode>(name, backward);
  node->self = node;
  FunctionAccess::init(node->ctx, name, std::move(inputs), node.get());
  return {node, &node->ctx};  // the context lives in the node: one allocation per call
}

variable_list function_end(AutogradContext& ctx, variable_list outputs) {
  return FunctionAccess::end(ctx, std::move(outputs));
}

}  // namespace detail

// ---- AutogradContext

void AutogradContext::save_for_backward(variable_list to_save) {
  detail::FunctionAccess::check_forward(*this, "save_for_backward");
  to_save_ = std::move(to_save);
}

variable_list AutogradContext::get_saved_variables() const { return detail::FunctionAccess::saved(*this); }

void AutogradContext::mark_dirty(const variable_list& inputs) {
  detail::FunctionAccess::check_forward(*this, "mark_dirty");
  dirty_.insert(dirty_.end(), inputs.begin(), inputs.end());
}

void AutogradContext::mark_non_differentiable(const variable_list& outputs) {
  detail::FunctionAccess::check_forward(*this, "mark_non_differentiable");
  non_differentiable_.insert(non_differentiable_.end(), outputs.begin(), outputs.end());
}

bool AutogradContext::needs_input_grad(std::size_t i) const {
  if (i >= needs_input_grad_.size())
    throw Error(std::string(name_) + ": needs_input_grad(" + std::to_string(i) + "): forward has " +
                plural(needs_input_grad_.size(), "tensor input"));
  return needs_input_grad_[i];
}

bool AutogradContext::needs_input_grad(std::initializer_list<std::size_t> indices) const {
  for (std::size_t i : indices)
    if (needs_input_grad(i)) return true;
  return false;
}

}  // namespace ad
