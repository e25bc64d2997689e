#pragma once
// Threading of the CPU kernels. Not part of the public API (see threads.h).
#include <algorithm>
#include <cstdint>

#include "adgraph/autodiff/threads.h"

namespace ad::kernels {

// Applies set_num_threads' count to the calling thread's OpenMP settings before a kernel runs:
// OpenMP keeps the count per thread, so a thread started by the user would otherwise use the
// default. Cheap when nothing changes (one comparison).
void use_num_threads();

constexpr std::int64_t kGrain = 32768;  // spans below this run on the calling thread
constexpr std::int64_t kChunk = 16384;  // elements per thread task

// f(begin, end) over [0, n): one call below kGrain, else chunks of kChunk shared among the
// threads (OpenMP, static schedule). f must not throw.
template <class F>
void for_chunks(std::int64_t n, F f) {
  const int threads = n >= kGrain ? get_num_threads() : 1;
  if (threads <= 1) return f(std::int64_t{0}, n);
  use_num_threads();
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t c = 0; c < chunks; ++c) f(c * kChunk, std::min(n, (c + 1) * kChunk));
}

// f(begin, end) on `blocks` near-equal contiguous pieces of [0, count), shared among `threads`.
template <class F>
void parallel_blocks(std::int64_t count, std::int64_t blocks, int threads, F& f) {
  use_num_threads();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t b = 0; b < blocks; ++b) f(count * b / blocks, count * (b + 1) / blocks);
}

// The threads for `count` items of `cost` elements each: 1 below kGrain elements in all.
inline int threads_for(std::int64_t count, std::int64_t cost) {
  return count > 1 && count * cost >= kGrain ? get_num_threads() : 1;
}

// f(begin, end) over [0, count) items of `cost` elements each: one call below kGrain elements in
// all, else blocks of about kChunk elements shared among the threads. f must not throw, and what
// it computes for an item must not depend on the block the item falls in.
template <class F>
void for_items(std::int64_t count, std::int64_t cost, F f) {
  const int threads = threads_for(count, cost);
  if (threads <= 1) return f(std::int64_t{0}, count);
  const std::int64_t per = std::max<std::int64_t>(1, kChunk / std::max<std::int64_t>(cost, 1));
  parallel_blocks(count, (count + per - 1) / per, threads, f);
}

// The same with one contiguous range of items per thread.
template <class F>
void for_ranges(std::int64_t count, std::int64_t cost, F f) {
  const int threads = threads_for(count, cost);
  if (threads <= 1) return f(std::int64_t{0}, count);
  parallel_blocks(count, std::min<std::int64_t>(threads, count), threads, f);
}

}  // namespace ad::kernels
