#include "adgraph/autodiff/kernels/gemm.h"

#include <cblas.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <string>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/kernels/parallel.h"
#include "adgraph/autodiff/threads.h"

namespace ad::kernels {

namespace {
constexpr std::int64_t kGemmGrain = std::int64_t{1} << 22;  // multiply-adds
}  // namespace

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
          const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: oneDNN refuses k = 0
    for (std::int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  // Small products on the calling thread alone: below ~4M multiply-adds (about 40 us on one
  // core) OpenMP's fork and join cost more than they save, and on a machine whose cores are busy
  // its spinning workers made 64x64x256 products 10-25x slower on two threads than on one.
  const int threads = m * n * k >= kGemmGrain ? get_num_threads() : 1;
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
  const dnnl_status_t s = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  if (s != dnnl_success)
    throw Error("matmul: oneDNN's sgemm failed with status " + std::to_string(static_cast<int>(s)) +
                " for m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
}

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
          const double* b, std::int64_t ldb, double* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0, c,
              static_cast<int>(ldc));
}

}  // namespace ad::kernels
