#include "adgraph/optim/optimizer.h"

#include <charconv>
#include <cmath>
#include <set>

namespace ad::optim {

std::string format_number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back exactly
  return std::string(buf, r.ptr);
}

namespace {

ad::Tensor int_scalar(std::int64_t v) {
  ad::Tensor t = ad::zeros({}, ad::dtype(ad::kInt64));
  t.data_ptr<std::int64_t>()[0] = v;
  return t;
}

std::string param_key(std::size_t i, const std::string& what) { return "param." + std::to_string(i) + "." + what; }

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<ad::Tensor> params, double lr)
    : name_(std::move(name)), params_(std::move(params)) {
  if (params_.empty()) throw ad::Error(name_ + ": got an empty parameter list; pass model.parameters()");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const ad::Tensor& p = params_[i];
    const std::string which = name_ + ": parameter " + std::to_string(i);
    if (!p.defined()) throw ad::Error(which + " is an undefined tensor");
    if (!p.requires_grad())
      throw ad::Error(which + " does not require grad; pass module.parameters() or call requires_grad_()");
    if (!p.is_leaf())
      throw ad::Error(which + " is the output of '" + p.grad_fn()->name +
                      "', not a leaf; optimizers update leaves (use x.detach().requires_grad_())");
    for (std::size_t j = 0; j < i; ++j)
      if (params_[j].impl() == p.impl())
        throw ad::Error(which + " is the same tensor as parameter " + std::to_string(j) + "; pass each once");
  }
  state_.resize(params_.size());
  set_lr(lr);
}

void Optimizer::check_option(bool ok, const std::string& option, const std::string& range, double value) const {
  if (!ok) throw ad::Error(name_ + ": " + option + " must be " + range + ", got " + format_number(value));
}

ad::Tensor& Optimizer::buffer(ParamState& state, const std::string& key, const ad::Tensor& param, double fill) {
  ad::Tensor& b = state.buffers[key];
  if (!b.defined()) b = ad::full_like(param, fill);
  return b;
}

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& p : params_) {
    if (set_to_none)
      p.set_grad(ad::Tensor());
    else
      p.zero_grad();
  }
}

void Optimizer::step() {
  ad::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const ad::Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    ParamState& s = state_[i];
    ++s.step;
    update(params_[i], g, s);
  }
  ++step_count_;
}

ad::Tensor Optimizer::step(const std::function<ad::Tensor()>& closure) {
  ad::Tensor loss;
  {
    ad::AutoGradMode grad_on(true);
    loss = closure();
  }
  step();
  return loss;
}

void Optimizer::set_lr(double lr) {
  check_option(std::isfinite(lr) && lr >= 0.0, "lr", "finite and >= 0", lr);
  lr_ = lr;
}

ad::NamedTensors Optimizer::state_dict() const {
  ad::NoGradGuard no_grad;
  ad::NamedTensors out;
  out.emplace_back("step", int_scalar(step_count_));
  out.emplace_back("lr", ad::scalar_tensor(lr_, ad::dtype(ad::kFloat64)));
  for (const auto& [key, value] : option_values())
    out.emplace_back("options." + key, ad::scalar_tensor(value, ad::dtype(ad::kFloat64)));
  const std::vector<std::string> names = buffer_names();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const ParamState& s = state_[i];
    out.emplace_back(param_key(i, "step"), int_scalar(s.step));
    if (s.step == 0) continue;
    for (const std::string& b : names) out.emplace_back(param_key(i, b), s.buffers.at(b).detach().clone());
  }
  return out;
}

void Optimizer::load_state_dict(const ad::NamedTensors& state) {
  const std::string where = name_ + "::load_state_dict: ";
  std::map<std::string, ad::Tensor> entries;
  for (const auto& [key, t] : state) {
    if (!t.defined()) throw ad::Error(where + "entry '" + key + "' is an undefined tensor");
    if (!entries.emplace(key, t).second) throw ad::Error(where + "entry '" + key + "' appears twice");
  }
  std::set<std::string> used;
  auto take = [&](const std::string& key) -> const ad::Tensor& {
    const auto it = entries.find(key);
    if (it == entries.end())
      throw ad::Error(where + "missing entry '" + key + "' (is this the state of another optimizer or model?)");
    used.insert(key);
    return it->second;
  };
  auto take_int = [&](const std::string& key) {
    const ad::Tensor& t = take(key);
    if (t.dtype() != ad::kInt64 || t.numel() != 1)
      throw ad::Error(where + "entry '" + key + "' must be a one-element Int64 tensor, got " +
                      ad::dtype_name(t.dtype()) + " of shape " + ad::shape_str(t.shape()));
    const std::int64_t v = t.data_ptr<std::int64_t>()[0];
    if (v < 0)
      throw ad::Error(where + "entry '" + key + "' is a step count and must be >= 0, got " + std::to_string(v));
    return v;
  };
  auto take_float = [&](const std::string& key) {
    const ad::Tensor& t = take(key);
    if (!ad::is_floating(t.dtype()) || t.numel() != 1)
      throw ad::Error(where + "entry '" + key + "' must be a one-element floating tensor, got " +
                      ad::dtype_name(t.dtype()) + " of shape " + ad::shape_str(t.shape()));
    return t.item();
  };

  const std::int64_t steps = take_int("step");
  const double lr = take_float("lr");
  if (!(std::isfinite(lr) && lr >= 0.0))
    throw ad::Error(where + "entry 'lr' must be finite and >= 0, got " + format_number(lr));
  for (const auto& [key, value] : option_values()) {
    const double saved = take_float("options." + key);
    if (saved != value)
      throw ad::Error(where + "option " + key + " is " + format_number(saved) + " in the state but " +
                      format_number(value) + " in this optimizer; construct it with the options it was saved with");
  }

  const std::vector<std::string> names = buffer_names();
  std::vector<ParamState> fresh(params_.size());
  ad::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const ad::Tensor& p = params_[i];
    ParamState& s = fresh[i];
    s.step = take_int(param_key(i, "step"));
    if (s.step > steps)
      throw ad::Error(where + "entry '" + param_key(i, "step") + "' is " + std::to_string(s.step) +
                      ", more than the optimizer's step count " + std::to_string(steps));
    if (s.step == 0) continue;
    for (const std::string& b : names) {
      const std::string key = param_key(i, b);
      const ad::Tensor& t = take(key);
      if (t.dtype() != p.dtype() || t.shape() != p.shape())
        throw ad::Error(where + "entry '" + key + "' is " + ad::dtype_name(t.dtype()) + " of shape " +
                        ad::shape_str(t.shape()) + " but parameter " + std::to_string(i) + " is " +
                        ad::dtype_name(p.dtype()) + " of shape " + ad::shape_str(p.shape()));
      s.buffers[b] = t.detach().clone();
    }
  }
  for (const auto& [key, t] : entries)
    if (!used.contains(key))
      throw ad::Error(where + "unexpected entry '" + key + "': not part of the state of this " + name_ + " with " +
                      std::to_string(params_.size()) +
                      " parameters (a parameter with step 0 has no buffers; another optimizer, options or model?)");

  state_ = std::move(fresh);
  lr_ = lr;
  step_count_ = steps;
}

void Optimizer::save_state(const std::string& path) const {
  ad::save_safetensors(path, state_dict(), {{"optimizer", name_}});
}

void Optimizer::load_state(const std::string& path) {
  const ad::SafetensorsFile file = ad::load_safetensors(path);
  const auto it = file.metadata.find("optimizer");
  if (it == file.metadata.end())
    throw ad::Error(name_ + "::load_state: " + path + " is not an optimizer state (no \"optimizer\" metadata)");
  if (it->second != name_)
    throw ad::Error(name_ + "::load_state: " + path + " holds the state of a " + it->second + " optimizer, not " +
                    name_);
  try {
    load_state_dict(file.tensors);
  } catch (const ad::Error& e) {
    throw ad::Error(std::string(e.what()) + " (file " + path + ")");
  }
}

}  // namespace ad::optim
