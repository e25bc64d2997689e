#include "adgraph/nn/containers.h"

namespace ad::nn {

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

ModuleList& ModuleList::push_back(std::shared_ptr<Module> m) {
  if (!m) throw ad::Error("ModuleList::push_back: module " + std::to_string(items_.size()) + " is null");
  items_.push_back(register_module(std::to_string(items_.size()), std::move(m)));
  return *this;
}

const std::shared_ptr<Module>& ModuleList::operator[](std::size_t i) const {
  if (i >= items_.size())
    throw ad::Error("ModuleList: index " + std::to_string(i) + " out of range for " + std::to_string(items_.size()) +
                    " modules");
  return items_[i];
}

ModuleDict::ModuleDict(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> items) {
  for (const auto& [k, m] : items) insert(k, m);
}

ModuleDict& ModuleDict::insert(const std::string& key, std::shared_ptr<Module> m) {
  if (!m) throw ad::Error("ModuleDict::insert: module '" + key + "' is null");
  if (items_.count(key)) throw ad::Error("ModuleDict::insert: the key '" + key + "' is already taken");
  items_[key] = register_module(key, std::move(m));  // checks the name
  keys_.push_back(key);
  return *this;
}

bool ModuleDict::contains(const std::string& key) const { return items_.count(key) > 0; }

const std::shared_ptr<Module>& ModuleDict::operator[](const std::string& key) const {
  const auto it = items_.find(key);
  if (it == items_.end()) {
    std::string known;
    for (const auto& k : keys_) known += (known.empty() ? "" : ", ") + k;
    throw ad::Error("ModuleDict: no module under '" + key + "' (keys: " + (known.empty() ? "none" : known) + ")");
  }
  return it->second;
}

std::vector<std::string> ModuleDict::keys() const { return keys_; }

}  // namespace ad::nn
