// The tensor memory cache (memory.h): a freed buffer of 16 KiB or more is kept for the next
// tensor of its size, up to the cap; small buffers bypass it; empty_cache and a zero cap give
// everything back. The sanitizer builds do not cache (so that AddressSanitizer sees every use
// after free): there the cap is 0 and nothing is ever kept.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/memory.h"

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

// Restores the cap a test changed.
struct LimitGuard {
  std::size_t old = ad::cache_limit_bytes();
  ~LimitGuard() { ad::set_cache_limit_bytes(old); }
};

TEST(MemoryCache, AFreedBufferIsReusedForTheNextTensorOfItsSize) {
  LimitGuard guard;
  ad::set_cache_limit_bytes(std::size_t{64} << 20);
  ad::empty_cache();
  const void* first = nullptr;
  {
    ad::Tensor a = ad::zeros({100, 100});  // 40000 bytes, cached from 16 KiB on
    first = a.data_ptr<float>();
  }
  if (kSanitized) {
    EXPECT_EQ(ad::cache_limit_bytes(), 0u);
    EXPECT_EQ(ad::cached_bytes(), 0u);
    return;
  }
  EXPECT_EQ(ad::cached_bytes(), 40960u);  // rounded up to 4 KiB pages
  ad::Tensor b = ad::ones({10000});       // the same 40000 bytes
  EXPECT_EQ(b.data_ptr<float>(), first);
  EXPECT_EQ(ad::cached_bytes(), 0u);
  EXPECT_EQ(b.sum().item(), 10000.0);   // a reused buffer holds what the new tensor wrote
  ad::Tensor small = ad::zeros({100});  // 400 bytes: glibc's, never cached
  small = ad::Tensor();
  EXPECT_EQ(ad::cached_bytes(), 0u);
}

TEST(MemoryCache, TheCapAndEmptyCacheGiveMemoryBack) {
  LimitGuard guard;
  ad::set_cache_limit_bytes(std::size_t{1} << 20);  // 1 MiB
  ad::empty_cache();
  {
    std::vector<ad::Tensor> t(5, ad::Tensor());
    for (auto& x : t) x = ad::zeros({65536});
  }  // 5 x 256 KiB freed
  if (kSanitized) {
    EXPECT_EQ(ad::cached_bytes(), 0u);
    return;
  }
  EXPECT_EQ(ad::cached_bytes(), std::size_t{1} << 20);  // four kept, the fifth went back
  ad::empty_cache();
  EXPECT_EQ(ad::cached_bytes(), 0u);
  { ad::Tensor a = ad::zeros({65536}); }
  EXPECT_EQ(ad::cached_bytes(), std::size_t{256} << 10);
  ad::set_cache_limit_bytes(0);  // off: empties it, and nothing is kept afterwards
  EXPECT_EQ(ad::cached_bytes(), 0u);
  { ad::Tensor a = ad::zeros({65536}); }
  EXPECT_EQ(ad::cached_bytes(), 0u);
}

TEST(MemoryCache, TensorsMadeAndFreedOnSeveralThreads) {
  LimitGuard guard;
  ad::set_cache_limit_bytes(std::size_t{8} << 20);
  std::vector<std::thread> threads;
  std::vector<double> sums(4, 0.0);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&sums, i] {
      double s = 0.0;
      for (int k = 0; k < 200; ++k) s += ad::full({8192 + 1024 * (k % 3)}, 1.0).sum().item();
      sums[static_cast<std::size_t>(i)] = s;
    });
  for (auto& t : threads) t.join();
  for (double s : sums)
    EXPECT_EQ(s, 67 * 8192.0 + 67 * 9216.0 + 66 * 10240.0);  // k % 3 = 0, 1, 2 for 67, 67, 66 of the 200
  EXPECT_LE(ad::cached_bytes(), std::size_t{8} << 20);
}

}  // namespace
