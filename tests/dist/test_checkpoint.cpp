// dist::Checkpoint (dist/checkpoint.h), alone and under mpirun: one file written by rank 0 with
// the sharded optimizer's consolidated state; loading restores every rank (each on its own shard)
// so that training continues bit for bit; a plain optimizer's checkpoint (any world size) loads
// into the sharded one; a failure on any rank changes nothing on every rank.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/dist/checkpoint.h"
#include "adgraph/dist/ddp.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/dist/sampler.h"
#include "adgraph/nn/nn.h"
#include "adgraph/optim/adam.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;
const auto f64 = ad::kFloat64;

// A directory every rank names alike (rank 0's pid), removed by rank 0 at the end.
class SharedDir {
 public:
  explicit SharedDir(ad::dist::ProcessGroup& pg) : pg_(pg) {
    path_ = ad::dist::broadcast_string(
        pg, (std::filesystem::temp_directory_path() / ("adgraph_dist_ckpt_" + std::to_string(::getpid()))).string(), 0);
    if (pg.rank() == 0) std::filesystem::create_directories(path_);
    pg.barrier();
  }
  ~SharedDir() {
    pg_.barrier();
    if (pg_.rank() == 0) std::filesystem::remove_all(path_);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  ad::dist::ProcessGroup& pg_;
  std::string path_;
};

std::shared_ptr<ad::nn::Sequential> mlp(std::uint64_t seed, std::int64_t hidden = 6) {
  ad::Generator g(seed);
  return std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
      std::make_shared<ad::nn::Linear>(4, hidden, true, f64, &g), std::make_shared<ad::nn::Tanh>(),
      std::make_shared<ad::nn::Linear>(hidden, 3, true, f64, &g)});
}

ad::dist::ZeroRedundancyOptimizer::Factory adam() {
  return [](std::vector<ad::Tensor> p) {
    return std::make_unique<ad::optim::Adam>(std::move(p), ad::optim::AdamOptions{.lr = 0.02});
  };
}

// One data-parallel run: the model, its wrapper, the sharded Adam, a loader on this rank's shard.
struct TrainingRun {
  TrainingRun(ad::dist::ProcessGroup& pg, std::uint64_t seed, const ad::Tensor& X, const ad::Tensor& y)
      : model(mlp(seed)),
        ddp(model, pg),
        opt(ddp.parameters(), pg, adam()),
        loader(X, y, 3, std::make_shared<ad::dist::DistributedSampler>(X.size(0), pg, true, 5)),
        ckpt(pg) {
    ckpt.add("model", *model).add("optimizer", opt).add("loader", loader).add("step", step);
  }
  // `batches` steps from the loader's position (batch step - (epoch - 1) * num_batches), new
  // epochs as needed.
  void train(int batches) {
    for (int k = 0; k < batches; ++k) {
      std::int64_t next = step - (loader.epoch() - 1) * loader.num_batches();
      if (loader.epoch() == 0 || next == loader.num_batches()) {
        (void)loader.begin();
        next = 0;
      }
      const ad::data::Batch b = loader.batch(next);
      opt.zero_grad();
      ad::nn::mse_loss(ddp(b.x), b.y).backward();
      ddp.finish();
      opt.step();
      ++step;
    }
  }
  std::vector<std::vector<double>> values() const {
    std::vector<std::vector<double>> out;
    for (const auto& [name, t] : model->named_parameters()) out.push_back(t.to_vector());
    return out;
  }
  std::shared_ptr<ad::nn::Sequential> model;
  ad::dist::DistributedDataParallel ddp;
  ad::dist::ZeroRedundancyOptimizer opt;
  ad::data::DataLoader loader;
  ad::dist::Checkpoint ckpt;
  std::int64_t step = 0;
};

struct Data {
  ad::Tensor X, y;
};
Data data() {
  ad::Generator g(77);
  return {ad::randn({20, 4}, ad::dtype(f64), &g), ad::randn({20, 3}, ad::dtype(f64), &g)};
}

// A run trained for `steps` and saved to dir/run.ckpt.
struct SavedRun {
  SavedRun(ad::dist::ProcessGroup& pg, int steps) : dir(pg), d(data()), a(pg, 1, d.X, d.y), path(dir.file("run.ckpt")) {
    a.train(steps);
    a.ckpt.save(path);
  }
  SharedDir dir;
  Data d;
  TrainingRun a;
  std::string path;
};

TEST(DistCheckpoint, RankZerosFileRestoresEveryRankAndTrainingContinuesBitForBit) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  SavedRun saved(pg, 3);
  const Data& d = saved.d;
  TrainingRun& a = saved.a;
  const std::string& path = saved.path;
  EXPECT_TRUE(std::filesystem::exists(path));
  a.train(4);  // the straight run goes on

  TrainingRun b(pg, 99, d.X, d.y);  // other weights, fresh optimizer and loader
  b.ckpt.load(path);
  EXPECT_EQ(b.step, 3);
  b.train(4);
  EXPECT_EQ(b.values(), a.values());
  EXPECT_EQ(b.loader.epoch(), a.loader.epoch());
  EXPECT_EQ(b.loader.order().to_vector(), a.loader.order().to_vector());  // this rank's own shard
}

TEST(DistCheckpoint, APlainOptimizersCheckpointLoadsIntoTheShardedOne) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const SharedDir dir(pg);
  // One process, plain Adam, full batch: a checkpoint of world size 1.
  auto plain = mlp(3);
  ad::optim::Adam plain_opt(plain->parameters(), {.lr = 0.02});
  const Data d = data();
  const auto plain_step = [&] {
    plain_opt.zero_grad();
    ad::nn::mse_loss((*plain)(d.X), d.y).backward();
    plain_opt.step();
  };
  for (int i = 0; i < 3; ++i) plain_step();
  const std::string path = dir.file("plain.ckpt");
  if (pg.rank() == 0) ad::train::Checkpoint().add("model", *plain).add("optimizer", plain_opt).save(path);
  pg.barrier();

  // Every rank: a fresh model and sharded Adam take it, then each step on a slice of the batch.
  auto model = mlp(50);
  ad::dist::DistributedDataParallel ddp(model, pg);
  ad::dist::ZeroRedundancyOptimizer opt(ddp.parameters(), pg, adam());
  ad::dist::Checkpoint ckpt(pg);
  ckpt.add("model", *model).add("optimizer", opt);
  ckpt.load(path);
  const std::int64_t n = 20 / pg.world_size() * pg.world_size(), per = n / pg.world_size();
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    const ad::Tensor x = ad::slice(d.X, 0, pg.rank() * per, (pg.rank() + 1) * per);
    const ad::Tensor y = ad::slice(d.y, 0, pg.rank() * per, (pg.rank() + 1) * per);
    ad::nn::mse_loss(ddp(x), y).backward();
    ddp.finish();
    opt.step();
    plain_opt.zero_grad();
    ad::nn::mse_loss((*plain)(ad::slice(d.X, 0, 0, n)), ad::slice(d.y, 0, 0, n)).backward();
    plain_opt.step();
  }
  const auto got = model->named_parameters(), want = plain->named_parameters();
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto u = got[i].second.to_vector(), v = want[i].second.to_vector();
    for (std::size_t j = 0; j < u.size(); ++j) EXPECT_NEAR(u[j], v[j], 1e-12) << got[i].first;
  }
}

TEST(DistCheckpoint, AFailureOnAnyRankLoadsNothingOnEveryRank) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  SavedRun saved(pg, 2);
  const Data& d = saved.d;
  const SharedDir& dir = saved.dir;
  const std::string& path = saved.path;

  // Registering less than the file holds: every rank refuses.
  {
    auto other = mlp(9);
    std::int64_t step = 42;
    ad::dist::Checkpoint ckpt(pg);
    ckpt.add("model", *other).add("step", step);
    const std::string e = error_of([&] { ckpt.load(path); });
    EXPECT_TRUE(contains(e, "nothing was loaded on any rank: rank 0: ")) << e;
    EXPECT_TRUE(contains(e, "is not registered")) << e;
    EXPECT_EQ(step, 42);
  }

  // The last rank has a wider model (so only its checks fail): no rank loads anything.
  TrainingRun fresh(pg, 9, d.X, d.y);
  const auto before = fresh.values();
  const int odd = pg.world_size() - 1;
  const std::string e = error_of([&] {
    if (pg.rank() == odd) {
      auto wider = mlp(9, 7);
      std::int64_t step = 0;
      ad::dist::Checkpoint lone(pg);
      lone.add("model", *wider).add("optimizer", fresh.opt).add("loader", fresh.loader).add("step", step);
      lone.load(path);
    } else {
      fresh.ckpt.load(path);
    }
  });
  EXPECT_TRUE(contains(e, "nothing was loaded on any rank: rank " + std::to_string(odd) + ": ")) << e;
  EXPECT_TRUE(contains(e, "part 'model'")) << e;
  EXPECT_EQ(fresh.values(), before);
  EXPECT_EQ(fresh.step, 0);
  EXPECT_EQ(fresh.loader.epoch(), 0);

  // A missing file: every rank says so, and nothing changes.
  const std::string gone = error_of([&] { fresh.ckpt.load(dir.file("no-such.ckpt")); });
  EXPECT_TRUE(contains(gone, "rank 0: ")) << gone;
  EXPECT_EQ(fresh.values(), before);
}

TEST(DistCheckpoint, AFailedWriteOnRankZeroIsAnErrorOnEveryRank) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const SharedDir dir(pg);
  const Data d = data();
  TrainingRun a(pg, 1, d.X, d.y);
  const std::string e = error_of([&] { a.ckpt.save(dir.file("no-such-dir/run.ckpt")); });
  EXPECT_TRUE(contains(e, "rank 0 could not write the checkpoint")) << e;
  // The ranks are still in step: the next save works.
  EXPECT_NO_THROW(a.ckpt.save(dir.file("run.ckpt")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("run.ckpt")));
}

}  // namespace
