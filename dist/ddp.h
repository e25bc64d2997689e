#pragma once
// Data-parallel training of any nn::Module (PyTorch's DistributedDataParallel): the same model on
// every rank, each rank on its shard of every batch (DistributedSampler), gradients averaged
// across the ranks before each optimizer step.
//
//   ad::dist::ProcessGroup& pg = ad::dist::init(argc, argv);
//   auto model = std::make_shared<MyNet>();                    // same architecture on every rank
//   ad::dist::DistributedDataParallel ddp(model, pg);          // rank 0's parameters everywhere
//   ad::optim::SGD opt(ddp.parameters(), {.lr = 0.1});
//   for (auto [xb, yb] : loader) {                             // this rank's shard
//     opt.zero_grad();
//     ad::Tensor loss = loss_fn(ddp(xb), yb);
//     loss.backward();                                         // buckets start reducing meanwhile
//     ddp.finish();                                            // wait: .grad = mean over the ranks
//     opt.step();
//   }
//
// Construction (collective): checks that every rank's model has the same parameters and buffers
// (names, dtypes, shapes; one allgather of a digest) and otherwise throws ad::Error on every rank
// naming the first one that differs and what each rank has; then broadcasts every parameter and
// buffer from rank 0. The model is registered as the child "module", so ddp.parameters() are the
// model's ("module.fc1.weight", ...) and an optimizer built on either steps the same tensors.
// Convert the model (to(dtype)) before wrapping it: the wrapper hooks the parameters it sees.
//
// Gradients: the parameters that require grad are grouped into buckets in reverse registration
// order (roughly the order backward produces their gradients), one dtype per bucket, at most
// bucket_cap_mb each (the first one first_bucket_cap_mb, so communication starts early). Each
// parameter's post-accumulate gradient hook marks it ready; once every gradient of a bucket is
// ready they are copied into the bucket's flat buffer, divided by the world size, and the
// bucket's allreduce (a sum, so the result is the mean) is started on the process group's
// communication thread, buckets strictly in order so that every rank issues the same collectives.
// finish() (after backward, before optimizer.step()) launches what is left, waits for every
// bucket and makes each parameter's .grad a view of its reduced bucket (PyTorch's
// gradient_as_bucket_view: nothing is copied back; an optimizer that zeroes .grad in place lets
// the next backward accumulate straight into the bucket). So a .grad tensor kept across
// iterations sees the next iteration's values. A second backward before finish() would change
// gradients already being reduced: it throws ad::Error in that backward (use no_sync()). With
// world size 1 nothing is copied or sent: .grad stays as backward left it.
//
// no_sync(): inside the scope backward only accumulates .grad locally; the first synchronized
// backward after it (and finish) reduces the accumulated gradients, as PyTorch's no_sync.
//
// Parameters that got no gradient since the last finish() (not reached by backward): with
// find_unused_parameters they are reduced as zeros, and a parameter unused on every rank keeps
// its .grad untouched (as in one process, where it gets none); without it finish() still
// completes the reduction on every rank (so no rank is left waiting) and then throws ad::Error
// naming them and suggesting the option.
//
// Buffers (BatchNorm's running statistics): broadcast from rank 0 before each forward
// (PyTorch's broadcast_buffers = true), so every rank normalizes with rank 0's statistics in
// eval mode and checkpoints of rank 0 hold them; they are not averaged (in training mode
// nn::BatchNorm uses each rank's own batch statistics; dist::SyncBatchNorm, the global batch's).
// broadcast_buffers = false leaves each rank's buffers its own.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/nn/module.h"

namespace ad::dist {

struct DDPOptions {
  double bucket_cap_mb = 25.0;       // PyTorch's default; MB = 2^20 bytes
  double first_bucket_cap_mb = 1.0;  // the first bucket (the last layers' gradients), capped by bucket_cap_mb
  bool find_unused_parameters = false;
  bool broadcast_buffers = true;
  // Ranks: each bucket is summed in rank order and then divided by the world size (instead of
  // divided first and summed in MPI's order), so W ranks take exactly the steps of one process
  // that accumulates the W shards' gradients in rank order and divides by W, bit for bit (see
  // ReduceOrder for its cost: fine for reproducible runs of a few ranks).
  ReduceOrder reduce_order = ReduceOrder::Any;
};

// Timings of one synchronized iteration's buckets, in seconds of the steady clock of
// Work::started_at (so the compute thread's timeline can be compared).
struct DDPBucketStats {
  std::int64_t bytes = 0;  // payload reduced
  double launched_at = 0;  // when the compute thread queued its allreduce
  double started_at = 0;   // when it started and finished on the communication thread
  double finished_at = 0;
  double seconds = 0;                 // how long the allreduce ran
  bool launched_in_backward = false;  // from a gradient hook (not from finish())
};

struct DDPStepStats {
  std::int64_t bytes_reduced = 0;
  double backward_end = 0;    // when finish() was called: the end of backward
  double finish_seconds = 0;  // how long finish() took (waiting, averaging, copying back)
  std::vector<DDPBucketStats> buckets;
  double comm_seconds() const;     // sum of the buckets' allreduce times
  double hidden_seconds() const;   // the part of them that ran before backward_end
  double hidden_fraction() const;  // hidden / comm (1 when nothing was reduced)
};

class DistributedDataParallel : public ad::nn::Module {
 public:
  // Collective (every rank, same order): see above. Throws ad::Error on a null module, a bad
  // bucket cap and models that differ across the ranks.
  DistributedDataParallel(std::shared_ptr<ad::nn::Module> module, ProcessGroup& pg, DDPOptions options = {});
  ~DistributedDataParallel() override;

  // Broadcasts the buffers (broadcast_buffers; collective) and runs the wrapped module.
  ad::Tensor forward(const ad::Tensor& x) override;
  // A const wrapper cannot synchronize: throws ad::Error (use a non-const one).
  ad::Tensor forward(const ad::Tensor& x) const override;

  // Collective: waits for every bucket's allreduce (launching those not yet launched) and sets
  // each parameter's .grad to the mean over the ranks. Inside no_sync() it does nothing.
  void finish();

  // Gradient accumulation without communication while the returned scope lives.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& d) : ddp_(&d), previous_(d.sync_) { d.sync_ = false; }
    ~NoSync() {
      if (ddp_) ddp_->sync_ = previous_;
    }
    NoSync(NoSync&& o) noexcept : ddp_(o.ddp_), previous_(o.previous_) { o.ddp_ = nullptr; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;
    NoSync& operator=(NoSync&&) = delete;

   private:
    DistributedDataParallel* ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }
  bool require_grad_sync() const { return sync_; }

  ad::nn::Module& module() { return *module_; }
  const ad::nn::Module& module() const { return *module_; }
  ProcessGroup& process_group() { return pg_; }
  const DDPOptions& options() const { return options_; }
  std::string extra_repr() const override;

  // The buckets, in launch order, as the wrapped module's parameter names.
  std::vector<std::vector<std::string>> bucket_names() const;
  // Counters: the last synchronized iteration, and totals since construction.
  const DDPStepStats& last_step() const { return last_; }
  std::int64_t steps() const { return steps_; }
  std::int64_t total_bytes_reduced() const { return total_bytes_; }

 private:
  struct Param {
    std::string name;
    ad::Tensor tensor;
    std::size_t bucket = 0;
    std::int64_t offset = 0;  // in the bucket's flat buffer, elements
    std::uint64_t hook = 0, pre_hook = 0;
    bool ready = false;  // its hook ran in this synchronized backward
    bool seen = false;   // its hook ran since the last finish() (no_sync passes too)
  };
  struct Bucket {
    std::vector<std::size_t> params;
    ad::Tensor flat;  // [numel (+ one used-flag per parameter with find_unused_parameters)]
    std::int64_t numel = 0;
    std::size_t pending = 0;
    bool launched = false;
    Work work;
    DDPBucketStats stats;
  };
  void check_models_agree();
  void broadcast_state();
  void check_not_sent(std::size_t index);
  void on_grad_ready(std::size_t index);
  void launch(std::size_t bucket, bool in_backward);  // with mu_ held
  void reset_iteration();

  std::shared_ptr<ad::nn::Module> module_;
  ProcessGroup& pg_;
  DDPOptions options_;
  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::size_t next_launch_ = 0;
  bool sync_ = true;
  std::mutex mu_;
  DDPStepStats last_;
  std::int64_t steps_ = 0, total_bytes_ = 0;
};

}  // namespace ad::dist
