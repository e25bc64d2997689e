#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
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
  ad::Tensor operator()(const ad::Tensor& x) { return forward(x); }
  ad::Tensor operator()(const ad::Tensor& x) const { return forward(x); }

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
  std::vector<std::pair<std::string, ad::Tensor>> params_;
  std::vector<std::pair<std::string, ad::Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace ad::nn
