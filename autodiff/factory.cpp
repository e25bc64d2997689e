#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops/common.h"
#include "adgraph/autodiff/random.h"
#include "adgraph/autodiff/tensor.h"

namespace ad {

namespace {
std::atomic<Dtype> g_default_dtype{kFloat32};
}  // namespace

Dtype get_default_dtype() { return g_default_dtype.load(std::memory_order_relaxed); }
void set_default_dtype(Dtype d) {
  if (!is_floating(d))
    throw Error(std::string("set_default_dtype: the default dtype must be Float32 or Float64, got ") + dtype_name(d));
  g_default_dtype.store(d, std::memory_order_relaxed);
}

namespace {

Tensor finish(Tensor t, const TensorOptions& opt) {
  if (opt.requires_grad) t.requires_grad_(true);
  return t;
}

}  // namespace

namespace detail {

Tensor empty_for(const Shape& shape, Dtype dt, const char* op) {
  const std::int64_t n = checked_numel(shape, op);
  std::shared_ptr<Storage> st;
  try {
    st = std::make_shared<Storage>(dt, n);
  } catch (const std::bad_alloc&) {
    char gb[32];
    std::snprintf(gb, sizeof gb, "%.3g", static_cast<double>(n) * static_cast<double>(dtype_size(dt)) / 1e9);
    throw Error(std::string(op) + ": out of memory allocating " + gb + " GB for a " + dtype_name(dt) +
                " tensor of shape " + shape_str(shape) + "; use smaller sizes or batches");
  }
  return Tensor(std::make_shared<TensorImpl>(std::move(st), shape));
}

}  // namespace detail

namespace {

Tensor full_for(const Shape& shape, double value, TensorOptions opt, const char* op) {
  Tensor t = detail::empty_for(shape, opt.dtype_or_default(), op);
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(value);
  });
  return finish(t, opt);
}

}  // namespace

Tensor empty(const Shape& shape, TensorOptions opt) {
  return finish(detail::empty_for(shape, opt.dtype_or_default(), "empty"), opt);
}
Tensor full(const Shape& shape, double value, TensorOptions opt) { return full_for(shape, value, opt, "full"); }
Tensor zeros(const Shape& shape, TensorOptions opt) { return full_for(shape, 0.0, opt, "zeros"); }
Tensor ones(const Shape& shape, TensorOptions opt) { return full_for(shape, 1.0, opt, "ones"); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), dtype(t.dtype())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), dtype(t.dtype())); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, dtype(t.dtype())); }

Tensor tensor(const std::vector<double>& values, const Shape& shape, TensorOptions opt) {
  if (checked_numel(shape, "tensor") != static_cast<std::int64_t>(values.size()))
    throw Error("tensor: " + std::to_string(values.size()) + " values do not fill shape " + shape_str(shape) + " (" +
                std::to_string(numel_of(shape)) + " elements)");
  const bool rg = opt.requires_grad;
  opt.requires_grad = false;
  Tensor t = detail::empty_for(shape, opt.dtype_or_default(), "tensor");
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return rg ? t.requires_grad_(true) : t;
}

Tensor tensor(const std::vector<double>& values, TensorOptions opt) {
  return tensor(values, Shape{static_cast<std::int64_t>(values.size())}, opt);
}
Tensor tensor(std::initializer_list<double> values, TensorOptions opt) {
  return tensor(std::vector<double>(values), opt);
}
Tensor scalar_tensor(double v, TensorOptions opt) {  // as tensor({v}, {}), without the vector
  Tensor t = detail::empty_for(Shape{}, opt.dtype_or_default(), "scalar_tensor");
  dispatch_all(t.dtype(), [&]<class T>() { *t.data_ptr<T>() = static_cast<T>(v); });
  return opt.requires_grad ? t.requires_grad_(true) : t;
}

Tensor index_tensor(const std::vector<std::int64_t>& values) {
  return index_tensor(values, Shape{static_cast<std::int64_t>(values.size())});
}

Tensor index_tensor(const std::vector<std::int64_t>& values, const Shape& shape) {
  if (checked_numel(shape, "index_tensor") != static_cast<std::int64_t>(values.size()))
    throw Error("index_tensor: " + std::to_string(values.size()) + " values do not fill shape " + shape_str(shape));
  Tensor t = empty(shape, dtype(kInt64));
  std::copy(values.begin(), values.end(), t.data_ptr<std::int64_t>());
  return t;
}

Tensor arange(double start, double end, double step, TensorOptions opt) {
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw Error("arange: start, end and step must be finite, got " + std::to_string(start) + ", " +
                std::to_string(end) + ", " + std::to_string(step));
  if (step == 0.0 || (end - start) * step < 0.0)
    throw Error("arange: step " + std::to_string(step) + " does not lead from " + std::to_string(start) + " to " +
                std::to_string(end));
  const double count = std::ceil((end - start) / step);
  if (!(count < 0x1p60))
    throw Error("arange: " + std::to_string(count) + " elements from " + std::to_string(start) + " to " +
                std::to_string(end) + " by " + std::to_string(step) + " are more than a tensor can hold");
  const auto n = static_cast<std::int64_t>(count);
  Tensor t = detail::empty_for({n}, opt.dtype_or_default(), "arange");
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return finish(t, opt);
}
Tensor arange(double end, TensorOptions opt) { return arange(0.0, end, 1.0, opt); }

Tensor linspace(double start, double end, std::int64_t steps, TensorOptions opt) {
  if (steps < 1) throw Error("linspace: steps must be >= 1, got " + std::to_string(steps));
  if (!std::isfinite(start) || !std::isfinite(end))
    throw Error("linspace: start and end must be finite, got " + std::to_string(start) + " and " + std::to_string(end));
  Tensor t = detail::empty_for({steps}, opt.dtype_or_default(), "linspace");
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(
          steps == 1 ? start : start + (end - start) * static_cast<double>(i) / static_cast<double>(steps - 1));
  });
  return finish(t, opt);
}

Tensor eye(std::int64_t n, TensorOptions opt) {
  if (n < 0) throw Error("eye: n must be >= 0, got " + std::to_string(n));
  Tensor t = full_for({n, n}, 0.0, dtype(opt.dtype_or_default()), "eye");
  dispatch_all(t.dtype(), [&]<class T>() {
    for (std::int64_t i = 0; i < n; ++i) t.data_ptr<T>()[i * n + i] = T(1);
  });
  return finish(t, opt);
}

// ---- random
double Generator::uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(eng_); }
double Generator::normal(double mean, double std) { return std::normal_distribution<double>(mean, std)(eng_); }

Tensor Generator::state() const {
  std::ostringstream os;
  os << eng_;  // the words and the position, in decimal
  std::istringstream is(os.str());
  std::vector<std::int64_t> words;
  std::uint64_t w = 0;
  while (is >> w) words.push_back(static_cast<std::int64_t>(w));  // bit for bit
  if (static_cast<std::int64_t>(words.size()) != kStateSize)
    throw Error("Generator::state: the engine wrote " + std::to_string(words.size()) + " numbers, expected " +
                std::to_string(kStateSize));
  return index_tensor(words, {kStateSize});
}

void Generator::set_state(const Tensor& state) {
  if (!state.defined() || state.dtype() != kInt64 || state.shape() != Shape{kStateSize})
    throw Error("Generator::set_state: the state must be Int64 of shape [" + std::to_string(kStateSize) + "], got " +
                (state.defined() ? std::string(dtype_name(state.dtype())) + " of shape " + shape_str(state.shape())
                                 : std::string("an undefined tensor")) +
                " (pass what Generator::state() returned)");
  const Tensor c = state.contiguous();
  const std::int64_t* p = c.data_ptr<std::int64_t>();
  const auto pos = static_cast<std::uint64_t>(p[kStateSize - 1]);
  if (pos > static_cast<std::uint64_t>(std::mt19937_64::state_size))
    throw Error("Generator::set_state: the position " + std::to_string(pos) + " is past the state's " +
                std::to_string(std::mt19937_64::state_size) + " words; this is not a generator state");
  std::ostringstream os;
  for (std::int64_t i = 0; i < kStateSize; ++i) os << (i ? " " : "") << static_cast<std::uint64_t>(p[i]);
  std::istringstream is(os.str());
  std::mt19937_64 e;
  is >> e;
  if (!is) throw Error("Generator::set_state: the state could not be read back");
  eng_ = e;
}

Generator& default_generator() {
  thread_local Generator g(5489u);
  return g;
}
void manual_seed(std::uint64_t seed) { default_generator().seed(seed); }

namespace {
template <class Draw>
Tensor random_fill(const Shape& shape, TensorOptions opt, Generator* gen, const char* op, Draw draw) {
  if (!is_floating(opt.dtype_or_default()))
    throw Error(std::string(op) + ": needs a floating dtype; use randint for integers");
  Generator& g = gen ? *gen : default_generator();
  Tensor t = detail::empty_for(shape, opt.dtype_or_default(), op);
  dispatch_float(t.dtype(), op, [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(draw(g));
  });
  return finish(t, opt);
}

Tensor uniform_for(const Shape& shape, double lo, double hi, TensorOptions opt, Generator* gen, const char* op) {
  if (!(lo < hi))
    throw Error(std::string(op) + ": need lo < hi, got " + std::to_string(lo) + " and " + std::to_string(hi));
  // A double just below hi can round up to hi in Float32: keep the interval half-open.
  const double top =
      opt.dtype_or_default() == kFloat32 ? std::nextafter(static_cast<float>(hi), static_cast<float>(lo)) : hi;
  return random_fill(shape, opt, gen, op, [=](Generator& g) { return std::min(g.uniform(lo, hi), top); });
}
}  // namespace

Tensor rand(const Shape& shape, TensorOptions opt, Generator* gen) {
  return uniform_for(shape, 0.0, 1.0, opt, gen, "rand");
}
Tensor randn(const Shape& shape, TensorOptions opt, Generator* gen) {
  return random_fill(shape, opt, gen, "randn", [](Generator& g) { return g.normal(); });
}
Tensor uniform(const Shape& shape, double lo, double hi, TensorOptions opt, Generator* gen) {
  return uniform_for(shape, lo, hi, opt, gen, "uniform");
}
Tensor normal(const Shape& shape, double mean, double std, TensorOptions opt, Generator* gen) {
  if (!(std > 0.0)) throw Error("normal: std must be > 0, got " + std::to_string(std));
  return random_fill(shape, opt, gen, "normal", [=](Generator& g) { return g.normal(mean, std); });
}

Tensor randint(std::int64_t lo, std::int64_t hi, const Shape& shape, Generator* gen) {
  if (lo >= hi) throw Error("randint: need lo < hi, got " + std::to_string(lo) + " and " + std::to_string(hi));
  Generator& g = gen ? *gen : default_generator();
  std::uniform_int_distribution<std::int64_t> dist(lo, hi - 1);
  Tensor t = detail::empty_for(shape, kInt64, "randint");
  std::int64_t* p = t.data_ptr<std::int64_t>();
  for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = dist(g.engine());
  return t;
}

Tensor randperm(std::int64_t n, Generator* gen) {
  if (n < 0) throw Error("randperm: n must be >= 0, got " + std::to_string(n));
  checked_numel({n}, "randperm");
  Generator& g = gen ? *gen : default_generator();
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates with our own engine: same result on every platform
    std::uniform_int_distribution<std::int64_t> d(0, i);
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(d(g.engine()))]);
  }
  return index_tensor(v);
}

}  // namespace ad
