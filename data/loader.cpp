#include "adgraph/data/loader.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/ops.h"

namespace ad::data {

DataLoader::DataLoader(ad::Tensor X, ad::Tensor y, std::int64_t batch_size, bool shuffle, ad::Generator* gen,
                       bool drop_last)
    : X_(std::move(X)), y_(std::move(y)), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), gen_(gen) {
  if (!X_.defined() || X_.dim() < 1)
    throw ad::Error("DataLoader: X must be a tensor with the samples along dim 0, got " +
                    (X_.defined() ? ad::shape_str(X_.shape()) : std::string("an undefined tensor")));
  n_ = X_.size(0);
  if (n_ < 1) throw ad::Error("DataLoader: X " + ad::shape_str(X_.shape()) + " has no samples");
  if (y_.defined() && (y_.dim() < 1 || y_.size(0) != n_))
    throw ad::Error("DataLoader: X has " + std::to_string(n_) + " samples but y has shape " +
                    ad::shape_str(y_.shape()) + "; they must agree along dim 0");
  if (batch_size_ < 1) throw ad::Error("DataLoader: batch_size must be >= 1, got " + std::to_string(batch_size_));
  if (drop_last_ && batch_size_ > n_)
    throw ad::Error("DataLoader: batch_size " + std::to_string(batch_size_) + " with drop_last and only " +
                    std::to_string(n_) + " samples gives no batch; use a smaller batch_size or drop_last = false");
  std::vector<std::int64_t> identity(static_cast<std::size_t>(n_));
  for (std::int64_t i = 0; i < n_; ++i) identity[static_cast<std::size_t>(i)] = i;
  order_ = ad::index_tensor(identity, {n_});
}

std::int64_t DataLoader::num_batches() const {
  return drop_last_ ? n_ / batch_size_ : (n_ + batch_size_ - 1) / batch_size_;
}

DataLoader::iterator DataLoader::begin() {
  ++epoch_;
  if (shuffle_) order_ = ad::randperm(n_, gen_ ? gen_ : &ad::default_generator());
  return iterator(this, 0);
}

Batch DataLoader::batch(std::int64_t i) const {
  const std::int64_t nb = num_batches();
  if (i < 0 || i >= nb)
    throw ad::Error("DataLoader::batch: batch " + std::to_string(i) + " is out of range (" + std::to_string(nb) +
                    " batches per epoch)");
  const std::int64_t start = i * batch_size_;
  const std::int64_t stop = std::min(n_, start + batch_size_);
  Batch b;
  if (!shuffle_) {
    b.x = ad::slice(X_, 0, start, stop);
    if (y_.defined()) b.y = ad::slice(y_, 0, start, stop);
  } else {
    const ad::Tensor idx = ad::slice(order_, 0, start, stop);
    b.x = ad::index_select(X_, 0, idx);
    if (y_.defined()) b.y = ad::index_select(y_, 0, idx);
  }
  return b;
}

}  // namespace ad::data
