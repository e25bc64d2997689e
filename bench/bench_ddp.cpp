// Data-parallel training speed (dist/ddp.h): per-step time of an MLP (1024 -> 1024 x 3 -> 10,
// ReLU; 3.16 M float32 parameters, 12.6 MB of gradients) and of a LeNet CNN (44 k parameters,
// 178 kB) at batches of 64 and 256 per rank, one thread per rank, SGD. Run it under mpirun with 1 and with 2 ranks
// (scripts/bench.sh does):
//
//   mpirun --allow-run-as-root -np 2 build/bench/bench_ddp [rounds] [steps] [mlp|cnn]
//
// Each round times, one after the other on every rank:
//   alone  the same steps without DistributedDataParallel (no communication): every rank computes
//          as a single process would, on a machine as loaded as in the data-parallel steps;
//   ddp    the data-parallel steps, for each bucket cap of the model.
// Per mode it prints the median ms per step (the slowest rank's), the time of backward alone,
// the allreduce time per step, the fraction of it that ran while backward was still computing
// (hidden: from each bucket's start and end on the communication thread, against the moment
// finish() was called), and the bytes reduced per step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/threads.h"
#include "adgraph/dist/ddp.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/nn/nn.h"
#include "adgraph/optim/sgd.h"

namespace {

constexpr std::int64_t kWidth = 1024, kClasses = 10;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// 1024 -> 1024 x 3 -> 10 with ReLU: 3.16 M parameters, 6 multiply-adds per parameter and sample.
std::shared_ptr<ad::nn::Sequential> make_mlp() {
  ad::Generator g(1);
  auto m = std::make_shared<ad::nn::Sequential>();
  for (int i = 0; i < 3; ++i) {
    m->push_back(std::make_shared<ad::nn::Linear>(kWidth, kWidth, true, ad::kFloat32, &g));
    m->push_back(std::make_shared<ad::nn::ReLU>());
  }
  m->push_back(std::make_shared<ad::nn::Linear>(kWidth, kClasses, true, ad::kFloat32, &g));
  return m;
}

// bench_cnn's LeNet on 1x28x28 images: 44 k parameters, each convolution weight used at every
// position, so ~13 multiply-adds per parameter and sample on average, and far fewer bytes to reduce.
std::shared_ptr<ad::nn::Sequential> make_lenet() {
  ad::Generator g(1);
  using namespace ad::nn;
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(1, 6, ad::Size2{5, 5}, ad::Conv2dOptions{}, true, ad::kFloat32, &g),
      std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(ad::Size2{2, 2}),
      std::make_shared<Conv2d>(6, 16, ad::Size2{5, 5}, ad::Conv2dOptions{}, true, ad::kFloat32, &g),
      std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(ad::Size2{2, 2}), std::make_shared<Flatten>(),
      std::make_shared<Linear>(256, 120, true, ad::kFloat32, &g), std::make_shared<ReLU>(),
      std::make_shared<Linear>(120, 84, true, ad::kFloat32, &g), std::make_shared<ReLU>(),
      std::make_shared<Linear>(84, kClasses, true, ad::kFloat32, &g)});
}

struct Model {
  const char* name;
  std::shared_ptr<ad::nn::Sequential> (*make)();
  ad::Shape sample;  // one input's shape
  std::vector<std::int64_t> batches;
  std::vector<double> caps;  // bucket caps in MB: PyTorch's default, then smaller buckets
};

struct Figures {
  std::vector<double> step, backward, comm, hidden;
  std::int64_t bytes = 0;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// `steps` training steps (after 2 untimed ones); ddp null: alone.
void run(int steps, ad::nn::Module& model, ad::dist::DistributedDataParallel* ddp, const ad::Tensor& x,
         const ad::Tensor& y, Figures& f) {
  ad::optim::SGD opt(model.parameters(), {.lr = 1e-3});
  for (int s = -2; s < steps; ++s) {
    const double t0 = now();
    opt.zero_grad();
    ad::Tensor loss = ad::nn::cross_entropy(ddp ? (*ddp)(x) : model(x), y);
    const double t1 = now();
    loss.backward();
    const double t2 = now();
    if (ddp) ddp->finish();
    opt.step();
    const double t3 = now();
    if (s < 0) continue;
    f.step.push_back(t3 - t0);
    f.backward.push_back(t2 - t1);
    if (ddp) {
      f.comm.push_back(ddp->last_step().comm_seconds());
      f.hidden.push_back(ddp->last_step().hidden_seconds());
      f.bytes = ddp->last_step().bytes_reduced;
    }
  }
}

// Every figure of one model, printed by rank 0.
void bench_model(ad::dist::ProcessGroup& pg, const Model& m, int rounds, int steps) {
  // One model per mode: a wrapper hooks its model's parameters.
  auto model = m.make();
  std::int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  std::vector<std::shared_ptr<ad::nn::Sequential>> models;
  std::vector<std::unique_ptr<ad::dist::DistributedDataParallel>> ddps;
  for (double cap : m.caps) {
    models.push_back(m.make());
    ddps.push_back(std::make_unique<ad::dist::DistributedDataParallel>(
        models.back(), pg, ad::dist::DDPOptions{.bucket_cap_mb = cap, .first_bucket_cap_mb = std::min(1.0, cap)}));
  }
  // The slowest rank's figure.
  const auto worst = [&](double v) {
    ad::Tensor t = ad::full({1}, v, ad::dtype(ad::kFloat64));
    pg.allreduce(t, ad::dist::ReduceOp::Max);
    return t.item();
  };
  if (pg.rank() == 0)
    std::printf("bench_ddp: %s, %.3f M float32 parameters, SGD, %d rank%s, 1 thread each; median of %d x %d steps\n",
                m.name, static_cast<double>(params) / 1e6, pg.world_size(), pg.world_size() > 1 ? "s" : "", rounds,
                steps);
  // The communication alone: one allreduce of every gradient (one flat buffer), nothing else
  // running. On one machine it is memory traffic done by the CPU: what it costs is taken from
  // the cores that compute, whether or not it overlaps backward.
  if (pg.world_size() > 1) {
    ad::Tensor flat = ad::zeros({params});
    std::vector<double> times;
    for (int i = 0; i < 2 * steps; ++i) {
      pg.barrier();
      const double t0 = now();
      pg.allreduce(flat, ad::dist::ReduceOp::Sum, ad::dist::CollectiveChecks::Off);
      times.push_back(now() - t0);
    }
    const double ms = worst(median(times)) * 1e3;
    if (pg.rank() == 0)
      std::printf("allreduce of all %.3f MB of gradients, nothing else running: %.3f ms (%.1f GB/s)\n",
                  static_cast<double>(params) * 4 / 1e6, ms, static_cast<double>(params) * 4 / 1e6 / ms);
  }
  for (const std::int64_t batch : m.batches) {
    ad::Generator g(100 + static_cast<std::uint64_t>(pg.rank()));  // each rank its own shard
    ad::Shape shape = m.sample;
    shape.insert(shape.begin(), batch);
    const ad::Tensor x = ad::randn(shape, {}, &g);
    const ad::Tensor y = ad::randint(0, kClasses, {batch}, &g);
    Figures alone;
    std::vector<Figures> dp(m.caps.size());
    for (int r = 0; r < rounds; ++r) {
      pg.barrier();
      run(steps, *model, nullptr, x, y, alone);
      pg.barrier();
      for (std::size_t c = 0; c < m.caps.size(); ++c) run(steps, *models[c], ddps[c].get(), x, y, dp[c]);
    }
    const double alone_ms = worst(median(alone.step)) * 1e3;
    const double alone_bw = worst(median(alone.backward)) * 1e3;
    if (pg.rank() == 0) {
      std::printf("batch %lld per rank\n", static_cast<long long>(batch));
      std::printf("  mode             ms/step  backward ms  allreduce ms/step  hidden  MB reduced/step  vs alone\n");
      std::printf("  alone           %8.2f %12.2f %18s %7s %16s %9s\n", alone_ms, alone_bw, "-", "-", "-", "-");
    }
    for (std::size_t c = 0; c < m.caps.size(); ++c) {
      const double ms = worst(median(dp[c].step)) * 1e3;
      const double bw = worst(median(dp[c].backward)) * 1e3;
      const double comm = worst(sum(dp[c].comm) / static_cast<double>(dp[c].comm.size())) * 1e3;
      // The worst rank's share of allreduce time that overlapped backward.
      const double frac = 1.0 - worst(1.0 - sum(dp[c].hidden) / std::max(1e-30, sum(dp[c].comm)));
      if (pg.rank() != 0) continue;
      char hidden[16] = "-";
      if (comm > 0) std::snprintf(hidden, sizeof hidden, "%.0f%%", 100.0 * frac);
      char cap[16];
      if (m.caps[c] >= 1)
        std::snprintf(cap, sizeof cap, "%4.0f MB", m.caps[c]);
      else
        std::snprintf(cap, sizeof cap, "%4.0f kB", m.caps[c] * 1024);
      std::printf("  ddp cap %s %8.2f %12.2f %18.2f %7s %16.3f %8.2fx  (%zu buckets)\n", cap, ms, bw, comm, hidden,
                  static_cast<double>(dp[c].bytes) / 1e6, ms / alone_ms, ddps[c]->bucket_names().size());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  ad::dist::ProcessGroup& pg = ad::dist::init(argc, argv);
  return ad::dist::run_or_abort([&] {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
    const int steps = argc > 2 ? std::atoi(argv[2]) : 20;
    const std::string only = argc > 3 ? argv[3] : "";
    ad::set_num_threads(1);
    const Model models[] = {
        {"MLP 1024-1024-1024-1024-10", make_mlp, {kWidth}, {64, 256}, {25.0, 4.0, 1.0}},
        {"LeNet CNN on 1x28x28", make_lenet, {1, 28, 28}, {64, 256}, {25.0, 64.0 / 1024, 16.0 / 1024}}};
    for (const Model& m : models)
      if (only.empty() || only == (m.make == make_mlp ? "mlp" : "cnn")) bench_model(pg, m, rounds, steps);
    return 0;
  });
}
