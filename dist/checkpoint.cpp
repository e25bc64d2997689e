#include "adgraph/dist/checkpoint.h"

#include <exception>
#include <utility>

namespace ad::dist {

Checkpoint& Checkpoint::add(const std::string& name, ZeroRedundancyOptimizer& optimizer) {
  const std::size_t i = zero_.size();
  // The kind of the plain optimizer, whose state layout the consolidated one has.
  inner_.add(
      name, "optimizer:" + optimizer.local().name(),
      [this, i] {
        if (i >= gathered_.size())
          throw ad::Error("dist::Checkpoint: the sharded optimizer's state is gathered by save() on every rank");
        return gathered_[i];
      },
      [&optimizer](const ad::NamedTensors& s) { optimizer.check_state_dict(s); },
      [&optimizer](const ad::NamedTensors& s) { optimizer.load_state_dict(s); });
  zero_.push_back(&optimizer);
  return *this;
}

void Checkpoint::save(const std::string& path) {
  gathered_.clear();
  for (ZeroRedundancyOptimizer* z : zero_) gathered_.push_back(z->consolidated_state_dict());  // collective
  std::string error;
  if (pg_.rank() == 0) {
    try {
      inner_.save(path);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  gathered_.clear();
  error = broadcast_string(pg_, error, 0);
  if (!error.empty()) throw ad::Error("dist::Checkpoint::save: rank 0 could not write the checkpoint: " + error);
}

void Checkpoint::load(const std::string& path) {
  // Every rank reports its checks' outcome; the ranks write their objects only if all passed.
  const auto failures = [this](const std::string& mine) {
    const std::vector<std::string> all = allgather_strings(pg_, mine);
    std::string msg;
    for (std::size_t r = 0; r < all.size(); ++r)
      if (!all[r].empty()) msg += (msg.empty() ? "rank " : "; rank ") + std::to_string(r) + ": " + all[r];
    return msg;
  };
  const std::string nothing = "dist::Checkpoint::load: nothing was loaded on any rank: ";
  bool agreed = false;
  try {
    inner_.load(path, [&] {
      agreed = true;
      const std::string msg = failures("");
      if (!msg.empty()) throw ad::Error(nothing + msg);
    });
  } catch (const std::exception& e) {
    if (agreed) throw;
    throw ad::Error(nothing + failures(e.what()));
  }
}

}  // namespace ad::dist
