#include "adgraph/autodiff/kernels/softmax.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "adgraph/autodiff/kernels/parallel.h"
#include "adgraph/autodiff/kernels/simd.h"

namespace ad::kernels {
namespace {

// One row; t1 and t2 hold n elements each (the vector kernels never write in place).
template <class T>
void one_row(RowOp op, const T* x, T* out, std::int64_t n, T* t1, T* t2) {
  // amax's value, NaN when any is NaN. The sign of a zero maximum may differ from amax's, which
  // changes no result: x - (+0) and x - (-0) are equal but for x = -0, where exp gives 1 either
  // way, and lse = log(s) + m with log(s) = +0 is +0 for both.
  T m = max(x, n);
  if (!std::isfinite(m)) m = T(0);  // so x - m is never inf - inf; a NaN still spreads through the sum
  binary(Binary::sub, x, 1, &m, 0, t1, n);
  unary(Unary::exp, t1, 1, t2, n);
  const T s = static_cast<T>(sum(t2, n));  // sum(): in double, then rounded once
  T lse;
  unary(Unary::log, &s, 1, &lse, 1);
  lse = lse + m;
  switch (op) {
    case RowOp::logsumexp:
      *out = lse;
      return;
    case RowOp::log_softmax:
      return binary(Binary::sub, x, 1, &lse, 0, out, n);
    case RowOp::softmax:
      binary(Binary::sub, x, 1, &lse, 0, t1, n);
      return unary(Unary::exp, t1, 1, out, n);
  }
}

}  // namespace

template <class T>
void softmax_rows(RowOp op, const T* in, T* out, std::int64_t rows, std::int64_t n) {
  apply_isa_cap();  // may throw: not inside the parallel region
  const std::int64_t out_row = op == RowOp::logsumexp ? 1 : n;
  // A long row is threaded inside the vector kernels; short rows are shared among threads whole.
  const int threads = n < kGrain && rows * n >= kGrain ? get_num_threads() : 1;
  std::vector<T> tmp(static_cast<std::size_t>(2 * n * threads));  // allocated before any thread starts
  if (threads <= 1) {
    for (std::int64_t r = 0; r < rows; ++r) one_row(op, in + r * n, out + r * out_row, n, tmp.data(), tmp.data() + n);
    return;
  }
  use_num_threads();
#pragma omp parallel num_threads(threads)
  {
    T* t1 = tmp.data() + 2 * n * omp_get_thread_num();
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) one_row(op, in + r * n, out + r * out_row, n, t1, t1 + n);
  }
}

template void softmax_rows<float>(RowOp, const float*, float*, std::int64_t, std::int64_t);
template void softmax_rows<double>(RowOp, const double*, double*, std::int64_t, std::int64_t);

}  // namespace ad::kernels
