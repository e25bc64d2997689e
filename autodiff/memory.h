#pragma once
// Tensor memory. Buffers of 16 KiB and more are 64-byte aligned and, when freed, kept in a cache
// keyed by their size (rounded up to 4 KiB) for the next tensor of that size, instead of going
// back to glibc: glibc returns large blocks to the kernel on free (its mmap threshold and heap
// trimming), so every training step would fault the same pages in again — about 900 page faults
// per step of a small CNN, a third of its time on a virtual machine. Training loops allocate the
// same sizes step after step, so nearly every buffer then comes from the cache.
//
// The cache holds at most cache_limit_bytes() (256 MiB unless the environment variable
// ADGRAPH_CACHE_MB gives another number of MiB when the library is loaded; 0 turns it off); a
// freed buffer that would exceed it goes back to glibc. The sanitizer builds do not cache, so
// AddressSanitizer sees every use after free. Thread-safe: tensors may be created and freed on
// any threads.
#include <cstddef>

namespace ad {

std::size_t cached_bytes();                     // bytes held by the cache now (not in use by any tensor)
std::size_t cache_limit_bytes();                // the cap
void set_cache_limit_bytes(std::size_t bytes);  // 0 empties the cache and turns it off
void empty_cache();                             // gives every cached buffer back to glibc

namespace detail {
void* allocate_buffer(std::size_t bytes);               // at least `bytes`, 64-byte aligned; throws std::bad_alloc
void free_buffer(void* p, std::size_t bytes) noexcept;  // `bytes` as given to allocate_buffer
}  // namespace detail

}  // namespace ad
