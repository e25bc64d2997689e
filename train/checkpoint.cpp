#include "adgraph/train/checkpoint.h"

#include <map>
#include <set>
#include <utility>

namespace ad::train {

namespace {

ad::Tensor int_scalar(std::int64_t v) { return ad::index_tensor({v}, {}); }

// The model's state: each named_state() entry must be in the file with the same shape and dtype,
// and nothing else.
void check_module(const nn::Module& m, const ad::NamedTensors& state) {
  std::map<std::string, ad::Tensor> e;
  for (const auto& [key, t] : state)
    if (!e.emplace(key, t).second) throw ad::Error("entry '" + key + "' appears twice");
  std::vector<std::string> problems;
  std::set<std::string> used;
  for (const auto& [key, t] : m.named_state()) {
    const auto it = e.find(key);
    if (it == e.end()) {
      problems.push_back("missing '" + key + "'");
      continue;
    }
    used.insert(key);
    const ad::Tensor& s = it->second;
    if (!s.defined() || s.dtype() != t.dtype() || s.shape() != t.shape())
      problems.push_back("'" + key + "' is " +
                         (s.defined() ? std::string(ad::dtype_name(s.dtype())) + " " + ad::shape_str(s.shape())
                                      : std::string("undefined")) +
                         " in the file but " + ad::dtype_name(t.dtype()) + " " + ad::shape_str(t.shape()) +
                         " in the model");
  }
  for (const auto& [key, t] : e)
    if (!used.contains(key)) problems.push_back("unexpected '" + key + "'");
  if (problems.empty()) return;
  std::string msg = m.name() + " does not match the file: ";
  for (std::size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
  throw ad::Error(msg + " (build the model the checkpoint was saved from)");
}

void load_module(nn::Module& m, const ad::NamedTensors& state) {
  std::map<std::string, ad::Tensor> e(state.begin(), state.end());
  ad::NoGradGuard no_grad;
  for (auto& [key, t] : m.named_state()) {
    ad::Tensor target = t;  // a handle: the copy writes the parameter or buffer itself
    target.copy_(e.at(key));
  }
}

}  // namespace

Checkpoint& Checkpoint::add_part(Part part) {
  const std::string& n = part.name;
  if (n.empty() || n.find('.') != std::string::npos)
    throw ad::Error("Checkpoint::add: the part name '" + n + "' must be non-empty and contain no '.'");
  for (const Part& p : parts_)
    if (p.name == n) throw ad::Error("Checkpoint::add: a part named '" + n + "' is already registered");
  parts_.push_back(std::move(part));
  return *this;
}

Checkpoint& Checkpoint::add(const std::string& name, nn::Module& model) {
  return add_part({.name = name,
                   .kind = "module:" + model.name(),
                   .save = [&model] { return ad::NamedTensors(model.named_state()); },
                   .check = [&model](const ad::NamedTensors& s) { check_module(model, s); },
                   .load = [&model](const ad::NamedTensors& s) { load_module(model, s); }});
}

Checkpoint& Checkpoint::add(const std::string& name, optim::Optimizer& optimizer) {
  return add_part({.name = name,
                   .kind = "optimizer:" + optimizer.name(),
                   .save = [&optimizer] { return optimizer.state_dict(); },
                   .check = [&optimizer](const ad::NamedTensors& s) { optimizer.check_state_dict(s); },
                   .load = [&optimizer](const ad::NamedTensors& s) { optimizer.load_state_dict(s); }});
}

Checkpoint& Checkpoint::add(const std::string& name, optim::LRScheduler& scheduler) {
  return add_part({.name = name,
                   .kind = std::string("scheduler:") + scheduler.name(),
                   .save = [&scheduler] { return scheduler.state_dict(); },
                   .check = [&scheduler](const ad::NamedTensors& s) { scheduler.check_state_dict(s); },
                   .load = [&scheduler](const ad::NamedTensors& s) { scheduler.load_state_dict(s); }});
}

Checkpoint& Checkpoint::add(const std::string& name, optim::ReduceLROnPlateau& scheduler) {
  return add_part({.name = name,
                   .kind = "scheduler:ReduceLROnPlateau",
                   .save = [&scheduler] { return scheduler.state_dict(); },
                   .check = [&scheduler](const ad::NamedTensors& s) { scheduler.check_state_dict(s); },
                   .load = [&scheduler](const ad::NamedTensors& s) { scheduler.load_state_dict(s); }});
}

Checkpoint& Checkpoint::add(const std::string& name, data::DataLoader& loader) {
  return add_part({.name = name,
                   .kind = "loader",
                   .save = [&loader] { return loader.state_dict(); },
                   .check = [&loader](const ad::NamedTensors& s) { loader.check_state_dict(s); },
                   .load = [&loader](const ad::NamedTensors& s) { loader.load_state_dict(s); }});
}

Checkpoint& Checkpoint::add(const std::string& name, ad::Generator& generator) {
  return add_part({.name = name,
                   .kind = "generator",
                   .save =
                       [&generator] {
                         return ad::NamedTensors{{"state", generator.state()}};
                       },
                   .check =
                       [](const ad::NamedTensors& s) {
                         if (s.size() != 1 || s[0].first != "state")
                           throw ad::Error("a generator's part holds one entry, 'state'");
                         ad::Generator probe;
                         probe.set_state(s[0].second);  // checks it without touching the real one
                       },
                   .load = [&generator](const ad::NamedTensors& s) { generator.set_state(s[0].second); }});
}

Checkpoint& Checkpoint::add(const std::string& name, std::int64_t& counter) {
  return add_part(
      {.name = name,
       .kind = "counter",
       .save =
           [&counter] {
             return ad::NamedTensors{{"value", int_scalar(counter)}};
           },
       .check =
           [](const ad::NamedTensors& s) {
             if (s.size() != 1 || s[0].first != "value" || s[0].second.dtype() != ad::kInt64 ||
                 s[0].second.numel() != 1)
               throw ad::Error("a counter's part holds one Int64 entry, 'value'");
           },
       .load =
           [&counter](const ad::NamedTensors& s) { counter = s[0].second.contiguous().data_ptr<std::int64_t>()[0]; }});
}

std::vector<std::string> Checkpoint::part_names() const {
  std::vector<std::string> out;
  for (const Part& p : parts_) out.push_back(p.name);
  return out;
}

void Checkpoint::save(const std::string& path) const {
  if (parts_.empty()) throw ad::Error("Checkpoint::save: no parts registered; add the model, optimizer, ... first");
  ad::NamedTensors all;
  std::map<std::string, std::string> meta{{"adgraph.checkpoint", "1"}};
  for (const Part& p : parts_) {
    meta["part." + p.name] = p.kind;
    for (auto& [key, t] : p.save()) all.emplace_back(p.name + "." + key, std::move(t));
  }
  ad::save_safetensors(path, all, meta);
}

Checkpoint& Checkpoint::add(const std::string& name, const std::string& kind, std::function<ad::NamedTensors()> save,
                            std::function<void(const ad::NamedTensors&)> check,
                            std::function<void(const ad::NamedTensors&)> load) {
  if (!save || !check || !load) throw ad::Error("Checkpoint::add: part '" + name + "' needs save, check and load");
  return add_part(
      {.name = name, .kind = kind, .save = std::move(save), .check = std::move(check), .load = std::move(load)});
}

void Checkpoint::load(const std::string& path) { load(path, {}); }

void Checkpoint::load(const std::string& path, const std::function<void()>& before_writing) {
  const std::string where = "Checkpoint::load: " + path + ": ";
  ad::SafetensorsFile file;
  try {
    file = ad::load_safetensors(path);
  } catch (const ad::Error& e) {
    throw ad::Error("Checkpoint::load: " + std::string(e.what()));
  }
  if (!file.metadata.contains("adgraph.checkpoint"))
    throw ad::Error(where + "not a checkpoint (no \"adgraph.checkpoint\" metadata; a model file is read by nn::load)");
  std::map<std::string, ad::NamedTensors> by_part;
  for (auto& [key, t] : file.tensors) {
    const auto dot = key.find('.');
    if (dot == std::string::npos) throw ad::Error(where + "entry '" + key + "' belongs to no part");
    by_part[key.substr(0, dot)].emplace_back(key.substr(dot + 1), t);
  }
  std::set<std::string> registered;
  for (const Part& p : parts_) {
    registered.insert(p.name);
    const auto it = file.metadata.find("part." + p.name);
    if (it == file.metadata.end())
      throw ad::Error(where + "has no part '" + p.name + "' (it holds what was registered when it was saved)");
    if (it->second != p.kind)
      throw ad::Error(where + "part '" + p.name + "' is a " + it->second + " in the file but a " + p.kind + " here");
  }
  for (const auto& [key, kind] : file.metadata)
    if (key.starts_with("part.") && !registered.contains(key.substr(5)))
      throw ad::Error(where + "holds a part '" + key.substr(5) + "' (" + kind +
                      ") that is not registered; add it, so that nothing of the run is left behind");
  for (const auto& [part, entries] : by_part)
    if (!registered.contains(part)) throw ad::Error(where + "entries under '" + part + ".' belong to no part");
  // Check everything, then write everything.
  for (const Part& p : parts_) {
    try {
      p.check(by_part[p.name]);
    } catch (const ad::Error& e) {
      throw ad::Error(where + "part '" + p.name + "': " + e.what());
    }
  }
  if (before_writing) before_writing();
  for (const Part& p : parts_) p.load(by_part[p.name]);
}

}  // namespace ad::train
