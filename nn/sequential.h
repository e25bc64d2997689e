#pragma once
#include <initializer_list>
#include <memory>
#include <vector>

#include "adgraph/nn/module.h"

namespace ad::nn {

// Applies its layers in order. Layers are children named "0", "1", ..., so parameters are
// "0.weight", "0.bias", "2.weight", ... An empty Sequential is the identity.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> layers);
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& layers);

  // Appends a layer, named by its index.
  Sequential& push_back(std::shared_ptr<Module> layer);
  // An ad::Error thrown by a layer is rethrown with the layer's index and type prepended (and
  // operator() adds the Sequential's own place, as for any module).
  ad::Tensor forward(const ad::Tensor& x) const override;

  std::size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const;  // throws when out of range
  // The i-th layer as an M (e.g. at<Linear>(0)); throws if it is not one.
  template <class M>
  std::shared_ptr<M> at(std::size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!m) throw ad::Error("Sequential::at: layer " + std::to_string(i) + " is a " + (*this)[i]->name());
    return m;
  }
  const std::vector<std::shared_ptr<Module>>& layers() const { return layers_; }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace ad::nn
