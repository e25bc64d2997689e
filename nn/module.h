#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/autodiff.h"

namespace ad::nn {

// Base of every layer and model. Parameters and child modules are registered by name and
// owned here, so parameters() is the single source of truth: a layer reads its weights back
// through param("weight"), and replacing one goes through set_param, never a stray member.
//
// forward: override either overload. The non-const one (what Sequential and operator() call
// on a non-const module) defaults to the const one, and the const one defaults to throwing an
// ad::Error naming the module type. So `ad::Tensor forward(const ad::Tensor&) const override`
// and `ad::Tensor forward(const ad::Tensor&) override` both work in a subclass.
class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual ad::Tensor forward(const ad::Tensor& x) const;
  virtual ad::Tensor forward(const ad::Tensor& x);
  // forward(x) with the forward hooks around it. An ad::Error thrown inside is rethrown with
  // this module's place in front: "fc2 (Linear): ..." for a child registered as "fc2", the type
  // alone for a module that is nobody's child, so an error deep in a model names its path.
  ad::Tensor operator()(const ad::Tensor& x);
  ad::Tensor operator()(const ad::Tensor& x) const;
  // The hooks and forward, without the error prefix (containers call their children so and add
  // their own, e.g. Sequential's "layer 1 (Linear)").
  ad::Tensor call(const ad::Tensor& x);
  ad::Tensor call(const ad::Tensor& x) const;

  // Forward hooks (PyTorch's register_forward_pre_hook / register_forward_hook): a pre-hook sees
  // the input before forward and may replace it; a hook sees input and output after and may
  // replace the output (return std::nullopt to keep it). Run in registration order by call()
  // and operator(); the returned id removes one.
  using ForwardPreHook = std::function<std::optional<ad::Tensor>(const Module&, const ad::Tensor& input)>;
  using ForwardHook =
      std::function<std::optional<ad::Tensor>(const Module&, const ad::Tensor& input, const ad::Tensor& output)>;
  std::uint64_t register_forward_pre_hook(ForwardPreHook hook);
  std::uint64_t register_forward_hook(ForwardHook hook);
  void remove_hook(std::uint64_t id);  // unknown ids throw

  // fn on every descendant, children before their parents, then on this module (PyTorch's apply,
  // e.g. for a custom initialization).
  void apply(const std::function<void(Module&)>& fn);

  // The type name without namespaces ("Linear", "Sequential", "TwoLayer"), for errors and printing.
  virtual std::string name() const;
  // The part inside the parentheses when printing, e.g. "in_features=2, out_features=4, bias=true".
  virtual std::string extra_repr() const { return {}; }
  // PyTorch-style tree: "Sequential(\n  (0): Linear(in_features=2, ...)\n  (1): ReLU()\n)".
  std::string repr() const;

  // Named parameters of this module and its children ("0.weight", "fc1.bias", ...), in
  // registration order (a module's own parameters before its children's).
  std::vector<std::pair<std::string, ad::Tensor>> named_parameters() const;
  std::vector<ad::Tensor> parameters() const;
  std::int64_t num_parameters() const;  // total number of scalars
  // Direct children, in registration order.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Every descendant with its dotted path ("1", "1.0", ...), depth first, this module excluded.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;

  // Buffers: state that is not trained (BatchNorm's running statistics), saved and loaded with
  // the parameters. Named like parameters ("bn.running_mean"), in registration order.
  std::vector<std::pair<std::string, ad::Tensor>> named_buffers() const;
  std::vector<ad::Tensor> buffers() const;
  bool has_buffer(const std::string& name) const;
  const ad::Tensor& buffer(const std::string& name) const;  // own buffers (a handle: in-place updates stick)
  // Everything save() writes and load() reads: named_parameters() then named_buffers().
  std::vector<std::pair<std::string, ad::Tensor>> named_state() const;

  void zero_grad();

  // Converts every floating parameter and floating buffer of this module and its descendants to
  // `dtype` (ad::kFloat32 or ad::kFloat64), as PyTorch's module.to(dtype); Int64 and Bool buffers
  // (BatchNorm's num_batches_tracked) stay as they are. Each converted parameter is a new leaf
  // with the old one's requires_grad (a frozen one stays frozen) and its .grad converted too, as
  // PyTorch converts it; parameters that were registered as the same tensor (tied weights: the
  // same storage, offset, shape and strides) share their new storage as well. Tensors already of
  // `dtype` are kept as they are, so to() of the current dtype changes nothing.
  //
  // The converted tensors replace the old ones in the module: a handle taken before (an
  // optimizer's parameter list, a tensor from parameters(), a hook registered on a parameter)
  // still refers to the old tensor, which the module no longer uses. Build the optimizer after
  // to(), as in PyTorch ("move a model before constructing optimizers for it"). Layers read
  // their parameters and buffers back by name at every forward, so they compute in the new
  // dtype; inputs must then be converted as well. A dtype that is not floating is an ad::Error;
  // so is running out of memory midway, which leaves the module as it was (everything is
  // converted before anything is replaced).
  void to(ad::Dtype dtype);

  // Sets training mode on this module and every descendant (Dropout reads it).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  bool has_param(const std::string& name) const;
  const ad::Tensor& param(const std::string& name) const;
  // Writes `value` into the registered parameter, in place (under NoGradGuard). The parameter
  // keeps its identity: parameters() still lists it, and an optimizer (or anyone) holding its
  // handle sees the new values. Shape and dtype must match; unknown names throw.
  void set_param(const std::string& name, const ad::Tensor& value);

  // forward(x) with some parameters, named by their full dotted path ("0.weight"), stood in for
  // by the given tensors (torch.func.functional_call): the output's graph reaches those tensors
  // instead of the parameters, so a model can be differentiated w.r.t. any tensors standing for
  // its parameters (gradcheck, Jacobians, Hessians). The parameters are restored afterwards,
  // even when forward throws; their values are never touched.
  ad::Tensor functional_call(const std::vector<std::pair<std::string, ad::Tensor>>& params, const ad::Tensor& x);

 protected:
  // Registers a floating tensor as a parameter (a detached leaf that requires grad, sharing
  // the given storage) and returns its handle. Names must be unique among this module's
  // parameters and children and contain no '.'. Handles stay valid: set_param writes in place.
  ad::Tensor register_parameter(const std::string& name, ad::Tensor value);
  // Registers a buffer (any dtype, never requiring grad; the tensor itself, so in-place updates
  // through the returned handle are the buffer's). Names share the parameters' rules.
  ad::Tensor register_buffer(const std::string& name, ad::Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name, const char* where) const;
  static const ad::Tensor* find_named(const std::vector<std::pair<std::string, ad::Tensor>>& list,
                                      const std::string& name);
  const ad::Tensor& named_or_throw(const std::vector<std::pair<std::string, ad::Tensor>>& list, const std::string& name,
                                   const char* where, const char* what) const;
  ad::Tensor* find_param_slot(const std::string& path);
  template <class M>
  static ad::Tensor run_hooked(M& self, const ad::Tensor& x);
  std::vector<std::pair<std::string, ad::Tensor>> params_;
  std::vector<std::pair<std::string, ad::Tensor>> buffers_;
  std::vector<std::pair<std::uint64_t, ForwardPreHook>> pre_hooks_;
  std::vector<std::pair<std::uint64_t, ForwardHook>> hooks_;
  std::string registered_as_;  // the name under which it was last registered as a child
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace ad::nn
