// The libtorch peer of bench_mlp: the same MLP, loss, optimizer and batches in libtorch.
#include <torch/torch.h>

#include <chrono>
#include <limits>

#include "bench/mlp_common.h"

namespace bench {

bool have_torch() { return true; }

double run_torch(const MlpCase& c, int reps) {
  torch::manual_seed(0);
  const auto n = static_cast<std::int64_t>(c.y.size());
  const std::int64_t in = c.sizes.front();
  torch::Tensor x = torch::from_blob(const_cast<float*>(c.x.data()), {n, in}, torch::kFloat32).clone();
  torch::Tensor y = torch::from_blob(const_cast<std::int64_t*>(c.y.data()), {n}, torch::kInt64).clone();
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    torch::nn::Sequential model;
    for (std::size_t i = 0; i + 1 < c.sizes.size(); ++i) {
      model->push_back(torch::nn::Linear(c.sizes[i], c.sizes[i + 1]));
      if (i + 2 < c.sizes.size()) model->push_back(torch::nn::ReLU());
    }
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t start = 0;
    for (std::int64_t s = 0; s < c.steps; ++s) {
      const std::int64_t end = std::min(start + c.batch, n);
      opt.zero_grad();
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(model->forward(x.slice(0, start, end)), y.slice(0, start, end));
      loss.backward();
      opt.step();
      start = end == n ? 0 : end;
    }
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                              static_cast<double>(c.steps));
  }
  return best;
}

}  // namespace bench
