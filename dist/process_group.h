#pragma once
// Collectives across processes on Open MPI, for data-parallel training (PyTorch's
// torch.distributed process group). Launch with `mpirun -np N program` (on several machines
// with a hostfile, see docs/distributed.md); started without mpirun, a program is one process of
// world size 1 and every collective is a copy.
//
//   ad::dist::ProcessGroup& pg = ad::dist::init(argc, argv);  // once, before any other use
//   pg.allreduce(t, ad::dist::ReduceOp::Mean);                // in place, on every rank
//   ad::dist::Work w = pg.allreduce_async(g);                 // runs on the group's own thread
//   ...                                                       // compute meanwhile
//   w.wait();                                                 // rethrows the collective's error
//
// Every rank must call the same collectives in the same order with tensors of the same dtype and
// shape (allgather: the same shape; reduce_scatter: the same shape, dim 0 divisible by the world
// size). By default each collective first checks that across the ranks (one small allgather of
// a description of the call) and throws ad::Error on every rank naming the op, each rank's dtype
// and shape, and the fix; CollectiveChecks::Off skips that (DistributedDataParallel checks its
// parameters once at construction instead).
//
// Collectives run in the order they were issued on one communication thread per process (the
// blocking ones wait for theirs), so the compute thread keeps computing while one runs: that is
// how gradient buckets overlap the rest of backward. Tensors given to an async collective must
// not be touched until its Work is waited for. A process group may be used from several threads,
// but the ranks must issue collectives in the same order.
//
// Failure: a collective that fails throws ad::Error. run_or_abort(fn) runs fn and, if it throws,
// prints "rank R of N: <error>" and ends the whole job (MPI_Abort) instead of leaving the other
// ranks waiting in a collective forever.
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"

namespace ad::dist {

enum class ReduceOp { Sum, Mean, Max };
enum class CollectiveChecks { On, Off };
// The order in which allreduce adds the ranks' values. Any: as MPI's algorithm does, which may
// group them differently for other world sizes, message sizes or MPI versions (every rank still
// gets the same bits). Ranks: ((x0 + x1) + x2) + ... on every rank, the order one process
// accumulating the ranks' values in turn would use, so results are reproducible bit for bit. It
// gathers every rank's tensor and adds locally: each rank receives (W - 1) times the tensor,
// against about 2 (W - 1) / W times for MPI's ring, and holds W copies meanwhile. Max ignores it.
enum class ReduceOrder { Any, Ranks };

// The completion of an async collective. wait() blocks until it has run on this rank and rethrows
// its error, if any; is_completed() never blocks. A Work that is destroyed without wait() waits.
class Work {
 public:
  Work() = default;
  void wait();
  bool is_completed() const;
  double seconds() const;  // how long the collective itself ran (after wait), for benchmarks
  // When it started and finished on the communication thread, in seconds of a steady clock (0 if
  // not yet); benchmarks compare them with the compute thread's timeline.
  double started_at() const;
  double finished_at() const;
  struct State;
  explicit Work(std::shared_ptr<State> s) : state_(std::move(s)) {}

 private:
  std::shared_ptr<State> state_;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;  // the rank among the processes on this machine
  virtual int local_size() const = 0;

  // How long a collective waits for the other ranks to reach it (default 1800 s, as PyTorch's).
  // Past it the collective throws ad::Error naming itself and the wait; the group is unusable
  // after that (the other ranks may be anywhere), so end the job: run_or_abort does. Any thread.
  virtual void set_timeout(double seconds) = 0;  // > 0
  virtual double timeout() const = 0;

  virtual void barrier() = 0;
  // root's tensor into every rank's (same shape and dtype), in place.
  virtual void broadcast(ad::Tensor& t, int root = 0, CollectiveChecks checks = CollectiveChecks::On) = 0;
  // t = op over the ranks of t, in place (Mean: Sum * (1 / world_size); floating only).
  virtual void allreduce(ad::Tensor& t, ReduceOp op = ReduceOp::Sum, CollectiveChecks checks = CollectiveChecks::On,
                         ReduceOrder order = ReduceOrder::Any) = 0;
  // [world_size, *t.shape]: every rank's t, in rank order.
  virtual ad::Tensor allgather(const ad::Tensor& t, CollectiveChecks checks = CollectiveChecks::On) = 0;
  // t [world_size * k, ...] summed (or op) over the ranks; rank r gets rows [r k, (r + 1) k).
  virtual ad::Tensor reduce_scatter(const ad::Tensor& t, ReduceOp op = ReduceOp::Sum,
                                    CollectiveChecks checks = CollectiveChecks::On) = 0;

  virtual Work broadcast_async(ad::Tensor& t, int root = 0, CollectiveChecks checks = CollectiveChecks::On) = 0;
  virtual Work allreduce_async(ad::Tensor& t, ReduceOp op = ReduceOp::Sum,
                               CollectiveChecks checks = CollectiveChecks::On,
                               ReduceOrder order = ReduceOrder::Any) = 0;
};

// Strings across the ranks (collective; e.g. error messages): root's string on every rank, and
// every rank's string, in rank order, on every rank.
std::string broadcast_string(ProcessGroup& pg, const std::string& s, int root = 0);
std::vector<std::string> allgather_strings(ProcessGroup& pg, const std::string& s);

// Where to log: `out` on rank 0 and, on the other ranks, a stream that discards everything,
// unless every_rank. E.g. ad::dist::log(pg) << "epoch " << e << '\n'; or, for a progress line,
// ProgressOptions{.out = &ad::dist::log(pg)}.
std::ostream& log(const ProcessGroup& pg, bool every_rank = false, std::ostream& out = std::cout);

// Initializes MPI (thread level MPI_THREAD_MULTIPLE) and returns the world's process group; later
// calls return the same group. MPI is finalized at exit.
ProcessGroup& init(int& argc, char**& argv);
ProcessGroup& world();  // after init; throws ad::Error before
bool is_initialized();

// Runs fn; if it throws, prints "rank R of N: <what>" to stderr and aborts the whole job with exit
// code 1 (MPI_Abort), so that no rank waits forever for one that failed. Returns fn's result.
int run_or_abort(const std::function<int()>& fn);

}  // namespace ad::dist
