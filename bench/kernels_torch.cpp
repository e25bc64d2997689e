// The libtorch peer of bench_kernels.
#include <torch/torch.h>

#include <chrono>
#include <limits>
#include <optional>
#include <vector>

#include "bench/kernels_common.h"

namespace bench {

bool have_torch() { return true; }

namespace {
torch::Tensor input(int k, std::int64_t n, bool grad) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = input_value(k, i);
  return torch::from_blob(v.data(), {n}, torch::kFloat32).clone().requires_grad_(grad);
}
}  // namespace

Timed run_torch(Kernel k, int threads, int reps) {
  torch::set_num_threads(threads);
  const bool chain = k == Kernel::sigmoid_chain;
  const std::int64_t n = k == Kernel::sum ? kSumElements : kElements;
  torch::Tensor a = input(0, n, chain), b = input(1, n, chain), c = input(2, n, chain);
  std::optional<torch::NoGradGuard> no_grad;
  if (!chain) no_grad.emplace();
  Timed best{std::numeric_limits<double>::infinity(), 0};
  for (int r = 0; r < reps; ++r) {
    for (torch::Tensor* t : {&a, &b, &c})
      if (t->grad().defined()) t->mutable_grad().zero_();
    const auto t0 = std::chrono::steady_clock::now();
    double value = 0;
    switch (k) {
      case Kernel::sigmoid_chain: {
        torch::Tensor s = torch::sigmoid(a * b + c).sum();
        s.backward();
        value = s.item<double>();
        break;
      }
      case Kernel::exp:
        value = torch::exp(a).data_ptr<float>()[n / 2];
        break;
      case Kernel::tanh:
        value = torch::tanh(a).data_ptr<float>()[n / 2];
        break;
      case Kernel::sum:
        value = a.sum().item<double>();
        break;
      case Kernel::log_softmax:
        value = torch::log_softmax(a.view({1000, 1000}), -1)[500][500].item<double>();
        break;
      case Kernel::column_sum:
        value = a.view({1000, 1000}).sum(0)[500].item<double>();
        break;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms < best.ms) best = {ms, value};
  }
  return best;
}

}  // namespace bench
