#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/autodiff.h"

namespace nn {

// Base of every layer and model. Parameters and child modules are registered by name and
// owned here, so parameters() is the single source of truth: a layer reads its weights back
// through param("weight"), and replacing one goes through set_param, never a stray member.
class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Named parameters of this module and its children ("0.weight", "fc1.bias", ...), in
  // registration order.
  std::vector<std::pair<std::string, ad::Tensor>> named_parameters() const;
  std::vector<ad::Tensor> parameters() const;
  std::int64_t num_parameters() const;
  void zero_grad();
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  const ad::Tensor& param(const std::string& name) const;
  // Replaces a registered parameter; shape and dtype must match. Throws for unknown names.
  void set_param(const std::string& name, ad::Tensor value);

 protected:
  ad::Tensor& register_parameter(const std::string& name, ad::Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  std::vector<std::pair<std::string, ad::Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace nn
