#include "nn/module.h"

namespace nn {

std::vector<std::pair<std::string, ad::Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, ad::Tensor>> out;
  // Explicit stack of (prefix, module), children pushed in reverse to keep registration order.
  std::vector<std::pair<std::string, const Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, m] = stack.back();
    stack.pop_back();
    for (const auto& [name, t] : m->params_) out.emplace_back(prefix + name, t);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(prefix + it->first + ".", it->second.get());
  }
  return out;
}

std::vector<ad::Tensor> Module::parameters() const {
  std::vector<ad::Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& t : parameters()) n += t.numel();
  return n;
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, c] : children_) c->train(on);
}

const ad::Tensor& Module::param(const std::string& name) const {
  for (const auto& [n, t] : params_)
    if (n == name) return t;
  throw ad::Error("Module::param: no parameter named '" + name + "' in this module");
}

void Module::set_param(const std::string& name, ad::Tensor value) {
  for (auto& [n, t] : params_) {
    if (n != name) continue;
    if (value.shape() != t.shape() || value.dtype() != t.dtype())
      throw ad::Error("Module::set_param('" + name + "'): new value " + ad::shape_str(value.shape()) + " " +
                      ad::dtype_name(value.dtype()) + " does not match " + ad::shape_str(t.shape()) + " " +
                      ad::dtype_name(t.dtype()));
    t = value.detach().requires_grad_(true);
    return;
  }
  throw ad::Error("Module::set_param: no parameter named '" + name + "'; register it first");
}

ad::Tensor& Module::register_parameter(const std::string& name, ad::Tensor value) {
  for (const auto& [n, t] : params_)
    if (n == name) throw ad::Error("Module::register_parameter: '" + name + "' is already registered");
  params_.emplace_back(name, value.detach().requires_grad_(true));
  return params_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  if (!m) throw ad::Error("Module::register_module: '" + name + "' is null");
  children_.emplace_back(name, std::move(m));
}

}  // namespace nn
