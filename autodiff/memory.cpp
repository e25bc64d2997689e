#include "adgraph/autodiff/memory.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace ad {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr std::size_t kPage = 4096;

std::size_t rounded(std::size_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

std::size_t initial_limit() {
  if (kSanitized) return 0;
  if (const char* env = std::getenv("ADGRAPH_CACHE_MB")) {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(env, &end, 10);
    if (end != env && *end == '\0') return static_cast<std::size_t>(mb) << 20;
  }
  return std::size_t{256} << 20;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<std::size_t, std::vector<void*>> free;  // rounded size -> buffers, last freed last
  std::size_t bytes = 0;
  std::size_t limit = initial_limit();

  void release_all() {  // mu held
    for (auto& [size, list] : free)
      for (void* p : list) std::free(p);
    free.clear();
    bytes = 0;
  }
};

// Never destroyed: tensors freed by other static destructors at exit still find it.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

}  // namespace

std::size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  return c.bytes;
}

std::size_t cache_limit_bytes() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  return c.limit;
}

void set_cache_limit_bytes(std::size_t bytes) {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  c.limit = kSanitized ? 0 : bytes;
  if (c.bytes > c.limit) c.release_all();
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  c.release_all();
}

namespace detail {

void* allocate_buffer(std::size_t bytes) {
  const std::size_t size = rounded(bytes);
  {
    Cache& c = cache();
    std::lock_guard lock(c.mu);
    const auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.bytes -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) throw std::bad_alloc();
  return p;
}

void free_buffer(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  const std::size_t size = rounded(bytes);
  {
    Cache& c = cache();
    std::lock_guard lock(c.mu);
    if (c.bytes + size <= c.limit) {
      try {
        c.free[size].push_back(p);
        c.bytes += size;
        return;
      } catch (...) {  // no memory for the list entry: give the buffer back instead
      }
    }
  }
  std::free(p);
}

}  // namespace detail
}  // namespace ad
