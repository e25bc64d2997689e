// The libtorch peer of bench_cnn: the same models, loss, optimizer and batches in libtorch.
#include <torch/torch.h>

#include <chrono>
#include <limits>

#include "bench/cnn_common.h"

namespace bench {

bool cnn_have_torch() { return true; }

double cnn_torch(const CnnCase& c, int reps, int threads) {
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  torch::Tensor x = torch::from_blob(const_cast<float*>(c.x.data()), {c.batch, 1, 28, 28}, torch::kFloat32).clone();
  torch::Tensor y = torch::from_blob(const_cast<std::int64_t*>(c.y.data()), {c.batch}, torch::kInt64).clone();
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    namespace nn = torch::nn;
    nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 6, 5)), nn::ReLU(), nn::MaxPool2d(nn::MaxPool2dOptions(2)),
                       nn::Conv2d(nn::Conv2dOptions(6, 16, 5)), nn::ReLU(), nn::MaxPool2d(nn::MaxPool2dOptions(2)),
                       nn::Flatten(), nn::Linear(256, 120), nn::ReLU(), nn::Linear(120, 84), nn::ReLU(),
                       nn::Linear(84, 10));
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t s = 0; s < c.steps; ++s) {
      opt.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(x), y).backward();
      opt.step();
    }
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                              static_cast<double>(c.steps));
  }
  return best;
}

double lstm_torch(const LstmCase& c, int reps, int threads) {
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  torch::Tensor x =
      torch::from_blob(const_cast<float*>(c.x.data()), {c.seq, c.batch, c.input}, torch::kFloat32).clone();
  torch::Tensor y = torch::from_blob(const_cast<std::int64_t*>(c.y.data()), {c.batch}, torch::kInt64).clone();
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    namespace nn = torch::nn;
    nn::LSTM lstm(nn::LSTMOptions(c.input, c.hidden).num_layers(c.layers));
    nn::Linear head(c.hidden, c.classes);
    std::vector<torch::Tensor> params = lstm->parameters();
    for (const torch::Tensor& p : head->parameters()) params.push_back(p);
    torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t s = 0; s < c.steps; ++s) {
      opt.zero_grad();
      const torch::Tensor out = std::get<0>(lstm->forward(x));  // [seq, batch, hidden]
      torch::nn::functional::cross_entropy(head->forward(out[c.seq - 1]), y).backward();
      opt.step();
    }
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                              static_cast<double>(c.steps));
  }
  return best;
}

}  // namespace bench
