#include "adgraph/dist/ddp.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

namespace ad::dist {

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The first byte of a contiguous floating tensor.
char* bytes_of(const ad::Tensor& t) {
  if (t.dtype() == ad::kFloat64) return reinterpret_cast<char*>(const_cast<double*>(t.data_ptr<double>()));
  return reinterpret_cast<char*>(const_cast<float*>(t.data_ptr<float>()));
}

std::string describe(const std::string& kind, const std::string& name, const ad::Tensor& t) {
  return kind + " '" + name + "' " + ad::dtype_name(t.dtype()) + " " + ad::shape_str(t.shape());
}

std::int64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<std::int64_t>(h);
}

// dst[i] = src[i] * scale for n elements of a floating dtype (src may be dst).
void scaled_copy(char* dst, const char* src, std::int64_t n, ad::Dtype dtype, double scale) {
  if (dtype == ad::kFloat64) {
    const auto* s = reinterpret_cast<const double*>(src);
    auto* d = reinterpret_cast<double*>(dst);
    for (std::int64_t i = 0; i < n; ++i) d[i] = s[i] * scale;
  } else {
    const auto* s = reinterpret_cast<const float*>(src);
    auto* d = reinterpret_cast<float*>(dst);
    const auto f = static_cast<float>(scale);
    for (std::int64_t i = 0; i < n; ++i) d[i] = s[i] * f;
  }
}

}  // namespace

double DDPStepStats::comm_seconds() const {
  double s = 0;
  for (const auto& b : buckets) s += b.finished_at - b.started_at;
  return s;
}

double DDPStepStats::hidden_seconds() const {
  double s = 0;
  for (const auto& b : buckets) s += std::max(0.0, std::min(b.finished_at, backward_end) - b.started_at);
  return s;
}

double DDPStepStats::hidden_fraction() const {
  const double c = comm_seconds();
  return c > 0 ? hidden_seconds() / c : 1.0;
}

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<ad::nn::Module> module, ProcessGroup& pg,
                                                 DDPOptions options)
    : module_(std::move(module)), pg_(pg), options_(options) {
  if (!module_) throw ad::Error("DistributedDataParallel: the module is null");
  if (!(options_.bucket_cap_mb > 0) || !(options_.first_bucket_cap_mb > 0))
    throw ad::Error("DistributedDataParallel: bucket_cap_mb and first_bucket_cap_mb must be > 0, got " +
                    std::to_string(options_.bucket_cap_mb) + " and " + std::to_string(options_.first_bucket_cap_mb));
  register_module("module", module_);
  check_models_agree();
  broadcast_state();

  // Buckets in reverse registration order, one dtype each, capped in bytes.
  for (const auto& [name, t] : module_->named_parameters())
    if (t.requires_grad()) params_.push_back(Param{name, t});
  // Bucket k's cap: first_bucket_cap_mb for the first (the last layers' gradients, so that
  // communication starts early), bucket_cap_mb for the others.
  const auto cap_of = [&](std::size_t k) {
    return (k == 0 ? std::min(options_.first_bucket_cap_mb, options_.bucket_cap_mb) : options_.bucket_cap_mb) * 1024.0 *
           1024.0;
  };
  for (std::size_t k = params_.size(); k-- > 0;) {
    Param& p = params_[k];
    const std::size_t es = ad::dtype_size(p.tensor.dtype());
    const auto bytes = static_cast<double>(p.tensor.numel()) * static_cast<double>(es);
    bool fresh = buckets_.empty();
    if (!fresh) {
      const Bucket& b = buckets_.back();
      const ad::Dtype dt = params_[b.params.front()].tensor.dtype();
      const double used = static_cast<double>(b.numel) * static_cast<double>(ad::dtype_size(dt));
      fresh = dt != p.tensor.dtype() || used + bytes > cap_of(buckets_.size() - 1);
    }
    if (fresh) buckets_.emplace_back();
    Bucket& b = buckets_.back();
    p.bucket = buckets_.size() - 1;
    p.offset = b.numel;
    b.numel += p.tensor.numel();
    b.params.push_back(k);
  }
  for (Bucket& b : buckets_) {
    const std::int64_t flags = options_.find_unused_parameters ? static_cast<std::int64_t>(b.params.size()) : 0;
    b.flat = ad::zeros({b.numel + flags}, ad::dtype(params_[b.params.front()].tensor.dtype()));
    b.pending = b.params.size();
  }
  for (std::size_t k = 0; k < params_.size(); ++k) {
    params_[k].pre_hook = params_[k].tensor.register_hook([this, k](const ad::Tensor&) {
      check_not_sent(k);
      return ad::Tensor();
    });
    params_[k].hook =
        params_[k].tensor.register_post_accumulate_grad_hook([this, k](const ad::Tensor&) { on_grad_ready(k); });
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  for (Param& p : params_) {
    try {
      p.tensor.remove_hook(p.hook);
      p.tensor.remove_hook(p.pre_hook);
    } catch (...) {
    }
  }
  // Unfinished collectives write into the flat buffers: wait for them before those go.
  for (Bucket& b : buckets_) {
    try {
      b.work.wait();
    } catch (...) {
    }
  }
}

void DistributedDataParallel::check_models_agree() {
  std::vector<std::string> descriptions;
  for (const auto& [name, t] : module_->named_parameters()) descriptions.push_back(describe("parameter", name, t));
  for (const auto& [name, t] : module_->named_buffers()) descriptions.push_back(describe("buffer", name, t));
  std::string all;
  for (const auto& d : descriptions) all += d + "\n";
  const std::int64_t count = static_cast<std::int64_t>(descriptions.size());
  const ad::Tensor digest = pg_.allgather(ad::index_tensor({count, fnv1a(all)}, {2})).contiguous();
  const int w = pg_.world_size();
  const std::int64_t* d = digest.data_ptr<std::int64_t>();
  bool same = true;
  std::int64_t most = 0;
  for (int r = 0; r < w; ++r) {
    same = same && d[2 * r] == d[0] && d[2 * r + 1] == d[1];
    most = std::max(most, d[2 * r]);
  }
  if (same) return;
  // Find the first entry that differs: every rank's per-entry hashes (0 past its last).
  std::vector<std::int64_t> mine(static_cast<std::size_t>(most), 0);
  for (std::size_t i = 0; i < descriptions.size(); ++i) mine[i] = fnv1a(descriptions[i]) | 1;
  const ad::Tensor hashes = pg_.allgather(ad::index_tensor(mine, {most})).contiguous();
  const std::int64_t* h = hashes.data_ptr<std::int64_t>();
  std::int64_t first = 0;
  for (; first < most; ++first) {
    bool agree = true;
    for (int r = 1; r < w; ++r) agree = agree && h[r * most + first] == h[first];
    if (!agree) break;
  }
  // What each rank has there.
  const std::string here = first < count ? descriptions[static_cast<std::size_t>(first)] : std::string("nothing");
  const std::vector<std::string> theirs = allgather_strings(pg_, here);
  std::string msg = "DistributedDataParallel: the ranks' models differ (entry " + std::to_string(first) +
                    " of their parameters then buffers):";
  for (int r = 0; r < w; ++r)
    msg += std::string(r ? ";" : "") + " rank " + std::to_string(r) + " has " + theirs[static_cast<std::size_t>(r)];
  for (int r = 0; r < w; ++r)
    if (d[2 * r] != d[0]) {
      msg += " (rank " + std::to_string(r) + " has " + std::to_string(d[2 * r]) + " entries, rank 0 " +
             std::to_string(d[0]) + ")";
      break;
    }
  throw ad::Error(msg + "; build the same model on every rank");
}

namespace {

// Rank 0's values of every tensor (parameters and buffers), all queued at once, then waited for.
void broadcast_from_rank0(ProcessGroup& pg, const std::vector<std::pair<std::string, ad::Tensor>>& named) {
  ad::NoGradGuard no_grad;
  std::vector<std::pair<ad::Tensor, ad::Tensor>> copies;  // (target, contiguous copy)
  std::vector<Work> works;
  for (const auto& [name, t] : named) {
    ad::Tensor target = t;
    if (target.is_contiguous()) {
      works.push_back(pg.broadcast_async(target, 0, CollectiveChecks::Off));
    } else {
      copies.emplace_back(target, target.contiguous());
      works.push_back(pg.broadcast_async(copies.back().second, 0, CollectiveChecks::Off));
    }
  }
  for (Work& wk : works) wk.wait();
  for (auto& [target, c] : copies) target.copy_(c);
}

}  // namespace

void DistributedDataParallel::broadcast_state() {
  if (pg_.world_size() > 1) broadcast_from_rank0(pg_, module_->named_state());
}

ad::Tensor DistributedDataParallel::forward(const ad::Tensor& x) {
  if (options_.broadcast_buffers && pg_.world_size() > 1) broadcast_from_rank0(pg_, module_->named_buffers());
  return (*module_)(x);
}

ad::Tensor DistributedDataParallel::forward(const ad::Tensor&) const {
  throw ad::Error(
      "DistributedDataParallel: forward of a const wrapper cannot synchronize buffers; call it on a non-const one");
}

std::string DistributedDataParallel::extra_repr() const {
  return "world_size=" + std::to_string(pg_.world_size()) + ", buckets=" + std::to_string(buckets_.size()) +
         ", bucket_cap_mb=" + std::to_string(options_.bucket_cap_mb) +
         ", find_unused_parameters=" + (options_.find_unused_parameters ? "true" : "false");
}

std::vector<std::vector<std::string>> DistributedDataParallel::bucket_names() const {
  std::vector<std::vector<std::string>> out;
  for (const Bucket& b : buckets_) {
    out.emplace_back();
    for (std::size_t k : b.params) out.back().push_back(params_[k].name);
  }
  return out;
}

// Before a gradient is accumulated into .grad: once its bucket is being reduced, .grad (or the
// bucket) must not change until finish().
void DistributedDataParallel::check_not_sent(std::size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  const Param& p = params_[index];
  if (sync_ && p.ready && buckets_[p.bucket].launched)
    throw ad::Error("DistributedDataParallel: the gradient of '" + p.name +
                    "' would be accumulated again after its bucket was sent for reduction (a second backward "
                    "before finish()); call finish() after each backward, or run the first micro-batches inside "
                    "no_sync()");
}

void DistributedDataParallel::on_grad_ready(std::size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  Param& p = params_[index];
  p.seen = true;
  if (!sync_ || p.ready) return;  // a second pass before its bucket was sent just accumulates
  p.ready = true;
  Bucket& b = buckets_[p.bucket];
  if (--b.pending > 0) return;
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) launch(next_launch_++, true);
}

void DistributedDataParallel::launch(std::size_t bucket, bool in_backward) {
  Bucket& b = buckets_[bucket];
  b.stats = DDPBucketStats{};
  b.stats.launched_in_backward = in_backward;
  b.launched = true;
  if (pg_.world_size() == 1) {  // alone, the gradients are already the mean: nothing to send
    b.stats.launched_at = now();
    b.work = Work();
    return;
  }
  // Each gradient divided by the world size as it is copied in (PyTorch divides before the
  // allreduce too), so the sum the ranks reduce is the mean; in rank order, the sum is divided.
  const bool in_rank_order = options_.reduce_order == ReduceOrder::Ranks;
  const double inv = in_rank_order ? 1.0 : 1.0 / static_cast<double>(pg_.world_size());
  char* flat = bytes_of(b.flat);
  const std::size_t es = ad::dtype_size(b.flat.dtype());
  for (std::size_t j = 0; j < b.params.size(); ++j) {
    Param& p = params_[b.params[j]];
    const ad::Tensor g = p.tensor.grad();
    char* dst = flat + static_cast<std::size_t>(p.offset) * es;
    const std::size_t n = static_cast<std::size_t>(p.tensor.numel()) * es;
    // Only a gradient accumulated since the last finish() counts (not a stale .grad).
    const bool has = p.seen && g.defined();
    const bool in_place = g.defined() && g.is_contiguous() && bytes_of(g) == dst;  // a view of the bucket
    if (has) {
      const ad::Tensor src = in_place ? g : g.contiguous();
      if (!(in_place && in_rank_order)) scaled_copy(dst, bytes_of(src), p.tensor.numel(), b.flat.dtype(), inv);
    } else {
      if (in_place) p.tensor.set_grad(g.clone());  // a stale .grad stays as it was
      std::memset(dst, 0, n);
    }
    if (options_.find_unused_parameters) {
      // 1 when this rank has a gradient for it (reduced alongside: unused everywhere sums to 0).
      char* flag = flat + static_cast<std::size_t>(b.numel + static_cast<std::int64_t>(j)) * es;
      if (b.flat.dtype() == ad::kFloat64) {
        const double v = has ? 1.0 : 0.0;
        std::memcpy(flag, &v, sizeof v);
      } else {
        const float v = has ? 1.0f : 0.0f;
        std::memcpy(flag, &v, sizeof v);
      }
    }
  }
  b.stats.bytes = b.flat.numel() * static_cast<std::int64_t>(es);
  b.stats.launched_at = now();
  b.work = in_rank_order ? pg_.allreduce_async(b.flat, ReduceOp::Mean, CollectiveChecks::Off, ReduceOrder::Ranks)
                         : pg_.allreduce_async(b.flat, ReduceOp::Sum, CollectiveChecks::Off);
}

void DistributedDataParallel::reset_iteration() {
  for (Param& p : params_) p.ready = p.seen = false;
  for (Bucket& b : buckets_) {
    b.pending = b.params.size();
    b.launched = false;
  }
  next_launch_ = 0;
}

void DistributedDataParallel::finish() {
  if (!sync_) return;
  const double t0 = now();
  std::vector<std::string> unused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Param& p : params_)
      if (!p.seen) unused.push_back(p.name);
    // Every rank launches every bucket, in order, whatever it got: no rank is left waiting.
    while (next_launch_ < buckets_.size()) launch(next_launch_++, false);
  }
  DDPStepStats st;
  st.backward_end = t0;
  std::string error;
  for (Bucket& b : buckets_) {
    try {
      b.work.wait();
    } catch (const ad::Error& e) {
      if (error.empty()) error = e.what();
      continue;
    }
    const bool sent = pg_.world_size() > 1;
    b.stats.started_at = sent ? b.work.started_at() : b.stats.launched_at;
    b.stats.finished_at = sent ? b.work.finished_at() : b.stats.launched_at;
    b.stats.seconds = b.work.seconds();
    st.bytes_reduced += b.stats.bytes;
    st.buckets.push_back(b.stats);
    if (!sent) continue;  // .grad is as backward left it
    // Each parameter's .grad becomes a view of the reduced bucket (PyTorch's
    // gradient_as_bucket_view): no copy back, and no copy in at the next launch when the
    // optimizer zeroes .grad in place (zero_grad(false)).
    ad::NoGradGuard no_grad;
    const bool f64 = b.flat.dtype() == ad::kFloat64;
    const std::size_t es = ad::dtype_size(b.flat.dtype());
    const char* flat = bytes_of(b.flat);
    for (std::size_t j = 0; j < b.params.size(); ++j) {
      Param& p = params_[b.params[j]];
      if (options_.find_unused_parameters) {
        const std::size_t at = static_cast<std::size_t>(b.numel + static_cast<std::int64_t>(j)) * es;
        double used = 0;
        if (f64) {
          std::memcpy(&used, flat + at, sizeof used);
        } else {
          float u = 0;
          std::memcpy(&u, flat + at, sizeof u);
          used = u;
        }
        if (!(used > 0)) continue;  // unused on every rank: its .grad stays as it is
      }
      p.tensor.set_grad(ad::reshape(ad::slice(b.flat, 0, p.offset, p.offset + p.tensor.numel()), p.tensor.shape()));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    reset_iteration();
  }
  st.finish_seconds = now() - t0;
  last_ = std::move(st);
  ++steps_;
  total_bytes_ += last_.bytes_reduced;
  if (!error.empty()) throw ad::Error("DistributedDataParallel::finish: " + error);
  if (!unused.empty() && !options_.find_unused_parameters) {
    std::string names;
    for (const auto& n : unused) names += (names.empty() ? "" : ", ") + n;
    throw ad::Error("DistributedDataParallel::finish: parameters got no gradient in this iteration: " + names +
                    " (they were reduced as zeros on this rank); if the model leaves them unused on purpose, "
                    "construct with DDPOptions{.find_unused_parameters = true}");
  }
}

}  // namespace ad::dist
