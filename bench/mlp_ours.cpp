// Our side of bench_mlp: ad::nn::MLP + ad::nn::cross_entropy + ad::optim::Adam, float32.
#include <chrono>
#include <limits>

#include "adgraph/nn/loss.h"
#include "adgraph/nn/mlp.h"
#include "adgraph/optim/adam.h"
#include "bench/mlp_common.h"

namespace bench {

double run_ours(const MlpCase& c, int reps) {
  const auto n = static_cast<std::int64_t>(c.y.size());
  const std::int64_t in = c.sizes.front();
  std::vector<double> xs(c.x.begin(), c.x.end());
  const ad::Tensor x = ad::tensor(xs, {n, in}, ad::dtype(ad::kFloat32));
  const ad::Tensor y = ad::index_tensor(c.y);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    ad::Generator gen(0);
    ad::nn::MLP model(c.sizes, ad::nn::Activation::ReLU, ad::nn::Activation::None, ad::kFloat32, &gen);
    ad::optim::Adam opt(model.parameters(), {.lr = 1e-3});
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t start = 0;
    for (std::int64_t s = 0; s < c.steps; ++s) {
      const std::int64_t end = std::min(start + c.batch, n);
      opt.zero_grad();
      const ad::Tensor loss = ad::nn::cross_entropy(model.forward(x.slice(0, start, end)), y.slice(0, start, end));
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
