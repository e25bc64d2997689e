// A training run checkpointed in one process and resumed in another (tests/CMakeLists.txt runs
// it three times and compares): `full OUT` trains 17 steps and writes the final state; `stop
// CKPT` trains 7 steps (mid-epoch) and saves a checkpoint; `resume CKPT OUT` builds every object
// afresh (other initial weights), loads the checkpoint, trains to step 17 and writes the final
// state. OUT holds every parameter, buffer and lr as exact hex floats, so equal files mean a
// bit-identical resume.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/nn/nn.h"
#include "adgraph/optim/optim.h"
#include "adgraph/train/checkpoint.h"

namespace {

struct Run {
  ad::Generator init_gen, data_gen{7}, dropout_gen{11};
  ad::Tensor X, y;
  std::shared_ptr<ad::nn::Sequential> model;
  std::unique_ptr<ad::optim::AdamW> opt;
  std::unique_ptr<ad::optim::SequentialLR> sched;
  std::unique_ptr<ad::data::DataLoader> loader;
  std::int64_t epoch = 0, step = 0, batch = 0;
  ad::train::Checkpoint ckpt;

  explicit Run(std::uint64_t init_seed) : init_gen(init_seed) {
    ad::Generator g(3);
    X = ad::randn({40, 3}, {}, &g);
    std::vector<std::int64_t> labels;
    for (std::int64_t i = 0; i < 40; ++i) labels.push_back(i % 3);
    y = ad::index_tensor(labels, {40});
    auto fc1 = std::make_shared<ad::nn::Linear>(3, 8, true, ad::kFloat32, &init_gen);
    auto fc2 = std::make_shared<ad::nn::Linear>(8, 3, true, ad::kFloat32, &init_gen);
    model = std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
        fc1, std::make_shared<ad::nn::BatchNorm1d>(8), std::make_shared<ad::nn::ReLU>(),
        std::make_shared<ad::nn::Dropout>(0.3, &dropout_gen), fc2});
    opt = std::make_unique<ad::optim::AdamW>(model->parameters(), ad::optim::AdamWOptions{.lr = 0.05});
    auto warm = std::make_shared<ad::optim::LinearLR>(*opt, ad::optim::LinearLROptions{.total_iters = 4});
    auto decay = std::make_shared<ad::optim::CosineAnnealingLR>(*opt, 20);
    sched = std::make_unique<ad::optim::SequentialLR>(
        *opt, std::vector<std::shared_ptr<ad::optim::LRScheduler>>{warm, decay}, std::vector<std::int64_t>{4});
    loader = std::make_unique<ad::data::DataLoader>(X, y, 8, true, &data_gen);
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

  void train_until(std::int64_t last) {
    while (step < last) {
      auto it = batch == 0 ? loader->begin() : loader->resume(batch);
      for (; it != loader->end(); ++it) {
        const ad::data::Batch b = *it;
        opt->zero_grad();
        ad::nn::cross_entropy((*model)(b.x), b.y).backward();
        opt->step();
        sched->step();  // per batch
        ++step;
        ++batch;
        if (step == last) return;
      }
      batch = 0;
      ++epoch;
    }
  }

  void write(const std::string& path) const {
    std::ofstream out(path);
    for (const auto& [name, t] : model->named_state()) {
      out << name;
      for (double v : t.to_vector()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, " %a", v);
        out << buf;
      }
      out << "\n";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "lr %a step %lld", opt->lr(), static_cast<long long>(step));
    out << buf << "\n";
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "full" && argc == 3) {
      Run r(1);
      r.train_until(17);
      r.write(argv[2]);
    } else if (mode == "stop" && argc == 3) {
      Run r(1);
      r.train_until(7);
      r.ckpt.save(argv[2]);
    } else if (mode == "resume" && argc == 4) {
      Run r(99);
      r.ckpt.load(argv[2]);
      r.train_until(17);
      r.write(argv[3]);
    } else {
      std::fprintf(stderr, "usage: %s full OUT | stop CKPT | resume CKPT OUT\n", argv[0]);
      return 2;
    }
  } catch (const ad::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
