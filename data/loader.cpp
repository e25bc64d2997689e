#include "adgraph/data/loader.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/ops.h"

namespace ad::data {

DataLoader::DataLoader(ad::Tensor X, ad::Tensor y, std::int64_t batch_size, bool shuffle, ad::Generator* gen,
                       bool drop_last)
    : X_(std::move(X)), y_(std::move(y)), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), gen_(gen) {
  check_data();
  std::vector<std::int64_t> identity(static_cast<std::size_t>(n_));
  for (std::int64_t i = 0; i < n_; ++i) identity[static_cast<std::size_t>(i)] = i;
  order_ = ad::index_tensor(identity, {n_});
}

DataLoader::DataLoader(ad::Tensor X, ad::Tensor y, std::int64_t batch_size, std::shared_ptr<const Sampler> sampler,
                       bool drop_last)
    : X_(std::move(X)), y_(std::move(y)), batch_size_(batch_size), sampler_(std::move(sampler)), drop_last_(drop_last) {
  if (!sampler_) throw ad::Error("DataLoader: the sampler is null");
  check_data();
  // The order before the first epoch (what order() shows before begin()): the sampler's first.
  order_ = sampler_->order(0);
  check_order(order_, "DataLoader: ");
}

void DataLoader::check_data() {
  if (!X_.defined() || X_.dim() < 1)
    throw ad::Error("DataLoader: X must be a tensor with the samples along dim 0, got " +
                    (X_.defined() ? ad::shape_str(X_.shape()) : std::string("an undefined tensor")));
  n_ = X_.size(0);
  if (n_ < 1) throw ad::Error("DataLoader: X " + ad::shape_str(X_.shape()) + " has no samples");
  if (y_.defined() && (y_.dim() < 1 || y_.size(0) != n_))
    throw ad::Error("DataLoader: X has " + std::to_string(n_) + " samples but y has shape " +
                    ad::shape_str(y_.shape()) + "; they must agree along dim 0");
  if (batch_size_ < 1) throw ad::Error("DataLoader: batch_size must be >= 1, got " + std::to_string(batch_size_));
  m_ = n_;
  if (sampler_) {
    m_ = sampler_->size();
    if (m_ < 1) throw ad::Error("DataLoader: the sampler gives " + std::to_string(m_) + " samples per epoch");
  }
  if (drop_last_ && batch_size_ > m_)
    throw ad::Error("DataLoader: batch_size " + std::to_string(batch_size_) + " with drop_last and only " +
                    std::to_string(m_) + " samples gives no batch; use a smaller batch_size or drop_last = false");
}

// A sampler's order: Int64 [m_], values rows of X (repeats allowed).
void DataLoader::check_order(const ad::Tensor& order, const std::string& where) const {
  if (!order.defined() || order.dtype() != ad::kInt64 || order.shape() != ad::Shape{m_})
    throw ad::Error(where + "the sampler's order must be Int64 of shape [" + std::to_string(m_) + "], got " +
                    (order.defined() ? std::string(ad::dtype_name(order.dtype())) + " " + ad::shape_str(order.shape())
                                     : std::string("an undefined tensor")));
  const ad::Tensor o = order.contiguous();
  const std::int64_t* p = o.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < m_; ++i)
    if (p[i] < 0 || p[i] >= n_)
      throw ad::Error(where + "the sampler's order holds " + std::to_string(p[i]) + " at " + std::to_string(i) +
                      ", not a row of X (0 to " + std::to_string(n_ - 1) + ")");
}

std::int64_t DataLoader::num_batches() const {
  return drop_last_ ? m_ / batch_size_ : (m_ + batch_size_ - 1) / batch_size_;
}

DataLoader::iterator DataLoader::begin() {
  if (sampler_) {
    ad::Tensor o = sampler_->order(epoch_);
    check_order(o, "DataLoader::begin: ");
    order_ = o.contiguous();
  }
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
  const std::int64_t stop = std::min(m_, start + batch_size_);
  Batch b;
  if (!shuffle_ && !sampler_) {
    b.x = ad::slice(X_, 0, start, stop);
    if (y_.defined()) b.y = ad::slice(y_, 0, start, stop);
  } else {
    const ad::Tensor idx = ad::slice(order_, 0, start, stop);
    b.x = ad::index_select(X_, 0, idx);
    if (y_.defined()) b.y = ad::index_select(y_, 0, idx);
  }
  return b;
}

DataLoader::iterator DataLoader::resume(std::int64_t i) const {
  if (i < 0 || i > num_batches())
    throw ad::Error("DataLoader::resume: batch " + std::to_string(i) + " is out of range (0 to " +
                    std::to_string(num_batches()) + ")");
  return iterator(this, i);
}

namespace {

ad::Tensor int_scalar(std::int64_t v) { return ad::index_tensor({v}, {}); }

}  // namespace

ad::NamedTensors DataLoader::state_dict() const {
  ad::NamedTensors state{{"epoch", int_scalar(epoch_)},
                         {"order", order_.clone()},
                         {"num_samples", int_scalar(n_)},
                         {"batch_size", int_scalar(batch_size_)},
                         {"shuffle", int_scalar(shuffle_ ? 1 : 0)},
                         {"drop_last", int_scalar(drop_last_ ? 1 : 0)}};
  if (sampler_) state.emplace_back("sampler", int_scalar(1));
  return state;
}

void DataLoader::check_state_dict(const ad::NamedTensors& state) const {
  const std::string where = "DataLoader::load_state_dict: ";
  std::map<std::string, ad::Tensor> e;
  for (const auto& [key, t] : state) {
    if (!t.defined() || t.dtype() != ad::kInt64) throw ad::Error(where + "entry '" + key + "' must be an Int64 tensor");
    if (!e.emplace(key, t).second) throw ad::Error(where + "entry '" + key + "' appears twice");
  }
  const std::vector<std::pair<std::string, std::int64_t>> settings{{"num_samples", n_},
                                                                   {"batch_size", batch_size_},
                                                                   {"shuffle", shuffle_ ? 1 : 0},
                                                                   {"drop_last", drop_last_ ? 1 : 0}};
  for (const auto& [key, mine] : settings) {
    const auto it = e.find(key);
    if (it == e.end() || it->second.numel() != 1) throw ad::Error(where + "missing entry '" + key + "'");
    const auto saved = static_cast<std::int64_t>(it->second.item());
    if (saved != mine)
      throw ad::Error(where + key + " is " + std::to_string(saved) + " in the state but " + std::to_string(mine) +
                      " in this loader; build it with the data and settings it was saved with");
  }
  const auto ep = e.find("epoch");
  if (ep == e.end() || ep->second.numel() != 1 || ep->second.item() < 0)
    throw ad::Error(where + "missing or negative entry 'epoch'");
  const auto smp = e.find("sampler");
  if (sampler_ && (smp == e.end() || smp->second.numel() != 1 || smp->second.item() != 1))
    throw ad::Error(where + "the state is of a loader without a sampler but this one has one");
  if (!sampler_ && smp != e.end())
    throw ad::Error(where + "the state is of a loader with a sampler but this one has none");
  const auto ord = e.find("order");
  if (sampler_) {
    // Only checked: load recomputes the order from this loader's own sampler (another rank's
    // shard, or another world size's, may have been saved).
    if (ord == e.end() || ord->second.dim() != 1) throw ad::Error(where + "missing or not 1-D entry 'order'");
    if (e.size() != settings.size() + 3) throw ad::Error(where + "unexpected entries besides the loader's state");
    return;
  }
  if (ord == e.end() || ord->second.shape() != ad::Shape{n_})
    throw ad::Error(where + "entry 'order' must be Int64 of shape [" + std::to_string(n_) + "]");
  std::vector<bool> seen(static_cast<std::size_t>(n_), false);
  const ad::Tensor o = ord->second.contiguous();
  const std::int64_t* p = o.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n_; ++i) {
    if (p[i] < 0 || p[i] >= n_ || seen[static_cast<std::size_t>(p[i])])
      throw ad::Error(where + "entry 'order' is not a permutation of 0.." + std::to_string(n_ - 1) + " (index " +
                      std::to_string(i) + " holds " + std::to_string(p[i]) + ")");
    seen[static_cast<std::size_t>(p[i])] = true;
  }
  if (e.size() != settings.size() + 2) throw ad::Error(where + "unexpected entries besides the loader's state");
}

void DataLoader::load_state_dict(const ad::NamedTensors& state) {
  check_state_dict(state);
  std::int64_t epoch = 0;
  ad::Tensor order;
  for (const auto& [key, t] : state) {
    if (key == "epoch") epoch = static_cast<std::int64_t>(t.item());
    if (key == "order") order = t.contiguous().clone();
  }
  if (sampler_) {
    // The current epoch's order is the sampler's for it (begin() had drawn order(epoch - 1)).
    order = sampler_->order(epoch > 0 ? epoch - 1 : 0);
    check_order(order, "DataLoader::load_state_dict: ");
    order = order.contiguous();
  }
  epoch_ = epoch;
  order_ = order;
}

}  // namespace ad::data
