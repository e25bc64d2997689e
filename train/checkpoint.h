#pragma once
// One file that holds everything a training run needs to continue bit for bit: the model's
// parameters and buffers, the optimizer's state, the schedules', the data loader's epoch and
// sample order, the generators' states and the counters (epoch, step).
//
//   ad::train::Checkpoint ckpt;
//   ckpt.add("model", model).add("optimizer", opt).add("scheduler", sched)
//       .add("loader", loader).add("rng", gen).add("epoch", epoch);
//   ckpt.save("run.ckpt");  // atomic: a crash mid-write leaves the previous file
//   ...                     // in a fresh process, build the same objects, then
//   ckpt.load("run.ckpt");  // everything checked first: on any error nothing is changed
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/loader.h"
#include "adgraph/nn/module.h"
#include "adgraph/optim/lr_scheduler.h"
#include "adgraph/optim/optimizer.h"

namespace ad::train {

// The parts are registered by reference under unique names (no '.'): the objects must outlive
// the Checkpoint. The file is a safetensors file (tensors "<part>.<entry>", metadata
// "adgraph.checkpoint" and "part.<name>" = the part's kind, e.g. "optimizer:Adam"), so any
// safetensors reader can open it.
//
// load(path) reads the file, checks that it holds exactly the registered parts with matching
// kinds, checks each part's state against its object (names, shapes, dtypes, options, schedule
// constants, loader settings) and only then writes them all. Any failure (missing or corrupt
// file, a missing or extra part, any mismatch) throws ad::Error naming the part, and leaves every
// object exactly as it was.
//
// Threads: save and load read and write the registered objects; no other thread may use them
// meanwhile.
class Checkpoint {
 public:
  Checkpoint& add(const std::string& name, nn::Module& model);  // named_state(): parameters and buffers
  Checkpoint& add(const std::string& name, optim::Optimizer& optimizer);
  Checkpoint& add(const std::string& name, optim::LRScheduler& scheduler);
  Checkpoint& add(const std::string& name, optim::ReduceLROnPlateau& scheduler);
  Checkpoint& add(const std::string& name, data::DataLoader& loader);
  Checkpoint& add(const std::string& name, ad::Generator& generator);  // e.g. ad::default_generator()
  Checkpoint& add(const std::string& name, std::int64_t& counter);     // epoch, step, ...
  // Any other object with a state, e.g. a sharded optimizer: `kind` is stored and must match at
  // load ("optimizer:Adam"); check throws ad::Error on a state that load would refuse.
  Checkpoint& add(const std::string& name, const std::string& kind, std::function<ad::NamedTensors()> save,
                  std::function<void(const ad::NamedTensors&)> check,
                  std::function<void(const ad::NamedTensors&)> load);

  void save(const std::string& path) const;
  void load(const std::string& path);
  // As load(path), with before_writing() called once every check has passed and before any
  // object is written: if it throws, nothing is changed (dist::Checkpoint lets every rank agree).
  void load(const std::string& path, const std::function<void()>& before_writing);
  std::vector<std::string> part_names() const;

 private:
  struct Part {
    std::string name;
    std::string kind;
    std::function<ad::NamedTensors()> save;
    std::function<void(const ad::NamedTensors&)> check;
    std::function<void(const ad::NamedTensors&)> load;
  };
  Checkpoint& add_part(Part part);
  std::vector<Part> parts_;
};

}  // namespace ad::train
