#pragma once
// The elementwise and reduction workloads of bench_kernels, shared by our implementation and
// the libtorch peer: same sizes, same values, same thread count; each returns the best time of
// `reps` runs and the value computed (so the two sides can be compared).
#include <cstdint>

namespace bench {

enum class Kernel {
  sigmoid_chain,  // sigmoid(a * b + c).sum() forward + backward, a, b, c of 10^6 float32
  exp,            // exp(a) forward, 10^6 float32
  tanh,           // tanh(a) forward, 10^6 float32
  sum,            // a.sum() of 10^7 float32 in [0, 1): the value shows the summation's accuracy
  log_softmax,    // log_softmax over the rows of a viewed as [1000, 1000], forward, 10^6 float32
  column_sum,     // a viewed as [1000, 1000] summed over dim 0 (a bias gradient), 10^6 float32
};
constexpr std::int64_t kElements = 1'000'000;
constexpr std::int64_t kSumElements = 10'000'000;

struct Timed {
  double ms = -1;
  double value = 0;
};

// The inputs: element i of input k is x(k, i) = fractional part of (i * 0.6180339887 + k * 0.1).
float input_value(int k, std::int64_t i);

Timed run_ours(Kernel k, int threads, int reps);
Timed run_torch(Kernel k, int threads, int reps);  // only when built with libtorch
bool have_torch();

}  // namespace bench
