// Our side of bench_kernels.
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "bench/kernels_common.h"

namespace bench {

float input_value(int k, std::int64_t i) {
  const double x = static_cast<double>(i) * 0.6180339887 + k * 0.1;
  return static_cast<float>(x - std::floor(x));
}

namespace {
ad::Tensor input(int k, std::int64_t n, bool grad) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = input_value(k, i);
  ad::Tensor t = ad::tensor(v, {n}, ad::dtype(ad::kFloat32));
  if (grad) t.requires_grad_();
  return t;
}
}  // namespace

Timed run_ours(Kernel k, int threads, int reps) {
  ad::set_num_threads(threads);
  const bool chain = k == Kernel::sigmoid_chain;
  const std::int64_t n = k == Kernel::sum ? kSumElements : kElements;
  ad::Tensor a = input(0, n, chain), b = input(1, n, chain), c = input(2, n, chain);
  Timed best{std::numeric_limits<double>::infinity(), 0};
  for (int r = 0; r < reps; ++r) {
    a.zero_grad();
    b.zero_grad();
    c.zero_grad();
    const auto t0 = std::chrono::steady_clock::now();
    double value = 0;
    switch (k) {
      case Kernel::sigmoid_chain: {
        ad::Tensor s = ad::sigmoid(a * b + c).sum();
        s.backward();
        value = s.item();
        break;
      }
      case Kernel::exp:
        value = ad::exp(a).data_ptr<float>()[n / 2];
        break;
      case Kernel::tanh:
        value = ad::tanh(a).data_ptr<float>()[n / 2];
        break;
      case Kernel::sum:
        value = a.sum().item();
        break;
      case Kernel::log_softmax:
        value = ad::log_softmax(a.view({1000, 1000}), -1).at({500, 500});
        break;
      case Kernel::column_sum:
        value = ad::sum(a.view({1000, 1000}), 0).at({500});
        break;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms < best.ms) best = {ms, value};
  }
  return best;
}

}  // namespace bench
