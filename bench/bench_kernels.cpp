// Elementwise and summation kernels, side by side with libtorch (Debian's libtorch-dev) when it
// is installed, on 1 and 2 threads:
//   sigmoid(a * b + c).sum() forward + backward on 10^6 float32 (the elementwise figure);
//   exp and tanh forward on 10^6 float32;
//   the sum of 10^7 float32 in [0, 1), with each side's relative error against a sum in long
//   double (a naive float loop drifts by about 1e-3 there).
//   usage: bench_kernels [reps]
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "adgraph/autodiff/autodiff.h"
#include "bench/kernels_common.h"

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  std::printf("bench_kernels: SIMD kernels on %s; best of %d runs, ms\n", ad::simd_isa().c_str(), reps);
  long double exact = 0;
  float naive = 0;
  for (std::int64_t i = 0; i < bench::kSumElements; ++i) {
    exact += bench::input_value(0, i);
    naive += bench::input_value(0, i);
  }
  struct Row {
    bench::Kernel k;
    const char* name;
  };
  const Row rows[] = {{bench::Kernel::sigmoid_chain, "sigmoid(a*b+c).sum() fwd+bwd, 1e6 f32"},
                      {bench::Kernel::exp, "exp(a), 1e6 f32"},
                      {bench::Kernel::tanh, "tanh(a), 1e6 f32"},
                      {bench::Kernel::sum, "a.sum(), 1e7 f32"},
                      {bench::Kernel::log_softmax, "log_softmax(a, -1), 1000 x 1000 f32"},
                      {bench::Kernel::column_sum, "sum(a, 0), 1000 x 1000 f32"}};
  std::printf("%-40s %7s %9s %9s %7s\n", "workload", "threads", "ours", "libtorch", "ratio");
  for (const Row& row : rows) {
    for (int threads : {1, 2}) {
      const bench::Timed ours = bench::run_ours(row.k, threads, reps);
      std::printf("%-40s %7d %9.3f", row.name, threads, ours.ms);
      bench::Timed torch;
      if (bench::have_torch()) {
        torch = bench::run_torch(row.k, threads, reps);
        std::printf(" %9.3f %7.2f\n", torch.ms, ours.ms / torch.ms);
      } else {
        std::printf(" %9s\n", "-");
      }
      if (row.k == bench::Kernel::sum)
        std::printf("  relative error vs long double: ours %.2e, libtorch %s%.2e, naive float loop %.2e\n",
                    static_cast<double>(std::fabs(ours.value - exact) / exact), bench::have_torch() ? "" : "(n/a) ",
                    static_cast<double>(std::fabs(torch.value - exact) / exact),
                    static_cast<double>(std::fabs(naive - exact) / exact));
    }
  }
}
