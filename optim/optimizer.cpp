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

void Optimizer::add_group(std::vector<ad::Tensor> params, double lr, const std::string& where) {
  check_option(std::isfinite(lr) && lr >= 0.0, "lr", "finite and >= 0", lr, where);
  if (params.empty()) throw ad::Error(name_ + ": " + where + "got an empty parameter list; pass model.parameters()");
  const std::size_t first = params_.size();
  for (std::size_t k = 0; k < params.size(); ++k) {
    const ad::Tensor& p = params[k];
    const std::string which = name_ + ": " + where + "parameter " + std::to_string(first + k);
    if (!p.defined()) throw ad::Error(which + " is an undefined tensor");
    if (!ad::is_floating(p.dtype()))
      throw ad::Error(which + " is " + ad::dtype_name(p.dtype()) + "; optimizers update floating tensors");
    // A frozen parameter (requires_grad off, e.g. Embedding::from_pretrained) is kept, as in
    // PyTorch: it gets no gradient, so step() skips it, until it is unfrozen.
    if (!p.is_leaf())
      throw ad::Error(which + " is the output of '" + p.grad_fn()->name +
                      "', not a leaf; optimizers update leaves (use x.detach().requires_grad_())");
    for (std::size_t j = 0; j < first + k; ++j) {
      const ad::Tensor& q = j < first ? params_[j] : params[j - first];
      if (q.impl() == p.impl())
        throw ad::Error(which + " is the same tensor as parameter " + std::to_string(j) +
                        (j < first ? " (group " + std::to_string(group_of(j)) + ")" : std::string()) +
                        "; pass each once, in one group");
    }
  }
  groups_.push_back(Group{.begin = first, .end = first + params.size(), .lr = lr, .initial_lr = std::nullopt});
  for (auto& p : params) params_.push_back(std::move(p));
  state_.resize(params_.size());
}

const Optimizer::Group& Optimizer::group_at(std::size_t g, const char* where) const {
  if (g >= groups_.size())
    throw ad::Error(name_ + "::" + where + ": param group " + std::to_string(g) +
                    " does not exist (the optimizer has " + std::to_string(groups_.size()) + ")");
  return groups_[g];
}

std::vector<ad::Tensor> Optimizer::group_params(std::size_t group) const {
  const Group& g = group_at(group, "group_params");
  return {params_.begin() + static_cast<std::ptrdiff_t>(g.begin), params_.begin() + static_cast<std::ptrdiff_t>(g.end)};
}

std::size_t Optimizer::group_of(std::size_t param_index) const {
  for (std::size_t g = 0; g < groups_.size(); ++g)
    if (param_index < groups_[g].end) return g;
  throw ad::Error(name_ + "::group_of: parameter " + std::to_string(param_index) +
                  " does not exist (the optimizer has " + std::to_string(params_.size()) + ")");
}

double Optimizer::lr(std::size_t group) const { return group_at(group, "lr").lr; }

void Optimizer::set_lr(double lr) {
  check_option(std::isfinite(lr) && lr >= 0.0, "lr", "finite and >= 0", lr);
  for (Group& g : groups_) g.lr = lr;
}

void Optimizer::set_lr(std::size_t group, double lr) {
  group_at(group, "set_lr");
  check_option(std::isfinite(lr) && lr >= 0.0, "lr", "finite and >= 0", lr,
               "param group " + std::to_string(group) + ": ");
  groups_[group].lr = lr;
}

std::optional<double> Optimizer::initial_lr(std::size_t group) const {
  return group_at(group, "initial_lr").initial_lr;
}

void Optimizer::set_initial_lr(std::size_t group, double lr) {
  group_at(group, "set_initial_lr");
  check_option(std::isfinite(lr) && lr >= 0.0, "initial_lr", "finite and >= 0", lr,
               "param group " + std::to_string(group) + ": ");
  groups_[group].initial_lr = lr;
}

void Optimizer::check_option(bool ok, const std::string& option, const std::string& range, double value,
                             const std::string& where) const {
  if (!ok) throw ad::Error(name_ + ": " + where + option + " must be " + range + ", got " + format_number(value));
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
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = groups_[g].begin; i < groups_[g].end; ++i) {
      const ad::Tensor grad = params_[i].grad();
      if (!grad.defined()) continue;
      ParamState& s = state_[i];
      ++s.step;
      step_param(params_[i], grad, s, g);
    }
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

namespace {

std::string group_key(std::size_t g, const std::string& what) { return "group." + std::to_string(g) + "." + what; }

}  // namespace

ad::NamedTensors Optimizer::state_dict() const {
  ad::NoGradGuard no_grad;
  ad::NamedTensors out;
  auto f64 = [](double v) { return ad::scalar_tensor(v, ad::dtype(ad::kFloat64)); };
  out.emplace_back("step", int_scalar(step_count_));
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const Group& gr = groups_[g];
    out.emplace_back(group_key(g, "params"), int_scalar(static_cast<std::int64_t>(gr.end - gr.begin)));
    out.emplace_back(group_key(g, "lr"), f64(gr.lr));
    if (gr.initial_lr) out.emplace_back(group_key(g, "initial_lr"), f64(*gr.initial_lr));
    for (const auto& [key, value] : group_option_values(g))
      out.emplace_back(group_key(g, "options." + key), f64(value));
  }
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::vector<std::string> names = group_buffer_names(g);
    for (std::size_t i = groups_[g].begin; i < groups_[g].end; ++i) {
      const ParamState& s = state_[i];
      out.emplace_back(param_key(i, "step"), int_scalar(s.step));
      if (s.step == 0) continue;
      for (const std::string& b : names) out.emplace_back(param_key(i, b), s.buffers.at(b).detach().clone());
    }
  }
  return out;
}

Optimizer::LoadedState Optimizer::read_state(const ad::NamedTensors& state) const {
  const std::string where = name_ + "::load_state_dict: ";
  std::map<std::string, ad::Tensor> entries;
  for (const auto& [key, t] : state) {
    if (!t.defined()) throw ad::Error(where + "entry '" + key + "' is an undefined tensor");
    if (!entries.emplace(key, t).second) throw ad::Error(where + "entry '" + key + "' appears twice");
  }
  // The single-group layout of earlier versions: "lr" and "options.<name>" for group 0.
  if (!entries.contains(group_key(0, "lr")) && entries.contains("lr")) {
    if (groups_.size() != 1)
      throw ad::Error(where + "the state has one parameter group (the layout of earlier versions) but this " + name_ +
                      " has " + std::to_string(groups_.size()));
    std::map<std::string, ad::Tensor> renamed;
    for (auto& [key, t] : entries) {
      if (key == "lr" || key.starts_with("options."))
        renamed.emplace(group_key(0, key), t);
      else
        renamed.emplace(key, t);
    }
    renamed.emplace(group_key(0, "params"), int_scalar(static_cast<std::int64_t>(params_.size())));
    entries = std::move(renamed);
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
    if (v < 0) throw ad::Error(where + "entry '" + key + "' is a count and must be >= 0, got " + std::to_string(v));
    return v;
  };
  auto take_float = [&](const std::string& key) {
    const ad::Tensor& t = take(key);
    if (!ad::is_floating(t.dtype()) || t.numel() != 1)
      throw ad::Error(where + "entry '" + key + "' must be a one-element floating tensor, got " +
                      ad::dtype_name(t.dtype()) + " of shape " + ad::shape_str(t.shape()));
    return t.item();
  };
  auto take_lr = [&](const std::string& key) {
    const double lr = take_float(key);
    if (!(std::isfinite(lr) && lr >= 0.0))
      throw ad::Error(where + "entry '" + key + "' must be finite and >= 0, got " + format_number(lr));
    return lr;
  };

  const std::int64_t steps = take_int("step");
  std::vector<Group> fresh_groups = groups_;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::int64_t n = take_int(group_key(g, "params"));
    const auto have = static_cast<std::int64_t>(groups_[g].end - groups_[g].begin);
    if (n != have)
      throw ad::Error(where + "param group " + std::to_string(g) + " has " + std::to_string(n) +
                      " parameters in the state but " + std::to_string(have) +
                      " in this optimizer; build the optimizer with the groups it was saved with");
    fresh_groups[g].lr = take_lr(group_key(g, "lr"));
    const std::string ikey = group_key(g, "initial_lr");
    fresh_groups[g].initial_lr = entries.contains(ikey) ? std::optional<double>(take_lr(ikey)) : std::nullopt;
    for (const auto& [key, value] : group_option_values(g)) {
      const std::string okey = group_key(g, "options." + key);
      const double saved = take_float(okey);
      if (saved != value)
        throw ad::Error(where + (groups_.size() > 1 ? "param group " + std::to_string(g) + ": " : std::string()) +
                        "option " + key + " is " + format_number(saved) + " in the state but " + format_number(value) +
                        " in this optimizer; construct it with the options it was saved with");
    }
  }

  std::vector<ParamState> fresh(params_.size());
  ad::NoGradGuard no_grad;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::vector<std::string> names = group_buffer_names(g);
    for (std::size_t i = groups_[g].begin; i < groups_[g].end; ++i) {
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
  }
  for (const auto& [key, t] : entries)
    if (!used.contains(key))
      throw ad::Error(where + "unexpected entry '" + key + "': not part of the state of this " + name_ + " with " +
                      std::to_string(groups_.size()) + " param group(s) of " + std::to_string(params_.size()) +
                      " parameters (a parameter with step 0 has no buffers; another optimizer, options or model?)");

  return LoadedState{.steps = steps, .groups = std::move(fresh_groups), .params = std::move(fresh)};
}

void Optimizer::check_state_dict(const ad::NamedTensors& state) const { read_state(state); }

void Optimizer::load_state_dict(const ad::NamedTensors& state) {
  LoadedState loaded = read_state(state);
  state_ = std::move(loaded.params);
  groups_ = std::move(loaded.groups);
  step_count_ = loaded.steps;
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
