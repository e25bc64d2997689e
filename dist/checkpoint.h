#pragma once
// A whole-run checkpoint of data-parallel training (train::Checkpoint across the ranks): one
// file, written by rank 0 only, that any world size can load.
//
//   ad::dist::Checkpoint ckpt(pg);
//   ckpt.add("model", ddp.module()).add("optimizer", zero).add("loader", loader).add("epoch", epoch);
//   ckpt.save("run.ckpt");  // collective: ZeRO's shards gathered; rank 0 writes the file atomically
//   ...                     // later, maybe with another number of ranks: the same objects, then
//   ckpt.load("run.ckpt");  // collective: every rank reads and checks the file; all load or none
//
// Parts are registered as for train::Checkpoint (the model, plain optimizers, schedules, loaders,
// generators, counters), plus a ZeroRedundancyOptimizer, which is saved as its consolidated state
// (the plain optimizer's layout, so a plain optimizer can load it too, and vice versa).
//
// save(path): every rank must call it. The shards of each ZeroRedundancyOptimizer are gathered,
// then rank 0 writes the file (atomically: a crash mid-write leaves the previous file). The other
// parts are rank 0's: the model (the same on every rank under DistributedDataParallel), its
// loader's epoch and position, its generators and counters. An error on rank 0 (a full disk, a
// directory that does not exist) is thrown on every rank, so no rank goes on believing a
// checkpoint was written.
//
// load(path): every rank must call it, and every rank reads `path` (on several machines, a
// shared file system or a copy on each). Each rank checks the file against its own objects; only
// when every rank's checks passed do all ranks write their objects, so a failure on any rank
// (a missing file, another model) throws ad::Error on every rank naming the ranks that failed and
// why, and leaves every rank's objects as they were. A ZeroRedundancyOptimizer takes its own
// shard of the saved state, whatever the world size it was saved with. A DataLoader with a
// DistributedSampler continues on this rank's own shard (the sampler's order depends on the epoch
// alone), at the saved epoch and batch; with another world size the shards differ, so only the
// epoch carries over exactly.
#include <cstdint>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/dist/zero.h"
#include "adgraph/train/checkpoint.h"

namespace ad::dist {

class Checkpoint {
 public:
  explicit Checkpoint(ProcessGroup& pg) : pg_(pg) {}

  // Anything train::Checkpoint takes (nn::Module, optim::Optimizer, schedules, data::DataLoader,
  // ad::Generator, std::int64_t counters).
  template <class T>
  Checkpoint& add(const std::string& name, T& object) {
    inner_.add(name, object);
    return *this;
  }
  // Saved as its consolidated state (collective at save).
  Checkpoint& add(const std::string& name, ZeroRedundancyOptimizer& optimizer);

  void save(const std::string& path);  // collective
  void load(const std::string& path);  // collective
  std::vector<std::string> part_names() const { return inner_.part_names(); }

 private:
  ProcessGroup& pg_;
  train::Checkpoint inner_;
  std::vector<ZeroRedundancyOptimizer*> zero_;
  std::vector<ad::NamedTensors> gathered_;  // each ZeRO optimizer's consolidated state, during save
};

}  // namespace ad::dist
