// Our side of bench_cnn: the LeNet-style CNN and the LSTM of cnn_common.h in adgraph.
#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>

#include "adgraph/nn/nn.h"
#include "adgraph/optim/adam.h"
#include "bench/cnn_common.h"

namespace bench {

double cnn_ours(const CnnCase& c, int reps, int threads) {
  ad::set_num_threads(threads);
  std::vector<double> xv(c.x.begin(), c.x.end()), yv(c.y.begin(), c.y.end());
  const ad::Tensor x = ad::tensor(xv, {c.batch, 1, 28, 28}, {});
  const ad::Tensor y = ad::tensor(yv, {c.batch}, {}).to(ad::kInt64);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    ad::Generator gen(0);
    using namespace ad::nn;
    Sequential net{std::make_shared<Conv2d>(1, 6, ad::Size2{5, 5}, ad::Conv2dOptions{}, true, ad::kFloat32, &gen),
                   std::make_shared<ReLU>(),
                   std::make_shared<MaxPool2d>(ad::Size2{2, 2}),
                   std::make_shared<Conv2d>(6, 16, ad::Size2{5, 5}, ad::Conv2dOptions{}, true, ad::kFloat32, &gen),
                   std::make_shared<ReLU>(),
                   std::make_shared<MaxPool2d>(ad::Size2{2, 2}),
                   std::make_shared<Flatten>(),
                   std::make_shared<Linear>(256, 120, true, ad::kFloat32, &gen),
                   std::make_shared<ReLU>(),
                   std::make_shared<Linear>(120, 84, true, ad::kFloat32, &gen),
                   std::make_shared<ReLU>(),
                   std::make_shared<Linear>(84, 10, true, ad::kFloat32, &gen)};
    ad::optim::Adam opt(net.parameters(), {.lr = 1e-3});
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t s = 0; s < c.steps; ++s) {
      opt.zero_grad();
      cross_entropy(net(x), y).backward();
      opt.step();
    }
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                              static_cast<double>(c.steps));
  }
  return best;
}

double lstm_ours(const LstmCase& c, int reps, int threads) {
  ad::set_num_threads(threads);
  std::vector<double> xv(c.x.begin(), c.x.end()), yv(c.y.begin(), c.y.end());
  const ad::Tensor x = ad::tensor(xv, {c.seq, c.batch, c.input}, {});
  const ad::Tensor y = ad::tensor(yv, {c.batch}, {}).to(ad::kInt64);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    ad::Generator gen(0);
    ad::nn::LSTM lstm(c.input, c.hidden, {.num_layers = c.layers}, ad::kFloat32, &gen);
    ad::nn::Linear head(c.hidden, c.classes, true, ad::kFloat32, &gen);
    std::vector<ad::Tensor> params = lstm.parameters();
    for (const ad::Tensor& p : head.parameters()) params.push_back(p);
    ad::optim::Adam opt(params, {.lr = 1e-3});
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t s = 0; s < c.steps; ++s) {
      opt.zero_grad();
      const ad::Tensor out = lstm(x);  // [seq, batch, hidden]
      ad::nn::cross_entropy(head(out.select(0, c.seq - 1)), y).backward();
      opt.step();
    }
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                              static_cast<double>(c.steps));
  }
  return best;
}

}  // namespace bench
