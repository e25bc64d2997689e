#pragma once
// ModuleList and ModuleDict (PyTorch's): children held in a list or by key, registered so their
// parameters and buffers are the owner's ("layers.0.weight", "heads.cls.bias"). Neither has a
// forward: the owning module calls the children as it needs.
#include <map>

#include "adgraph/nn/module.h"

namespace ad::nn {

class ModuleList : public Module {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  ModuleList& push_back(std::shared_ptr<Module> m);  // named by its index
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const;  // throws when out of range
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

class ModuleDict : public Module {
 public:
  ModuleDict() = default;
  ModuleDict(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> items);
  ModuleDict& insert(const std::string& key, std::shared_ptr<Module> m);  // keys are unique
  bool contains(const std::string& key) const;
  const std::shared_ptr<Module>& operator[](const std::string& key) const;  // throws for unknown keys
  std::vector<std::string> keys() const;                                    // in insertion order
  std::size_t size() const { return keys_.size(); }

 private:
  std::vector<std::string> keys_;
  std::map<std::string, std::shared_ptr<Module>> items_;
};

}  // namespace ad::nn
