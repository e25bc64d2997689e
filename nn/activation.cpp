#include "adgraph/nn/activation.h"

#include <cctype>
#include <sstream>

namespace ad::nn {

std::string LeakyReLU::extra_repr() const {
  std::ostringstream os;
  os << "slope=" << slope_;
  return os.str();
}

std::shared_ptr<Module> make_activation(Activation a, double slope) {
  switch (a) {
    case Activation::None:
      return nullptr;
    case Activation::Step:
      return std::make_shared<Step>();
    case Activation::Sigmoid:
      return std::make_shared<Sigmoid>();
    case Activation::Tanh:
      return std::make_shared<Tanh>();
    case Activation::ReLU:
      return std::make_shared<ReLU>();
    case Activation::LeakyReLU:
      return std::make_shared<LeakyReLU>(slope);
    case Activation::Softmax:
      return std::make_shared<Softmax>(-1);
  }
  throw ad::Error("make_activation: unknown activation " + std::to_string(static_cast<int>(a)));
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::None:
      return "none";
    case Activation::Step:
      return "step";
    case Activation::Sigmoid:
      return "sigmoid";
    case Activation::Tanh:
      return "tanh";
    case Activation::ReLU:
      return "relu";
    case Activation::LeakyReLU:
      return "leaky_relu";
    case Activation::Softmax:
      return "softmax";
  }
  return "?";
}

Activation activation_from_string(const std::string& s) {
  std::string k;
  for (char c : s) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (k == "none" || k == "identity" || k == "linear") return Activation::None;
  if (k == "step") return Activation::Step;
  if (k == "sigmoid") return Activation::Sigmoid;
  if (k == "tanh") return Activation::Tanh;
  if (k == "relu") return Activation::ReLU;
  if (k == "leaky_relu" || k == "leakyrelu") return Activation::LeakyReLU;
  if (k == "softmax") return Activation::Softmax;
  throw ad::Error("activation_from_string: unknown activation '" + s +
                  "'; use one of none, step, sigmoid, tanh, relu, leaky_relu, softmax");
}

}  // namespace ad::nn
