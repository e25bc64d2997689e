// The process group (dist/process_group.h), run by CTest under `mpirun -np 2`, `-np 3` and alone
// (world size 1): every collective's values on every rank, computed by hand from the rank
// numbers, for each dtype; async collectives; calls that differ across ranks are an error on
// every rank (nothing hangs); bad arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "adgraph/dist/process_group.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

ad::dist::ProcessGroup& pg() { return ad::dist::world(); }

TEST(ProcessGroup, RankAndWorld) {
  EXPECT_GE(pg().rank(), 0);
  EXPECT_LT(pg().rank(), pg().world_size());
  EXPECT_GE(pg().local_rank(), 0);
  EXPECT_LE(pg().local_size(), pg().world_size());
  EXPECT_NO_THROW(pg().barrier());
}

TEST(ProcessGroup, AllreduceSumMeanMaxInEveryDtype) {
  const int r = pg().rank(), w = pg().world_size();
  for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64, ad::kInt64}) {
    ad::Tensor t = ad::tensor({1.0 * r, 2.0, -1.0 * r}, ad::dtype(dt));
    pg().allreduce(t, ad::dist::ReduceOp::Sum);
    const double s = w * (w - 1) / 2.0;  // 0 + 1 + ... + (w - 1)
    EXPECT_EQ(t.to_vector(), (std::vector<double>{s, 2.0 * w, -s})) << ad::dtype_name(dt);
    ad::Tensor m = ad::tensor({1.0 * r, 5.0}, ad::dtype(dt));
    pg().allreduce(m, ad::dist::ReduceOp::Max);
    EXPECT_EQ(m.to_vector(), (std::vector<double>{w - 1.0, 5.0}));
  }
  ad::Tensor mean = ad::tensor({2.0 * pg().rank()}, ad::dtype(ad::kFloat64));
  pg().allreduce(mean, ad::dist::ReduceOp::Mean);
  EXPECT_DOUBLE_EQ(mean.item(), w - 1.0);  // (2 * (0 + ... + w-1)) / w
  ad::Tensor ints = ad::index_tensor({1});
  EXPECT_TRUE(contains(error_of([&] { pg().allreduce(ints, ad::dist::ReduceOp::Mean); }), "Mean needs a floating"));
}

// Rank r's values in the rank-order test: random, of very different magnitudes, and at every
// 1000th element the sequence 1, 1e16, -1e16, 0, ... whose sum depends on the grouping:
// ((1 + 1e16) - 1e16) is 0, (1 + (1e16 - 1e16)) is 1. (Open MPI 4.1 on one machine happens to
// add 2 and 3 ranks in rank order too; with 4, CTest's dist_rank_order_np4, it does not.)
constexpr std::int64_t kRankValues = 1 << 13;
ad::Tensor rank_values(int r, ad::Dtype dt) {
  ad::Generator g(100 + static_cast<std::uint64_t>(r));
  std::vector<double> v = ad::randn({kRankValues}, ad::dtype(ad::kFloat64), &g).to_vector();
  const double first[] = {1.0, 1e16, -1e16, 0.0};
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] *= std::pow(10.0, static_cast<double>(i % 9) - 4.0);
    if (i % 1000 == 0) v[i] = r < 4 ? first[r] : 0.0;
  }
  return ad::tensor(v, {kRankValues}, ad::dtype(dt));
}

// The same bits (float32 and int64 values convert to double exactly here).
bool same_bits(const ad::Tensor& a, const ad::Tensor& b) {
  const auto u = a.to_vector(), v = b.to_vector();
  return u.size() == v.size() && std::memcmp(u.data(), v.data(), u.size() * sizeof(double)) == 0;
}

TEST(ProcessGroup, AllreduceInRankOrderAddsTheRanksInTurnBitForBit) {
  const int r = pg().rank(), w = pg().world_size();
  for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64, ad::kInt64}) {
    for (ad::dist::ReduceOp op : {ad::dist::ReduceOp::Sum, ad::dist::ReduceOp::Mean}) {
      if (op == ad::dist::ReduceOp::Mean && dt == ad::kInt64) continue;  // Mean needs a floating tensor
      // What one process gets by adding the ranks' tensors in turn (then dividing, for Mean).
      ad::Tensor expected = rank_values(0, dt);
      for (int q = 1; q < w; ++q) expected.add_(rank_values(q, dt));
      if (op == ad::dist::ReduceOp::Mean) expected.mul_(1.0 / w);
      ad::Tensor t = rank_values(r, dt);
      pg().allreduce(t, op, ad::dist::CollectiveChecks::On, ad::dist::ReduceOrder::Ranks);
      EXPECT_TRUE(same_bits(t, expected)) << ad::dtype_name(dt) << (op == ad::dist::ReduceOp::Mean ? " mean" : " sum");
      if (w >= 3 && dt != ad::kInt64) {
        const auto got = t.to_vector();
        for (std::size_t i = 0; i < got.size(); i += 1000) ASSERT_EQ(got[i], 0.0) << i;  // ((1 + 1e16) - 1e16)
      }
      ad::Tensor async = rank_values(r, dt);
      pg().allreduce_async(async, op, ad::dist::CollectiveChecks::Off, ad::dist::ReduceOrder::Ranks).wait();
      EXPECT_TRUE(same_bits(async, expected));
    }
  }
  // Max does not depend on the order; the option changes nothing.
  ad::Tensor m = ad::tensor({1.0 * r}, ad::dtype(ad::kFloat64));
  pg().allreduce(m, ad::dist::ReduceOp::Max, ad::dist::CollectiveChecks::On, ad::dist::ReduceOrder::Ranks);
  EXPECT_EQ(m.item(), w - 1.0);
}

TEST(ProcessGroup, BroadcastAllgatherReduceScatter) {
  const int r = pg().rank(), w = pg().world_size();
  ad::Tensor b = ad::tensor({10.0 + r, 20.0 + r}, ad::dtype(ad::kFloat64));
  pg().broadcast(b, w - 1);
  EXPECT_EQ(b.to_vector(), (std::vector<double>{10.0 + (w - 1), 20.0 + (w - 1)}));
  const ad::Tensor g = pg().allgather(ad::tensor({1.0 * r, -1.0 * r}, ad::dtype(ad::kFloat32)));
  EXPECT_EQ(g.shape(), (ad::Shape{w, 2}));
  for (int q = 0; q < w; ++q) EXPECT_EQ(g.select(0, q).to_vector(), (std::vector<double>{1.0 * q, -1.0 * q}));
  // rows [w * 2]: rank r contributes r + i in row i; rank q gets rows 2q, 2q + 1 summed over ranks
  std::vector<double> rows;
  for (int i = 0; i < 2 * w; ++i) rows.push_back(r + i);
  const ad::Tensor rs = pg().reduce_scatter(ad::tensor(rows, {2 * w}, ad::dtype(ad::kFloat64)));
  const double base = w * (w - 1) / 2.0;
  EXPECT_EQ(rs.to_vector(), (std::vector<double>{base + w * 2.0 * r, base + w * (2.0 * r + 1)}));
  ad::Tensor odd = ad::zeros({2 * w + 1});
  if (w > 1)
    EXPECT_TRUE(contains(error_of([&] { pg().reduce_scatter(odd); }), "must be divisible by the world size"));
  else
    EXPECT_EQ(pg().reduce_scatter(odd).shape(), odd.shape());  // alone: every row is rank 0's
  EXPECT_TRUE(contains(error_of([&] { pg().broadcast(b, w); }), "is not a rank"));
}

TEST(ProcessGroup, AsyncCollectivesCompleteInOrder) {
  const int w = pg().world_size();
  ad::Tensor big = ad::ones({1 << 18}, ad::dtype(ad::kFloat32));
  ad::Tensor small = ad::full({4}, 2.0, ad::dtype(ad::kFloat64));
  ad::dist::Work a = pg().allreduce_async(big, ad::dist::ReduceOp::Sum, ad::dist::CollectiveChecks::Off);
  ad::dist::Work b = pg().allreduce_async(small, ad::dist::ReduceOp::Mean);
  double local = 0.0;  // the compute thread keeps computing meanwhile
  for (int i = 0; i < 100000; ++i) local += 1e-6 * i;
  b.wait();
  EXPECT_TRUE(a.is_completed());  // FIFO: the earlier one ran first
  a.wait();
  EXPECT_EQ(big.sum().item(), static_cast<double>(w) * (1 << 18));
  EXPECT_EQ(small.to_vector(), (std::vector<double>(4, 2.0)));
  EXPECT_GT(local, 0.0);
  EXPECT_GE(a.finished_at(), a.started_at());
  EXPECT_LE(a.finished_at(), b.started_at());
}

TEST(ProcessGroup, CallsThatDifferAcrossRanksAreAnErrorOnEveryRank) {
  ad::Tensor t = ad::zeros({pg().rank() + 1}, ad::dtype(ad::kFloat64));  // a different shape on each rank
  if (pg().world_size() == 1) {                                          // alone, every call agrees with itself
    EXPECT_NO_THROW(pg().allreduce(t));
    return;
  }
  const std::string msg = error_of([&] { pg().allreduce(t); });
  EXPECT_TRUE(contains(msg, "the ranks called different collectives")) << msg;
  EXPECT_TRUE(contains(msg, "rank 0: allreduce of Float64 [1]")) << msg;
  EXPECT_TRUE(contains(msg, "rank 1: allreduce of Float64 [2]")) << msg;
  ad::Tensor same = ad::ones({3});
  EXPECT_NO_THROW(pg().allreduce(same));  // the group still works afterwards
  EXPECT_EQ(same.to_vector()[0], pg().world_size());
}

TEST(ProcessGroup, NonContiguousAndUnsupportedTensorsAreRefused) {
  ad::Tensor m = ad::zeros({3, 2}).t();
  EXPECT_TRUE(contains(error_of([&] { pg().allreduce(m); }), "is not contiguous"));
  ad::Tensor flags = ad::zeros({2}, ad::dtype(ad::kBool));
  EXPECT_TRUE(contains(error_of([&] { pg().allreduce(flags); }), "Bool tensors are not supported"));
}

TEST(ProcessGroup, TheTimeoutIsPositive) {
  EXPECT_EQ(pg().timeout(), 1800.0);
  EXPECT_TRUE(contains(error_of([&] { pg().set_timeout(0); }), "must be > 0 seconds"));
  pg().set_timeout(5);
  EXPECT_EQ(pg().timeout(), 5.0);
  pg().barrier();  // every rank is here: no wait near the timeout
  pg().set_timeout(1800);
}

TEST(ProcessGroup, StringsTravelAcrossTheRanks) {
  const int r = pg().rank(), w = pg().world_size();
  EXPECT_EQ(ad::dist::broadcast_string(pg(), r == 0 ? "from rank 0" : "ignored", 0), "from rank 0");
  EXPECT_EQ(ad::dist::broadcast_string(pg(), "", 0), "");
  // Lengths differ by rank (rank 0's is empty).
  const std::vector<std::string> all = ad::dist::allgather_strings(pg(), std::string(static_cast<std::size_t>(r), 'x'));
  ASSERT_EQ(static_cast<int>(all.size()), w);
  for (int q = 0; q < w; ++q)
    EXPECT_EQ(all[static_cast<std::size_t>(q)], std::string(static_cast<std::size_t>(q), 'x'));
}

TEST(ProcessGroup, LogWritesOnRankZeroOnlyUnlessEveryRank) {
  std::ostringstream out;
  ad::dist::log(pg(), false, out) << "hello";
  EXPECT_EQ(out.str(), pg().rank() == 0 ? "hello" : "");
  std::ostringstream all;
  ad::dist::log(pg(), true, all) << "hi";
  EXPECT_EQ(all.str(), "hi");
}

}  // namespace

int main(int argc, char** argv) {
  ad::dist::init(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
