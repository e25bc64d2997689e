// Checkpoints of whole training runs (train/checkpoint.h): a run stopped mid-epoch and resumed
// from the file with freshly built objects continues bit for bit (parameters, BatchNorm's
// buffers, Adam's state in two param groups, the schedule, the shuffled loader, dropout's
// generator); bad files and mismatches are rejected without changing anything.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/nn/nn.h"
#include "adgraph/optim/optim.h"
#include "adgraph/train/checkpoint.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;
namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("adgraph_ckpt_" + std::to_string(::getpid()) + "_" + name)).string();
}

struct Data {
  ad::Tensor X, y;
  Data() {
    ad::Generator g(3);
    X = ad::randn({40, 3}, ad::dtype(ad::kFloat64), &g);
    std::vector<std::int64_t> labels;
    for (std::int64_t i = 0; i < 40; ++i) labels.push_back(i % 3);
    y = ad::index_tensor(labels, {40});
  }
};

// Everything of one run, built the same way each time except for the initial weights' seed (a
// resumed run must take every value from the checkpoint).
struct TrainingRun {
  ad::Generator init_gen, data_gen{7}, dropout_gen{11};
  std::shared_ptr<ad::nn::Sequential> model;
  std::unique_ptr<ad::optim::Adam> opt;
  std::unique_ptr<ad::optim::StepLR> sched;
  std::unique_ptr<ad::data::DataLoader> loader;
  std::int64_t epoch = 0, step = 0, batch = 0;
  ad::train::Checkpoint ckpt;

  TrainingRun(const Data& d, std::uint64_t init_seed) : init_gen(init_seed) {
    auto fc1 = std::make_shared<ad::nn::Linear>(3, 8, true, ad::kFloat64, &init_gen);
    auto fc2 = std::make_shared<ad::nn::Linear>(8, 3, true, ad::kFloat64, &init_gen);
    model = std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
        fc1, std::make_shared<ad::nn::BatchNorm1d>(8, ad::nn::BatchNormOptions{}, ad::kFloat64),
        std::make_shared<ad::nn::ReLU>(), std::make_shared<ad::nn::Dropout>(0.3, &dropout_gen), fc2});
    opt = std::make_unique<ad::optim::Adam>(
        std::vector<ad::optim::Adam::Group>{
            {.params = fc1->parameters()},
            {.params = fc2->parameters(), .options = ad::optim::AdamOptions{.lr = 0.02, .weight_decay = 0.01}}},
        ad::optim::AdamOptions{.lr = 0.05});
    sched = std::make_unique<ad::optim::StepLR>(*opt, 1, 0.7);
    loader = std::make_unique<ad::data::DataLoader>(d.X, d.y, 8, true, &data_gen);
    ckpt.add("model", *model)
        .add("optimizer", *opt)
        .add("scheduler", *sched)
        .add("loader", *loader)
        .add("data_rng", data_gen)
        .add("dropout_rng", dropout_gen)
        .add("epoch", epoch)
        .add("step", step)
        .add("batch", batch);
  }

  // Trains until `last` steps were taken, saving the checkpoint after step `save_at`.
  void train_until(std::int64_t last, std::int64_t save_at = -1, const std::string& path = {}) {
    while (step < last) {
      auto it = batch == 0 ? loader->begin() : loader->resume(batch);
      for (; it != loader->end(); ++it) {
        const ad::data::Batch b = *it;
        opt->zero_grad();
        ad::nn::cross_entropy((*model)(b.x), b.y).backward();
        opt->step();
        ++step;
        ++batch;
        if (step == save_at) ckpt.save(path);
        if (step == last) return;
      }
      batch = 0;
      ++epoch;
      sched->step();
    }
  }

  std::vector<std::vector<double>> state_values() const {
    std::vector<std::vector<double>> out;
    for (const auto& [name, t] : model->named_state()) out.push_back(t.to_vector());
    out.push_back({opt->lr(0), opt->lr(1)});
    return out;
  }
};

TEST(Checkpoint, AResumedRunContinuesBitForBit) {
  const Data d;
  const std::string path = temp_path("resume.ckpt");
  TrainingRun straight(d, 1);
  straight.train_until(17, 7, path);  // saved mid-epoch 1 (5 batches per epoch)

  TrainingRun resumed(d, 99);  // other initial weights: everything must come from the file
  EXPECT_NE(resumed.state_values(), straight.state_values());
  resumed.ckpt.load(path);
  EXPECT_EQ(resumed.step, 7);
  EXPECT_EQ(resumed.epoch, 1);
  EXPECT_EQ(resumed.batch, 2);
  resumed.train_until(17);
  EXPECT_EQ(resumed.state_values(), straight.state_values());
  fs::remove(path);
}

TEST(Checkpoint, ABadFileOrMismatchChangesNothing) {
  const Data d;
  const std::string path = temp_path("bad.ckpt");
  TrainingRun a(d, 1);
  a.train_until(3, 3, path);
  TrainingRun b(d, 5);
  const auto before = b.state_values();

  // Another model: the part check fails and nothing is loaded (the optimizer, checked first in
  // file order or not, keeps its state too).
  {
    TrainingRun c(d, 5);
    auto other = std::make_shared<ad::nn::Linear>(3, 3, true, ad::kFloat64);
    ad::train::Checkpoint wrong;
    wrong.add("model", *other)
        .add("optimizer", *c.opt)
        .add("scheduler", *c.sched)
        .add("loader", *c.loader)
        .add("data_rng", c.data_gen)
        .add("dropout_rng", c.dropout_gen)
        .add("epoch", c.epoch)
        .add("step", c.step)
        .add("batch", c.batch);
    const std::string msg = error_of([&] { wrong.load(path); });
    EXPECT_TRUE(contains(msg, "part 'model' is a module:Sequential in the file but a module:Linear here")) << msg;
    EXPECT_EQ(c.step, 0);
    EXPECT_EQ(c.opt->step_count(), 0);
  }
  // A missing part, an extra part.
  {
    ad::train::Checkpoint fewer;
    fewer.add("model", *b.model);
    EXPECT_TRUE(contains(error_of([&] { fewer.load(path); }),
                         "holds a part 'batch' (counter) that is not registered"));  // the first in name order
    ad::train::Checkpoint more = {};
    std::int64_t extra = 0;
    more.add("model", *b.model).add("extra", extra);
    EXPECT_TRUE(contains(error_of([&] { more.load(path); }), "has no part 'extra'"));
  }
  // A loader over other data.
  {
    TrainingRun c(d, 5);
    ad::data::DataLoader small(ad::slice(d.X, 0, 0, 30), ad::slice(d.y, 0, 0, 30), 8, true, &c.data_gen);
    ad::train::Checkpoint wrong;
    wrong.add("model", *c.model)
        .add("optimizer", *c.opt)
        .add("scheduler", *c.sched)
        .add("loader", small)
        .add("data_rng", c.data_gen)
        .add("dropout_rng", c.dropout_gen)
        .add("epoch", c.epoch)
        .add("step", c.step)
        .add("batch", c.batch);
    const std::string msg = error_of([&] { wrong.load(path); });
    EXPECT_TRUE(contains(msg, "part 'loader': DataLoader::load_state_dict: num_samples is 40 in the state but 30"))
        << msg;
    EXPECT_EQ(c.opt->step_count(), 0);  // the model and optimizer (valid) were not loaded either
    EXPECT_EQ(c.state_values(), before);
  }
  // Missing and corrupt files; a plain model file.
  EXPECT_TRUE(contains(error_of([&] { b.ckpt.load(temp_path("missing.ckpt")); }), "missing.ckpt"));
  { std::ofstream(temp_path("corrupt.ckpt"), std::ios::binary) << "garbage"; }
  EXPECT_THROW(b.ckpt.load(temp_path("corrupt.ckpt")), ad::Error);
  ad::nn::save(*b.model, temp_path("model.safetensors"));
  EXPECT_TRUE(contains(error_of([&] { b.ckpt.load(temp_path("model.safetensors")); }), "not a checkpoint"));
  EXPECT_EQ(b.state_values(), before);
  EXPECT_EQ(b.step, 0);
  for (const char* f : {"bad.ckpt", "corrupt.ckpt", "model.safetensors"}) fs::remove(temp_path(f));
}

TEST(Checkpoint, PartNamesAreUniqueAndDotless) {
  std::int64_t a = 0, b = 0;
  ad::train::Checkpoint c;
  c.add("epoch", a);
  EXPECT_TRUE(contains(error_of([&] { c.add("epoch", b); }), "a part named 'epoch' is already registered"));
  EXPECT_TRUE(contains(error_of([&] { c.add("a.b", b); }), "must be non-empty and contain no '.'"));
  EXPECT_EQ(c.part_names(), std::vector<std::string>{"epoch"});
  EXPECT_TRUE(contains(error_of([] { ad::train::Checkpoint().save(temp_path("empty.ckpt")); }), "no parts registered"));
}

}  // namespace

// Generator::state round trip (autodiff/random.h), exercised here with the checkpoints.
TEST(GeneratorState, SetStateContinuesTheSameSequence) {
  ad::Generator g(42);
  for (int i = 0; i < 500; ++i) (void)g.uniform();  // past one refill of the twister's words
  const ad::Tensor s = g.state();
  EXPECT_EQ(s.shape(), ad::Shape{ad::Generator::kStateSize});
  std::vector<double> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(g.normal());
  ad::Generator h(1);
  h.set_state(s);
  std::vector<double> got;
  for (int i = 0; i < 10; ++i) got.push_back(h.normal());
  EXPECT_EQ(got, expected);
  ad::Tensor bad = s.clone();
  bad.data_ptr<std::int64_t>()[ad::Generator::kStateSize - 1] = 1000;
  EXPECT_TRUE(ad::testing::contains(ad::testing::error_of([&] { h.set_state(bad); }), "the position 1000 is past"));
  EXPECT_TRUE(ad::testing::contains(ad::testing::error_of([&] { h.set_state(ad::zeros({3})); }),
                                    "the state must be Int64 of shape [313]"));
}
