// A user's program: a custom model trained for a few steps with the installed/fetched adgraph.
#include <adgraph/adgraph.h>

#include <cstdio>

#include "data/data.h"  // the consumer's own headers, same names as adgraph's folders
#include "nn/module.h"

#if !defined(CONSUMER_NN_MODULE_H) || !defined(CONSUMER_DATA_H)
#error "adgraph's headers shadowed the consumer's own nn/module.h or data/data.h"
#endif

int consumer_plot();

// The README's custom model, verbatim.
struct Net : ad::nn::Module {
  std::shared_ptr<ad::nn::Linear> fc1 = register_module("fc1", std::make_shared<ad::nn::Linear>(2, 16));
  std::shared_ptr<ad::nn::Linear> fc2 = register_module("fc2", std::make_shared<ad::nn::Linear>(16, 1));
  ad::Tensor forward(const ad::Tensor& x) override { return (*fc2)(ad::tanh((*fc1)(x))); }
};

int main() {
  ad::Generator gen(7);
  auto [X, y] = ad::data::make_moons(128, 0.1, gen);
  const ad::Tensor x = X.to(ad::kFloat32), target = ad::data::float_labels(y).to(ad::kFloat32);
  Net model;
  ad::optim::Adam opt(model.parameters(), {.lr = 0.05});
  double first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    opt.zero_grad();
    const ad::Tensor loss = ad::nn::binary_cross_entropy_with_logits(model(x), target);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  // The shipped data set, found beside the installed library or in the fetched source tree.
  const std::string digits_path = ad::data::project_file("digits.csv");
  const ad::data::Table digits = ad::data::read_csv(digits_path);
  std::printf("consumer: digits.csv has %lld rows, from %s\n", static_cast<long long>(digits.values.size(0)),
              digits_path.c_str());
  std::printf("consumer: loss %.4f -> %.4f, decreased: %s (own headers %d, own plot %d)\n", first, last,
              last < first ? "yes" : "no", consumer::own_nn_module(), consumer_plot());
  return last < first ? 0 : 1;
}
