#pragma once
// Custom differentiable functions, as libtorch's torch::autograd::Function<T> and AutogradContext:
//
//   struct MyExp : ad::Function<MyExp> {
//     static ad::Tensor forward(ad::AutogradContext& ctx, const ad::Tensor& x, double k) {
//       ad::Tensor y = ad::exp(x * k);       // runs with grad mode off: nothing is recorded here
//       ctx.save_for_backward({y});          // an output may be saved (no reference cycle)
//       ctx.saved_data["k"] = k;             // non-tensor values
//       return y;
//     }
//     static ad::GradList backward(ad::AutogradContext& ctx, const ad::GradList& grad_outputs) {
//       const ad::Tensor y = ctx.get_saved_variables()[0];  // version-checked
//       return {grad_outputs[0] * y * ctx.saved_data["k"].toDouble()};  // one per tensor input
//     }
//   };
//   ad::Tensor y = MyExp::apply(x, 2.0);
//
// What apply does:
// - The tensor arguments of forward (a Tensor in any position, a std::optional<Tensor> that holds
//   one, each element of a std::vector<Tensor>) are the inputs of the recorded node, in order;
//   every other argument is passed to forward unchanged and is not differentiated.
// - forward runs with grad mode off. When grad mode is on and some input requires grad, the
//   outputs are recorded with one node named after the function (a static `name()` of T if it has
//   one, else T's type name without "(anonymous namespace)::"); that name appears in DOT graphs
//   and in the engine's errors. Otherwise (no_grad, or no input requires grad) nothing is recorded.
// - backward is called with one gradient per output (outputs that got no gradient, and outputs
//   that are not differentiable, get zeros of their shape) and returns one gradient per tensor
//   input, in order; an undefined Tensor() means "no gradient". libtorch's convention, one per
//   forward argument with undefined ones at the non-tensor positions, is accepted too. The count,
//   the shapes (the engine sums a broadcast gradient back to its input's shape) and the dtypes
//   (floating; cast to the input's) are checked, and errors name the function.
// - Saved tensors keep the version they had when forward returned: if one is modified in place
//   before backward, backward throws the engine's error naming the function.
// - If backward is written with differentiable ops, it is recorded under create_graph and second
//   derivatives work (gradgradcheck), also through saved outputs, which come back with this
//   function as their history.
// - forward may return a Tensor, a std::vector<Tensor> (libtorch's variable_list) or a
//   std::tuple of Tensors. Floating outputs are differentiable unless marked; Int64 and Bool
//   outputs never are. With two or more differentiable outputs the function's node receives their
//   gradients flattened into one vector (the engine's nodes have one output), and each output gets
//   a small node of its own, named "<name>[k]", that places its gradient in that vector.
// - forward and backward may take the context as `AutogradContext&` or `AutogradContext*`
//   (libtorch), and backward its gradients as `const GradList&` or `variable_list` (it may return
//   either).
//
// Hooks, retain_grad(), anomaly mode, ad::grad, gradcheck and to_dot see a custom function as any
// other op.
//
// Threads: forward runs on the thread that calls apply. backward runs on the thread that runs the
// backward pass; passes on several threads that share the node take turns on it (the engine's
// node lock), so one context is never used by two threads at once. Nodes of the same Function
// type in different graphs may run their backward at the same time: state the type shares
// (statics) needs its own synchronization.
//
// Not supported: set_materialize_grads(false) (missing gradients are always zeros),
// mark_dirty on a view (modify and return its base instead), forward-mode derivatives (the engine
// has none). needs_input_grad(i) says whether input i required grad when forward ran, not
// whether the current pass (ad::grad with some inputs) needs it. A view of an output that is
// saved comes back without history (save the output itself), and tensors in saved_data are
// neither version-checked nor given history (save them with save_for_backward).
#include <any>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/tensor.h"

namespace ad {

// libtorch's name for a list of tensors (forward's and backward's alternative to GradList).
using variable_list = std::vector<Tensor>;

// A non-tensor value kept in AutogradContext::saved_data (libtorch's at::IValue, reduced to what a
// std::any holds). Integers are stored as std::int64_t, floating numbers as double, strings as
// std::string, so `saved_data["k"] = 2` reads back with toInt() or toDouble().
class IValue {
 public:
  IValue() = default;
  template <class V, class D = std::decay_t<V>>
  requires(!std::is_same_v<D, IValue>) IValue(V&& v)
      : value_(convert(std::forward<V>(v))) {}  // NOLINT(google-explicit-constructor)

  bool isNone() const { return !value_.has_value(); }
  double toDouble() const;  // a double, or an integer converted
  std::int64_t toInt() const;
  bool toBool() const;
  const std::string& toStringRef() const;
  std::string toString() const { return toStringRef(); }
  const std::vector<std::int64_t>& toIntVector() const;  // also a Shape
  const std::vector<double>& toDoubleVector() const;
  // Any other type, as stored (exactly T): throws naming both types otherwise.
  template <class T>
  const T& to() const {
    if (const T* p = std::any_cast<T>(&value_)) return *p;
    throw_type_error(typeid(T));
  }
  const std::type_info& type() const { return value_.type(); }

 private:
  template <class V>
  static std::any convert(V&& v) {
    using D = std::decay_t<V>;
    if constexpr (std::is_same_v<D, bool>)
      return v;
    else if constexpr (std::is_integral_v<D>)
      return static_cast<std::int64_t>(v);
    else if constexpr (std::is_floating_point_v<D>)
      return static_cast<double>(v);
    else if constexpr (std::is_convertible_v<V, std::string_view> && !std::is_same_v<D, std::string>)
      return std::string(std::string_view(v));
    else if constexpr (std::is_base_of_v<std::vector<std::int64_t>, D>)  // Shape, Dims
      return std::vector<std::int64_t>(v);
    else
      return D(std::forward<V>(v));
  }
  [[noreturn]] void throw_type_error(const std::type_info& wanted) const;
  std::any value_;
};

class AutogradContext;
using FunctionCtx = AutogradContext;

namespace detail {

struct FunctionAccess;  // function.cpp
using CustomBackwardFn = GradList (*)(AutogradContext& ctx, const GradList& grad_outputs);

// A tensor saved by save_for_backward. An output of the function is kept without its history
// (which leads to the node that keeps this: a reference cycle) and given it back when unpacked.
struct SavedVariable {
  SavedTensor tensor = {};   // anything but a differentiable output
  std::int64_t output = -1;  // else: which output
  std::shared_ptr<Storage> storage = {};
  Shape shape = {}, strides = {};
  std::int64_t offset = 0;
  std::uint64_t version = 0;
};

}  // namespace detail

// What forward and backward of a custom function share (libtorch's AutogradContext). Made by
// Function<T>::apply; one per call.
class AutogradContext {
 public:
  AutogradContext() = default;
  AutogradContext(const AutogradContext&) = delete;
  AutogradContext& operator=(const AutogradContext&) = delete;

  // forward: the tensors backward needs (inputs, outputs or intermediate values; an intermediate
  // value has no history, so it is a constant for a second derivative). Each keeps the version it
  // has when forward returns; an in-place change after that makes backward throw. A second call
  // replaces the first's list, as in libtorch.
  void save_for_backward(variable_list to_save);
  // backward: the saved tensors, in the order given. Inputs keep their history and outputs get
  // theirs back (this function), so a backward written with differentiable ops can itself be
  // differentiated (create_graph).
  variable_list get_saved_variables() const;
  // Non-tensor values for backward (ints, doubles, strings, shapes, or any copyable type).
  std::unordered_map<std::string, IValue> saved_data;

  // forward: these inputs were modified in place and are returned as outputs. Each takes this
  // function as its new history (as an in-place op's target does). A leaf that requires grad and
  // a view are refused.
  void mark_dirty(const variable_list& inputs);
  // forward: these outputs are not differentiable: they do not require grad, and backward gets
  // zeros for them.
  void mark_non_differentiable(const variable_list& outputs);
  // Whether tensor input i (in the order of forward's tensor arguments) requires grad: backward may
  // return Tensor() for the others and skip computing them. Usable in forward and backward.
  bool needs_input_grad(std::size_t i) const;
  bool needs_input_grad(std::initializer_list<std::size_t> indices) const;  // any of them
  // The function's name (as DOT and errors show it).
  const char* name() const { return name_; }

 private:
  friend struct detail::FunctionAccess;
  enum class Phase : std::uint8_t { kForward, kBackward, kReleased };
  const char* name_ = "function";
  Phase phase_ = Phase::kForward;
  Node* node_ = nullptr;  // the node that owns this context, when the call is recorded
  variable_list inputs_, to_save_, dirty_, non_differentiable_;  // forward only
  std::vector<detail::SavedVariable> saved_;
  std::vector<bool> needs_input_grad_;
  std::vector<bool> is_tensor_arg_;  // per forward argument (vector elements one by one)
};

namespace detail {

// The name of a function type: demangled, without "(anonymous namespace)::". Both return a
// pointer that stays valid for the life of the process.
const char* function_type_name(const std::type_info& type);
const char* intern_function_name(std::string_view name);

template <class T>
concept HasFunctionName = requires {
  std::string_view(T::name());
};

template <class T>
const char* function_name() {
  static const char* const name = [] {
    if constexpr (HasFunctionName<T>)
      return intern_function_name(std::string_view(T::name()));
    else
      return function_type_name(typeid(T));
  }();
  return name;
}

// The tensor arguments of forward, and which arguments were tensors.
struct FunctionInputs {
  variable_list tensors;
  std::vector<bool> is_tensor_arg;
};
inline void collect_function_input(FunctionInputs& in, const Tensor& t) {
  in.tensors.push_back(t);
  in.is_tensor_arg.push_back(true);
}
inline void collect_function_input(FunctionInputs& in, const std::optional<Tensor>& t) {
  if (t && t->defined()) {
    collect_function_input(in, *t);
  } else {
    in.is_tensor_arg.push_back(false);
  }
}
inline void collect_function_input(FunctionInputs& in, const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) collect_function_input(in, t);
}
template <class A>
void collect_function_input(FunctionInputs& in, const A&) {
  in.is_tensor_arg.push_back(false);
}

// Starts a call: the context forward gets, owned by the call's node when the call is recorded.
std::shared_ptr<AutogradContext> function_begin(const char* name, FunctionInputs inputs, CustomBackwardFn backward);
// Ends it: records the outputs (when the call is recorded), saves what forward asked to save.
variable_list function_end(AutogradContext& ctx, variable_list outputs);

template <class T, class... A>
concept ForwardTakesPointer = requires(AutogradContext* c, A&&... a) {
  T::forward(c, std::forward<A>(a)...);
};
template <class T, class... A>
concept ForwardTakesReference = requires(AutogradContext& c, A&&... a) {
  T::forward(c, std::forward<A>(a)...);
};

template <class T, class... A>
auto call_forward(AutogradContext& ctx, A&&... a) {
  if constexpr (ForwardTakesPointer<T, A...>) {
    return T::forward(&ctx, std::forward<A>(a)...);
  } else {
    static_assert(ForwardTakesReference<T, A...>,
                  "ad::Function<T>::apply(args...): T needs `static R forward(ad::AutogradContext& ctx, args...)` "
                  "(or AutogradContext*), callable with these arguments");
    return T::forward(ctx, std::forward<A>(a)...);
  }
}

template <class T>
GradList to_grad_list(T&& grads) {
  if constexpr (std::is_same_v<std::decay_t<T>, GradList>)
    return std::forward<T>(grads);
  else
    return GradList(grads.begin(), grads.end());
}

template <class T>
GradList run_custom_backward(AutogradContext& ctx, const GradList& g) {
  if constexpr (requires(AutogradContext * c, const GradList& gl) { T::backward(c, gl); }) {
    return to_grad_list(T::backward(&ctx, g));
  } else if constexpr (requires(AutogradContext & c, const GradList& gl) { T::backward(c, gl); }) {
    return to_grad_list(T::backward(ctx, g));
  } else if constexpr (requires(AutogradContext * c, variable_list v) { T::backward(c, v); }) {
    return to_grad_list(T::backward(&ctx, variable_list(g.begin(), g.end())));
  } else {
    static_assert(
        requires(AutogradContext & c, variable_list v) { T::backward(c, v); },
        "ad::Function<T>: T needs `static ad::GradList backward(ad::AutogradContext& ctx, const "
        "ad::GradList& grad_outputs)` (or AutogradContext*, or variable_list)");
    return to_grad_list(T::backward(ctx, variable_list(g.begin(), g.end())));
  }
}

template <class R>
struct IsTensorTuple : std::false_type {};
template <class... Ts>
struct IsTensorTuple<std::tuple<Ts...>> : std::bool_constant<(std::is_same_v<Ts, Tensor> && ...)> {};

template <class Tuple, std::size_t... I>
Tuple tuple_from(variable_list&& v, std::index_sequence<I...>) {
  return Tuple(std::move(v[I])...);
}

}  // namespace detail

// Derive T from Function<T> and give it static forward and backward (see the top of this file);
// call T::apply(args...) with forward's arguments after the context.
template <class T>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    detail::FunctionInputs in;
    (detail::collect_function_input(in, std::as_const(args)), ...);
    const std::shared_ptr<AutogradContext> ctx =
        detail::function_begin(detail::function_name<T>(), std::move(in), &detail::run_custom_backward<T>);
    using R = decltype(detail::call_forward<T>(*ctx, std::forward<Args>(args)...));
    R out = [&] {
      NoGradGuard no_grad;
      return detail::call_forward<T>(*ctx, std::forward<Args>(args)...);
    }();
    if constexpr (std::is_same_v<R, Tensor>) {
      return std::move(detail::function_end(*ctx, variable_list{std::move(out)})[0]);
    } else if constexpr (std::is_same_v<R, variable_list>) {
      return detail::function_end(*ctx, std::move(out));
    } else {
      static_assert(detail::IsTensorTuple<R>::value,
                    "ad::Function<T>: forward returns a Tensor, a std::vector<Tensor> or a std::tuple of Tensors");
      variable_list outs =
          std::apply([](auto&&... t) { return variable_list{std::forward<decltype(t)>(t)...}; }, std::move(out));
      return detail::tuple_from<R>(detail::function_end(*ctx, std::move(outs)),
                                   std::make_index_sequence<std::tuple_size_v<R>>{});
    }
  }
};

}  // namespace ad
