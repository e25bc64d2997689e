#pragma once
// What the digits examples (07, 08, 10) share: the convolutional network of 08 and 10, and the
// predictions and accuracy of any classifier.
#include <cstdint>
#include <memory>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/nn/activation.h"
#include "adgraph/nn/conv.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/normalization.h"
#include "adgraph/nn/pooling.h"
#include "adgraph/nn/sequential.h"

namespace digits {

// [N, 1, 8, 8] -> block(16) -> [N, 16, 4, 4] -> block(32) -> [N, 32, 2, 2] -> [N, 128] -> [N, 10],
// a block being Conv2d 3x3 (padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d 2x2. The convolutions
// have no bias: the BatchNorm after each subtracts the channel's mean, bias included, and adds its
// own (beta).
inline std::shared_ptr<ad::nn::Sequential> make_cnn(ad::Generator& gen) {
  auto m = std::make_shared<ad::nn::Sequential>();
  std::int64_t in = 1;
  for (std::int64_t out : {16, 32}) {
    m->push_back(std::make_shared<ad::nn::Conv2d>(in, out, ad::Size2{3, 3}, ad::Conv2dOptions{.padding = {1, 1}},
                                                  /*bias=*/false, ad::kFloat32, &gen));
    m->push_back(std::make_shared<ad::nn::BatchNorm2d>(out));
    m->push_back(std::make_shared<ad::nn::ReLU>());
    m->push_back(std::make_shared<ad::nn::MaxPool2d>(ad::Size2{2, 2}));
    in = out;
  }
  m->push_back(std::make_shared<ad::nn::Flatten>());
  m->push_back(std::make_shared<ad::nn::Linear>(32 * 2 * 2, 10, true, ad::kFloat32, &gen));
  return m;
}

// Predicted classes in eval mode (no dropout; BatchNorm's running statistics), back in training
// mode afterwards.
inline std::vector<double> predict(ad::nn::Module& model, const ad::Tensor& X) {
  ad::NoGradGuard no_grad;
  model.eval();
  const std::vector<double> pred = ad::argmax(model(X), 1).to_vector();
  model.train();
  return pred;
}

inline double accuracy(const std::vector<double>& pred, const ad::Tensor& y) {
  const std::vector<double> truth = y.to_vector();
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == truth[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

inline double accuracy(ad::nn::Module& model, const ad::Tensor& X, const ad::Tensor& y) {
  return accuracy(predict(model, X), y);
}

}  // namespace digits
