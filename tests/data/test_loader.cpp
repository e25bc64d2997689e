// DataLoader: coverage of every sample once per epoch, batch shapes, drop_last, per-epoch
// reshuffling that is reproducible across runs with the same seed, validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/loader.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

// X row i is (i, 10 i, 100 i); y[i] = i.
struct Ids {
  ad::Tensor X, y;
};
Ids ids(std::int64_t n) {
  std::vector<double> x;
  std::vector<std::int64_t> y;
  for (std::int64_t i = 0; i < n; ++i) {
    x.insert(x.end(), {double(i), 10.0 * double(i), 100.0 * double(i)});
    y.push_back(i);
  }
  return {ad::tensor(x, {n, 3}, ad::dtype(ad::kFloat64)), ad::index_tensor(y, {n})};
}

// The sample ids of one epoch, in visiting order; checks batch shapes and x/y pairing.
std::vector<double> epoch_ids(ad::data::DataLoader& loader, std::vector<std::int64_t>* sizes = nullptr) {
  std::vector<double> seen;
  for (auto [xb, yb] : loader) {
    EXPECT_EQ(xb.dim(), 2);
    EXPECT_EQ(xb.size(1), 3);
    EXPECT_EQ(yb.dim(), 1);
    EXPECT_EQ(xb.size(0), yb.size(0));
    if (sizes) sizes->push_back(xb.size(0));
    for (std::int64_t i = 0; i < xb.size(0); ++i) {
      EXPECT_EQ(xb.at({i, 0}), yb.at({i}));
      EXPECT_EQ(xb.at({i, 2}), 100.0 * yb.at({i}));
      seen.push_back(yb.at({i}));
    }
  }
  return seen;
}

bool is_permutation_of_range(std::vector<double> v, std::int64_t n) {
  std::sort(v.begin(), v.end());
  if (static_cast<std::int64_t>(v.size()) != n) return false;
  for (std::int64_t i = 0; i < n; ++i)
    if (v[static_cast<std::size_t>(i)] != static_cast<double>(i)) return false;
  return true;
}

TEST(Loader, SequentialBatchesKeepThePartialLastBatch) {
  const auto d = ids(10);
  ad::data::DataLoader loader(d.X, d.y, 4);
  EXPECT_EQ(loader.num_batches(), 3);
  EXPECT_EQ(loader.size(), 3);
  EXPECT_EQ(loader.num_samples(), 10);
  std::vector<std::int64_t> sizes;
  const auto seen = epoch_ids(loader, &sizes);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{4, 4, 2}));
  EXPECT_EQ(seen, (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Loader, DropLast) {
  const auto d = ids(10);
  ad::data::DataLoader loader(d.X, d.y, 4, true, nullptr, true);
  EXPECT_EQ(loader.num_batches(), 2);
  std::vector<std::int64_t> sizes;
  const auto seen = epoch_ids(loader, &sizes);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{4, 4}));
  EXPECT_EQ(std::set<double>(seen.begin(), seen.end()).size(), 8u);
}

TEST(Loader, ShuffledEpochCoversEverySampleExactlyOnce) {
  const auto d = ids(37);
  ad::Generator gen(3);
  ad::data::DataLoader loader(d.X, d.y, 5, true, &gen);
  for (int epoch = 0; epoch < 4; ++epoch) {
    std::vector<std::int64_t> sizes;
    const auto seen = epoch_ids(loader, &sizes);
    EXPECT_TRUE(is_permutation_of_range(seen, 37));
    EXPECT_EQ(sizes.size(), 8u);
    EXPECT_EQ(sizes.back(), 2);
  }
  EXPECT_EQ(loader.epoch(), 4);
}

TEST(Loader, ReshufflesEachEpochReproduciblyAcrossRuns) {
  const auto d = ids(50);
  std::vector<std::vector<double>> run1, run2;
  for (auto* run : {&run1, &run2}) {
    ad::Generator gen(123);  // a fresh generator with the same seed: a second "run"
    ad::data::DataLoader loader(d.X, d.y, 8, true, &gen);
    for (int epoch = 0; epoch < 3; ++epoch) run->push_back(epoch_ids(loader));
  }
  EXPECT_EQ(run1, run2);
  EXPECT_NE(run1[0], run1[1]);
  EXPECT_NE(run1[1], run1[2]);
  std::vector<double> identity(50);
  for (int i = 0; i < 50; ++i) identity[static_cast<std::size_t>(i)] = i;
  EXPECT_NE(run1[0], identity);

  ad::Generator other(124);
  ad::data::DataLoader loader(d.X, d.y, 8, true, &other);
  EXPECT_NE(epoch_ids(loader), run1[0]);
}

TEST(Loader, DefaultGeneratorFollowsManualSeed) {
  const auto d = ids(30);
  ad::manual_seed(77);
  ad::data::DataLoader a(d.X, d.y, 7, true);
  const auto ea = epoch_ids(a);
  ad::manual_seed(77);
  ad::data::DataLoader b(d.X, d.y, 7, true);
  EXPECT_EQ(epoch_ids(b), ea);
}

TEST(Loader, BatchLargerThanDataAndUnlabelled) {
  const auto d = ids(3);
  ad::data::DataLoader loader(d.X, {}, 10);
  int batches = 0;
  for (const ad::data::Batch& b : loader) {
    ++batches;
    EXPECT_EQ(b.x.shape(), (ad::Shape{3, 3}));
    EXPECT_FALSE(b.y.defined());
  }
  EXPECT_EQ(batches, 1);
}

TEST(Loader, IndexedBatchAccess) {
  const auto d = ids(9);
  ad::data::DataLoader loader(d.X, d.y, 4);
  EXPECT_EQ(loader.batch(2).y.to_vector(), (std::vector<double>{8}));
  EXPECT_TRUE(contains(error_of([&] { loader.batch(3); }), "out of range"));
  EXPECT_EQ(loader.order().to_vector().size(), 9u);
}

TEST(Loader, Validation) {
  const auto d = ids(6);
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(d.X, d.y, 0); }), "batch_size must be >= 1"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(d.X, d.y, -3); }), "got -3"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(d.X, ad::index_tensor({0, 1}, {2}), 2); }), "6 samples"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(d.X, d.y, 7, false, nullptr, true); }), "drop_last"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(ad::Tensor(), {}, 2); }), "undefined"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(ad::zeros({0, 3}), {}, 2); }), "no samples"));
}

// A loader restored from its state (with its generator's) continues the same epochs: mid-epoch
// through resume(i), and its next epoch reshuffles exactly as the original's.
TEST(Loader, StateAndResumeContinueTheSameBatches) {
  const auto d = ids(10);
  ad::Generator g(4);
  ad::data::DataLoader loader(d.X, d.y, 3, true, &g);
  auto first = loader.begin();
  ++first;
  const ad::NamedTensors state = loader.state_dict();
  const ad::Tensor gen_state = g.state();
  std::vector<std::vector<double>> expected;
  for (auto it = loader.resume(1); it != loader.end(); ++it) expected.push_back((*it).y.to_vector());
  for (const auto& b : loader) expected.push_back(b.y.to_vector());

  ad::Generator h(999);
  ad::data::DataLoader other(d.X, d.y, 3, true, &h);
  other.load_state_dict(state);
  h.set_state(gen_state);
  EXPECT_EQ(other.epoch(), 1);
  std::vector<std::vector<double>> got;
  for (auto it = other.resume(1); it != other.end(); ++it) got.push_back((*it).y.to_vector());
  for (const auto& b : other) got.push_back(b.y.to_vector());
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(contains(error_of([&] { (void)other.resume(5); }), "batch 5 is out of range (0 to 4)"));
}

TEST(Loader, BadStatesAreRejectedUnchanged) {
  const auto d = ids(6);
  ad::data::DataLoader a(d.X, d.y, 2, true), b(d.X, d.y, 3, true);
  (void)a.begin();
  ad::NamedTensors s = a.state_dict();
  EXPECT_TRUE(contains(error_of([&] { b.load_state_dict(s); }), "batch_size is 2 in the state but 3 in this loader"));
  for (auto& [key, t] : s)
    if (key == "order") t = ad::index_tensor({0, 1, 2, 3, 4, 4}, {6});
  ad::data::DataLoader c(d.X, d.y, 2, true);
  EXPECT_TRUE(contains(error_of([&] { c.load_state_dict(s); }), "entry 'order' is not a permutation of 0..5"));
  EXPECT_EQ(c.epoch(), 0);
  EXPECT_EQ(c.order().to_vector(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
}

// A sampler of its own: the epoch's rows are (offset + epoch + 2 k) mod n for k < size, with repeats.
class EveryOther : public ad::data::Sampler {
 public:
  EveryOther(std::int64_t n, std::int64_t size, std::int64_t offset = 0) : n_(n), size_(size), offset_(offset) {}
  std::int64_t size() const override { return size_; }
  ad::Tensor order(std::int64_t epoch) const override {
    std::vector<std::int64_t> v;
    for (std::int64_t k = 0; k < size_; ++k) v.push_back((offset_ + epoch + 2 * k) % n_);
    return ad::index_tensor(v, {size_});
  }

 private:
  std::int64_t n_, size_, offset_;
};

TEST(Loader, SamplerGivesEachEpochsOrder) {
  const auto d = ids(5);
  auto sampler = std::make_shared<EveryOther>(5, 4);
  ad::data::DataLoader loader(d.X, d.y, 3, sampler);
  EXPECT_FALSE(loader.shuffle());
  EXPECT_EQ(loader.num_samples(), 5);
  EXPECT_EQ(loader.samples_per_epoch(), 4);
  EXPECT_EQ(loader.num_batches(), 2);
  std::vector<std::int64_t> sizes;
  EXPECT_EQ(epoch_ids(loader, &sizes), (std::vector<double>{0, 2, 4, 1}));  // epoch 0
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(epoch_ids(loader), (std::vector<double>{1, 3, 0, 2}));  // epoch 1
  EXPECT_EQ(loader.epoch(), 2);
  ad::data::DataLoader dropping(d.X, d.y, 3, sampler, /*drop_last=*/true);
  EXPECT_EQ(epoch_ids(dropping), (std::vector<double>{0, 2, 4}));
}

TEST(Loader, SamplerStateAndResumeContinueTheSameBatches) {
  const auto d = ids(7);
  auto sampler = std::make_shared<EveryOther>(7, 5);
  ad::data::DataLoader loader(d.X, d.y, 2, sampler);
  (void)epoch_ids(loader);
  auto it = loader.begin();  // epoch 1, stopped after batch 0
  ++it;
  const ad::NamedTensors state = loader.state_dict();
  std::vector<double> expected;
  for (auto r = loader.resume(1); r != loader.end(); ++r)
    for (double v : (*r).y.to_vector()) expected.push_back(v);
  for (double v : epoch_ids(loader)) expected.push_back(v);

  ad::data::DataLoader other(d.X, d.y, 2, sampler);
  other.load_state_dict(state);
  EXPECT_EQ(other.epoch(), 2);
  std::vector<double> got;
  for (auto r = other.resume(1); r != other.end(); ++r)
    for (double v : (*r).y.to_vector()) got.push_back(v);
  for (double v : epoch_ids(other)) got.push_back(v);
  EXPECT_EQ(got, expected);

  // A sampler's state does not load into a loader without one, nor the other way round.
  ad::data::DataLoader plain(d.X, d.y, 2);
  EXPECT_TRUE(contains(error_of([&] { plain.load_state_dict(state); }), "with a sampler but this one has none"));
  EXPECT_TRUE(contains(error_of([&] { other.load_state_dict(plain.state_dict()); }), "without a sampler"));
  ad::NamedTensors bad = state;
  for (auto& [key, t] : bad)
    if (key == "order") t = ad::index_tensor({0, 1, 2, 3}, {2, 2});
  EXPECT_TRUE(contains(error_of([&] { other.load_state_dict(bad); }), "not 1-D entry 'order'"));
  EXPECT_EQ(other.epoch(), 3);  // unchanged by the failed load

  // Another rank's loader (its sampler gives other rows) takes the epoch and keeps its own shard.
  auto shifted = std::make_shared<EveryOther>(7, 5, 1);
  ad::data::DataLoader rank1(d.X, d.y, 2, shifted);
  rank1.load_state_dict(state);
  EXPECT_EQ(rank1.epoch(), 2);
  EXPECT_EQ(rank1.order().to_vector(), shifted->order(1).to_vector());
}

TEST(Loader, BadSamplersAreErrors) {
  const auto d = ids(5);
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(d.X, d.y, 2, nullptr); }), "sampler is null"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(d.X, d.y, 2, std::make_shared<EveryOther>(5, 0)); }),
                       "0 samples per epoch"));
  EXPECT_TRUE(contains(error_of([&] { ad::data::DataLoader(d.X, d.y, 2, std::make_shared<EveryOther>(9, 5)); }),
                       "not a row of X"));
}

}  // namespace
