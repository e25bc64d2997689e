#include "adgraph/nn/sequential.h"

namespace ad::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> layers) {
  for (const auto& l : layers) push_back(l);
}

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& layers) {
  for (const auto& l : layers) push_back(l);
}

Sequential& Sequential::push_back(std::shared_ptr<Module> layer) {
  if (!layer) throw ad::Error("Sequential::push_back: layer " + std::to_string(layers_.size()) + " is null");
  layers_.push_back(register_module(std::to_string(layers_.size()), std::move(layer)));
  return *this;
}

ad::Tensor Sequential::forward(const ad::Tensor& x) const {
  ad::Tensor h = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    try {
      h = layers_[i]->call(h);  // hooks included; the error prefix is ours
    } catch (const ad::Error& e) {
      // operator() puts this module's own place in front (so "Sequential: layer 1 (Linear): ...")
      throw ad::Error("layer " + std::to_string(i) + " (" + layers_[i]->name() + "): " + e.what());
    }
  }
  return h;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t i) const {
  if (i >= layers_.size())
    throw ad::Error("Sequential: index " + std::to_string(i) + " out of range for " + std::to_string(layers_.size()) +
                    " layers");
  return layers_[i];
}

}  // namespace ad::nn
