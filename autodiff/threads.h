#pragma once
// How the CPU kernels run.
//
// Threads: oneDNN's float32 GEMM and the elementwise and summation kernels run on OpenMP (the
// runtime oneDNN is built with: one pool, no oversubscription), OpenBLAS (float64 GEMM, LAPACK)
// on its own threads with the same count. One count for the whole process: every thread that runs
// ops uses it. The default is OpenMP's (OMP_NUM_THREADS, else one per core). Spans of fewer than
// 32768 elements run on the calling thread. Results do not depend on the count: elementwise
// results are per element, and sums add fixed blocks in a fixed order.
//
// Instruction set: the elementwise kernels are compiled for AVX-512, AVX2 and a scalar baseline,
// and the best one the CPU has is used. ADGRAPH_MAX_ISA=AVX2 (or SCALAR) in the
// environment caps it, for tests of the other paths or to compare them.
#include <string>

namespace ad {

void set_num_threads(int n);  // n >= 1
int get_num_threads();

// The instruction set the elementwise kernels use: "AVX3" (AVX-512), "AVX2" or "SCALAR".
std::string simd_isa();

}  // namespace ad
