#include "adgraph/dist/sampler.h"

#include <string>
#include <vector>

#include "adgraph/autodiff/random.h"

namespace ad::dist {

DistributedSampler::DistributedSampler(std::int64_t dataset_size, int num_replicas, int rank, bool shuffle,
                                       std::uint64_t seed, bool drop_last)
    : n_(dataset_size), replicas_(num_replicas), rank_(rank), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
  const std::string where = "DistributedSampler: ";
  if (n_ < 1) throw ad::Error(where + "the data set has " + std::to_string(n_) + " samples; it needs at least one");
  if (replicas_ < 1) throw ad::Error(where + "num_replicas must be >= 1, got " + std::to_string(replicas_));
  if (rank_ < 0 || rank_ >= replicas_)
    throw ad::Error(where + "rank " + std::to_string(rank_) + " is out of range for " + std::to_string(replicas_) +
                    " replicas (0 to " + std::to_string(replicas_ - 1) + ")");
  const std::int64_t w = replicas_;
  if (drop_last_ && n_ < w)
    throw ad::Error(where + "drop_last with " + std::to_string(n_) + " samples and " + std::to_string(w) +
                    " ranks leaves no sample per rank; use drop_last = false (pads) or fewer ranks");
  // PyTorch: drop_last drops the remainder (floor), otherwise pads up to ceil.
  num_samples_ = drop_last_ ? n_ / w : (n_ + w - 1) / w;
}

DistributedSampler::DistributedSampler(std::int64_t dataset_size, const ProcessGroup& pg, bool shuffle,
                                       std::uint64_t seed, bool drop_last)
    : DistributedSampler(dataset_size, pg.world_size(), pg.rank(), shuffle, seed, drop_last) {}

ad::Tensor DistributedSampler::order(std::int64_t epoch) const {
  std::vector<std::int64_t> all(static_cast<std::size_t>(n_));
  if (shuffle_) {
    // Every rank draws the same permutation: a fresh generator of seed + epoch.
    ad::Generator gen(seed_ + static_cast<std::uint64_t>(epoch));
    const ad::Tensor perm = ad::randperm(n_, &gen).contiguous();
    const std::int64_t* p = perm.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n_; ++i) all[static_cast<std::size_t>(i)] = p[i];
  } else {
    for (std::int64_t i = 0; i < n_; ++i) all[static_cast<std::size_t>(i)] = i;
  }
  const std::int64_t total = total_size();
  // Padding repeats the list from its start (more than once when it is shorter than the padding).
  std::vector<std::int64_t> mine;
  mine.reserve(static_cast<std::size_t>(num_samples_));
  for (std::int64_t pos = rank_; pos < total; pos += replicas_) mine.push_back(all[static_cast<std::size_t>(pos % n_)]);
  return ad::index_tensor(mine, {num_samples_});
}

}  // namespace ad::dist
