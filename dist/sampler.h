#pragma once
// Each rank's shard of a data set, epoch after epoch (PyTorch's DistributedSampler):
//
//   ad::dist::ProcessGroup& pg = ad::dist::init(argc, argv);
//   auto sampler = std::make_shared<ad::dist::DistributedSampler>(X.size(0), pg, /*shuffle=*/true, /*seed=*/0);
//   ad::data::DataLoader loader(X, y, /*batch_size=*/32, sampler);  // per-rank batches
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (auto [xb, yb] : loader) { ... }
//
// Every epoch the N sample indices are shuffled (shuffle on) by a generator seeded with
// seed + epoch, identically on every rank, then rank r takes positions r, r + W, r + 2W, ...
// (W the world size), so the ranks' shards are disjoint and together cover the data set.
// The remainder as PyTorch: drop_last = false pads the shuffled list by repeating its first
// indices up to ceil(N / W) per rank (a few samples are then seen twice per epoch); drop_last =
// true drops its tail, floor(N / W) per rank.
//
// The DataLoader passes its own epoch counter to order(epoch), so with a loader there is no
// set_epoch to call (and a loader restored from a checkpoint continues with the same shards);
// set_epoch / indices() are PyTorch's interface for using the sampler on its own.
#include <cstdint>

#include "adgraph/autodiff/tensor.h"
#include "adgraph/data/loader.h"
#include "adgraph/dist/process_group.h"

namespace ad::dist {

class DistributedSampler : public ad::data::Sampler {
 public:
  // dataset_size >= 1 samples, num_replicas >= 1 ranks, 0 <= rank < num_replicas; drop_last
  // needs dataset_size >= num_replicas. Throws ad::Error otherwise.
  DistributedSampler(std::int64_t dataset_size, int num_replicas, int rank, bool shuffle = true, std::uint64_t seed = 0,
                     bool drop_last = false);
  // The group's world size and this process's rank.
  DistributedSampler(std::int64_t dataset_size, const ProcessGroup& pg, bool shuffle = true, std::uint64_t seed = 0,
                     bool drop_last = false);

  std::int64_t size() const override { return num_samples_; }  // this rank's samples per epoch
  // This rank's indices of `epoch`: Int64 [size()].
  ad::Tensor order(std::int64_t epoch) const override;

  void set_epoch(std::int64_t epoch) { epoch_ = epoch; }
  std::int64_t epoch() const { return epoch_; }
  ad::Tensor indices() const { return order(epoch_); }  // order(epoch())

  std::int64_t dataset_size() const { return n_; }
  std::int64_t total_size() const { return num_samples_ * replicas_; }  // size() over all ranks
  int num_replicas() const { return replicas_; }
  int rank() const { return rank_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  std::uint64_t seed() const { return seed_; }

 private:
  std::int64_t n_, num_samples_ = 0, epoch_ = 0;
  int replicas_, rank_;
  bool shuffle_, drop_last_;
  std::uint64_t seed_;
};

}  // namespace ad::dist
