#pragma once
// Matrix products for the ops: C[m, n] = op(A) op(B), row-major, op transposing when its flag
// is set, with leading dims lda, ldb, ldc. Not part of the public API.
//
// Float32 runs on oneDNN's dnnl_sgemm: it JIT-compiles kernels for the instruction set it finds
// at run time (AVX2, AVX-512, ...), so one binary fits every x86-64 CPU; Debian's OpenBLAS
// 0.3.21 picks SSE3 kernels on CPUs it does not know (e.g. recent Xeons). oneDNN has no double
// GEMM, so Float64 stays on OpenBLAS.
#include <cstdint>

namespace ad::kernels {

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
          const float* b, std::int64_t ldb, float* c, std::int64_t ldc);
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
          const double* b, std::int64_t ldb, double* c, std::int64_t ldc);

}  // namespace ad::kernels
