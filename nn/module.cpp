#include "adgraph/nn/module.h"

#include <algorithm>
#include <atomic>
#include <ostream>
#include <sstream>
#include <typeinfo>
#include <utility>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>

#include <cstdlib>
#define AD_NN_HAVE_CXXABI 1
#endif

namespace ad::nn {

namespace {

std::string demangle(const char* mangled) {
#ifdef AD_NN_HAVE_CXXABI
  int status = 0;
  char* s = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  if (status == 0 && s) {
    std::string out(s);
    std::free(s);
    return out;
  }
  std::free(s);
#endif
  return mangled;
}

// "ad::nn::Linear" -> "Linear", "(anonymous namespace)::TwoLayer" -> "TwoLayer"; the qualifier is
// only stripped outside template arguments.
std::string unqualified(const std::string& full) {
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const char c = full[i];
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') --depth;
    if (depth == 0 && c == ':' && i + 1 < full.size() && full[i + 1] == ':') start = i + 2;
  }
  return full.substr(start);
}

}  // namespace

ad::Tensor Module::forward(const ad::Tensor& x) const {
  throw ad::Error("ad::nn::Module::forward: " + name() + " does not implement forward (input " +
                  ad::shape_str(x.defined() ? x.shape() : ad::Shape{}) +
                  "); override `ad::Tensor forward(const ad::Tensor& x) const` in " + name());
}

ad::Tensor Module::forward(const ad::Tensor& x) { return std::as_const(*this).forward(x); }

template <class M>
ad::Tensor Module::run_hooked(M& self, const ad::Tensor& x) {
  if (self.pre_hooks_.empty() && self.hooks_.empty()) return self.forward(x);
  ad::Tensor in = x;
  for (const auto& [id, h] : self.pre_hooks_)
    if (std::optional<ad::Tensor> r = h(self, in)) in = std::move(*r);
  ad::Tensor out = self.forward(in);
  for (const auto& [id, h] : self.hooks_)
    if (std::optional<ad::Tensor> r = h(self, in, out)) out = std::move(*r);
  return out;
}

ad::Tensor Module::call(const ad::Tensor& x) { return run_hooked(*this, x); }
ad::Tensor Module::call(const ad::Tensor& x) const { return run_hooked(*this, x); }

namespace {
template <class F>
ad::Tensor with_place(const std::string& place, F&& f) {
  try {
    return f();
  } catch (const ad::Error& e) {
    throw ad::Error(place + ": " + e.what());
  }
}
}  // namespace

ad::Tensor Module::operator()(const ad::Tensor& x) {
  return with_place(registered_as_.empty() ? name() : registered_as_ + " (" + name() + ")", [&] { return call(x); });
}
ad::Tensor Module::operator()(const ad::Tensor& x) const {
  return with_place(registered_as_.empty() ? name() : registered_as_ + " (" + name() + ")", [&] { return call(x); });
}

namespace {
std::uint64_t next_hook_id() {
  static std::atomic<std::uint64_t> n{0};
  return ++n;
}
}  // namespace

std::uint64_t Module::register_forward_pre_hook(ForwardPreHook hook) {
  if (!hook) throw ad::Error("Module::register_forward_pre_hook: the hook is empty");
  pre_hooks_.emplace_back(next_hook_id(), std::move(hook));
  return pre_hooks_.back().first;
}

std::uint64_t Module::register_forward_hook(ForwardHook hook) {
  if (!hook) throw ad::Error("Module::register_forward_hook: the hook is empty");
  hooks_.emplace_back(next_hook_id(), std::move(hook));
  return hooks_.back().first;
}

void Module::remove_hook(std::uint64_t id) {
  if (!ad::remove_hook_from(pre_hooks_, id) && !ad::remove_hook_from(hooks_, id))
    throw ad::Error("Module::remove_hook: " + name() + " has no hook with id " + std::to_string(id));
}

void Module::apply(const std::function<void(Module&)>& fn) {
  const auto mods = named_modules();  // depth first, parents before children
  for (auto it = mods.rbegin(); it != mods.rend(); ++it) fn(*it->second);
  fn(*this);
}

std::string Module::name() const { return unqualified(demangle(typeid(*this).name())); }

std::string Module::repr() const {
  std::string out = name() + "(" + extra_repr();
  if (children_.empty()) return out + ")";
  out += "\n";
  for (const auto& [n, c] : children_) {
    std::string child = c->repr();
    // indent the child's continuation lines
    std::string indented;
    for (char ch : child) {
      indented += ch;
      if (ch == '\n') indented += "  ";
    }
    out += "  (" + n + "): " + indented + "\n";
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

std::vector<std::pair<std::string, ad::Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, ad::Tensor>> out;
  // Explicit stack of (prefix, module), children pushed in reverse to keep registration order.
  std::vector<std::pair<std::string, const Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, m] = stack.back();
    stack.pop_back();
    for (const auto& [n, t] : m->params_) out.emplace_back(prefix + n, t);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(prefix + it->first + ".", it->second.get());
  }
  return out;
}

std::vector<std::pair<std::string, ad::Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, ad::Tensor>> out;
  for (const auto& [n, t] : buffers_) out.emplace_back(n, t);
  for (const auto& [path, m] : named_modules())
    for (const auto& [n, t] : m->buffers_) out.emplace_back(path + "." + n, t);
  return out;
}

std::vector<ad::Tensor> Module::buffers() const {
  std::vector<ad::Tensor> out;
  for (auto& [n, t] : named_buffers()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, ad::Tensor>> Module::named_state() const {
  auto out = named_parameters();
  for (auto& b : named_buffers()) out.push_back(std::move(b));
  return out;
}

bool Module::has_buffer(const std::string& name) const { return find_named(buffers_, name) != nullptr; }

const ad::Tensor& Module::buffer(const std::string& name) const {
  return named_or_throw(buffers_, name, "Module::buffer", "buffer");
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> stack;
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) stack.emplace_back(it->first, it->second);
  while (!stack.empty()) {
    auto [path, m] = stack.back();
    stack.pop_back();
    out.emplace_back(path, m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(path + "." + it->first, it->second);
  }
  return out;
}

std::vector<ad::Tensor> Module::parameters() const {
  std::vector<ad::Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
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

void Module::to(ad::Dtype dtype) {
  if (!ad::is_floating(dtype))
    throw ad::Error(std::string("Module::to: ") + name() + " can only be converted to a floating dtype, got " +
                    ad::dtype_name(dtype) +
                    "; use ad::kFloat32 or ad::kFloat64 (parameters must stay floating; integer buffers are kept)");
  // Every module once (a child registered twice is converted once).
  std::vector<Module*> mods{this};
  for (const auto& [path, m] : named_modules())
    if (std::find(mods.begin(), mods.end(), m.get()) == mods.end()) mods.push_back(m.get());

  auto same_tensor = [](const ad::Tensor& a, const ad::Tensor& b) {
    return a.impl()->storage == b.impl()->storage && a.storage_offset() == b.storage_offset() &&
           a.shape() == b.shape() && a.strides() == b.strides();
  };
  std::vector<std::pair<ad::Tensor*, ad::Tensor>> updates;  // slot, converted tensor
  // The same tensor registered in several places (tied weights) is converted once; the others
  // become new handles over the same new storage, as register_parameter makes them.
  std::vector<std::pair<ad::Tensor, ad::Tensor>> seen;  // old tensor, its conversion
  ad::NoGradGuard no_grad;                              // conversions are not recorded
  auto converted = [&](const ad::Tensor& t) -> ad::Tensor {
    for (const auto& [old, fresh] : seen)
      if (same_tensor(old, t)) return fresh.detach();
    ad::Tensor fresh = t.detach().to(dtype);
    seen.emplace_back(t, fresh);
    return fresh.detach();
  };
  for (Module* m : mods) {
    for (auto& [n, t] : m->params_) {
      if (!ad::is_floating(t.dtype()) || t.dtype() == dtype) continue;
      ad::Tensor fresh = converted(t);
      fresh.requires_grad_(t.requires_grad());
      if (const ad::Tensor g = t.grad(); g.defined()) fresh.set_grad(g.detach().to(dtype));
      updates.emplace_back(&t, std::move(fresh));
    }
    for (auto& [n, t] : m->buffers_)
      if (ad::is_floating(t.dtype()) && t.dtype() != dtype) updates.emplace_back(&t, converted(t));
  }
  for (auto& [slot, fresh] : updates) *slot = std::move(fresh);  // handle assignments: nothing throws now
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [path, m] : named_modules()) m->training_ = on;
}

bool Module::has_param(const std::string& name) const { return find_named(params_, name) != nullptr; }

const ad::Tensor& Module::param(const std::string& name) const {
  return named_or_throw(params_, name, "Module::param", "parameter");
}

const ad::Tensor* Module::find_named(const std::vector<std::pair<std::string, ad::Tensor>>& list,
                                     const std::string& name) {
  for (const auto& [n, t] : list)
    if (n == name) return &t;
  return nullptr;
}

const ad::Tensor& Module::named_or_throw(const std::vector<std::pair<std::string, ad::Tensor>>& list,
                                         const std::string& name, const char* where, const char* what) const {
  if (const ad::Tensor* t = find_named(list, name)) return *t;
  std::string known;
  for (const auto& [n, t] : list) known += (known.empty() ? "" : ", ") + n;
  throw ad::Error(std::string(where) + ": " + this->name() + " has no " + what + " named '" + name +
                  "' (it has: " + (known.empty() ? "none" : known) + ")");
}

void Module::set_param(const std::string& name, const ad::Tensor& value) {
  ad::Tensor* slot = find_param_slot(name);  // own names, or dotted paths into children ("0.weight")
  if (!slot)
    throw ad::Error("Module::set_param: " + this->name() + " has no parameter named '" + name +
                    "'; see named_parameters() for the names, or register it first with register_parameter");
  ad::Tensor& t = *slot;
  if (!value.defined()) throw ad::Error("Module::set_param('" + name + "'): the new value is an undefined tensor");
  if (value.shape() != t.shape() || value.dtype() != t.dtype())
    throw ad::Error("Module::set_param('" + name + "'): new value " + ad::shape_str(value.shape()) + " " +
                    ad::dtype_name(value.dtype()) + " does not match the parameter's " + ad::shape_str(t.shape()) +
                    " " + ad::dtype_name(t.dtype()) + "; reshape or convert it with .to() first");
  if (value.impl() == t.impl()) return;
  ad::NoGradGuard ng;
  t.copy_(value.detach());
}

ad::Tensor* Module::find_param_slot(const std::string& path) {
  Module* m = this;
  std::string rest = path;
  for (std::size_t dot; (dot = rest.find('.')) != std::string::npos;) {
    const std::string child = rest.substr(0, dot);
    Module* next = nullptr;
    for (auto& [n, c] : m->children_)
      if (n == child) next = c.get();
    if (!next) return nullptr;
    m = next;
    rest = rest.substr(dot + 1);
  }
  for (auto& [n, t] : m->params_)
    if (n == rest) return &t;
  return nullptr;
}

ad::Tensor Module::functional_call(const std::vector<std::pair<std::string, ad::Tensor>>& params, const ad::Tensor& x) {
  std::vector<std::pair<ad::Tensor*, ad::Tensor>> saved;  // slot, original handle
  for (const auto& [path, t] : params) {
    ad::Tensor* slot = find_param_slot(path);
    if (!slot) throw ad::Error("Module::functional_call: " + name() + " has no parameter '" + path + "'");
    if (!t.defined() || t.shape() != slot->shape() || t.dtype() != slot->dtype())
      throw ad::Error("Module::functional_call: '" + path + "' is " + ad::shape_str(slot->shape()) + " " +
                      ad::dtype_name(slot->dtype()) + " but the given tensor is " +
                      (t.defined() ? ad::shape_str(t.shape()) + " " + ad::dtype_name(t.dtype()) : "undefined"));
    for (const auto& [s, orig] : saved)
      if (s == slot) throw ad::Error("Module::functional_call: '" + path + "' is given twice");
    saved.emplace_back(slot, *slot);
  }
  struct Restore {
    std::vector<std::pair<ad::Tensor*, ad::Tensor>>& saved;
    ~Restore() {
      for (auto& [slot, orig] : saved) *slot = orig;
    }
  } restore{saved};
  for (std::size_t i = 0; i < params.size(); ++i) *saved[i].first = params[i].second;
  return forward(x);
}

void Module::check_new_name(const std::string& name, const char* where) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw ad::Error(std::string(where) + ": invalid name '" + name +
                    "'; names must be non-empty and contain no '.' (dots separate nested modules)");
  for (const auto& [n, t] : params_)
    if (n == name) throw ad::Error(std::string(where) + ": '" + name + "' is already a parameter of " + this->name());
  for (const auto& [n, c] : children_)
    if (n == name) throw ad::Error(std::string(where) + ": '" + name + "' is already a child of " + this->name());
  for (const auto& [n, b] : buffers_)
    if (n == name) throw ad::Error(std::string(where) + ": '" + name + "' is already a buffer of " + this->name());
}

ad::Tensor Module::register_buffer(const std::string& name, ad::Tensor value) {
  check_new_name(name, "Module::register_buffer");
  if (!value.defined()) throw ad::Error("Module::register_buffer('" + name + "'): undefined tensor");
  if (value.requires_grad())
    throw ad::Error("Module::register_buffer('" + name +
                    "'): a buffer is not trained, but this tensor requires "
                    "grad; pass .detach(), or register it with register_parameter");
  buffers_.emplace_back(name, value);
  return buffers_.back().second;
}

ad::Tensor Module::register_parameter(const std::string& name, ad::Tensor value) {
  check_new_name(name, "Module::register_parameter");
  if (!value.defined()) throw ad::Error("Module::register_parameter('" + name + "'): undefined tensor");
  if (!ad::is_floating(value.dtype()))
    throw ad::Error("Module::register_parameter('" + name + "'): parameters must be Float32 or Float64, got " +
                    ad::dtype_name(value.dtype()) + " " + ad::shape_str(value.shape()));
  params_.emplace_back(name, value.detach().requires_grad_(true));
  return params_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name, "Module::register_module");
  if (!m) throw ad::Error("Module::register_module: '" + name + "' is null");
  if (m.get() == this) throw ad::Error("Module::register_module: '" + name + "' is the module itself");
  m->registered_as_ = name;
  children_.emplace_back(name, std::move(m));
}

}  // namespace ad::nn
