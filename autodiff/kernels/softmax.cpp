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

// One row of the backward; t holds n elements.
template <class T>
void one_row_backward(RowOp op, const T* g, const T* o, T* out, std::int64_t n, T* t) {
  if (op == RowOp::log_softmax) {                  // g - exp(o) * s, s = sum(g)
    const T s = T(0) + static_cast<T>(sum(g, n));  // as sum(g, {-1}, true) computes it
    unary(Unary::exp, o, 1, t, n);
    binary(Binary::mul, t, 1, &s, 0, t, n);
    return binary(Binary::sub, g, 1, t, 1, out, n);
  }
  binary(Binary::mul, g, 1, o, 1, t, n);  // o * (g - s), s = sum(g * o)
  const T s = T(0) + static_cast<T>(sum(t, n));
  binary(Binary::sub, g, 1, &s, 0, t, n);
  binary(Binary::mul, o, 1, t, 1, out, n);
}

// f(r, t) for every row r, with t a scratch row of n elements per thread; short rows are shared
// among threads whole, a long row is threaded inside the vector kernels.
template <class T, class F>
void for_rows(std::int64_t rows, std::int64_t n, std::int64_t scratch, F f) {
  apply_isa_cap();  // may throw: not inside the parallel region
  const int threads = n < kGrain ? threads_for(rows, n) : 1;
  std::vector<T> tmp(static_cast<std::size_t>(scratch * threads));  // allocated before any thread starts
  if (threads <= 1) {
    for (std::int64_t r = 0; r < rows; ++r) f(r, tmp.data());
    return;
  }
  use_num_threads();
#pragma omp parallel num_threads(threads)
  {
    T* t = tmp.data() + scratch * omp_get_thread_num();
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) f(r, t);
  }
}

}  // namespace

template <class T>
void softmax_rows_backward(RowOp op, const T* g, const T* o, T* out, std::int64_t rows, std::int64_t n) {
  for_rows<T>(rows, n, n, [&](std::int64_t r, T* t) { one_row_backward(op, g + r * n, o + r * n, out + r * n, n, t); });
}

template <class T>
void softmax_rows(RowOp op, const T* in, T* out, std::int64_t rows, std::int64_t n) {
  const std::int64_t out_row = op == RowOp::logsumexp ? 1 : n;
  for_rows<T>(rows, n, 2 * n, [&](std::int64_t r, T* t) { one_row(op, in + r * n, out + r * out_row, n, t, t + n); });
}

template void softmax_rows<float>(RowOp, const float*, float*, std::int64_t, std::int64_t);
template void softmax_rows<double>(RowOp, const double*, double*, std::int64_t, std::int64_t);
template void softmax_rows_backward<float>(RowOp, const float*, const float*, float*, std::int64_t, std::int64_t);
template void softmax_rows_backward<double>(RowOp, const double*, const double*, double*, std::int64_t, std::int64_t);

}  // namespace ad::kernels
