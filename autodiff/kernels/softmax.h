#pragma once
// Softmax, log-softmax and logsumexp over the rows of a contiguous [rows, n] array: each row in
// one go while it sits in cache, the rows shared among the threads. Not part of the public API.
//
// Each element goes through the same kernels, in the same order, as the composite ops they
// replace (ops/softmax.cpp): m = max(row) (0 when not finite), lse = log(sum(exp(row - m))) + m,
// softmax = exp(row - lse), log_softmax = row - lse. So the results are the same bits, on any
// thread count (the vector max may differ from amax in the sign of a zero, which changes none).
#include <cstdint>

namespace ad::kernels {

enum class RowOp : std::uint8_t { softmax, log_softmax, logsumexp };

// out: rows * n elements (softmax, log_softmax) or rows (logsumexp); rows, n >= 1.
template <class T>
void softmax_rows(RowOp op, const T* in, T* out, std::int64_t rows, std::int64_t n);

// The backward of log_softmax or softmax over the rows, given the output o and its gradient g
// (all contiguous [rows, n]): log_softmax g - exp(o) * sum(g), softmax o * (g - sum(g * o)), row
// by row with the kernels and order of the composite rules, so the same bits.
template <class T>
void softmax_rows_backward(RowOp op, const T* g, const T* o, T* out, std::int64_t rows, std::int64_t n);

}  // namespace ad::kernels
