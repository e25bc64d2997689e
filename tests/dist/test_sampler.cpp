// DistributedSampler without MPI: the samplers of every rank of a virtual world side by side.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "adgraph/data/loader.h"
#include "adgraph/dist/sampler.h"
#include "tests/test_util.h"

namespace {

using ad::dist::DistributedSampler;

std::vector<std::int64_t> ints(const ad::Tensor& t) {
  const ad::Tensor c = t.contiguous();
  const std::int64_t* p = c.data_ptr<std::int64_t>();
  return {p, p + c.numel()};
}

// Every rank's indices of one epoch.
std::vector<std::vector<std::int64_t>> shards(std::int64_t n, int w, bool shuffle, bool drop_last, std::int64_t epoch,
                                              std::uint64_t seed = 0) {
  std::vector<std::vector<std::int64_t>> out;
  for (int r = 0; r < w; ++r) {
    DistributedSampler s(n, w, r, shuffle, seed, drop_last);
    out.push_back(ints(s.order(epoch)));
  }
  return out;
}

TEST(DistributedSampler, ShardsAreDisjointAndCoverTheDataSetWhenTheWorldDividesIt) {
  for (int w : {1, 2, 3, 4}) {
    for (bool shuffle : {false, true}) {
      const std::int64_t n = 12;
      const auto sh = shards(n, w, shuffle, false, 0);
      std::multiset<std::int64_t> all;
      for (const auto& s : sh) {
        EXPECT_EQ(static_cast<std::int64_t>(s.size()), n / w);
        all.insert(s.begin(), s.end());
      }
      std::multiset<std::int64_t> expected;
      for (std::int64_t i = 0; i < n; ++i) expected.insert(i);
      EXPECT_EQ(all, expected) << "w=" << w << " shuffle=" << shuffle;
    }
  }
}

TEST(DistributedSampler, UnshuffledIsPyTorchsInterleaving) {
  // PyTorch: indices[rank:total_size:num_replicas].
  const auto sh = shards(10, 3, false, false, 0);  // padded to 12: 0..9, 0, 1
  EXPECT_EQ(sh[0], (std::vector<std::int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(sh[1], (std::vector<std::int64_t>{1, 4, 7, 0}));
  EXPECT_EQ(sh[2], (std::vector<std::int64_t>{2, 5, 8, 1}));
  const auto dropped = shards(10, 3, false, true, 0);  // 9 kept: 0..8
  EXPECT_EQ(dropped[0], (std::vector<std::int64_t>{0, 3, 6}));
  EXPECT_EQ(dropped[1], (std::vector<std::int64_t>{1, 4, 7}));
  EXPECT_EQ(dropped[2], (std::vector<std::int64_t>{2, 5, 8}));
}

TEST(DistributedSampler, PadsByRepeatingTheFirstIndicesOrDropsTheTail) {
  for (bool shuffle : {false, true}) {
    for (int w : {2, 3, 4, 5}) {
      const std::int64_t n = 11;
      DistributedSampler s0(n, w, 0, shuffle, 7, false);
      EXPECT_EQ(s0.size(), (n + w - 1) / w);
      EXPECT_EQ(s0.total_size(), s0.size() * w);
      // Rebuild the padded global list from the shards: position p is rank p % w's (p / w)-th.
      const auto sh = shards(n, w, shuffle, false, 3, 7);
      std::vector<std::int64_t> global(static_cast<std::size_t>(s0.total_size()));
      for (int r = 0; r < w; ++r)
        for (std::size_t k = 0; k < sh[static_cast<std::size_t>(r)].size(); ++k)
          global[k * static_cast<std::size_t>(w) + static_cast<std::size_t>(r)] = sh[static_cast<std::size_t>(r)][k];
      // The first n are a permutation, the rest repeat its start.
      std::vector<std::int64_t> head(global.begin(), global.begin() + n);
      std::vector<std::int64_t> sorted = head;
      std::sort(sorted.begin(), sorted.end());
      for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
      for (std::size_t p = static_cast<std::size_t>(n); p < global.size(); ++p)
        EXPECT_EQ(global[p], head[p - static_cast<std::size_t>(n)]);

      // drop_last: floor(n / w) each, disjoint, all from the same permutation's head.
      const auto dr = shards(n, w, shuffle, true, 3, 7);
      std::set<std::int64_t> seen;
      for (int r = 0; r < w; ++r) {
        EXPECT_EQ(static_cast<std::int64_t>(dr[static_cast<std::size_t>(r)].size()), n / w);
        for (std::size_t k = 0; k < dr[static_cast<std::size_t>(r)].size(); ++k) {
          EXPECT_TRUE(seen.insert(dr[static_cast<std::size_t>(r)][k]).second);
          EXPECT_EQ(dr[static_cast<std::size_t>(r)][k],
                    global[k * static_cast<std::size_t>(w) + static_cast<std::size_t>(r)]);
        }
      }
    }
  }
}

TEST(DistributedSampler, PadsMoreThanOnceWhenTheWorldIsLargerThanTheDataSet) {
  const auto sh = shards(2, 5, false, false, 0);  // 0 1 0 1 0
  EXPECT_EQ(sh[0], (std::vector<std::int64_t>{0}));
  EXPECT_EQ(sh[1], (std::vector<std::int64_t>{1}));
  EXPECT_EQ(sh[2], (std::vector<std::int64_t>{0}));
  EXPECT_EQ(sh[3], (std::vector<std::int64_t>{1}));
  EXPECT_EQ(sh[4], (std::vector<std::int64_t>{0}));
}

TEST(DistributedSampler, ReshufflesPerEpochIdenticallyOnEveryRank) {
  const std::int64_t n = 40;
  const int w = 3;
  std::set<std::vector<std::int64_t>> orders_of_rank0;
  for (std::int64_t epoch = 0; epoch < 4; ++epoch) {
    // Two independent constructions of the world (as two runs, or two processes) agree.
    const auto a = shards(n, w, true, false, epoch, 123);
    const auto b = shards(n, w, true, false, epoch, 123);
    EXPECT_EQ(a, b);
    // Disjoint within an epoch up to the padding (n = 40, w = 3: 2 padded).
    std::multiset<std::int64_t> all;
    for (const auto& s : a) all.insert(s.begin(), s.end());
    for (std::int64_t i = 0; i < n; ++i) EXPECT_GE(all.count(i), 1u);
    EXPECT_EQ(all.size(), 42u);
    orders_of_rank0.insert(a[0]);
  }
  EXPECT_EQ(orders_of_rank0.size(), 4u) << "each epoch has its own order";
  // Another seed, another order; set_epoch/indices is order(epoch).
  EXPECT_NE(shards(n, w, true, false, 0, 123)[0], shards(n, w, true, false, 0, 124)[0]);
  DistributedSampler s(n, w, 1, true, 123);
  s.set_epoch(2);
  EXPECT_EQ(s.epoch(), 2);
  EXPECT_EQ(ints(s.indices()), shards(n, w, true, false, 2, 123)[1]);
}

TEST(DistributedSampler, BadArgumentsAreErrors) {
  using ad::testing::contains;
  using ad::testing::error_of;
  EXPECT_TRUE(contains(error_of([] { DistributedSampler(0, 2, 0); }), "needs at least one"));
  EXPECT_TRUE(contains(error_of([] { DistributedSampler(10, 0, 0); }), "num_replicas"));
  EXPECT_TRUE(contains(error_of([] { DistributedSampler(10, 2, 2); }), "rank 2 is out of range"));
  EXPECT_TRUE(contains(error_of([] { DistributedSampler(10, 2, -1); }), "out of range"));
  EXPECT_TRUE(contains(error_of([] { DistributedSampler(2, 3, 0, true, 0, true); }), "drop_last"));
}

TEST(DistributedSampler, FeedsTheDataLoaderItsShardEpochAfterEpoch) {
  const std::int64_t n = 10;
  const int w = 3;
  const ad::Tensor X = ad::testing::iota({n, 2});
  const ad::Tensor y = ad::testing::iota({n});
  std::vector<std::shared_ptr<DistributedSampler>> samplers;
  std::vector<std::unique_ptr<ad::data::DataLoader>> loaders;
  for (int r = 0; r < w; ++r) {
    samplers.push_back(std::make_shared<DistributedSampler>(n, w, r, true, 5));
    loaders.push_back(std::make_unique<ad::data::DataLoader>(X, y, 2, samplers.back()));
  }
  for (std::int64_t epoch = 0; epoch < 3; ++epoch) {
    std::multiset<std::int64_t> all;
    for (int r = 0; r < w; ++r) {
      auto& loader = *loaders[static_cast<std::size_t>(r)];
      EXPECT_EQ(loader.num_batches(), 2);  // 4 samples per rank in batches of 2
      std::vector<std::int64_t> got;
      for (auto [xb, yb] : loader) {
        for (double v : yb.to_vector()) got.push_back(static_cast<std::int64_t>(v));
        // X's rows follow y's.
        const auto xs = xb.to_vector();
        const auto ys = yb.to_vector();
        for (std::size_t i = 0; i < ys.size(); ++i) EXPECT_EQ(xs[2 * i], 2 * ys[i]);
      }
      EXPECT_EQ(got, ints(samplers[static_cast<std::size_t>(r)]->order(epoch)));
      all.insert(got.begin(), got.end());
    }
    for (std::int64_t i = 0; i < n; ++i) EXPECT_GE(all.count(i), 1u);
    EXPECT_EQ(all.size(), 12u);
  }
}

}  // namespace
