#include "adgraph/dist/zero.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <string>
#include <utility>

namespace ad::dist {
namespace {

std::string param_key(std::size_t i, const std::string& rest) { return "param." + std::to_string(i) + "." + rest; }

// "param.<i>.<rest>" -> {i, rest}; false for other keys.
bool split_param_key(const std::string& key, std::size_t& i, std::string& rest) {
  if (!key.starts_with("param.")) return false;
  const std::size_t dot = key.find('.', 6);
  if (dot == std::string::npos) return false;
  i = static_cast<std::size_t>(std::stoull(key.substr(6, dot - 6)));
  rest = key.substr(dot + 1);
  return true;
}

ad::Tensor int_tensor(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return ad::index_tensor(v, {n});
}

// root's tensor (any dtype and shape) on every rank.
ad::Tensor broadcast_tensor(ProcessGroup& pg, const ad::Tensor& t, int root) {
  std::vector<std::int64_t> meta(10, 0);
  if (pg.rank() == root) {
    meta[0] = static_cast<std::int64_t>(t.dtype());
    meta[1] = t.dim();
    for (std::int64_t d = 0; d < t.dim() && d < 8; ++d) meta[static_cast<std::size_t>(2 + d)] = t.size(d);
  }
  ad::Tensor m = int_tensor(meta);
  pg.broadcast(m, root, CollectiveChecks::Off);
  const std::int64_t* p = m.data_ptr<std::int64_t>();
  if (p[1] > 8) throw ad::Error("ZeroRedundancyOptimizer: a state tensor has more than 8 dims");
  ad::Shape shape(p + 2, p + 2 + p[1]);
  ad::Tensor out =
      pg.rank() == root ? t.contiguous().clone() : ad::zeros(shape, ad::dtype(static_cast<ad::Dtype>(p[0])));
  if (out.numel() > 0) pg.broadcast(out, root, CollectiveChecks::Off);
  return out;
}

}  // namespace

ZeroRedundancyOptimizer::ZeroRedundancyOptimizer(std::vector<ad::Tensor> params, ProcessGroup& pg, const Factory& make)
    : pg_(pg), params_(std::move(params)) {
  const int world = pg.world_size();
  if (params_.size() < static_cast<std::size_t>(world))
    throw ad::Error("ZeroRedundancyOptimizer: " + std::to_string(params_.size()) + " parameters for " +
                    std::to_string(world) + " ranks; every rank must own at least one (use fewer ranks)");
  // Largest first, each to the rank that owns the fewest elements so far (ties: the lower rank,
  // then the lower index): the same on every rank, from the shapes alone.
  std::vector<std::size_t> order(params_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return params_[a].numel() > params_[b].numel(); });
  std::vector<std::int64_t> load(static_cast<std::size_t>(world), 0);
  owner_.assign(params_.size(), 0);
  for (std::size_t i : order) {
    const auto r = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    owner_[i] = static_cast<int>(r);
    load[r] += std::max<std::int64_t>(params_[i].numel(), 1);
  }
  std::vector<ad::Tensor> mine;
  for (std::size_t i = 0; i < params_.size(); ++i)
    if (owner_[i] == pg.rank()) {
      own_.push_back(i);
      mine.push_back(params_[i]);
    }
  local_ = make(std::move(mine));
  if (!local_) throw ad::Error("ZeroRedundancyOptimizer: the factory returned no optimizer");
  if (local_->num_param_groups() != 1)
    throw ad::Error("ZeroRedundancyOptimizer: the factory must build an optimizer with one param group");
}

void ZeroRedundancyOptimizer::zero_grad(bool set_to_none) {
  for (auto& p : params_) {
    if (set_to_none)
      p.set_grad(ad::Tensor());
    else
      p.zero_grad();
  }
}

void ZeroRedundancyOptimizer::step() {
  local_->step();
  ad::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) pg_.broadcast(params_[i], owner_[i], CollectiveChecks::Off);
}

ad::NamedTensors ZeroRedundancyOptimizer::consolidated_state_dict() {
  const ad::NamedTensors local = local_->state_dict();
  ad::NamedTensors out;
  for (const auto& [key, t] : local) {  // the step count and the group's entries: the same on every rank
    if (key.starts_with("param.")) continue;
    if (key == "group.0.params")
      out.emplace_back(key, int_tensor({static_cast<std::int64_t>(params_.size())}).reshape({}));
    else
      out.emplace_back(key, t);
  }
  std::map<std::size_t, ad::NamedTensors> by_param;  // global index -> its entries
  for (int r = 0; r < pg_.world_size(); ++r) {
    ad::NamedTensors shard;
    if (r == pg_.rank())
      for (const auto& [key, t] : local) {
        std::size_t i = 0;
        std::string rest;
        if (split_param_key(key, i, rest)) shard.emplace_back(param_key(own_[i], rest), t);
      }
    ad::Tensor count = int_tensor({static_cast<std::int64_t>(shard.size())});
    pg_.broadcast(count, r, CollectiveChecks::Off);
    const std::int64_t n = count.data_ptr<std::int64_t>()[0];
    for (std::int64_t k = 0; k < n; ++k) {
      const bool root = r == pg_.rank();
      const std::string name = broadcast_string(pg_, root ? shard[static_cast<std::size_t>(k)].first : "", r);
      const ad::Tensor value =
          broadcast_tensor(pg_, root ? shard[static_cast<std::size_t>(k)].second : ad::Tensor(), r);
      std::size_t i = 0;
      std::string rest;
      split_param_key(name, i, rest);
      by_param[i].emplace_back(name, value);
    }
  }
  for (auto& [i, entries] : by_param)
    for (auto& e : entries) out.push_back(std::move(e));
  return out;
}

ad::NamedTensors ZeroRedundancyOptimizer::shard_of(const ad::NamedTensors& state) const {
  std::map<std::size_t, std::size_t> local_of;  // global -> local index
  for (std::size_t k = 0; k < own_.size(); ++k) local_of[own_[k]] = k;
  ad::NamedTensors local;
  bool has_count = false;
  for (const auto& [key, t] : state) {
    std::size_t i = 0;
    std::string rest;
    if (split_param_key(key, i, rest)) {
      if (i >= params_.size())
        throw ad::Error("ZeroRedundancyOptimizer: entry '" + key + "' is for parameter " + std::to_string(i) +
                        ", but there are " + std::to_string(params_.size()));
      const auto it = local_of.find(i);
      if (it != local_of.end()) local.emplace_back(param_key(it->second, rest), t);
    } else if (key == "group.0.params") {
      has_count = true;
      const std::int64_t n = t.numel() == 1 ? static_cast<std::int64_t>(t.item()) : -1;
      if (n != static_cast<std::int64_t>(params_.size()))
        throw ad::Error("ZeroRedundancyOptimizer: the state is for " + std::to_string(n) +
                        " parameters, this optimizer has " + std::to_string(params_.size()) +
                        " (a consolidated_state_dict of the same model is needed)");
      local.emplace_back(key, int_tensor({static_cast<std::int64_t>(own_.size())}).reshape({}));
    } else {
      local.emplace_back(key, t);
    }
  }
  if (!has_count) throw ad::Error("ZeroRedundancyOptimizer: not a consolidated optimizer state (no 'group.0.params')");
  return local;
}

void ZeroRedundancyOptimizer::check_state_dict(const ad::NamedTensors& state) const {
  local_->check_state_dict(shard_of(state));
}

void ZeroRedundancyOptimizer::load_state_dict(const ad::NamedTensors& state) {
  local_->load_state_dict(shard_of(state));
}

}  // namespace ad::dist
