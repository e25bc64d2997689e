#pragma once
// Loops over a broadcast output shape with N inputs laid over it by strides (0 on broadcast
// dims). The body sees one innermost row at a time: body(out_offset, offsets, len, inner_strides).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "adgraph/autodiff/kernels/parallel.h"
#include "adgraph/autodiff/shape.h"

namespace ad::kernels {

// broadcast_rows over the output rows [r0, r1) only (a row is one run of the innermost dim).
template <std::size_t N, class Body>
void broadcast_rows_range(const Shape& out, const std::array<Shape, N>& strides, std::int64_t r0, std::int64_t r1,
                          Body&& body) {
  const std::size_t rank = out.size();
  if (r0 >= r1) return;
  std::array<std::int64_t, N> base{};
  if (rank == 0) {
    std::array<std::int64_t, N> zero{};
    body(std::int64_t{0}, base, std::int64_t{1}, zero);
    return;
  }
  const std::int64_t inner = out[rank - 1];
  std::array<std::int64_t, N> inner_st{};
  for (std::size_t k = 0; k < N; ++k) inner_st[k] = strides[k][rank - 1];
  std::vector<std::int64_t> idx(rank, 0);
  for (std::int64_t rest = r0, d = static_cast<std::int64_t>(rank) - 2; d >= 0; --d) {  // unravel row r0
    idx[static_cast<std::size_t>(d)] = rest % out[static_cast<std::size_t>(d)];
    rest /= out[static_cast<std::size_t>(d)];
    for (std::size_t k = 0; k < N; ++k)
      base[k] += idx[static_cast<std::size_t>(d)] * strides[k][static_cast<std::size_t>(d)];
  }
  std::int64_t o = r0 * inner;
  for (std::int64_t r = r0;;) {
    body(o, base, inner, inner_st);
    if (++r == r1) return;
    o += inner;
    std::size_t d = rank - 1;
    for (;;) {
      --d;
      ++idx[d];
      for (std::size_t k = 0; k < N; ++k) base[k] += strides[k][d];
      if (idx[d] < out[d]) break;
      for (std::size_t k = 0; k < N; ++k) base[k] -= strides[k][d] * out[d];
      idx[d] = 0;
    }
  }
}

template <std::size_t N, class Body>
void broadcast_rows(const Shape& out, const std::array<Shape, N>& strides, Body&& body) {
  const std::int64_t n = numel_of(out);
  if (n == 0) return;
  const std::int64_t rows = out.empty() ? 1 : n / out.back();
  broadcast_rows_range<N>(out, strides, 0, rows, body);
}

// broadcast_rows with the rows shared among the threads (a few hundred kilobytes each) when the
// output is large; for bodies that write their own output row only. Rows of kGrain elements or
// more stay on the calling thread, whose kernels split them.
template <std::size_t N, class Body>
void parallel_rows(const Shape& out, const std::array<Shape, N>& strides, Body&& body) {
  const std::int64_t n = numel_of(out);
  if (n == 0) return;
  const std::int64_t inner = out.empty() ? 1 : out.back(), rows = n / inner;
  const int threads = n >= kGrain && rows > 1 && inner < kGrain ? get_num_threads() : 1;
  if (threads <= 1) return broadcast_rows_range<N>(out, strides, 0, rows, body);
  use_num_threads();
  const std::int64_t per = std::max<std::int64_t>(1, kChunk / inner), tasks = (rows + per - 1) / per;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t t = 0; t < tasks; ++t)
    broadcast_rows_range<N>(out, strides, t * per, std::min(rows, (t + 1) * per), body);
}

// out = row-wise application of `row` with NumPy broadcasting: a and b are read through their
// strides (sta, stb), out is contiguous. row(x, sx, y, sy, r, len) computes
// r[j] = f(x[j * sx], y[j * sy]) for j < len; it is called once for the whole output when the
// operands are contiguous or one element, else once per innermost row (strides 0 broadcast),
// the rows shared among threads when kParallel (row must then be safe to run concurrently).
template <bool kParallel, class T, class U, class Row>
void map2_rows(const T* a, const Shape& sa, const Shape& sta, const T* b, const Shape& sb, const Shape& stb, U* out,
               const Shape& so, Row row) {
  const std::int64_t n = numel_of(so);
  const std::int64_t na = numel_of(sa), nb = numel_of(sb);
  const bool ca = is_contiguous_layout(sa, sta), cb = is_contiguous_layout(sb, stb);
  if (n == 0) return;
  if (na == n && nb == n && ca && cb) return row(a, 1, b, 1, out, n);
  if (nb == 1 && na == n && ca) return row(a, 1, b, 0, out, n);
  if (na == 1 && nb == n && cb) return row(a, 0, b, 1, out, n);
  const std::array<Shape, 2> st2{broadcast_strides(sa, sta, so), broadcast_strides(sb, stb, so)};
  auto body = [&](std::int64_t o, const auto& base, std::int64_t len, const auto& st) {
    row(a + base[0], st[0], b + base[1], st[1], out + o, len);
  };
  if constexpr (kParallel)
    parallel_rows<2>(so, st2, body);
  else
    broadcast_rows<2>(so, st2, body);
}

// map2_rows with an elementwise f: out = f(a, b), on the calling thread (f may count overflows).
template <class T, class U, class F>
void map2(const T* a, const Shape& sa, const Shape& sta, const T* b, const Shape& sb, const Shape& stb, U* out,
          const Shape& so, F f) {
  map2_rows<false>(a, sa, sta, b, sb, stb, out, so,
                   [&](const T* x, std::int64_t sx, const T* y, std::int64_t sy, U* r, std::int64_t len) {
                     if (sx == 1 && sy == 1) {  // the common rows: plain loops that vectorize
                       for (std::int64_t j = 0; j < len; ++j) r[j] = f(x[j], y[j]);
                     } else if (sx == 1 && sy == 0) {
                       const T yv = *y;
                       for (std::int64_t j = 0; j < len; ++j) r[j] = f(x[j], yv);
                     } else if (sx == 0 && sy == 1) {
                       const T xv = *x;
                       for (std::int64_t j = 0; j < len; ++j) r[j] = f(xv, y[j]);
                     } else {
                       for (std::int64_t j = 0; j < len; ++j) r[j] = f(x[j * sx], y[j * sy]);
                     }
                   });
}

// out (contiguous) from a read through its strides, by rows: row(x, sx, r, len) computes
// r[j] = f(x[j * sx]); one call when a is contiguous; rows shared among threads when kParallel.
template <bool kParallel, class T, class Row>
void map1_rows(const T* a, const Shape& sa, const Shape& sta, T* out, Row row) {
  if (is_contiguous_layout(sa, sta)) return row(a, 1, out, numel_of(sa));
  auto body = [&](std::int64_t o, const auto& base, std::int64_t len, const auto& st) {
    row(a + base[0], st[0], out + o, len);
  };
  if constexpr (kParallel)
    parallel_rows<1>(sa, {sta}, body);
  else
    broadcast_rows<1>(sa, {sta}, body);
}

// out[i] = f(a[i]) for a read through its strides, out contiguous.
template <class T, class F>
void map1_strided(const T* a, const Shape& sa, const Shape& sta, T* out, F f) {
  map1_rows<false>(a, sa, sta, out, [&](const T* x, std::int64_t sx, T* r, std::int64_t len) {
    for (std::int64_t j = 0; j < len; ++j) r[j] = f(x[j * sx]);
  });
}

// Reduction of `in` (shape si, strides sti) into the contiguous `out` (shape so_keep: si with
// reduced dims set to 1); out must be pre-filled with the identity of `acc`. When given,
// row(x, len) reduces a contiguous row that goes into one output element (sum's vectorized
// kernel); the other rows go element by element through acc.
template <class T, class F, class Row = std::nullptr_t>
void reduce_into(const T* in, const Shape& si, const Shape& sti, T* out, const Shape& so_keep, F acc,
                 Row row = nullptr) {
  broadcast_rows<2>(si, {sti, broadcast_strides(so_keep, si)},
                    [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
                      if (st[1] == 0) {
                        T r = out[base[1]];
                        if constexpr (!std::is_null_pointer_v<Row>) {
                          if (st[0] == 1) {
                            out[base[1]] = acc(r, static_cast<T>(row(in + base[0], len)));
                            return;
                          }
                        }
                        for (std::int64_t j = 0; j < len; ++j) r = acc(r, in[base[0] + j * st[0]]);
                        out[base[1]] = r;
                      } else {
                        for (std::int64_t j = 0; j < len; ++j)
                          out[base[1] + j] = acc(out[base[1] + j], in[base[0] + j * st[0]]);
                      }
                    });
}

// reduce_into for the two layouts most reductions have, shared among threads by output
// elements: `in` contiguous with the reduced dims last ([rows, len] -> rows: sum(x, -1), softmax's
// max) or first ([len, cols] -> cols: a bias gradient). Each output element is reduced in memory
// order, so the result does not depend on the thread count; with reduced dims last, row() (when
// given) reduces the whole row of len elements at once. Other layouts go to reduce_into. acc and
// row must not throw and may run on several threads at once.
template <class T, class F, class Row = std::nullptr_t>
void reduce_into_threaded(const T* in, const Shape& si, const Shape& sti, T* out, const Shape& so_keep, F acc,
                          Row row = nullptr) {
  const std::size_t rank = si.size();
  const std::int64_t n = numel_of(si), kept = numel_of(so_keep);
  std::size_t first = rank, last = 0;  // the first and last dims reduced with a size above 1
  for (std::size_t i = 0; i < rank; ++i)
    if (so_keep[i] != si[i]) {
      first = std::min(first, i);
      last = i;
    }
  auto only_ones = [&](std::size_t b, std::size_t e) {  // so_keep[b, e) all 1
    for (std::size_t i = b; i < e; ++i)
      if (so_keep[i] != 1) return false;
    return true;
  };
  if (n == 0 || kept <= 1 || first == rank || !is_contiguous_layout(si, sti))
    return reduce_into(in, si, sti, out, so_keep, acc, row);
  const std::int64_t len = n / kept;
  if (only_ones(first, rank)) {  // [rows, len]
    for_items(kept, len, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r) {
        const T* x = in + r * len;
        if constexpr (!std::is_null_pointer_v<Row>) {
          out[r] = acc(out[r], static_cast<T>(row(x, len)));
        } else {
          T v = out[r];
          for (std::int64_t j = 0; j < len; ++j) v = acc(v, x[j]);
          out[r] = v;
        }
      }
    });
  } else if (only_ones(0, last + 1)) {  // [len, cols]
    // each thread one range of whole 64-column groups: it streams its part of every row and
    // writes cache lines no other thread writes
    constexpr std::int64_t kCols = 64;
    const std::int64_t cols = kept, groups = (cols + kCols - 1) / kCols;
    for_ranges(groups, kCols * len, [&](std::int64_t gb, std::int64_t ge) {
      const std::int64_t b = gb * kCols, e = std::min(cols, ge * kCols);
      for (std::int64_t i = 0; i < len; ++i)
        for (std::int64_t c = b; c < e; ++c) out[c] = acc(out[c], in[i * cols + c]);
    });
  } else {
    reduce_into(in, si, sti, out, so_keep, acc, row);
  }
}

}  // namespace ad::kernels
