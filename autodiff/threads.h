#pragma once
// How many threads the CPU kernels use: oneDNN's float32 GEMM (on OpenMP, the runtime oneDNN is
// built with) and OpenBLAS (float64 GEMM, LAPACK). One count for the whole process: every thread
// that runs ops uses it. The default is OpenMP's (OMP_NUM_THREADS, else one per core).
namespace ad {

void set_num_threads(int n);  // n >= 1
int get_num_threads();

}  // namespace ad
