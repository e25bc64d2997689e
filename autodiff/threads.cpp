#include "adgraph/autodiff/threads.h"

#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <string>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/kernels/parallel.h"
#include "adgraph/autodiff/kernels/simd.h"

namespace ad {
namespace {
std::atomic<int> g_threads{0};  // 0: not set, OpenMP's default
}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: the count must be >= 1, got " + std::to_string(n));
  g_threads.store(n, std::memory_order_relaxed);
  openblas_set_num_threads(n);
  omp_set_num_threads(n);
}

int get_num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}

std::string simd_isa() { return kernels::simd_target(); }

void kernels::use_num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
}

}  // namespace ad
