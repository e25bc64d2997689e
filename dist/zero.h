#pragma once
// Optimizer state sharded across the ranks (ZeRO stage 1; PyTorch's ZeroRedundancyOptimizer,
// which libtorch's C++ API does not have). Each parameter is owned by one rank (the parameters
// are dealt out largest first to the rank that owns the fewest elements so far, which depends
// only on the shapes and the world size); each rank keeps the optimizer state of its own
// parameters only (Adam's two moments: 1/W of the memory), steps them, and then every parameter
// is broadcast from its owner, so all ranks end the step with the same values.
//
//   ad::dist::DistributedDataParallel ddp(model, pg);
//   ad::dist::ZeroRedundancyOptimizer opt(ddp.parameters(), pg, [](std::vector<ad::Tensor> p) {
//     return std::make_unique<ad::optim::Adam>(std::move(p), ad::optim::AdamOptions{.lr = 1e-3});
//   });
//   ... backward; ddp.finish(); opt.step();
//
// The gradients must already be averaged across the ranks (DistributedDataParallel::finish).
// State: consolidated_state_dict() gathers every rank's shard into one optimizer state with the
// parameters numbered globally (collective: every rank calls it; the result is complete on every
// rank, so rank 0 can write it); load_state_dict(state) on every rank takes its own shard of such
// a state, also one written with another world size. Collective calls must be made by every rank
// in the same order.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/optim/optimizer.h"

namespace ad::dist {

class ZeroRedundancyOptimizer {
 public:
  using Factory = std::function<std::unique_ptr<ad::optim::Optimizer>(std::vector<ad::Tensor> params)>;
  // `make` builds the local optimizer over this rank's parameters (one group). Throws ad::Error
  // when a rank would own no parameter (fewer parameters than ranks).
  ZeroRedundancyOptimizer(std::vector<ad::Tensor> params, ProcessGroup& pg, const Factory& make);

  void zero_grad(bool set_to_none = true);  // every parameter's gradient, owned or not
  void step();                              // collective: steps the own shard, then broadcasts

  int owner(std::size_t param_index) const { return owner_.at(param_index); }
  const std::vector<std::size_t>& own_params() const { return own_; }  // global indices, ascending
  ad::optim::Optimizer& local() { return *local_; }
  double lr() const { return local_->lr(); }
  void set_lr(double lr) { local_->set_lr(lr); }

  ad::NamedTensors consolidated_state_dict();  // collective
  // This rank's shard of a consolidated state: check throws what load would (and load changes
  // nothing when it throws).
  void check_state_dict(const ad::NamedTensors& state) const;
  void load_state_dict(const ad::NamedTensors& state);

 private:
  ad::NamedTensors shard_of(const ad::NamedTensors& state) const;
  ProcessGroup& pg_;
  std::vector<ad::Tensor> params_;
  std::vector<int> owner_;
  std::vector<std::size_t> own_;
  std::unique_ptr<ad::optim::Optimizer> local_;
};

}  // namespace ad::dist
