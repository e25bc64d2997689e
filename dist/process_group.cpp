#include "adgraph/dist/process_group.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

namespace ad::dist {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const char* op_name(int code) {
  static const char* names[] = {"barrier", "broadcast", "allreduce", "allgather", "reduce_scatter"};
  return code >= 0 && code < 5 ? names[code] : "collective";
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw ad::Error(std::string("dist: ") + what + " failed: " + std::string(msg, static_cast<std::size_t>(len)));
}

MPI_Datatype mpi_type(ad::Dtype d, const char* op) {
  switch (d) {
    case ad::kFloat32:
      return MPI_FLOAT;
    case ad::kFloat64:
      return MPI_DOUBLE;
    case ad::kInt64:
      return MPI_INT64_T;
    default:
      throw ad::Error(std::string("dist::") + op + ": " + ad::dtype_name(d) +
                      " tensors are not supported; use Float32, Float64 or Int64 (convert with .to())");
  }
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Max ? MPI_MAX : MPI_SUM; }

// MPI counts are ints: a tensor of more elements must be split by the caller.
int count_of(const ad::Tensor& t, const char* op) {
  if (t.numel() > std::numeric_limits<int>::max())
    throw ad::Error(std::string("dist::") + op + ": the tensor " + ad::shape_str(t.shape()) + " has " +
                    std::to_string(t.numel()) + " elements, more than MPI's limit of 2^31 - 1 per call; split it");
  return static_cast<int>(t.numel());
}

void divide(ad::Tensor& t, int n) {
  ad::NoGradGuard no_grad;
  t.mul_(1.0 / static_cast<double>(n));
}

}  // namespace

// ---- Work

struct Work::State {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  // The failure's message. An exception object is not handed from the communication thread to
  // the waiting one: wait() throws a fresh ad::Error, so no exception is shared between threads.
  bool failed = false;
  std::string error;
  double started = 0.0, finished = 0.0;
};

void Work::wait() {
  if (!state_) return;
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  if (state_->failed) {
    state_->failed = false;  // thrown once
    throw ad::Error(state_->error);
  }
}

bool Work::is_completed() const {
  if (!state_) return true;
  std::lock_guard lock(state_->mu);
  return state_->done;
}

double Work::seconds() const {
  if (!state_) return 0.0;
  std::lock_guard lock(state_->mu);
  return state_->done ? state_->finished - state_->started : 0.0;
}

double Work::started_at() const {
  if (!state_) return 0.0;
  std::lock_guard lock(state_->mu);
  return state_->started;
}

double Work::finished_at() const {
  if (!state_) return 0.0;
  std::lock_guard lock(state_->mu);
  return state_->finished;
}

// ---- the MPI process group: collectives run FIFO on one communication thread

namespace {

class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup() {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
    thread_ = std::thread([this] { loop(); });
  }
  ~MpiGroup() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    MPI_Comm_free(&comm_);
  }

  void set_timeout(double seconds) override {
    if (!(seconds > 0))
      throw ad::Error("dist::set_timeout: the timeout must be > 0 seconds, got " + std::to_string(seconds));
    timeout_.store(seconds);
  }
  double timeout() const override { return timeout_.load(); }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void barrier() override {
    submit([this] { arrive("barrier"); }).wait();
  }

  void broadcast(ad::Tensor& t, int root, CollectiveChecks checks) override { broadcast_async(t, root, checks).wait(); }
  void allreduce(ad::Tensor& t, ReduceOp op, CollectiveChecks checks, ReduceOrder order) override {
    allreduce_async(t, op, checks, order).wait();
  }

  Work broadcast_async(ad::Tensor& t, int root, CollectiveChecks checks) override {
    check_root(root, "broadcast");
    require_contiguous(t, "broadcast");
    const MPI_Datatype type = mpi_type(t.dtype(), "broadcast");
    const int count = count_of(t, "broadcast");
    ad::Tensor target = t;
    return submit([this, target, root, checks, type, count]() mutable {
      arrive("broadcast");
      if (checks == CollectiveChecks::On) agree(1, target, root);
      check_mpi(MPI_Bcast(raw(target), count, type, root, comm_), "broadcast");
      bump_version(target);  // an in-place write
    });
  }

  Work allreduce_async(ad::Tensor& t, ReduceOp op, CollectiveChecks checks, ReduceOrder order) override {
    require_contiguous(t, "allreduce");
    const MPI_Datatype type = mpi_type(t.dtype(), "allreduce");
    const int count = count_of(t, "allreduce");
    if (op == ReduceOp::Mean && !ad::is_floating(t.dtype()))
      throw ad::Error("dist::allreduce: Mean needs a floating tensor, got " + std::string(ad::dtype_name(t.dtype())));
    const bool in_rank_order = order == ReduceOrder::Ranks && op != ReduceOp::Max && size_ > 1;
    ad::Tensor target = t;
    return submit([this, target, op, checks, type, count, in_rank_order]() mutable {
      arrive("allreduce");
      if (checks == CollectiveChecks::On) agree(2, target, static_cast<int>(op));
      if (in_rank_order) {
        // Every rank's tensor, then ((x0 + x1) + x2) + ... row by row, the same on every rank.
        const ad::Tensor all = ad::empty({size_, target.numel()}, ad::dtype(target.dtype()));
        check_mpi(MPI_Allgather(raw(target), count, type, raw(all), count, type, comm_), "allreduce");
        ad::NoGradGuard no_grad;
        ad::Tensor flat = target.reshape({-1});  // a view: the sums land in target
        flat.copy_(all.select(0, 0));
        for (int r = 1; r < size_; ++r) flat.add_(all.select(0, r));
      } else {
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, raw(target), count, type, mpi_op(op), comm_), "allreduce");
      }
      if (op == ReduceOp::Mean) divide(target, size_);
      bump_version(target);
    });
  }

  ad::Tensor allgather(const ad::Tensor& t, CollectiveChecks checks) override {
    const ad::Tensor in = t.contiguous();
    const MPI_Datatype type = mpi_type(in.dtype(), "allgather");
    const int count = count_of(in, "allgather");
    ad::Shape shape = in.shape();
    shape.insert(shape.begin(), size_);
    ad::Tensor out = ad::empty(shape, ad::dtype(in.dtype()));
    submit([this, in, out, checks, type, count]() mutable {
      arrive("allgather");
      if (checks == CollectiveChecks::On) agree(3, in, 0);
      check_mpi(MPI_Allgather(raw(in), count, type, raw(out), count, type, comm_), "allgather");
    }).wait();
    return out;
  }

  ad::Tensor reduce_scatter(const ad::Tensor& t, ReduceOp op, CollectiveChecks checks) override {
    const ad::Tensor in = t.contiguous();
    const MPI_Datatype type = mpi_type(in.dtype(), "reduce_scatter");
    if (in.dim() < 1 || in.size(0) % size_ != 0)
      throw ad::Error("dist::reduce_scatter: dim 0 of the tensor " + ad::shape_str(in.shape()) +
                      " must be divisible by the world size " + std::to_string(size_) + "; pad it");
    if (op == ReduceOp::Mean && !ad::is_floating(in.dtype()))
      throw ad::Error("dist::reduce_scatter: Mean needs a floating tensor");
    ad::Shape shape = in.shape();
    shape[0] /= size_;
    ad::Tensor out = ad::empty(shape, ad::dtype(in.dtype()));
    const int count = count_of(out, "reduce_scatter");
    submit([this, in, out, op, checks, type, count]() mutable {
      arrive("reduce_scatter");
      if (checks == CollectiveChecks::On) agree(4, in, static_cast<int>(op));
      check_mpi(MPI_Reduce_scatter_block(raw(in), raw(out), count, type, mpi_op(op), comm_), "reduce_scatter");
      if (op == ReduceOp::Mean) divide(out, size_);
    }).wait();
    return out;
  }

 private:
  // The first element of a contiguous tensor.
  static void* raw(const ad::Tensor& t) {
    const ad::TensorImpl* impl = t.impl();
    return static_cast<char*>(impl->storage->data) + static_cast<std::size_t>(impl->offset) * ad::dtype_size(t.dtype());
  }
  // A collective wrote into t: saved tensors that share its storage see it as modified.
  static void bump_version(const ad::Tensor& t) { t.impl()->storage->version++; }

  void check_root(int root, const char* op) const {
    if (root < 0 || root >= size_)
      throw ad::Error(std::string("dist::") + op + ": root " + std::to_string(root) + " is not a rank (world size " +
                      std::to_string(size_) + ")");
  }
  static void require_contiguous(const ad::Tensor& t, const char* op) {
    if (!t.defined()) throw ad::Error(std::string("dist::") + op + ": the tensor is undefined");
    if (!t.is_contiguous())
      throw ad::Error(std::string("dist::") + op + ": the tensor " + ad::shape_str(t.shape()) +
                      " is not contiguous; pass t.contiguous() and copy the result back");
  }

  // Waits until every rank has reached this collective, without busy-waiting: a non-blocking
  // barrier, tested for a few microseconds (the other ranks are usually there already), then
  // between tests sleeps of 10 us doubling up to 100 us. The collective that follows is a blocking
  // MPI call, which spins while it waits for the other ranks; with one core per rank that spinning
  // would take the core from this rank's own backward for as long as the slowest rank computes.
  // Past the timeout it throws, and the group refuses every later collective.
  void arrive(const char* op) {
    if (broken_) throw ad::Error(std::string("dist::") + op + ": " + broken_message_);
    MPI_Request request;
    check_mpi(MPI_Ibarrier(comm_, &request), op);
    const auto start = std::chrono::steady_clock::now();
    const auto spin_until = start + std::chrono::microseconds(20);
    const auto limit = start + std::chrono::duration<double>(timeout_.load());
    auto pause = std::chrono::microseconds(10);
    for (;;) {
      int done = 0;
      check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), op);
      if (done) return;
      const auto t = std::chrono::steady_clock::now();
      if (t < spin_until) continue;
      if (t > limit) {
        // The barrier stays pending (MPI cannot cancel a collective): no later call can match.
        broken_ = true;
        broken_message_ = "the group is unusable since a collective timed out; end the job (run_or_abort)";
        throw ad::Error(std::string("dist::") + op + ": rank " + std::to_string(rank_) + " waited " +
                        std::to_string(static_cast<long long>(timeout_.load())) +
                        " s (the timeout) for the other ranks to reach this collective; one of them failed, hangs "
                        "or skipped it. The group is unusable now: end the job (run_or_abort does)");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(100));
    }
  }

  // Every rank describes its call; all must agree (run on the communication thread).
  void agree(int code, const ad::Tensor& t, int arg) {
    constexpr int kDims = 6;
    std::int64_t mine[4 + kDims] = {code, static_cast<std::int64_t>(t.dtype()), t.dim(), arg};
    for (int d = 0; d < kDims; ++d) mine[4 + d] = d < t.dim() ? t.size(d) : -1;
    std::vector<std::int64_t> all(static_cast<std::size_t>(size_) * (4 + kDims));
    check_mpi(MPI_Allgather(mine, 4 + kDims, MPI_INT64_T, all.data(), 4 + kDims, MPI_INT64_T, comm_), "check");
    auto describe = [&](int r) {
      const std::int64_t* p = all.data() + static_cast<std::size_t>(r) * (4 + kDims);
      std::string s = std::string("rank ") + std::to_string(r) + ": " + op_name(static_cast<int>(p[0])) + " of " +
                      ad::dtype_name(static_cast<ad::Dtype>(p[1])) + " [";
      for (int d = 0; d < p[2] && d < kDims; ++d) s += (d ? ", " : "") + std::to_string(p[4 + d]);
      return s + "]" + (p[0] == 1 ? " root " + std::to_string(p[3]) : "");
    };
    // allgather and reduce_scatter compare everything; the others too (the same shape everywhere)
    for (int r = 1; r < size_; ++r)
      for (int k = 0; k < 4 + kDims; ++k)
        if (all[static_cast<std::size_t>(r) * (4 + kDims) + static_cast<std::size_t>(k)] !=
            all[static_cast<std::size_t>(k)]) {
          std::string msg = "dist: the ranks called different collectives (";
          for (int q = 0; q < size_; ++q) msg += (q ? "; " : "") + describe(q);
          throw ad::Error(msg +
                          "); every rank must call the same collectives in the same order, with tensors of the "
                          "same dtype and shape");
        }
  }

  template <class F>
  Work submit(F f) {
    auto state = std::make_shared<Work::State>();
    {
      std::lock_guard lock(mu_);
      queue_.emplace_back([state, fn = std::move(f)]() mutable {
        {
          std::lock_guard l(state->mu);
          state->started = now_seconds();
        }
        bool failed = false;
        std::string error;
        try {
          fn();
        } catch (const std::exception& e) {
          failed = true;
          error = e.what();
        } catch (...) {
          failed = true;
          error = "dist: a collective failed with an unknown exception";
        }
        {
          std::lock_guard l(state->mu);
          state->finished = now_seconds();
          state->failed = failed;
          state->error = std::move(error);
          state->done = true;
        }
        state->cv.notify_all();
      });
    }
    cv_.notify_all();
    return Work(state);
  }

  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::atomic<double> timeout_{1800.0};
  bool broken_ = false;  // communication thread only
  std::string broken_message_;
  std::thread thread_;
};

std::mutex g_init_mu;
std::unique_ptr<MpiGroup> g_world;

void finalize_at_exit() {
  g_world.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

std::ostream& log(const ProcessGroup& pg, bool every_rank, std::ostream& out) {
  // A stream without a buffer: everything written to it is dropped (its badbit is set).
  static thread_local std::ostream discard(nullptr);
  return every_rank || pg.rank() == 0 ? out : discard;
}

std::string broadcast_string(ProcessGroup& pg, const std::string& s, int root) {
  ad::Tensor len = ad::index_tensor({static_cast<std::int64_t>(s.size())}, {1});
  pg.broadcast(len, root, CollectiveChecks::Off);
  const std::int64_t n = len.data_ptr<std::int64_t>()[0];
  std::vector<std::int64_t> chars(static_cast<std::size_t>(n), 0);
  if (pg.rank() == root)
    for (std::size_t i = 0; i < chars.size(); ++i) chars[i] = static_cast<unsigned char>(s[i]);
  ad::Tensor t = ad::index_tensor(chars, {n});
  if (n > 0) pg.broadcast(t, root, CollectiveChecks::Off);
  std::string out(static_cast<std::size_t>(n), '\0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(t.data_ptr<std::int64_t>()[i]);
  return out;
}

std::vector<std::string> allgather_strings(ProcessGroup& pg, const std::string& s) {
  const ad::Tensor lens =
      pg.allgather(ad::index_tensor({static_cast<std::int64_t>(s.size())}, {1}), CollectiveChecks::Off).contiguous();
  const std::int64_t* l = lens.data_ptr<std::int64_t>();
  const int w = pg.world_size();
  std::int64_t longest = 0;
  for (int r = 0; r < w; ++r) longest = std::max(longest, l[r]);
  std::vector<std::string> out(static_cast<std::size_t>(w));
  if (longest == 0) return out;
  std::vector<std::int64_t> mine(static_cast<std::size_t>(longest), 0);
  for (std::size_t i = 0; i < s.size(); ++i) mine[i] = static_cast<unsigned char>(s[i]);
  const ad::Tensor all = pg.allgather(ad::index_tensor(mine, {longest}), CollectiveChecks::Off).contiguous();
  const std::int64_t* c = all.data_ptr<std::int64_t>();
  for (int r = 0; r < w; ++r)
    for (std::int64_t i = 0; i < l[r]; ++i) out[static_cast<std::size_t>(r)] += static_cast<char>(c[r * longest + i]);
  return out;
}

ProcessGroup& init(int& argc, char**& argv) {
  std::lock_guard lock(g_init_mu);
  if (g_world) return *g_world;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    if (provided < MPI_THREAD_MULTIPLE)
      throw ad::Error("dist::init: this MPI gives thread level " + std::to_string(provided) +
                      ", the process group needs MPI_THREAD_MULTIPLE (Open MPI built with thread support)");
  }
  g_world = std::make_unique<MpiGroup>();
  std::atexit(finalize_at_exit);
  return *g_world;
}

ProcessGroup& world() {
  std::lock_guard lock(g_init_mu);
  if (!g_world) throw ad::Error("dist::world: call ad::dist::init(argc, argv) first");
  return *g_world;
}

bool is_initialized() {
  std::lock_guard lock(g_init_mu);
  return g_world != nullptr;
}

int run_or_abort(const std::function<int()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    int rank = 0, size = 1, initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) {
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
    std::fprintf(stderr, "rank %d of %d: %s\n", rank, size, e.what());
    std::fflush(stderr);
    if (initialized) MPI_Abort(MPI_COMM_WORLD, 1);
    std::exit(1);
  }
}

}  // namespace ad::dist
