// The CNN of 08_cnn_digits trained data-parallel across processes (dist/): every rank holds the
// same model, takes its own shard of each global batch of 32 (DistributedSampler: 32 / W images
// per rank), and the gradients are averaged across the ranks before each step
// (DistributedDataParallel), so every rank takes the same step. The theory: the loss of a batch
// is a mean, L = (1/B) Σ_i l_i; split into W shards of B/W samples, ∇L = (1/W) Σ_r ∇L_r, the mean
// of the shards' gradients, which one allreduce computes. The allreduce of a bucket of gradients
// (the last layers' first) starts while backward still computes the earlier layers', so part of
// the communication hides behind the computation. BatchNorm normalizes with each rank's own
// batch statistics (dist::SyncBatchNorm would take the global batch's) and rank 0's running statistics are broadcast before each
// forward; Adam's moments are sharded across the ranks (ZeroRedundancyOptimizer, ZeRO stage 1).
// Same data, split, model, Adam (lr 5e-3, cosine schedule over 20 epochs), label smoothing 0.1
// and global batch as 08. Rank 0 prints each epoch, every rank's throughput, the fraction of the
// allreduce time hidden behind backward and the final test accuracy; then the run is saved as
// one checkpoint (written by rank 0) and restored into fresh objects on every rank.
//   usage: 10_ddp_digits [output-dir]            (alone: world size 1)
//          mpirun --allow-run-as-root --oversubscribe -np 2 build/examples/10_ddp_digits out/
// (Open MPI needs --allow-run-as-root as root, --oversubscribe for more ranks than cores.)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/dist/dist.h"
#include "adgraph/nn/loss.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/lr_scheduler.h"
#include "examples/digits_common.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Everything one rank trains with; built twice: for training, and afresh to restore the checkpoint.
struct Run {
  std::shared_ptr<ad::nn::Sequential> model;
  std::unique_ptr<ad::dist::DistributedDataParallel> ddp;
  std::unique_ptr<ad::dist::ZeroRedundancyOptimizer> opt;
  std::unique_ptr<ad::optim::CosineAnnealingLR> schedule;
  std::unique_ptr<ad::data::DataLoader> loader;
  std::int64_t epoch = 0;
};

constexpr int kEpochs = 20;
constexpr std::int64_t kGlobalBatch = 32;

Run make_run(ad::dist::ProcessGroup& pg, std::uint64_t seed, const ad::data::Split& s) {
  Run r;
  ad::Generator gen(seed);
  r.model = digits::make_cnn(gen);  // 08's network
  // The model has 24 kB of gradients: with the default caps (1 MB, then 25 MB) they would form a
  // single bucket, reduced only once backward is over. Buckets of at most 8 kB (the Linear layer,
  // then the second convolution, then the rest) let the first allreduces run during backward.
  r.ddp = std::make_unique<ad::dist::DistributedDataParallel>(r.model, pg,
                                                              ad::dist::DDPOptions{.bucket_cap_mb = 8.0 / 1024});
  r.opt = std::make_unique<ad::dist::ZeroRedundancyOptimizer>(r.ddp->parameters(), pg, [](std::vector<ad::Tensor> p) {
    return std::make_unique<ad::optim::Adam>(std::move(p), ad::optim::AdamOptions{.lr = 5e-3});
  });
  // Every rank steps the schedule of its own shard's optimizer identically.
  r.schedule = std::make_unique<ad::optim::CosineAnnealingLR>(r.opt->local(), kEpochs);
  auto sampler = std::make_shared<ad::dist::DistributedSampler>(s.X_train.size(0), pg, /*shuffle=*/true, /*seed=*/1);
  r.loader = std::make_unique<ad::data::DataLoader>(s.X_train, s.y_train, kGlobalBatch / pg.world_size(), sampler);
  return r;
}

ad::dist::Checkpoint checkpoint_of(ad::dist::ProcessGroup& pg, Run& r) {
  ad::dist::Checkpoint ckpt(pg);
  ckpt.add("model", *r.model).add("optimizer", *r.opt).add("scheduler", *r.schedule);
  ckpt.add("loader", *r.loader).add("epoch", r.epoch);
  return ckpt;
}

}  // namespace

int main(int argc, char** argv) {
  ad::dist::ProcessGroup& pg = ad::dist::init(argc, argv);
  return ad::dist::run_or_abort([&] {
    const int rank = pg.rank(), world = pg.world_size();
    const bool lead = rank == 0;  // the only rank that prints and evaluates
    if (kGlobalBatch % world != 0)
      throw ad::Error("10_ddp_digits: the global batch of " + std::to_string(kGlobalBatch) +
                      " must divide evenly among the ranks; run with 1, 2, 4, 8, 16 or 32 processes, not " +
                      std::to_string(world));
    const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
    if (lead) std::filesystem::create_directories(dir);  // only rank 0 writes
    ad::set_num_threads(1);                              // tiny GEMMs, as in 08; one process per core

    const ad::data::Table table = ad::data::read_csv(ad::data::project_file("digits.csv"));
    auto [X, y] = ad::data::split_label(table, "label");
    X = (X.to(ad::kFloat32) / 16.0).reshape({-1, 1, 8, 8});
    ad::Generator split_gen(1);  // 08's split, the same on every rank
    const ad::data::Split s = ad::data::train_test_split(X, y, 0.2, split_gen);
    Run run = make_run(pg, /*seed=*/1, s);
    if (lead)
      std::printf("digits: %lld training images, %lld test; %d rank(s), %lld images per rank per batch of %lld\n",
                  static_cast<long long>(s.X_train.size(0)), static_cast<long long>(s.X_test.size(0)), world,
                  static_cast<long long>(run.loader->batch_size()), static_cast<long long>(kGlobalBatch));

    const ad::nn::ClassLossOptions smoothing{.label_smoothing = 0.1};
    double train_seconds = 0, hidden = 0;
    std::int64_t samples = 0, steps = 0;
    const auto wall0 = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= kEpochs; ++epoch) {
      pg.barrier();  // rank 0 evaluated alone: start the clocks together
      const auto t0 = std::chrono::steady_clock::now();
      double loss_sum = 0, seen = 0;
      for (auto [xb, yb] : *run.loader) {
        run.opt->zero_grad();
        const ad::Tensor loss = ad::nn::cross_entropy((*run.ddp)(xb), yb, smoothing);
        loss.backward();    // buckets are reduced meanwhile
        run.ddp->finish();  // .grad = the mean over the ranks
        run.opt->step();    // collective: each rank steps its shard, then broadcasts it
        hidden += run.ddp->last_step().hidden_fraction();
        ++steps;
        loss_sum += loss.item() * static_cast<double>(xb.size(0));
        seen += static_cast<double>(xb.size(0));
      }
      train_seconds += seconds_since(t0);
      samples += static_cast<std::int64_t>(seen);
      run.schedule->step();
      run.epoch = epoch;                                                         // epochs done, for the checkpoint
      ad::Tensor total = ad::tensor({loss_sum, seen}, ad::dtype(ad::kFloat64));  // over the ranks
      pg.allreduce(total);
      if (lead) {
        const std::vector<double> t = total.to_vector();
        std::printf("epoch %2lld: loss %.4f, train accuracy %.4f, test accuracy %.4f\n", static_cast<long long>(epoch),
                    t[0] / t[1], digits::accuracy(digits::predict(*run.model, s.X_train), s.y_train),
                    digits::accuracy(digits::predict(*run.model, s.X_test), s.y_test));
        std::fflush(stdout);
      }
    }
    const double wall = seconds_since(wall0);

    // Every rank's throughput, gathered: [world, 1].
    const double mine = static_cast<double>(samples) / train_seconds;
    const std::vector<double> rates = pg.allgather(ad::full({1}, mine, ad::dtype(ad::kFloat64))).to_vector();
    if (lead) {
      std::string line;
      double sum = 0;
      for (int r = 0; r < world; ++r) {
        const double v = rates[static_cast<std::size_t>(r)];
        sum += v;
        line += "rank " + std::to_string(r) + ": " + std::to_string(static_cast<long long>(v + 0.5)) + " samples/s; ";
      }
      std::printf("throughput: %stotal %lld samples/s (training %.2f s of %.2f s wall on rank 0)\n", line.c_str(),
                  static_cast<long long>(sum + 0.5), train_seconds, wall);
      const ad::dist::DDPStepStats& last = run.ddp->last_step();
      if (world > 1)
        std::printf(
            "allreduce: %lld bytes in %zu buckets per step; on average %.0f%% of its time hidden behind "
            "backward\n",
            static_cast<long long>(last.bytes_reduced), last.buckets.size(),
            100.0 * hidden / static_cast<double>(steps));
      else
        std::printf("allreduce: none alone (world size 1)\n");
    }

    // 08's bar, on rank 0: every rank has its parameters, but the running statistics of the other
    // ranks have since seen their own last batch (rank 0's are broadcast before each forward).
    std::vector<double> pred;
    bool reached = true;
    if (lead) {
      pred = digits::predict(*run.model, s.X_test);
      const double test_acc = digits::accuracy(pred, s.y_test);
      reached = test_acc >= 0.985;
      std::printf("final test accuracy %.4f (>= 0.985: %s)\n", test_acc, reached ? "yes" : "no");
    }

    // One file, written by rank 0 (ZeRO's shards gathered first), restored into objects built
    // afresh with other initial weights on every rank.
    const std::string path = (dir / "ddp_digits.ckpt").string();
    checkpoint_of(pg, run).save(path);
    Run fresh = make_run(pg, /*seed=*/12345, s);
    checkpoint_of(pg, fresh).load(path);
    bool restored = fresh.epoch == run.epoch && fresh.loader->epoch() == run.loader->epoch() &&
                    fresh.opt->local().step_count() == run.opt->local().step_count() &&
                    fresh.opt->lr() == run.opt->lr();
    if (lead) restored = restored && digits::predict(*fresh.model, s.X_test) == pred;
    // Every rank's verdict: [failed accuracy (rank 0's), failed restores].
    ad::Tensor failures = ad::tensor({reached ? 0.0 : 1.0, restored ? 0.0 : 1.0}, ad::dtype(ad::kFloat64));
    pg.allreduce(failures);
    const std::vector<double> f = failures.to_vector();
    if (lead)
      std::printf(
          "checkpoint: one file written by rank 0 (%s, %lld bytes), restored into fresh objects on %d rank%s: %s\n",
          path.c_str(), static_cast<long long>(std::filesystem::file_size(path)), world, world > 1 ? "s" : "",
          f[1] == 0 ? "yes" : "no");
    return f[0] == 0 && f[1] == 0 ? 0 : 1;
  });
}
