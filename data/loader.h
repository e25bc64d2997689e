#pragma once
// Mini-batches over (X, y) for a training loop:
//
//   ad::Generator gen(42);
//   ad::data::DataLoader loader(X, y, /*batch_size=*/32, /*shuffle=*/true, &gen);
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (auto [xb, yb] : loader) { ... }   // xb [<=32, features], yb [<=32]
//
// Each range-for (each call of begin()) starts a new epoch: with shuffle on, the rows are
// visited in the order of a fresh ad::randperm drawn from the generator, so a loader built
// with a generator seeded the same way yields the same batches, epoch after epoch, on every run.
//
// With a Sampler (e.g. ad::dist::DistributedSampler, each rank's shard of the data set), each
// epoch's sample order is drawn from the sampler instead:
//
//   auto sampler = std::make_shared<ad::dist::DistributedSampler>(X.size(0), pg, /*shuffle=*/true, /*seed=*/0);
//   ad::data::DataLoader loader(X, y, /*batch_size=*/32, sampler);
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>

#include "adgraph/autodiff/random.h"
#include "adgraph/autodiff/safetensors.h"
#include "adgraph/autodiff/tensor.h"

namespace ad::data {

struct Batch {
  ad::Tensor x;  // rows of X: [b, ...]
  ad::Tensor y;  // rows of y: [b, ...] (undefined when the loader has no y)
};

// The sample order of each epoch, for DataLoader. order(epoch) is called by the loader at the
// start of each epoch (epoch = 0, 1, 2, ...: the loader's epoch() before that epoch starts) and
// returns the rows to visit: Int64 [size()], each in [0, rows of X); rows may repeat (a
// distributed sampler pads its shard so). It must depend on epoch alone, so that a loader
// restored from a checkpoint continues with the same orders.
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::int64_t size() const = 0;  // samples per epoch, >= 1
  virtual ad::Tensor order(std::int64_t epoch) const = 0;
};

class DataLoader {
 public:
  // X and y hold the samples along dim 0 (same count); y may be undefined (unlabelled data).
  // batch_size >= 1; with drop_last the final batch is dropped when smaller than batch_size.
  // `gen` (shuffle only) must outlive the loader; null means ad::default_generator() of the
  // thread calling begin(). Throws ad::Error on an empty X, a row-count mismatch or a bad batch_size.
  DataLoader(ad::Tensor X, ad::Tensor y, std::int64_t batch_size, bool shuffle = false, ad::Generator* gen = nullptr,
             bool drop_last = false);
  // The samples of each epoch in the order sampler->order(epoch) gives (shuffle() is then false:
  // the sampler shuffles); num_batches() counts sampler->size() samples. Throws ad::Error on a
  // null sampler, a sampler of size < 1 and, at each begin(), an order that is not Int64
  // [sampler->size()] with values in [0, rows of X).
  DataLoader(ad::Tensor X, ad::Tensor y, std::int64_t batch_size, std::shared_ptr<const Sampler> sampler,
             bool drop_last = false);

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Batch;

    iterator() = default;
    Batch operator*() const { return loader_->batch(index_); }
    iterator& operator++() {
      ++index_;
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++index_;
      return old;
    }
    bool operator==(const iterator& o) const { return index_ == o.index_; }
    std::int64_t index() const { return index_; }  // batch number within the epoch

   private:
    friend class DataLoader;
    iterator(const DataLoader* l, std::int64_t i) : loader_(l), index_(i) {}
    const DataLoader* loader_ = nullptr;
    std::int64_t index_ = 0;
  };

  // Starts a new epoch (reshuffling when shuffle is on). Iterators of the previous epoch then
  // see the new order: do not nest loops over one loader.
  iterator begin();
  iterator end() const { return iterator(this, num_batches()); }

  std::int64_t num_batches() const;  // batches per epoch (the last one may be partial)
  std::int64_t size() const { return num_batches(); }
  std::int64_t num_samples() const { return n_; }                             // rows of X
  std::int64_t samples_per_epoch() const { return m_; }                       // num_samples(), or the sampler's size()
  const std::shared_ptr<const Sampler>& sampler() const { return sampler_; }  // null without
  std::int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  std::int64_t epoch() const { return epoch_; }  // epochs started so far (calls of begin())
  // The sample order of the current epoch (Int64 [samples_per_epoch]; 0..n-1 without shuffle
  // or sampler).
  const ad::Tensor& order() const { return order_; }
  // Batch i (0-based) of the current epoch; throws ad::Error when out of range.
  Batch batch(std::int64_t i) const;
  // Continues the current epoch from batch i (0 <= i <= num_batches()) without starting a new
  // one: `for (auto it = loader.resume(i); it != loader.end(); ++it)` after restoring a
  // checkpoint taken mid-epoch.
  iterator resume(std::int64_t i) const;

  // State for checkpoints: "epoch" (Int64) and "order" (the current epoch's sample order), plus
  // the settings as checks ("num_samples", "batch_size", "shuffle", "drop_last"). The shuffling
  // generator's state is its own (ad::Generator::state). A loader with a sampler also saves
  // "sampler" (1); its load takes the saved epoch and recomputes the order from its own sampler
  // (sampler->order(epoch - 1)), so a state saved by one rank resumes every rank on its own shard. check_state_dict
  // throws what load_state_dict would, and load changes nothing when it throws.
  ad::NamedTensors state_dict() const;
  void check_state_dict(const ad::NamedTensors& state) const;
  void load_state_dict(const ad::NamedTensors& state);

 private:
  void check_data();
  void check_order(const ad::Tensor& order, const std::string& where) const;
  ad::Tensor X_, y_, order_;
  std::int64_t n_ = 0, m_ = 0, batch_size_ = 1, epoch_ = 0;
  std::shared_ptr<const Sampler> sampler_;
  bool shuffle_ = false, drop_last_ = false;
  ad::Generator* gen_ = nullptr;
};

}  // namespace ad::data
